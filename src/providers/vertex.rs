//! Google Vertex AI: Gemini models (`publishers/google`, Gemini's format) and Claude models
//! (`publishers/anthropic`, Anthropic's format with the model in the URL and
//! `anthropic_version` in the body), under `projects/{project}/locations/{region}`.
//! Authentication is an OAuth access token: from a service-account key exchanged off the request
//! path (`vertex_auth.rs`), or configured keys used as tokens.

use std::sync::Arc;

use bytes::BytesMut;

use super::vertex_auth::{ServiceAccountKey, TokenSource};
use super::{Operation, Provider, ProviderApi, ProviderKey, WireFormat};
use crate::config::ProviderConfig;

/// The `anthropic_version` Vertex expects in Claude request bodies.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// Vertex's URL scheme and credentials.
pub struct Vertex {
    /// `/projects/{project}/locations/{region}/publishers/`, pre-formatted.
    publishers: String,
    /// Tokens from the service-account key, when one is configured (else keys are tokens).
    tokens: Option<Arc<TokenSource>>,
}

impl Vertex {
    /// Reads project and region from a validated configuration.
    pub fn new(cfg: &ProviderConfig) -> Result<Vertex, String> {
        let project = cfg.project.as_deref().ok_or("vertex needs 'project'")?;
        let region = cfg.region.as_deref().ok_or("vertex needs 'region'")?;
        let tokens = match &cfg.credentials_file {
            Some(path) => {
                let key = ServiceAccountKey::from_file(std::path::Path::new(path))
                    .map_err(|e| format!("provider '{}': {e}", cfg.name))?;
                Some(token_source(path, key))
            }
            None => None,
        };
        Ok(Vertex {
            publishers: format!("/projects/{project}/locations/{region}/publishers/"),
            tokens,
        })
    }
}

/// How long start-up waits for a new key's first token before serving anyway (requests then
/// get 503 until it arrives).
const FIRST_TOKEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The token source for a key: the one already running for the same key (a reload keeps its
/// token instead of waiting for a new exchange), else a new one, waited for briefly. The registry
/// lock is taken only while a configuration is built, never on the request path.
fn token_source(path: &str, key: ServiceAccountKey) -> Arc<TokenSource> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError, Weak};
    static SOURCES: OnceLock<Mutex<HashMap<String, Weak<TokenSource>>>> = OnceLock::new();
    let id = format!(
        "{path}\n{}\n{}\n{}",
        key.client_email,
        key.token_uri,
        key.private_key_id.as_deref().unwrap_or_default()
    );
    let registry = SOURCES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut sources = registry.lock().unwrap_or_else(PoisonError::into_inner);
    sources.retain(|_, weak| weak.strong_count() > 0);
    if let Some(existing) = sources.get(&id).and_then(Weak::upgrade) {
        return existing;
    }
    let source = TokenSource::start(key);
    sources.insert(id, Arc::downgrade(&source));
    drop(sources);
    if !source.wait_ready(FIRST_TOKEN_WAIT) {
        tracing::warn!(
            "no Vertex access token after {}s ({}); requests get 503 until one arrives",
            FIRST_TOKEN_WAIT.as_secs(),
            source.last_error().unwrap_or_default()
        );
    }
    source
}

/// Whether `model` is one of Anthropic's models on Vertex.
fn is_claude(model: &str) -> bool {
    model.starts_with("claude")
}

impl ProviderApi for Vertex {
    fn format(&self, model: &str) -> WireFormat {
        if is_claude(model) {
            WireFormat::Anthropic
        } else {
            WireFormat::Gemini
        }
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(self.publishers.as_bytes());
        if is_claude(model) {
            out.extend_from_slice(b"anthropic/models/");
            let action: &[u8] = match op {
                Operation::Chat { stream: false } => b":rawPredict",
                Operation::Chat { stream: true } => b":streamRawPredict",
                Operation::CountTokens => {
                    out.extend_from_slice(b"count-tokens:rawPredict");
                    return Some(());
                }
                Operation::Embed | Operation::OpenAi(_) => return None,
            };
            super::write_path_segment(model, out);
            out.extend_from_slice(action);
            Some(())
        } else {
            out.extend_from_slice(b"google");
            if op == Operation::Embed {
                // Vertex embeddings use the `:predict` instances format, not batchEmbedContents.
                out.extend_from_slice(b"/models/");
                super::write_path_segment(model, out);
                out.extend_from_slice(b":predict");
                return Some(());
            }
            super::gemini::write_model_action(model, op, out)
        }
    }

    fn write_auth(
        &self,
        _p: &Provider,
        key: &ProviderKey,
        _target: &[u8],
        _body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), String> {
        let Some(tokens) = &self.tokens else {
            out.extend_from_slice(&key.auth_line);
            return Ok(());
        };
        // The refresher thread keeps a fresh token published; reading it is one atomic load.
        match tokens.current() {
            Some(bearer) => {
                crate::http::write::header(out, b"authorization", bearer.as_bytes());
                Ok(())
            }
            None => Err(format!(
                "no Vertex access token yet: {}",
                tokens
                    .last_error()
                    .unwrap_or_else(|| "the first token exchange has not finished".into())
            )),
        }
    }

    fn passthrough_body(&self, model: &str) -> bool {
        !is_claude(model)
    }

    fn adapt_request(&self, model: &str, op: Operation, body: &mut serde_json::Value) {
        if is_claude(model) {
            if let Some(obj) = body.as_object_mut() {
                // The model is in the URL, except for token counting, which has one URL for all.
                if op != Operation::CountTokens {
                    obj.remove("model");
                }
                obj.insert(
                    "anthropic_version".to_string(),
                    serde_json::Value::String(VERTEX_ANTHROPIC_VERSION.to_string()),
                );
            }
        }
    }
}
