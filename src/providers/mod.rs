//! Provider adapters: how a request for one provider is addressed and authenticated upstream.
//!
//! This build speaks the OpenAI wire format only: `openai.rs` covers OpenAI and every server that
//! copies its API (Groq, Mistral, DeepSeek, Together, OpenRouter, Fireworks, xAI, Ollama, vLLM, generic
//! OpenAI-compatible), `azure.rs` covers Azure OpenAI's deployment URLs. Everything a request needs
//! that does not depend on the request (auth header lines, extra headers, the Host header) is
//! formatted once at start-up so that the hot path only copies bytes.

pub mod azure;
pub mod openai;

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

/// Which wire dialect a provider's requests are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's own URL scheme and `Authorization: Bearer`.
    OpenAi,
    /// Azure OpenAI: `/openai/deployments/{model}/...?api-version=`, `api-key` header.
    Azure,
}

/// One provider key with its pre-formatted auth header line.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    /// `name: value\r\n` ready to copy into a request head (empty for keyless servers).
    pub auth_line: Bytes,
    /// Relative weight among eligible keys.
    pub weight: u32,
    /// Models this key may serve; empty means all.
    pub models: Vec<String>,
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
    /// Its wire dialect.
    pub wire: Wire,
    /// Where to connect.
    pub origin: crate::upstream::Origin,
    /// Path prefix of the API root (for example `/v1`), no trailing slash.
    pub path_prefix: String,
    /// `host: ...\r\n` plus the configured extra headers, pre-formatted.
    pub fixed_headers: Bytes,
    /// Keys, in configuration order.
    pub keys: Vec<ProviderKey>,
    /// Azure `api-version`.
    pub api_version: String,
    /// Deadline for the response head, and the longest wait for each later body read.
    pub timeout: std::time::Duration,
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
        let wire = if cfg.kind == ProviderKind::Azure {
            Wire::Azure
        } else {
            Wire::OpenAi
        };
        let origin = crate::upstream::Origin::new(&cfg.base_url);
        let mut fixed = BytesMut::new();
        crate::http::write::header(&mut fixed, b"host", origin.host_header.as_bytes());
        for (name, value) in &cfg.headers {
            crate::http::write::header(&mut fixed, name.as_bytes(), value.as_bytes());
        }
        let keys = cfg
            .keys
            .iter()
            .map(|k| ProviderKey {
                auth_line: match wire {
                    Wire::OpenAi => openai::auth_line(&k.value),
                    Wire::Azure => azure::auth_line(&k.value),
                },
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
            wire,
            origin,
            path_prefix: cfg.base_url.path.trim_end_matches('/').to_string(),
            fixed_headers: fixed.freeze(),
            keys,
            api_version: cfg.api_version.clone().unwrap_or_default(),
            timeout: std::time::Duration::from_millis(cfg.timeout_ms),
            connect_timeout: std::time::Duration::from_millis(cfg.connect_timeout_ms),
            pool_idle_timeout: std::time::Duration::from_millis(cfg.pool_idle_timeout_ms),
            pool_max_idle: cfg.pool_max_idle,
            tls,
        })
    }

    /// Appends the request target (path and query) for `endpoint` and `model`.
    pub fn write_target(&self, endpoint: Endpoint, model: &str, out: &mut BytesMut) {
        match self.wire {
            Wire::OpenAi => openai::write_target(self, endpoint, out),
            Wire::Azure => azure::write_target(self, endpoint, model, out),
        }
    }

    /// Picks a key allowed for `model`, weighted-random; `None` when no key may serve it.
    /// Keyless providers (no keys configured) return the empty key.
    pub fn pick_key(&self, model: &str, rng: &mut fastrand::Rng) -> Option<&ProviderKey> {
        static NO_KEY: ProviderKey = ProviderKey {
            auth_line: Bytes::new(),
            weight: 1,
            models: Vec::new(),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(keys: Vec<ProviderKey>) -> Provider {
        Provider {
            name: "p".into(),
            kind: ProviderKind::OpenAi,
            wire: Wire::OpenAi,
            origin: crate::upstream::Origin::new(&crate::config::BaseUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 80,
                path: "/v1".into(),
            }),
            path_prefix: "/v1".into(),
            fixed_headers: Bytes::new(),
            keys,
            api_version: String::new(),
            timeout: std::time::Duration::from_secs(1),
            connect_timeout: std::time::Duration::from_secs(1),
            pool_idle_timeout: std::time::Duration::from_secs(1),
            pool_max_idle: 1,
            tls: None,
        }
    }

    fn key(value: &str, weight: u32, models: &[&str]) -> ProviderKey {
        ProviderKey {
            auth_line: openai::auth_line(value),
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
