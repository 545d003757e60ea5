//! Provider adapters: how a request for one provider is addressed and authenticated upstream,
//! one file per provider family implementing [`ProviderApi`]. `openai.rs` covers OpenAI and every
//! server that copies its API (Groq, Mistral, DeepSeek, Together, OpenRouter, Fireworks, xAI,
//! Ollama, vLLM, generic OpenAI-compatible); `azure.rs` Azure OpenAI's deployment URLs;
//! `anthropic.rs`, `gemini.rs`, `cohere.rs`, `bedrock.rs` (SigV4, `sigv4.rs`) and `vertex.rs`
//! (service-account tokens, `vertex_auth.rs`) the native APIs. Translating bodies between formats
//! is `crate::translate`'s job, not theirs. Everything a request needs
//! that does not depend on the request (auth header lines, extra headers, the Host header) is
//! formatted once at start-up so that the hot path only copies bytes.

pub mod anthropic;
pub mod azure;
pub mod bedrock;

pub mod cohere;
pub mod gemini;
pub mod openai;
pub mod sigv4;
pub mod vertex;
pub mod vertex_auth;

use bytes::{Bytes, BytesMut};

use crate::config::{ProviderConfig, ProviderKind};

/// Picks one of `items` with probability proportional to `weight`, in two passes over the
/// iterator and without allocating; `None` when there is none or every weight is 0. Used for
/// keys and alias targets.
pub fn weighted_pick<T>(
    items: impl Iterator<Item = T> + Clone,
    weight: impl Fn(&T) -> u32,
    rng: &mut fastrand::Rng,
) -> Option<T> {
    let total: u64 = items.clone().map(|t| u64::from(weight(&t))).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.u64(0..total);
    for item in items {
        let w = u64::from(weight(&item));
        if ticket < w {
            return Some(item);
        }
        ticket -= w;
    }
    None
}

/// The OpenAI-format operations the gateway proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/embeddings`
    Embeddings,
    /// `POST /v1/responses`
    Responses,
}

impl Endpoint {
    /// The path below the API root (`/v1`), as OpenAI names it.
    pub fn suffix(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Responses => "/responses",
        }
    }
}

/// The wire format a provider's requests and answers are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI chat completions (and the rest of OpenAI's API).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
    /// AWS Bedrock Converse.
    Bedrock,
    /// Cohere chat v2.
    Cohere,
}

/// What one upstream request asks the provider for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An OpenAI endpoint, body passed through (OpenAI-format providers only).
    OpenAi(Endpoint),
    /// A chat turn in the provider's own format.
    Chat {
        /// Whether the answer is streamed.
        stream: bool,
    },
    /// Embeddings in the provider's own format.
    Embed,
    /// Counting a chat request's input tokens.
    CountTokens,
}

/// How one provider family is addressed and authenticated: one implementation per file of this
/// module. The request path calls it through `Provider`; everything fixed is pre-formatted at
/// compile time so that these calls only copy bytes (Bedrock signs, Vertex reads its token).
pub trait ProviderApi: Send + Sync {
    /// The format requests for `model` are written in (Vertex serves Gemini and Claude models).
    fn format(&self, model: &str) -> WireFormat;
    /// Appends the request target (path and query) for `op` on `model`; `None` when the
    /// provider does not offer `op`.
    fn write_target(
        &self,
        provider: &Provider,
        op: Operation,
        model: &str,
        out: &mut BytesMut,
    ) -> Option<()>;
    /// Appends the authentication header lines of a request to `target` with `body`.
    /// Most providers copy the key's pre-formatted line; Bedrock signs the request.
    fn write_auth(
        &self,
        provider: &Provider,
        key: &ProviderKey,
        target: &[u8],
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), String> {
        let _ = (provider, target, body);
        out.extend_from_slice(&key.auth_line);
        Ok(())
    }
    /// Whether a caller's body in this provider's own format can go upstream as bytes (with only
    /// the model spliced); false when the provider needs the body changed (Vertex's Claude).
    fn passthrough_body(&self, model: &str) -> bool {
        let _ = model;
        true
    }
    /// Adapts a request body in the provider's format before it is sent (Vertex's Claude moves
    /// the model to the URL and names its API version in the body).
    fn adapt_request(&self, model: &str, op: Operation, body: &mut serde_json::Value) {
        let _ = (model, op, body);
    }
}

/// One provider key with its pre-formatted auth header line.
#[derive(Clone)]
pub struct ProviderKey {
    /// `name: value\r\n` ready to copy into a request head (empty for keyless servers and for
    /// providers that sign each request).
    pub auth_line: Bytes,
    /// The secret as configured (Bedrock signs with it).
    pub secret: String,
    /// Relative weight among eligible keys.
    pub weight: u32,
    /// Models this key may serve; empty means all.
    pub models: Vec<String>,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("ProviderKey")
            .field("weight", &self.weight)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl ProviderKey {
    /// Whether this key may be used for `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

/// A provider compiled from its configuration for the request path.
pub struct Provider {
    /// Its name (the `name/` prefix of model ids).
    pub name: String,
    /// Its kind.
    pub kind: ProviderKind,
    /// How requests are addressed and authenticated.
    pub api: Box<dyn ProviderApi>,
    /// Where to connect.
    pub origin: crate::upstream::Origin,
    /// Path prefix of the API root (for example `/v1`), no trailing slash.
    pub path_prefix: String,
    /// `host: ...\r\n` plus the configured extra headers, pre-formatted.
    pub fixed_headers: Bytes,
    /// Keys, in configuration order.
    pub keys: Vec<ProviderKey>,
    /// Deadline for the response head (per attempt).
    pub first_byte_timeout: std::time::Duration,
    /// Longest wait for each body read after the head (a stream's gap between events).
    pub idle_timeout: std::time::Duration,
    /// Retry policy and key cooldown.
    pub retry: crate::config::RetryConfig,
    /// Longest time for one attempt, body included; `None`: no limit of its own.
    pub total_timeout: Option<std::time::Duration>,
    /// Connecting (TCP + TLS) must finish within this.
    pub connect_timeout: std::time::Duration,
    /// Idle pooled connections older than this are discarded.
    pub pool_idle_timeout: std::time::Duration,
    /// Most idle connections kept per shard.
    pub pool_max_idle: usize,
    /// A connector of its own when the provider trusts extra CAs; `None` uses the shared one.
    pub tls: Option<monoio_rustls::TlsConnector>,
}

impl Provider {
    /// Compiles a validated provider configuration (fails only if its CA file became unreadable).
    pub fn compile(cfg: &ProviderConfig) -> Result<Provider, String> {
        let origin = crate::upstream::Origin::new(&cfg.base_url);
        let mut fixed = BytesMut::new();
        crate::http::write::header(&mut fixed, b"host", origin.host_header.as_bytes());
        for (name, value) in &cfg.headers {
            crate::http::write::header(&mut fixed, name.as_bytes(), value.as_bytes());
        }
        let api = api_for(cfg)?;
        let keys = cfg
            .keys
            .iter()
            .map(|k| ProviderKey {
                auth_line: auth_line_for(cfg.kind, &k.value),
                secret: k.value.clone(),
                weight: k.weight.max(1),
                models: k.models.clone(),
            })
            .collect();
        let tls = match &cfg.tls_ca_file {
            Some(path) => {
                let extra = crate::upstream::tls::read_ca_file(std::path::Path::new(path))?;
                Some(crate::upstream::tls::connector(&extra)?)
            }
            None => None,
        };
        Ok(Provider {
            name: cfg.name.clone(),
            kind: cfg.kind,
            api,
            origin,
            path_prefix: cfg.base_url.path.trim_end_matches('/').to_string(),
            fixed_headers: fixed.freeze(),
            keys,
            first_byte_timeout: std::time::Duration::from_millis(cfg.first_byte_timeout_ms),
            idle_timeout: std::time::Duration::from_millis(cfg.stream_idle_timeout_ms),
            retry: cfg.retry,
            total_timeout: (cfg.total_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(cfg.total_timeout_ms)),
            connect_timeout: std::time::Duration::from_millis(cfg.connect_timeout_ms),
            pool_idle_timeout: std::time::Duration::from_millis(cfg.pool_idle_timeout_ms),
            pool_max_idle: cfg.pool_max_idle,
            tls,
        })
    }

    /// Appends the request target for an OpenAI endpoint (OpenAI-format providers).
    pub fn write_target(&self, endpoint: Endpoint, model: &str, out: &mut BytesMut) {
        let _ = self
            .api
            .write_target(self, Operation::OpenAi(endpoint), model, out);
    }

    /// Key `index`; keyless providers (no keys configured) have the one empty key at index 0.
    pub fn key(&self, index: usize) -> Option<&ProviderKey> {
        if self.keys.is_empty() {
            return (index == 0).then_some(&NO_KEY);
        }
        self.keys.get(index)
    }

    /// The retry policy in the form the routing module computes backoffs with.
    pub fn retry_policy(&self) -> crate::routing::retry::RetryPolicy {
        crate::routing::retry::RetryPolicy {
            max_attempts: self.retry.max_attempts,
            initial_backoff: std::time::Duration::from_millis(self.retry.backoff_ms),
            max_backoff: std::time::Duration::from_millis(self.retry.max_backoff_ms),
            deadline: std::time::Duration::from_millis(self.retry.deadline_ms),
        }
    }

    /// The wire format of requests for `model`.
    pub fn format(&self, model: &str) -> WireFormat {
        self.api.format(model)
    }

    /// Picks a key allowed for `model`, weighted-random; `None` when no key may serve it.
    /// Keyless providers (no keys configured) return the empty key.
    pub fn pick_key(&self, model: &str, rng: &mut fastrand::Rng) -> Option<&ProviderKey> {
        if self.keys.is_empty() {
            return Some(&NO_KEY);
        }
        weighted_pick(
            self.keys.iter().filter(|k| k.allows(model)),
            |k| k.weight,
            rng,
        )
    }
}

/// The key of keyless providers.
static NO_KEY: ProviderKey = ProviderKey {
    auth_line: Bytes::new(),
    secret: String::new(),
    weight: 1,
    models: Vec::new(),
};

/// The addressing of `cfg`'s kind.
fn api_for(cfg: &ProviderConfig) -> Result<Box<dyn ProviderApi>, String> {
    Ok(match cfg.kind {
        ProviderKind::Azure => Box::new(azure::Azure {
            api_version: cfg.api_version.clone().unwrap_or_default(),
        }),
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic),
        ProviderKind::Gemini => Box::new(gemini::Gemini),
        ProviderKind::Cohere => Box::new(cohere::Cohere),
        ProviderKind::Bedrock => Box::new(bedrock::Bedrock::new(cfg)?),
        ProviderKind::Vertex => Box::new(vertex::Vertex::new(cfg)?),
        kind => Box::new(openai::OpenAi { kind }),
    })
}

/// The pre-formatted auth header line of a key of `kind` (empty when each request is signed or
/// the key is empty).
fn auth_line_for(kind: ProviderKind, key: &str) -> Bytes {
    if key.is_empty() {
        return Bytes::new();
    }
    let (name, prefix): (&[u8], &[u8]) = match kind {
        ProviderKind::Azure => (b"api-key", b""),
        ProviderKind::Anthropic => (b"x-api-key", b""),
        ProviderKind::Gemini => (b"x-goog-api-key", b""),
        ProviderKind::Bedrock => return Bytes::new(),
        _ => (b"authorization", b"Bearer "),
    };
    let mut out = BytesMut::with_capacity(name.len() + prefix.len() + key.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(prefix);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Appends `s` percent-encoded as one URL path segment (unreserved characters kept).
pub fn write_path_segment(s: &str, out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.extend_from_slice(&[b]);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(keys: Vec<ProviderKey>) -> Provider {
        Provider {
            name: "p".into(),
            kind: ProviderKind::OpenAi,
            api: Box::new(openai::OpenAi {
                kind: ProviderKind::OpenAi,
            }),
            origin: crate::upstream::Origin::new(&crate::config::BaseUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 80,
                path: "/v1".into(),
            }),
            path_prefix: "/v1".into(),
            fixed_headers: Bytes::new(),
            keys,
            first_byte_timeout: std::time::Duration::from_secs(1),
            idle_timeout: std::time::Duration::from_secs(1),
            retry: crate::config::RetryConfig::default(),
            total_timeout: None,
            connect_timeout: std::time::Duration::from_secs(1),
            pool_idle_timeout: std::time::Duration::from_secs(1),
            pool_max_idle: 1,
            tls: None,
        }
    }

    fn key(value: &str, weight: u32, models: &[&str]) -> ProviderKey {
        ProviderKey {
            auth_line: auth_line_for(ProviderKind::OpenAi, value),
            secret: value.to_string(),
            weight,
            models: models.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn weighted_choice_respects_weights_and_model_restrictions() {
        let p = provider(vec![
            key("a", 3, &[]),
            key("b", 1, &[]),
            key("c", 100, &["only-this"]),
        ]);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            let k = p.pick_key("gpt-x", &mut rng).unwrap();
            let i = p.keys.iter().position(|x| std::ptr::eq(x, k)).unwrap();
            counts[i] += 1;
        }
        assert_eq!(counts[2], 0, "restricted key must not serve other models");
        let share_a = f64::from(counts[0]) / 40_000.0;
        assert!((share_a - 0.75).abs() < 0.02, "share of a was {share_a}");
        let k = p.pick_key("only-this", &mut rng).unwrap();
        assert!(k.allows("only-this"));
    }

    #[test]
    fn no_eligible_key() {
        let p = provider(vec![key("c", 1, &["m1"])]);
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(p.pick_key("m2", &mut rng).is_none());
        let keyless = provider(vec![]);
        assert!(keyless.pick_key("any", &mut rng).is_some());
    }

    #[test]
    fn targets() {
        let p = provider(vec![]);
        let mut out = BytesMut::new();
        p.write_target(Endpoint::ChatCompletions, "gpt", &mut out);
        assert_eq!(&out[..], b"/v1/chat/completions");
    }
}
