//! Google Gemini API (AI Studio): the model is in the URL
//! (`{base}/models/{model}:generateContent`, base URL ends in `/v1beta`), the key goes in
//! `x-goog-api-key`, and streams are asked for as server-sent events (`alt=sse`).

use bytes::BytesMut;

use super::{Operation, Provider, ProviderApi, WireFormat};

/// Gemini's URL scheme.
pub struct Gemini;

/// Appends `/models/{model}:{action}` with the streaming query when asked; shared with Vertex.
pub fn write_model_action(model: &str, op: Operation, out: &mut BytesMut) -> Option<()> {
    out.extend_from_slice(b"/models/");
    super::write_path_segment(model, out);
    let action: &[u8] = match op {
        Operation::Chat { stream: false } => b":generateContent",
        Operation::Chat { stream: true } => b":streamGenerateContent?alt=sse",
        Operation::Embed => b":batchEmbedContents",
        Operation::CountTokens => b":countTokens",
        Operation::OpenAi(_) => return None,
    };
    out.extend_from_slice(action);
    Some(())
}

impl ProviderApi for Gemini {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::Gemini
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        out.extend_from_slice(p.path_prefix.as_bytes());
        write_model_action(model, op, out)
    }
}
