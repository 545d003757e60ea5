//! Stage 9, return: response heads with the gateway's headers, and errors in the caller's format.

use bytes::BytesMut;

use crate::error::{ApiFormat, GatewayError};
use crate::http::write;
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;

/// The `x-shardgate-*` and `x-request-id` values of one response.
pub struct Meta<'a> {
    /// `x-request-id`
    pub request_id: &'a [u8],
    /// `x-shardgate-provider` (omitted when routing was not reached).
    pub provider: Option<&'a str>,
    /// `x-shardgate-model` (omitted when routing was not reached).
    pub model: Option<&'a str>,
    /// `x-shardgate-attempts`
    pub attempts: u32,
    /// `x-shardgate-cache`: off, miss, hit-exact or hit-semantic.
    pub cache: &'static str,
}

impl<'a> Meta<'a> {
    /// Meta for a response the gateway made itself, before any routing.
    pub fn local(request_id: &'a [u8]) -> Meta<'a> {
        Meta {
            request_id,
            provider: None,
            model: None,
            attempts: 0,
            cache: "off",
        }
    }

    /// Appends the headers.
    pub fn write(&self, out: &mut BytesMut) {
        write::header(out, b"x-request-id", self.request_id);
        if let Some(p) = self.provider {
            write::header(out, b"x-shardgate-provider", p.as_bytes());
        }
        if let Some(m) = self.model {
            write::header(out, b"x-shardgate-model", m.as_bytes());
        }
        write::header_u64(out, b"x-shardgate-attempts", u64::from(self.attempts));
        write::header(out, b"x-shardgate-cache", self.cache.as_bytes());
    }
}

/// Appends a complete response head with `Content-Length` framing.
pub fn head(
    out: &mut BytesMut,
    status: u16,
    content_type: &[u8],
    len: usize,
    meta: &Meta<'_>,
    keep_alive: bool,
) {
    write::status_line(out, status);
    write::header(out, b"content-type", content_type);
    write::header_u64(out, b"content-length", len as u64);
    meta.write(out);
    if !keep_alive {
        write::header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `err` to the caller in `format`; returns false if the caller is gone.
pub async fn error(
    shard: &Shard,
    conn: &mut ClientConn,
    err: &GatewayError,
    format: ApiFormat,
    keep_alive: bool,
    request_id: Option<&[u8]>,
) -> bool {
    let generated;
    let request_id = match request_id {
        Some(id) => id,
        None => {
            generated = shard.next_request_id();
            &generated[..]
        }
    };
    error_with_meta(conn, err, format, keep_alive, &Meta::local(request_id)).await
}

/// Writes `err` with explicit response meta (provider and model known).
pub async fn error_with_meta(
    conn: &mut ClientConn,
    err: &GatewayError,
    format: ApiFormat,
    keep_alive: bool,
    meta: &Meta<'_>,
) -> bool {
    let mut body = std::mem::take(&mut conn.scratch);
    body.clear();
    err.write_body(format, &mut body);
    conn.wbuf.clear();
    write::status_line(&mut conn.wbuf, err.status());
    write::header(&mut conn.wbuf, b"content-type", b"application/json");
    write::header_u64(&mut conn.wbuf, b"content-length", body.len() as u64);
    if err.status() == 503 {
        // Tell SDKs when to come back instead of letting them retry at once.
        write::header(&mut conn.wbuf, b"retry-after", b"1");
    }
    meta.write(&mut conn.wbuf);
    if !keep_alive {
        write::header(&mut conn.wbuf, b"connection", b"close");
    }
    conn.wbuf.extend_from_slice(b"\r\n");
    if conn.body_allowed() {
        conn.wbuf.extend_from_slice(&body);
    }
    body.clear();
    conn.scratch = body;
    conn.flush().await
}
