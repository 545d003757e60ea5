//! Azure OpenAI: the model names a deployment in the URL, the key goes in `api-key`, and every
//! request carries `api-version`.

use bytes::BytesMut;

use super::{write_path_segment, Endpoint, Operation, Provider, ProviderApi, WireFormat};

/// Azure's deployment URLs.
pub struct Azure {
    /// The `api-version` query value.
    pub api_version: String,
}

impl ProviderApi for Azure {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::OpenAi
    }

    /// `{path_prefix}/openai/deployments/{model}{endpoint}?api-version={v}`.
    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        let suffix = match op {
            // The Responses API is not per deployment: the deployment is the body's `model`.
            Operation::OpenAi(Endpoint::Responses) => {
                out.extend_from_slice(p.path_prefix.as_bytes());
                out.extend_from_slice(b"/openai/responses?api-version=");
                out.extend_from_slice(self.api_version.as_bytes());
                return Some(());
            }
            Operation::OpenAi(endpoint) => endpoint.suffix(),
            Operation::Chat { .. } => "/chat/completions",
            Operation::Embed => "/embeddings",
            Operation::CountTokens => return None,
        };
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(b"/openai/deployments/");
        write_path_segment(model, out);
        out.extend_from_slice(suffix.as_bytes());
        out.extend_from_slice(b"?api-version=");
        out.extend_from_slice(self.api_version.as_bytes());
        Some(())
    }
}
