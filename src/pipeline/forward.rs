//! Stages 3 and 6–8 for model calls: read the requested model, resolve it, pick the key, then
//! either pass the caller's body through (same format on both sides: bytes with only `model`
//! spliced) or hand over to `translated` (formats differ), run the exchange, relay, record.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::relay;
use super::respond::{self, Meta};
use super::routes::{self, GeminiAction, Inbound};
use super::RequestCtx;
use crate::error::{ErrorKind, GatewayError};
use crate::http::write;
use crate::json_scan::{self, FieldError};
use crate::metrics::RequestRecord;
use crate::providers::{Operation, Provider, ProviderKey, WireFormat};
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;
use crate::upstream::exchange;

/// Longest model name accepted.
const MAX_MODEL_NAME: usize = 256;

/// The routing decision for one request.
pub struct Routed<'g> {
    /// The provider's index in the gateway.
    pub index: usize,
    /// The provider.
    pub provider: &'g Provider,
    /// The key chosen.
    pub key: &'g ProviderKey,
    /// The model as the provider names it.
    pub model: &'g str,
}

/// Proxies one model call; returns whether the caller's connection stays usable.
pub async fn proxy(
    shard: &Shard,
    conn: &mut ClientConn,
    body: Bytes,
    inbound: Inbound,
    ctx: &mut RequestCtx,
) -> bool {
    let gateway = shard.gateway();
    let fields = match json_scan::scan_request(&body) {
        Ok(f) => f,
        Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
    };
    let mut unescaped = String::new();
    let requested = match inbound {
        Inbound::Gemini(_) => {
            let raw = routes::gemini_model(conn.head.path()).map(|(m, _)| m);
            match raw.and_then(|m| percent_decode(m, &mut unescaped)) {
                Some(()) => unescaped.as_str(),
                None => {
                    let err = GatewayError::new(
                        ErrorKind::InvalidField,
                        "the model in the path is not valid percent-encoded UTF-8",
                    );
                    return super::finish_error(shard, conn, ctx, &err).await;
                }
            }
        }
        _ => match json_scan::model_str(&body, &fields, &mut unescaped) {
            Ok(m) => m,
            Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
        },
    };
    // The name ends up in response headers and upstream URLs: refuse anything that could split a
    // header or smuggle a path, and bound its length (it also becomes a metric label).
    if requested.is_empty()
        || requested.len() > MAX_MODEL_NAME
        || requested.bytes().any(|b| b < 0x21 || b == 0x7f)
    {
        let err = GatewayError::new(
            ErrorKind::InvalidField,
            format!("\"model\" must be 1 to {MAX_MODEL_NAME} visible characters without spaces"),
        );
        return super::finish_error(shard, conn, ctx, &err).await;
    }
    let resolved = gateway
        .models
        .resolve(requested, &mut shard.rng.borrow_mut());
    let target = match resolved {
        Ok(t) => t,
        Err(e) => return super::finish_error(shard, conn, ctx, &e).await,
    };
    let Some(provider) = gateway.providers.get(target.provider) else {
        let err = GatewayError::new(ErrorKind::Internal, "resolved provider missing");
        return super::finish_error(shard, conn, ctx, &err).await;
    };
    let key = {
        let mut rng = shard.rng.borrow_mut();
        provider.pick_key(target.model, &mut rng)
    };
    let Some(key) = key else {
        let err = GatewayError::new(
            ErrorKind::NoUsableKey,
            format!(
                "no key of provider '{}' may serve model '{}'",
                provider.name, target.model
            ),
        );
        return super::finish_error(shard, conn, ctx, &err).await;
    };
    let routed = Routed {
        index: target.provider,
        provider,
        key,
        model: target.model,
    };

    let wire = provider.format(target.model);
    let (same_format, op) = match inbound {
        Inbound::OpenAi(e) => (wire == WireFormat::OpenAi, Operation::OpenAi(e)),
        Inbound::AnthropicMessages => (
            wire == WireFormat::Anthropic,
            Operation::Chat {
                stream: fields.stream,
            },
        ),
        Inbound::AnthropicCountTokens => (wire == WireFormat::Anthropic, Operation::CountTokens),
        Inbound::Gemini(action) => (
            wire == WireFormat::Gemini,
            match action {
                GeminiAction::Generate => Operation::Chat { stream: false },
                GeminiAction::Stream => Operation::Chat { stream: true },
                GeminiAction::CountTokens => Operation::CountTokens,
            },
        ),
    };
    if !same_format {
        return super::translated::proxy(shard, conn, body.clone(), inbound, &routed, ctx).await;
    }
    if !provider.api.passthrough_body(target.model) {
        return super::translated::adapt(shard, conn, body.clone(), op, &routed, ctx).await;
    }

    // The upstream request: head, then the body with the model value replaced (Gemini bodies
    // carry no model: it is in the URL).
    let model_span = if matches!(inbound, Inbound::Gemini(_)) {
        None
    } else {
        fields.model.clone()
    };
    let wbuf = &mut conn.wbuf;
    wbuf.clear();
    wbuf.extend_from_slice(b"POST ");
    if provider
        .api
        .write_target(provider, op, target.model, wbuf)
        .is_none()
    {
        let err = unsupported_operation(provider);
        return super::finish_error(shard, conn, ctx, &err).await;
    }
    if matches!(inbound, Inbound::Gemini(_)) {
        // Keep the caller's query (everything but a key in the URL) for same-format Gemini calls.
        copy_gemini_query(conn.head.target(), wbuf);
    }
    wbuf.extend_from_slice(b" HTTP/1.1\r\n");
    wbuf.extend_from_slice(&provider.fixed_headers);
    if let Err(e) = provider.api.write_auth(provider, key, &[], &body, wbuf) {
        let err = GatewayError::new(ErrorKind::Internal, e);
        return super::finish_error(shard, conn, ctx, &err).await;
    }
    // The body was validated as JSON, whatever label the caller put on it.
    write::header(wbuf, b"content-type", b"application/json");
    // Headers the caller named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection = conn.head.header(b"connection");
    for (name, value) in conn.head.headers() {
        let listed = connection.is_some_and(|c| crate::http::has_token(c, name));
        if !listed && !is_hop_or_credential(name) {
            write::header(wbuf, name, value);
        }
    }
    write::header(wbuf, b"x-request-id", ctx.id.as_bytes());
    match model_span {
        None => {
            write::header_u64(wbuf, b"content-length", body.len() as u64);
            wbuf.extend_from_slice(b"\r\n");
            wbuf.extend_from_slice(&body);
        }
        Some(_) if requested == target.model && !fields.model_escaped => {
            write::header_u64(wbuf, b"content-length", body.len() as u64);
            wbuf.extend_from_slice(b"\r\n");
            wbuf.extend_from_slice(&body);
        }
        Some(span) => match plain_literal_len(target.model) {
            Some(literal_len) => {
                let len = body.len() - span.len() + literal_len;
                write::header_u64(wbuf, b"content-length", len as u64);
                wbuf.extend_from_slice(b"\r\n");
                json_scan::splice_string(&body, span, target.model, wbuf);
            }
            None => {
                // A model name that needs JSON escaping: splice first to learn the length.
                let mut spliced = std::mem::take(&mut conn.scratch);
                spliced.clear();
                json_scan::splice_string(&body, span, target.model, &mut spliced);
                let wbuf = &mut conn.wbuf;
                write::header_u64(wbuf, b"content-length", spliced.len() as u64);
                wbuf.extend_from_slice(b"\r\n");
                wbuf.extend_from_slice(&spliced);
                spliced.clear();
                conn.scratch = spliced;
            }
        },
    }
    let request = std::mem::take(&mut conn.wbuf);
    send_and_relay(shard, conn, request, &routed, ctx).await
}

/// Sends a complete same-format request and relays the provider's answer as it is; records.
pub async fn send_and_relay(
    shard: &Shard,
    conn: &mut ClientConn,
    request: BytesMut,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> bool {
    let gateway = shard.gateway();
    let provider = routed.provider;
    let mut waited = Duration::ZERO;
    let deadline = Instant::now() + provider.timeout;
    let (started, request) = exchange::start(
        shard,
        &gateway,
        routed.index,
        request,
        deadline,
        &mut waited,
    )
    .await;
    conn.wbuf = request;
    conn.wbuf.clear();
    // Draining may have begun while the provider was thinking: announce the close.
    ctx.keep_alive &= !shard.draining();
    let meta = Meta {
        request_id: ctx.id.as_bytes(),
        provider: Some(&provider.name),
        model: Some(routed.model),
        attempts: 1,
        cache: "off",
    };
    let (status, keep) = match started {
        Ok(mut upstream) => {
            let outcome = relay::relay(
                conn,
                &mut upstream,
                provider,
                &meta,
                ctx.format,
                ctx.keep_alive,
                &mut waited,
            )
            .await;
            if outcome.upstream_reusable {
                shard.pool.checkin(
                    gateway.generation,
                    routed.index,
                    upstream,
                    provider.pool_max_idle,
                );
            }
            (outcome.status, outcome.client_keep_alive)
        }
        Err(err) => {
            log_failure(ctx, provider, &err);
            let ok = respond::error_with_meta(conn, &err, ctx.format, ctx.keep_alive, &meta).await;
            (err.status(), ok && ctx.keep_alive)
        }
    };
    record(shard, ctx, routed, status, waited);
    keep
}

/// Records one proxied request.
pub fn record(shard: &Shard, ctx: &RequestCtx, routed: &Routed<'_>, status: u16, waited: Duration) {
    shard.metrics.borrow_mut().record(&RequestRecord {
        route: ctx.route,
        provider: Some(&routed.provider.name),
        model: Some(routed.model),
        status,
        total: ctx.received.elapsed(),
        upstream: waited,
        proxied: true,
    });
}

/// Logs a failed upstream attempt.
pub fn log_failure(ctx: &RequestCtx, provider: &Provider, err: &GatewayError) {
    tracing::warn!(
        request_id = %String::from_utf8_lossy(ctx.id.as_bytes()),
        provider = %provider.name,
        "upstream failed: {err}"
    );
}

/// The error for an operation the provider does not offer.
pub fn unsupported_operation(provider: &Provider) -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidField,
        format!(
            "provider '{}' ({}) does not offer this operation",
            provider.name, provider.kind
        ),
    )
}

/// Maps a body-scan failure to the caller's error.
pub fn field_error(e: FieldError) -> GatewayError {
    match e {
        FieldError::Json(e) => GatewayError::new(ErrorKind::InvalidJson, e.to_string()),
        FieldError::MissingModel => GatewayError::new(ErrorKind::MissingModel, e.to_string()),
        other => GatewayError::new(ErrorKind::InvalidField, other.to_string()),
    }
}

/// Decodes `%XX` escapes of a path segment into `out`; `None` when malformed or not UTF-8.
fn percent_decode(raw: &[u8], out: &mut String) -> Option<()> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    out.clear();
    out.push_str(&String::from_utf8(bytes).ok()?);
    Some(())
}

/// Appends the caller's query parameters other than `key` (the caller's credential) and `alt`
/// (the provider target sets it for streams).
fn copy_gemini_query(target: &[u8], out: &mut BytesMut) {
    let Some(q) = memchr::memchr(b'?', target) else {
        return;
    };
    let has_query = memchr::memchr(b'?', out).is_some();
    let mut first = !has_query;
    for pair in target[q + 1..].split(|&b| b == b'&') {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        if pair.is_empty() || name == b"key" || name == b"alt" {
            continue;
        }
        out.extend_from_slice(if first { b"?" } else { b"&" });
        first = false;
        out.extend_from_slice(pair);
    }
}

/// The length of `s` as a JSON string literal when it needs no escaping (the usual model name).
fn plain_literal_len(s: &str) -> Option<usize> {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        .then_some(s.len() + 2)
}

/// Request headers never forwarded: hop-by-hop headers, framing the gateway rewrites, the
/// caller's credentials (the provider gets the gateway's key), the API version the provider
/// adapter writes itself, and the gateway's own controls.
fn is_hop_or_credential(name: &[u8]) -> bool {
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let listed = match name.len() {
        2 => eq(b"te"),
        4 => eq(b"host"),
        6 => eq(b"cookie") || eq(b"expect"),
        7 => eq(b"api-key") || eq(b"trailer") || eq(b"upgrade"),
        9 => eq(b"x-api-key"),
        10 => eq(b"connection") || eq(b"keep-alive"),
        12 => eq(b"x-request-id") || eq(b"content-type"),
        13 => eq(b"authorization"),
        14 => eq(b"content-length") || eq(b"x-goog-api-key") || eq(b"openai-project"),
        15 => eq(b"accept-encoding"),
        16 => eq(b"proxy-connection"),
        17 => eq(b"transfer-encoding") || eq(b"anthropic-version"),
        19 => eq(b"proxy-authorization") || eq(b"openai-organization"),
        _ => false,
    };
    listed || (name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-shardgate-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_are_dropped() {
        for h in [
            "Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "api-key",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Host",
            "x-shardgate-cache-mode",
            "Accept-Encoding",
            "OpenAI-Organization",
            "openai-project",
            "Content-Type",
            "anthropic-version",
        ] {
            assert!(is_hop_or_credential(h.as_bytes()), "{h} should be dropped");
        }
        for h in [
            "user-agent",
            "x-stainless-lang",
            "openai-beta",
            "accept",
            "anthropic-beta",
        ] {
            assert!(!is_hop_or_credential(h.as_bytes()), "{h} should be kept");
        }
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(plain_literal_len("gpt-4o-mini"), Some(13));
        assert_eq!(plain_literal_len("a\"b"), None);
        assert_eq!(plain_literal_len("modèle"), None);
    }

    #[test]
    fn path_models_are_percent_decoded() {
        let mut s = String::new();
        assert!(percent_decode(b"openai%2Fgpt-4o", &mut s).is_some());
        assert_eq!(s, "openai/gpt-4o");
        assert!(percent_decode(b"bad%2", &mut s).is_none());
        assert!(percent_decode(b"bad%zz", &mut s).is_none());
        assert!(percent_decode(b"%ff", &mut s).is_none());
    }

    #[test]
    fn gemini_query_keeps_all_but_key_and_alt() {
        let mut out = BytesMut::from(&b"/v1beta/models/m:streamGenerateContent?alt=sse"[..]);
        copy_gemini_query(
            b"/genai/v1beta/models/m:x?alt=sse&key=SECRET&foo=1",
            &mut out,
        );
        assert_eq!(
            &out[..],
            b"/v1beta/models/m:streamGenerateContent?alt=sse&foo=1"
        );
        let mut out = BytesMut::from(&b"/m:generateContent"[..]);
        copy_gemini_query(b"/x?key=k&a=b", &mut out);
        assert_eq!(&out[..], b"/m:generateContent?a=b");
    }
}
