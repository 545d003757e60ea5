//! Azure OpenAI: the model names a deployment in the URL, the key goes in `api-key`, and every
//! request carries `api-version`.

use bytes::{Bytes, BytesMut};

use super::{Endpoint, Provider};

/// The `api-key` header line for `key`.
pub fn auth_line(key: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.extend_from_slice(b"api-key: ");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Appends `{path_prefix}/openai/deployments/{model}{endpoint}?api-version={v}`; the deployment
/// name is percent-encoded where it is not a plain URL path segment.
pub fn write_target(p: &Provider, endpoint: Endpoint, model: &str, out: &mut BytesMut) {
    out.extend_from_slice(p.path_prefix.as_bytes());
    out.extend_from_slice(b"/openai/deployments/");
    for &b in model.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.extend_from_slice(&[b]);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        }
    }
    out.extend_from_slice(endpoint.suffix().as_bytes());
    out.extend_from_slice(b"?api-version=");
    out.extend_from_slice(p.api_version.as_bytes());
}
