//! OpenAI and the OpenAI-compatible family: `{base}/chat/completions`, `Authorization: Bearer KEY`.

use bytes::BytesMut;

use super::{Operation, Provider, ProviderApi, WireFormat};

/// OpenAI's URL scheme (the base URL ends with the API root, usually `/v1`).
pub struct OpenAi;

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
}
