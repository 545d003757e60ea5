//! Relaying a provider's response to the caller as it arrives.
//!
//! Content-Length bodies go through as they are read (the upstream read buffer itself is written to
//! the caller, no copy). Chunked and close-delimited bodies are re-framed as chunks to the caller;
//! event streams are cut at event boundaries so that a provider failing mid-stream can be reported
//! with a well-formed error event instead of a truncated one.

use std::time::Duration;

use bytes::{Buf, BytesMut};

use super::respond::Meta;
use crate::error::ApiFormat;
use crate::http::chunked::{self, ChunkedDecoder};
use crate::http::response::ResponseFraming;
use crate::http::write;
use crate::providers::Provider;
use crate::server::conn::ClientConn;
use crate::upstream::exchange::{UpstreamConn, UpstreamFailure};

/// Largest partial server-sent event held back waiting for its end.
const MAX_HELD_EVENT: usize = 1024 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy)]
pub struct RelayOutcome {
    /// Status relayed to the caller.
    pub status: u16,
    /// Whether the caller's connection can carry another request.
    pub client_keep_alive: bool,
    /// Whether the upstream connection ended cleanly and may be pooled.
    pub upstream_reusable: bool,
}

/// Relays the response whose head `up` holds. `waited` accumulates time spent waiting on reads.
#[allow(clippy::too_many_arguments)]
pub async fn relay(
    conn: &mut ClientConn,
    up: &mut UpstreamConn,
    provider: &Provider,
    meta: &Meta<'_>,
    format: ApiFormat,
    keep_alive: bool,
    deadline: std::time::Instant,
    waited: &mut Duration,
) -> RelayOutcome {
    // Each read waits at most the provider's idle timeout, never past the request's deadline.
    let read_timeout = || {
        provider
            .idle_timeout
            .min(deadline.saturating_duration_since(std::time::Instant::now()))
    };
    let status = up.head.status;
    let framing = up.head.framing.unwrap_or(ResponseFraming::UntilClose);
    let sse = up.head.is_event_stream;
    // HTTP/1.0 callers know no chunked encoding: a body of unknown length goes to them raw and
    // ends when the connection closes.
    let raw_until_close = conn.head.minor_version == 0
        && matches!(
            framing,
            ResponseFraming::Chunked | ResponseFraming::UntilClose
        );
    let keep_alive = keep_alive && !raw_until_close;
    let mut out = RelayOutcome {
        status,
        client_keep_alive: false,
        upstream_reusable: false,
    };

    conn.wbuf.clear();
    write::status_line(&mut conn.wbuf, status);
    // Headers the provider named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection = up.head.header(b"connection");
    for (name, value) in up.head.headers() {
        if name.eq_ignore_ascii_case(b"x-request-id") {
            write::header(&mut conn.wbuf, b"x-upstream-request-id", value);
        } else if !is_hop_header(name)
            && !connection.is_some_and(|c| crate::http::has_token(c, name))
        {
            write::header(&mut conn.wbuf, name, value);
        }
    }
    meta.write(&mut conn.wbuf);
    if !keep_alive {
        write::header(&mut conn.wbuf, b"connection", b"close");
    }
    // The head is copied: release its bytes now so that reading the rest of the body can reuse
    // the read buffer instead of allocating a new one.
    up.head.attach(bytes::Bytes::new());

    match framing {
        ResponseFraming::Empty => {
            // 204 and 304 carry no Content-Length of their own (RFC 9110 §8.6).
            if status != 204 && status != 304 {
                write::header_u64(&mut conn.wbuf, b"content-length", 0);
            }
            conn.wbuf.extend_from_slice(b"\r\n");
            out.client_keep_alive = conn.flush().await && keep_alive;
            out.upstream_reusable = up.head.keep_alive && up.rbuf.is_empty();
        }
        ResponseFraming::Length(len) => {
            write::header_u64(&mut conn.wbuf, b"content-length", len);
            conn.wbuf.extend_from_slice(b"\r\n");
            let first = (len.min(up.rbuf.len() as u64)) as usize;
            conn.wbuf.extend_from_slice(&up.rbuf[..first]);
            up.rbuf.advance(first);
            let mut remaining = len - first as u64;
            if !conn.flush().await {
                return out;
            }
            while remaining > 0 {
                if up.rbuf.is_empty() {
                    let t = std::time::Instant::now();
                    let got = up.fill(read_timeout()).await;
                    *waited += t.elapsed();
                    if let Err(f) = got {
                        log_cut(provider, &f);
                        // The head promised more bytes than we can deliver: only closing tells.
                        return out;
                    }
                }
                let take = (remaining.min(up.rbuf.len() as u64)) as usize;
                // Hand the read buffer itself to the caller's socket: no copy.
                let piece = up.rbuf.split_to(take);
                let (ok, piece) = conn.write_owned(piece).await;
                if !ok {
                    return out;
                }
                remaining -= take as u64;
                if up.rbuf.is_empty() {
                    // Reuse the written (now cleared) buffer for the next read.
                    up.rbuf = piece;
                }
            }
            out.client_keep_alive = keep_alive;
            out.upstream_reusable = up.head.keep_alive && up.rbuf.is_empty();
        }
        ResponseFraming::Chunked | ResponseFraming::UntilClose => {
            if !raw_until_close {
                write::header(&mut conn.wbuf, b"transfer-encoding", b"chunked");
            }
            conn.wbuf.extend_from_slice(b"\r\n");
            let chunked_in = framing == ResponseFraming::Chunked;
            let mut decoder = ChunkedDecoder::new();
            let mut payload = std::mem::take(&mut conn.scratch);
            payload.clear();
            let result = loop {
                let done = if chunked_in {
                    match decoder.decode(&mut up.rbuf, &mut payload) {
                        Ok(done) => done,
                        Err(e) => break Err(format!("invalid chunked framing from provider: {e}")),
                    }
                } else {
                    payload.extend_from_slice(&up.rbuf);
                    up.rbuf.clear();
                    false
                };
                // Hold back a partial event, but never more than MAX_HELD_EVENT: a provider that
                // never ends its events must not grow this buffer without bound.
                let ready = if sse && !done && payload.len() <= MAX_HELD_EVENT {
                    complete_events_len(&payload)
                } else {
                    payload.len()
                };
                frame(&payload[..ready], raw_until_close, &mut conn.wbuf);
                payload.advance(ready);
                if done {
                    end_body(raw_until_close, &mut conn.wbuf);
                    break Ok(true);
                }
                if !conn.wbuf.is_empty() && !conn.flush().await {
                    break Ok(false);
                }
                let t = std::time::Instant::now();
                let got = up.fill(read_timeout()).await;
                *waited += t.elapsed();
                match got {
                    Ok(_) => {}
                    Err(UpstreamFailure::Closed) if !chunked_in => {
                        frame(&payload, raw_until_close, &mut conn.wbuf);
                        payload.clear();
                        end_body(raw_until_close, &mut conn.wbuf);
                        break Ok(true);
                    }
                    Err(f) => {
                        log_cut(provider, &f);
                        break Err(failure_text(&f));
                    }
                }
            };
            payload.clear();
            conn.scratch = payload;
            match result {
                Ok(true) => {
                    out.client_keep_alive = conn.flush().await && keep_alive;
                    out.upstream_reusable = chunked_in && up.head.keep_alive && up.rbuf.is_empty();
                }
                Ok(false) => {}
                Err(reason) if sse => {
                    // End the stream well-formed, with an error event the caller's SDK surfaces.
                    let message =
                        format!("provider '{}' failed mid-stream: {reason}", provider.name);
                    let event = interrupted_event(format, &message);
                    frame(&event, raw_until_close, &mut conn.wbuf);
                    end_body(raw_until_close, &mut conn.wbuf);
                    out.client_keep_alive = conn.flush().await && keep_alive;
                }
                Err(_) => {
                    // Not an event stream: no in-band way to signal; omitting the last chunk and
                    // closing makes the caller's HTTP client report the truncation.
                    let _ = conn.flush().await;
                }
            }
        }
    }
    out
}

/// The event that ends a relayed stream cut by the provider, in the caller's own format: an
/// `error` chunk for OpenAI (the SDKs raise on it), `event: error` for Anthropic, an error chunk
/// with a numeric `code` for Gemini.
fn interrupted_event(format: ApiFormat, message: &str) -> BytesMut {
    let mut event = BytesMut::new();
    match format {
        ApiFormat::OpenAi => {
            event.extend_from_slice(b"data: {\"error\":{\"message\":");
            crate::json_scan::write_json_string(message, &mut event);
            event.extend_from_slice(
                b",\"type\":\"upstream_error\",\"param\":null,\"code\":\"stream_interrupted\"}}\n\n",
            );
        }
        ApiFormat::Anthropic => {
            event.extend_from_slice(
                b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":",
            );
            crate::json_scan::write_json_string(message, &mut event);
            event.extend_from_slice(b"}}\n\n");
        }
        ApiFormat::Gemini => {
            event.extend_from_slice(b"data: {\"error\":{\"code\":502,\"message\":");
            crate::json_scan::write_json_string(message, &mut event);
            event.extend_from_slice(b",\"status\":\"INTERNAL\"}}\n\n");
        }
    }
    event
}

/// Appends `payload` as one chunk, or as is for a caller that gets the raw body.
fn frame(payload: &[u8], raw: bool, out: &mut BytesMut) {
    if raw {
        out.extend_from_slice(payload);
    } else {
        chunked::write_chunk(payload, out);
    }
}

/// Appends the end of a chunked body (nothing for a raw body: closing the connection ends it).
fn end_body(raw: bool, out: &mut BytesMut) {
    if !raw {
        out.extend_from_slice(chunked::LAST_CHUNK);
    }
}

/// Length of the prefix of `data` made of complete server-sent events (ending in a blank line).
fn complete_events_len(data: &[u8]) -> usize {
    let mut end = data.len();
    while let Some(i) = memchr::memrchr(b'\n', &data[..end]) {
        let before = &data[..i];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return i + 1;
        }
        end = i;
    }
    0
}

fn failure_text(f: &UpstreamFailure) -> String {
    match f {
        UpstreamFailure::Timeout => "no data within the provider timeout".to_string(),
        UpstreamFailure::Closed => "the provider closed the connection".to_string(),
        UpstreamFailure::Io(e) => format!("connection error: {e}"),
    }
}

fn log_cut(provider: &Provider, f: &UpstreamFailure) {
    tracing::warn!(provider = %provider.name, "response cut short: {}", failure_text(f));
}

/// Response headers not relayed: hop-by-hop, and framing the gateway writes itself.
fn is_hop_header(name: &[u8]) -> bool {
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        2 => eq(b"te"),
        7 => eq(b"trailer") || eq(b"upgrade"),
        10 => eq(b"connection") || eq(b"keep-alive"),
        14 => eq(b"content-length"),
        16 => eq(b"proxy-connection"),
        17 => eq(b"transfer-encoding"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_events_speak_the_callers_format() {
        let body = |e: &BytesMut| {
            let text = std::str::from_utf8(e).unwrap().to_string();
            let data = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap()
                .to_string();
            (
                text,
                serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            )
        };
        let (_, v) = body(&interrupted_event(ApiFormat::OpenAi, "cut \"x\""));
        assert_eq!(v["error"]["code"], "stream_interrupted");
        assert_eq!(v["error"]["message"], "cut \"x\"");
        let (text, v) = body(&interrupted_event(ApiFormat::Anthropic, "cut"));
        assert!(text.starts_with("event: error\n"));
        assert_eq!(v["error"]["type"], "api_error");
        let (_, v) = body(&interrupted_event(ApiFormat::Gemini, "cut"));
        assert_eq!(v["error"]["code"], 502);
        assert_eq!(v["error"]["status"], "INTERNAL");
    }

    #[test]
    fn event_boundaries() {
        assert_eq!(complete_events_len(b"data: a\n\ndata: b"), 9);
        assert_eq!(complete_events_len(b"data: a\r\n\r\ndata: b\r\n\r\n"), 22);
        assert_eq!(complete_events_len(b"data: a\n"), 0);
        assert_eq!(complete_events_len(b""), 0);
        assert_eq!(complete_events_len(b"\n\n"), 2);
    }
}
