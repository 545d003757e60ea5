//! AWS Bedrock runtime: the Converse API (`/model/{id}/converse`, `/converse-stream`) for chat
//! and `InvokeModel` (`/model/{id}/invoke`) for embeddings, each request signed with SigV4
//! (`sigv4.rs`) using the key `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`.

use bytes::BytesMut;

use super::sigv4::{self, SigningInput};
use super::{Operation, Provider, ProviderApi, ProviderKey, WireFormat};
use crate::config::ProviderConfig;

/// Bedrock's URL scheme and signing region.
pub struct Bedrock {
    region: String,
}

impl Bedrock {
    /// Reads the region from a validated configuration.
    pub fn new(cfg: &ProviderConfig) -> Result<Bedrock, String> {
        Ok(Bedrock {
            region: cfg.region.clone().ok_or("bedrock needs 'region'")?,
        })
    }
}

impl ProviderApi for Bedrock {
    fn format(&self, _model: &str) -> WireFormat {
        WireFormat::Bedrock
    }

    fn write_target(
        &self,
        p: &Provider,
        op: Operation,
        model: &str,
        out: &mut BytesMut,
    ) -> Option<()> {
        let path = match op {
            Operation::Chat { stream } => sigv4::bedrock_path(model, stream),
            Operation::Embed => sigv4::bedrock_invoke_path(model),
            Operation::CountTokens | Operation::OpenAi(_) => return None,
        };
        out.extend_from_slice(p.path_prefix.as_bytes());
        out.extend_from_slice(path.as_bytes());
        Some(())
    }

    fn write_auth(
        &self,
        p: &Provider,
        key: &ProviderKey,
        target: &[u8],
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), String> {
        let (access_key_id, secret_access_key, session_token) = sigv4::parse_key(&key.secret)
            .ok_or("bedrock key is not ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]")?;
        let target = std::str::from_utf8(target).map_err(|e| e.to_string())?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // The content type is written by the request builder; it is signed with the same value.
        let signed = sigv4::sign(&SigningInput {
            method: "POST",
            host: &p.origin.host_header,
            path,
            query,
            headers: &[("content-type", "application/json")],
            payload: body,
            region: &self.region,
            service: "bedrock",
            access_key_id,
            secret_access_key,
            session_token,
            unix_time,
        });
        out.extend_from_slice(signed.header_lines().as_bytes());
        Ok(())
    }
}
