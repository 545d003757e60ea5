//! OpenAI and the OpenAI-compatible family: `{base}/chat/completions`, `Authorization: Bearer KEY`.
//!
//! Bodies the gateway writes itself (translated from another format) are adjusted for the few
//! servers whose "compatible" API differs: Mistral names the seed `random_seed` and refuses
//! `stream_options` (it reports usage in the last chunk anyway). Bodies OpenAI-format callers
//! send are passed through untouched: the caller chose its fields for that server.

use bytes::BytesMut;
use serde_json::Value;

use super::{Operation, Provider, ProviderApi, WireFormat};
use crate::config::ProviderKind;

/// OpenAI's URL scheme (the base URL ends with the API root, usually `/v1`).
pub struct OpenAi {
    /// Which member of the family, for its quirks.
    pub kind: ProviderKind,
}

impl ProviderApi for OpenAi {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::OpenAi
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        _model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        let suffix = match op {
            Operation::OpenAi(endpoint) => endpoint.suffix(),
            Operation::Chat { .. } => "/chat/completions",
            Operation::Embed => "/embeddings",
            Operation::CountTokens => return None,
        };
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        Some(())
    }

    fn adapt_request(&self, _model: &str, _op: Operation, body: &mut Value) {
        if self.kind != ProviderKind::Mistral {
            return;
        }
        if let Some(obj) = body.as_object_mut() {
            obj.remove("stream_options");
            if let Some(seed) = obj.remove("seed") {
                obj.insert("random_seed".into(), seed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_bodies_get_its_names() {
        let mut body =
            serde_json::json!({"model": "m", "seed": 7, "stream_options": {"include_usage": true}});
        let op = Operation::Chat { stream: true };
        OpenAi {
            kind: ProviderKind::OpenAi,
        }
        .adapt_request("m", op, &mut body);
        assert_eq!(body["seed"], 7);
        OpenAi {
            kind: ProviderKind::Mistral,
        }
        .adapt_request("m", op, &mut body);
        assert_eq!(body, serde_json::json!({"model": "m", "random_seed": 7}));
    }
}
