//! OpenAI and the OpenAI-compatible family: `{base}/chat/completions`, `Authorization: Bearer KEY`.

use bytes::{Bytes, BytesMut};

use super::{Endpoint, Provider};

/// The `authorization` header line for `key`; keyless servers (an empty key) get none.
pub fn auth_line(key: &str) -> Bytes {
    if key.is_empty() {
        return Bytes::new();
    }
    let mut out = BytesMut::new();
    out.extend_from_slice(b"authorization: Bearer ");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Appends `{path_prefix}{endpoint}`.
pub fn write_target(p: &Provider, endpoint: Endpoint, out: &mut BytesMut) {
    out.extend_from_slice(p.path_prefix.as_bytes());
    out.extend_from_slice(endpoint.suffix().as_bytes());
}
