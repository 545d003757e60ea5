//! Anthropic Messages: `{base}/messages` (base URL ends in `/v1`), `x-api-key`, and an
//! `anthropic-version` header on every request.

use bytes::BytesMut;

use super::{Operation, Provider, ProviderApi, WireFormat};

/// The API version every request names (Anthropic's only stable version).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Anthropic's URL scheme.
pub struct Anthropic;

impl ProviderApi for Anthropic {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::Anthropic
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        _model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        let suffix = match op {
            Operation::Chat { .. } => "/messages",
            Operation::CountTokens => "/messages/count_tokens",
            Operation::OpenAi(_) | Operation::Embed => return None,
        };
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        Some(())
    }

    fn write_auth(
        &self,
        _p: &Provider,
        key: &super::ProviderKey,
        _target: &[u8],
        _body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), String> {
        out.extend_from_slice(&key.auth_line);
        crate::http::write::header(out, b"anthropic-version", ANTHROPIC_VERSION.as_bytes());
        Ok(())
    }
}
