//! Cohere v2: `{base}/v2/chat` and `{base}/v2/embed`, `Authorization: Bearer KEY`.

use bytes::BytesMut;

use super::{Operation, Provider, ProviderApi, WireFormat};

/// Cohere's URL scheme (the base URL is the host root).
pub struct Cohere;

impl ProviderApi for Cohere {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::Cohere
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        _model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        let suffix = match op {
            Operation::Chat { .. } => "/v2/chat",
            Operation::Embed => "/v2/embed",
            Operation::OpenAi(_) | Operation::CountTokens => return None,
        };
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        Some(())
    }
}
