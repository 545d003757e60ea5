//! Stages 7–9 when the caller's format is not the provider's: decode the caller's request into
//! the canonical model, encode it for the provider, run the exchange, and translate the answer
//! (complete, streamed event by event, or an error) back into the caller's format.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::forward::{self, Routed};
use super::respond::{self, Meta};
use super::routes::{GeminiAction, Inbound};
use super::RequestCtx;
use crate::error::{ErrorKind, GatewayError};
use crate::http::chunked;
use crate::http::write;
use crate::providers::{Operation, WireFormat};
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;
use crate::translate::codec::{self, CallerFormat};
use crate::translate::{
    anthropic, cohere, gemini, openai_embeddings, ProviderError, StreamEvent, TranslateError,
};
use crate::upstream::body::{BodyError, BodyReader};
use crate::upstream::exchange::{self, UpstreamConn};

/// Largest complete answer read from a provider for translation.
const MAX_TRANSLATED_BODY: usize = 64 * 1024 * 1024;
/// Largest provider error body read for mapping.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// Serves a call whose caller format differs from the provider's.
pub async fn proxy(
    shard: &Shard,
    conn: &mut ClientConn,
    body: Bytes,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> bool {
    let value = match crate::translate::parse_json(&body) {
        Ok(v) => v,
        Err(e) => {
            let err = GatewayError::new(ErrorKind::InvalidJson, e);
            return super::finish_error(shard, conn, ctx, &err).await;
        }
    };
    let outcome = match inbound {
        Inbound::OpenAi(crate::providers::Endpoint::Embeddings) => {
            embed(shard, conn, &value, routed, ctx).await
        }
        Inbound::AnthropicCountTokens | Inbound::Gemini(GeminiAction::CountTokens) => {
            count_tokens(shard, conn, &value, inbound, routed, ctx).await
        }
        _ => chat(shard, conn, &value, inbound, routed, ctx).await,
    };
    match outcome {
        Ok(keep) => keep,
        Err(err) => super::finish_error(shard, conn, ctx, &err).await,
    }
}

/// Serves a same-format call whose body the provider needs changed (Vertex's Claude): parse,
/// adapt, send, and relay the answer as it is.
pub async fn adapt(
    shard: &Shard,
    conn: &mut ClientConn,
    body: Bytes,
    op: Operation,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> bool {
    let mut value = match crate::translate::parse_json(&body) {
        Ok(v) => v,
        Err(e) => {
            let err = GatewayError::new(ErrorKind::InvalidJson, e);
            return super::finish_error(shard, conn, ctx, &err).await;
        }
    };
    if let Some(obj) = value.as_object_mut() {
        if obj.contains_key("model") {
            obj.insert("model".into(), Value::String(routed.model.to_string()));
        }
    }
    routed
        .provider
        .api
        .adapt_request(routed.model, op, &mut value);
    let request = match build_request(routed, op, &value, ctx) {
        Ok(r) => r,
        Err(err) => return super::finish_error(shard, conn, ctx, &err).await,
    };
    forward::send_and_relay(shard, conn, request, routed, ctx).await
}

/// The caller format of a chat route.
fn caller_format(inbound: Inbound) -> CallerFormat {
    match inbound {
        Inbound::OpenAi(crate::providers::Endpoint::Completions) => CallerFormat::OpenAiCompletions,
        Inbound::OpenAi(crate::providers::Endpoint::Responses) => CallerFormat::OpenAiResponses,
        Inbound::OpenAi(_) => CallerFormat::OpenAiChat,
        Inbound::AnthropicMessages | Inbound::AnthropicCountTokens => CallerFormat::Anthropic,
        Inbound::Gemini(_) => CallerFormat::Gemini,
    }
}

/// The caller-facing error for a translation failure.
pub fn translate_error(e: TranslateError) -> GatewayError {
    match e {
        TranslateError::Invalid(_) | TranslateError::Unsupported(_) => {
            GatewayError::new(ErrorKind::InvalidField, e.to_string())
        }
        TranslateError::Upstream(_) => {
            GatewayError::new(ErrorKind::UpstreamProtocol, e.to_string())
        }
    }
}

/// A chat turn through translation.
async fn chat(
    shard: &Shard,
    conn: &mut ClientConn,
    value: &Value,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> Result<bool, GatewayError> {
    let caller = caller_format(inbound);
    let mut req = caller.decode_request(value).map_err(translate_error)?;
    match inbound {
        Inbound::Gemini(GeminiAction::Stream) => req.stream = true,
        Inbound::Gemini(_) => req.stream = false,
        _ => {}
    }
    req.model = routed.model.to_string();
    // The caller's stream shape is fixed by what it asked; upstream, usage is always wanted
    // (Anthropic and Gemini callers get it in their final events).
    let encoder = req.stream.then(|| caller.stream_encoder(&req));
    req.stream_include_usage = true;
    let wire = routed.provider.format(routed.model);
    let mut upstream_body = codec::encode_request(wire, &req).map_err(translate_error)?;
    let op = Operation::Chat { stream: req.stream };
    routed
        .provider
        .api
        .adapt_request(routed.model, op, &mut upstream_body);
    let request = build_request(routed, op, &upstream_body, ctx)?;
    let mut waited = Duration::ZERO;
    let Some(mut up) = start(shard, conn, request, routed, ctx, caller, &mut waited).await else {
        return Ok(false);
    };
    let (status, keep, reusable) = if !(200..300).contains(&up.head.status) {
        provider_error(conn, &mut up, routed, wire, caller, ctx, &mut waited).await
    } else if let Some(encoder) = encoder {
        stream(conn, &mut up, routed, wire, encoder, ctx, &mut waited).await
    } else {
        let mut body = BytesMut::new();
        let mut reader = BodyReader::new(&up);
        let read = reader
            .read_all(
                &mut up,
                routed.provider.timeout,
                MAX_TRANSLATED_BODY,
                &mut waited,
                &mut body,
            )
            .await;
        let answer = read
            .map_err(|e| body_error(routed, &e))
            .and_then(|()| {
                crate::translate::parse_json(&body)
                    .map_err(|e| translate_error(crate::translate::upstream(e)))
            })
            .and_then(|v| codec::decode_response(wire, &v).map_err(translate_error));
        let reusable = reader.reusable(&up);
        match answer {
            Ok(mut resp) => {
                if resp.model.is_empty() {
                    resp.model = routed.model.to_string();
                }
                let out = caller.encode_response(&resp, &req);
                let bytes = serde_json::to_vec(&out).unwrap_or_default();
                let ok = respond_json(conn, 200, &bytes, routed, ctx, None).await;
                (200, ok && ctx.keep_alive, reusable)
            }
            Err(err) => {
                forward::log_failure(ctx, routed.provider, &err);
                let ok = respond_gateway_error(conn, &err, routed, ctx).await;
                (err.status(), ok && ctx.keep_alive, false)
            }
        }
    };
    finish(shard, routed, up, reusable);
    forward::record(shard, ctx, routed, status, waited);
    Ok(keep)
}

/// OpenAI-format embeddings to a provider with its own embeddings format.
async fn embed(
    shard: &Shard,
    conn: &mut ClientConn,
    value: &Value,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> Result<bool, GatewayError> {
    let (mut ereq, base64) =
        openai_embeddings::decode_embed_request(value).map_err(translate_error)?;
    ereq.model = routed.model.to_string();
    let wire = routed.provider.format(routed.model);
    let body = match wire {
        WireFormat::Gemini => gemini::encode_embed_request(&ereq),
        WireFormat::Cohere => cohere::encode_embed_request(&ereq),
        _ => return Err(forward::unsupported_operation(routed.provider)),
    };
    let request = build_request(routed, Operation::Embed, &body, ctx)?;
    let mut waited = Duration::ZERO;
    let caller = CallerFormat::OpenAiChat;
    let Some(mut up) = start(shard, conn, request, routed, ctx, caller, &mut waited).await else {
        return Ok(false);
    };
    let (status, keep, reusable) = if !(200..300).contains(&up.head.status) {
        provider_error(conn, &mut up, routed, wire, caller, ctx, &mut waited).await
    } else {
        let mut body = BytesMut::new();
        let mut reader = BodyReader::new(&up);
        let read = reader
            .read_all(
                &mut up,
                routed.provider.timeout,
                MAX_TRANSLATED_BODY,
                &mut waited,
                &mut body,
            )
            .await;
        let answer = read
            .map_err(|e| body_error(routed, &e))
            .and_then(|()| {
                crate::translate::parse_json(&body)
                    .map_err(|e| translate_error(crate::translate::upstream(e)))
            })
            .and_then(|v| {
                match wire {
                    WireFormat::Gemini => gemini::decode_embed_response(&v),
                    _ => cohere::decode_embed_response(&v),
                }
                .map_err(translate_error)
            });
        let reusable = reader.reusable(&up);
        match answer {
            Ok(mut resp) => {
                if resp.model.is_empty() {
                    resp.model = routed.model.to_string();
                }
                let out = openai_embeddings::encode_embed_response(&resp, base64);
                let bytes = serde_json::to_vec(&out).unwrap_or_default();
                let ok = respond_json(conn, 200, &bytes, routed, ctx, None).await;
                (200, ok && ctx.keep_alive, reusable)
            }
            Err(err) => {
                let ok = respond_gateway_error(conn, &err, routed, ctx).await;
                (err.status(), ok && ctx.keep_alive, false)
            }
        }
    };
    finish(shard, routed, up, reusable);
    forward::record(shard, ctx, routed, status, waited);
    Ok(keep)
}

/// Counting input tokens: asked of providers that can count, estimated for the others.
async fn count_tokens(
    shard: &Shard,
    conn: &mut ClientConn,
    value: &Value,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
) -> Result<bool, GatewayError> {
    let caller = caller_format(inbound);
    let mut req = match caller {
        CallerFormat::Anthropic => anthropic::decode_count_tokens_request(value),
        _ => gemini::decode_count_tokens_request(value),
    }
    .map_err(translate_error)?;
    req.model = routed.model.to_string();
    let wire = routed.provider.format(routed.model);
    let upstream_body = match wire {
        WireFormat::Gemini if routed.provider.kind == crate::config::ProviderKind::Vertex => {
            Some(gemini::encode_count_tokens_request_vertex(&req))
        }
        WireFormat::Gemini => Some(gemini::encode_count_tokens_request(&req)),
        WireFormat::Anthropic => {
            let mut v = anthropic::encode_count_tokens_request(&req).map_err(translate_error)?;
            routed
                .provider
                .api
                .adapt_request(routed.model, Operation::CountTokens, &mut v);
            Some(v)
        }
        _ => None,
    };
    let (tokens, estimated, status, waited, keep_up) = match upstream_body {
        None => (
            crate::translate::estimate_input_tokens(&req),
            true,
            200,
            Duration::ZERO,
            None,
        ),
        Some(body) => {
            let request = build_request(routed, Operation::CountTokens, &body, ctx)?;
            let mut waited = Duration::ZERO;
            let Some(mut up) = start(shard, conn, request, routed, ctx, caller, &mut waited).await
            else {
                return Ok(ctx.keep_alive);
            };
            if !(200..300).contains(&up.head.status) {
                let (status, keep, reusable) =
                    provider_error(conn, &mut up, routed, wire, caller, ctx, &mut waited).await;
                finish(shard, routed, up, reusable);
                forward::record(shard, ctx, routed, status, waited);
                return Ok(keep);
            }
            let mut body = BytesMut::new();
            let mut reader = BodyReader::new(&up);
            let read = reader
                .read_all(
                    &mut up,
                    routed.provider.timeout,
                    MAX_ERROR_BODY,
                    &mut waited,
                    &mut body,
                )
                .await;
            let count = read.map_err(|e| body_error(routed, &e)).and_then(|()| {
                let v = crate::translate::parse_json(&body)
                    .map_err(|e| translate_error(crate::translate::upstream(e)))?;
                match wire {
                    WireFormat::Gemini => gemini::decode_count_tokens_response(&v),
                    _ => v
                        .get("input_tokens")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| {
                            crate::translate::upstream("count_tokens answer without input_tokens")
                        }),
                }
                .map_err(translate_error)
            });
            let reusable = reader.reusable(&up);
            match count {
                Ok(n) => (n, false, 200, waited, Some((up, reusable))),
                Err(err) => {
                    let ok = respond_gateway_error(conn, &err, routed, ctx).await;
                    finish(shard, routed, up, false);
                    forward::record(shard, ctx, routed, err.status(), waited);
                    return Ok(ok && ctx.keep_alive);
                }
            }
        }
    };
    if let Some((up, reusable)) = keep_up {
        finish(shard, routed, up, reusable);
    }
    let out = match caller {
        CallerFormat::Anthropic => anthropic::encode_count_tokens_response(tokens),
        _ => serde_json::json!({ "totalTokens": tokens }),
    };
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    let extra: Option<(&[u8], &[u8])> =
        estimated.then_some((&b"x-shardgate-token-count"[..], &b"estimated"[..]));
    let ok = respond_json(conn, status, &bytes, routed, ctx, extra).await;
    forward::record(shard, ctx, routed, status, waited);
    Ok(ok && ctx.keep_alive)
}

/// Builds a complete upstream request with a JSON body.
fn build_request(
    routed: &Routed<'_>,
    op: Operation,
    body: &Value,
    ctx: &RequestCtx,
) -> Result<BytesMut, GatewayError> {
    let provider = routed.provider;
    let body = serde_json::to_vec(body)
        .map_err(|e| GatewayError::new(ErrorKind::Internal, e.to_string()))?;
    let mut target = BytesMut::new();
    provider
        .api
        .write_target(provider, op, routed.model, &mut target)
        .ok_or_else(|| forward::unsupported_operation(provider))?;
    let mut out = BytesMut::with_capacity(target.len() + body.len() + 512);
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(&target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(&provider.fixed_headers);
    provider
        .api
        .write_auth(provider, routed.key, &target, &body, &mut out)
        .map_err(|e| GatewayError::new(ErrorKind::UpstreamConnect, e))?;
    write::header(&mut out, b"content-type", b"application/json");
    write::header(&mut out, b"x-request-id", ctx.id.as_bytes());
    write::header_u64(&mut out, b"content-length", body.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(out)
}

/// Runs the exchange up to the response head; on failure answers the caller in its format,
/// records, and returns `None` (`ctx.keep_alive` then says whether the connection lives on).
async fn start(
    shard: &Shard,
    conn: &mut ClientConn,
    request: BytesMut,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
    _caller: CallerFormat,
    waited: &mut Duration,
) -> Option<UpstreamConn> {
    let gateway = shard.gateway();
    let deadline = Instant::now() + routed.provider.timeout;
    let (started, _request) =
        exchange::start(shard, &gateway, routed.index, request, deadline, waited).await;
    ctx.keep_alive &= !shard.draining();
    match started {
        Ok(up) => Some(up),
        Err(err) => {
            forward::log_failure(ctx, routed.provider, &err);
            let ok = respond_gateway_error(conn, &err, routed, ctx).await;
            forward::record(shard, ctx, routed, err.status(), *waited);
            ctx.keep_alive &= ok;
            None
        }
    }
}

/// Returns a finished upstream connection to the pool when it can carry another request.
fn finish(shard: &Shard, routed: &Routed<'_>, up: UpstreamConn, reusable: bool) {
    if reusable {
        let gateway = shard.gateway();
        shard.pool.checkin(
            gateway.generation,
            routed.index,
            up,
            routed.provider.pool_max_idle,
        );
    }
}

/// A provider's error answer, mapped into the caller's format with its status (and
/// `retry-after`) kept. Returns (status, caller keep-alive, upstream reusable).
async fn provider_error(
    conn: &mut ClientConn,
    up: &mut UpstreamConn,
    routed: &Routed<'_>,
    wire: WireFormat,
    caller: CallerFormat,
    ctx: &mut RequestCtx,
    waited: &mut Duration,
) -> (u16, bool, bool) {
    let status = up.head.status;
    let retry_after = up.head.header(b"retry-after").map(<[u8]>::to_vec);
    let mut body = BytesMut::new();
    let mut reader = BodyReader::new(up);
    // An unreadable error body still maps to an error of the same status.
    let _ = reader
        .read_all(
            up,
            routed.provider.timeout,
            MAX_ERROR_BODY,
            waited,
            &mut body,
        )
        .await;
    let err = codec::decode_error(wire, status, &body);
    tracing::warn!(
        request_id = %String::from_utf8_lossy(ctx.id.as_bytes()),
        provider = %routed.provider.name,
        status,
        "provider error: {}",
        err.message
    );
    let out = caller.encode_error(&err);
    let extra = retry_after.as_deref().map(|v| (&b"retry-after"[..], v));
    let ok = respond_json(conn, status, &out, routed, ctx, extra).await;
    (status, ok && ctx.keep_alive, reader.reusable(up))
}

/// The caller-facing error for a body that could not be read.
fn body_error(routed: &Routed<'_>, e: &BodyError) -> GatewayError {
    let kind = match e {
        BodyError::Cut(crate::upstream::exchange::UpstreamFailure::Timeout) => {
            ErrorKind::UpstreamTimeout
        }
        _ => ErrorKind::UpstreamProtocol,
    };
    GatewayError::new(kind, format!("provider '{}': {e}", routed.provider.name))
}

fn meta<'a>(routed: &'a Routed<'_>, ctx: &'a RequestCtx) -> Meta<'a> {
    Meta {
        request_id: ctx.id.as_bytes(),
        provider: Some(&routed.provider.name),
        model: Some(routed.model),
        attempts: 1,
        cache: "off",
    }
}

/// Writes a gateway error in the caller's format.
async fn respond_gateway_error(
    conn: &mut ClientConn,
    err: &GatewayError,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> bool {
    let meta = meta(routed, ctx);
    respond::error_with_meta(conn, err, ctx.format, ctx.keep_alive, &meta).await
}

/// Writes a complete JSON answer.
async fn respond_json(
    conn: &mut ClientConn,
    status: u16,
    body: &[u8],
    routed: &Routed<'_>,
    ctx: &RequestCtx,
    extra: Option<(&[u8], &[u8])>,
) -> bool {
    let meta = meta(routed, ctx);
    conn.wbuf.clear();
    write::status_line(&mut conn.wbuf, status);
    write::header(&mut conn.wbuf, b"content-type", b"application/json");
    write::header_u64(&mut conn.wbuf, b"content-length", body.len() as u64);
    if let Some((name, value)) = extra {
        write::header(&mut conn.wbuf, name, value);
    }
    meta.write(&mut conn.wbuf);
    if !ctx.keep_alive {
        write::header(&mut conn.wbuf, b"connection", b"close");
    }
    conn.wbuf.extend_from_slice(b"\r\n");
    if conn.body_allowed() {
        conn.wbuf.extend_from_slice(body);
    }
    conn.flush().await
}

/// Translates a provider's stream into the caller's, event by event. A stream that fails after
/// it began ends with the caller format's error event, never a silent truncation.
async fn stream(
    conn: &mut ClientConn,
    up: &mut UpstreamConn,
    routed: &Routed<'_>,
    wire: WireFormat,
    mut encoder: Box<dyn crate::translate::StreamEncode>,
    ctx: &mut RequestCtx,
    waited: &mut Duration,
) -> (u16, bool, bool) {
    // HTTP/1.0 callers know no chunked encoding: their stream ends when the connection closes.
    let raw = conn.head.minor_version == 0;
    let keep_alive = ctx.keep_alive && !raw;
    let meta = meta(routed, ctx);
    conn.wbuf.clear();
    write::status_line(&mut conn.wbuf, 200);
    write::header(&mut conn.wbuf, b"content-type", b"text/event-stream");
    write::header(&mut conn.wbuf, b"cache-control", b"no-cache");
    meta.write(&mut conn.wbuf);
    if keep_alive {
        write::header(&mut conn.wbuf, b"transfer-encoding", b"chunked");
    } else {
        write::header(&mut conn.wbuf, b"connection", b"close");
        if !raw {
            write::header(&mut conn.wbuf, b"transfer-encoding", b"chunked");
        }
    }
    conn.wbuf.extend_from_slice(b"\r\n");
    if !conn.body_allowed() {
        let ok = conn.flush().await;
        return (200, ok && keep_alive, false);
    }
    let mut decoder = codec::stream_decoder(wire, routed.model);
    let mut reader = BodyReader::new(up);
    let mut payload = BytesMut::new();
    let mut events: Vec<StreamEvent> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let failure: Option<ProviderError> = loop {
        match reader
            .next(up, routed.provider.timeout, waited, &mut payload)
            .await
        {
            Ok(true) => {
                let fed = decoder.feed(&payload, &mut events);
                payload.clear();
                for ev in events.drain(..) {
                    encoder.event(&ev, &mut out);
                }
                if let Err(e) = fed {
                    break Some(
                        decoder
                            .take_error()
                            .unwrap_or_else(|| ProviderError::new(502, e.to_string())),
                    );
                }
            }
            Ok(false) => {
                let ended = decoder.end(&mut events);
                for ev in events.drain(..) {
                    encoder.event(&ev, &mut out);
                }
                match ended {
                    Ok(()) => {
                        encoder.finish(&mut out);
                        break None;
                    }
                    Err(e) => {
                        break Some(
                            decoder
                                .take_error()
                                .unwrap_or_else(|| ProviderError::new(502, e.to_string())),
                        )
                    }
                }
            }
            Err(e) => {
                break Some(ProviderError::new(
                    502,
                    format!("provider '{}' failed mid-stream: {e}", routed.provider.name),
                ))
            }
        }
        if !out.is_empty() {
            frame(&out, raw, &mut conn.wbuf);
            out.clear();
        }
        if !conn.wbuf.is_empty() && !conn.flush().await {
            return (200, false, false);
        }
    };
    if let Some(err) = &failure {
        tracing::warn!(
            request_id = %String::from_utf8_lossy(ctx.id.as_bytes()),
            provider = %routed.provider.name,
            "stream ended with an error: {}",
            err.message
        );
        encoder.error(err, &mut out);
    }
    if !out.is_empty() {
        frame(&out, raw, &mut conn.wbuf);
    }
    if !raw {
        conn.wbuf.extend_from_slice(chunked::LAST_CHUNK);
    }
    let ok = conn.flush().await;
    let reusable = failure.is_none() && reader.reusable(up);
    (200, ok && keep_alive, reusable)
}

/// Appends `payload` as one chunk, or as is for a caller that gets the raw body.
fn frame(payload: &[u8], raw: bool, out: &mut BytesMut) {
    if raw {
        out.extend_from_slice(payload);
    } else {
        chunked::write_chunk(payload, out);
    }
}
