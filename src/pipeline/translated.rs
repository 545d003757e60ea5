//! Stages 7–9 when the caller's format is not the provider's: decode the caller's request into
//! the canonical model once (`Prepared`), encode it for each provider an attempt goes to, and
//! translate the answer (complete, streamed event by event, or an error) back into the caller's
//! format. The attempt loop (`attempt.rs`) decides which provider and key each attempt uses.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::forward::Routed;
use super::respond::{self, Meta};
use super::routes::{GeminiAction, Inbound};
use super::RequestCtx;
use crate::error::{ErrorKind, GatewayError};
use crate::http::chunked;
use crate::http::write;
use crate::providers::{Endpoint, Operation, WireFormat};
use crate::server::conn::ClientConn;
use crate::translate::codec::{self, CallerFormat};
use crate::translate::{
    anthropic, cloud_embeddings, cohere, gemini, openai_embeddings, ChatRequest, EmbedRequest,
    ProviderError, StreamEvent, TranslateError,
};
use crate::upstream::body::{BodyError, BodyReader};
use crate::upstream::exchange::UpstreamConn;

/// Largest complete answer read from a provider for translation.
const MAX_TRANSLATED_BODY: usize = 64 * 1024 * 1024;
/// Largest provider error body read for mapping.
pub const MAX_ERROR_BODY: usize = 1024 * 1024;

/// The caller's request decoded once, reused by every attempt that needs translation.
pub enum Prepared {
    /// A chat turn (chat completions, legacy completions, Responses, Messages, generateContent).
    Chat(Box<ChatRequest>),
    /// OpenAI-format embeddings; `bool` = the caller wants base64 vectors.
    Embed(EmbedRequest, bool),
    /// Token counting.
    Count(Box<ChatRequest>),
}

/// What an attempt sends upstream, or the answer when no upstream call is needed.
pub enum Upstream {
    /// Send this body for this operation.
    Send(Operation, Value),
    /// Answer locally with this estimated token count (the provider cannot count).
    Estimate(u64),
}

/// The caller format of a route.
pub fn caller_format(inbound: Inbound) -> CallerFormat {
    match inbound {
        Inbound::OpenAi(Endpoint::Completions) => CallerFormat::OpenAiCompletions,
        Inbound::OpenAi(Endpoint::Responses) => CallerFormat::OpenAiResponses,
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

impl Prepared {
    /// Decodes the caller's body for translation.
    pub fn decode(body: &Bytes, inbound: Inbound) -> Result<Prepared, GatewayError> {
        let value = crate::translate::parse_json(body)
            .map_err(|e| GatewayError::new(ErrorKind::InvalidJson, e))?;
        let caller = caller_format(inbound);
        Ok(match inbound {
            Inbound::OpenAi(Endpoint::Embeddings) => {
                let (req, base64) =
                    openai_embeddings::decode_embed_request(&value).map_err(translate_error)?;
                Prepared::Embed(req, base64)
            }
            Inbound::AnthropicCountTokens => Prepared::Count(Box::new(
                anthropic::decode_count_tokens_request(&value).map_err(translate_error)?,
            )),
            Inbound::Gemini(GeminiAction::CountTokens) => Prepared::Count(Box::new(
                gemini::decode_count_tokens_request(&value).map_err(translate_error)?,
            )),
            _ => {
                let mut req = caller.decode_request(&value).map_err(translate_error)?;
                match inbound {
                    Inbound::Gemini(GeminiAction::Stream) => req.stream = true,
                    Inbound::Gemini(_) => req.stream = false,
                    _ => {}
                }
                Prepared::Chat(Box::new(req))
            }
        })
    }

    /// Whether the caller asked for a stream.
    pub fn stream(&self) -> bool {
        matches!(self, Prepared::Chat(r) if r.stream)
    }

    /// The upstream request for `routed` (its provider's format, its model).
    pub fn upstream(&mut self, routed: &Routed<'_>) -> Result<Upstream, GatewayError> {
        let provider = routed.provider;
        let wire = provider.format(routed.model);
        let (op, mut body) = match self {
            Prepared::Chat(req) => {
                req.model = routed.model.to_string();
                // Upstream, usage is always wanted (Anthropic and Gemini callers get it in
                // their final events); the caller's own stream shape was fixed when its
                // encoder was made from the request as decoded.
                let include_usage = req.stream_include_usage;
                req.stream_include_usage = true;
                let body = codec::encode_request(wire, req);
                req.stream_include_usage = include_usage;
                (
                    Operation::Chat { stream: req.stream },
                    body.map_err(translate_error)?,
                )
            }
            Prepared::Embed(req, _) => {
                req.model = routed.model.to_string();
                let body = match wire {
                    WireFormat::Gemini if provider.kind == crate::config::ProviderKind::Vertex => {
                        cloud_embeddings::vertex_encode(req)
                    }
                    WireFormat::Gemini => gemini::encode_embed_request(req),
                    WireFormat::Cohere => cohere::encode_embed_request(req),
                    WireFormat::OpenAi => openai_embeddings::encode_embed_request(req),
                    WireFormat::Bedrock => {
                        cloud_embeddings::bedrock_encode(req).map_err(translate_error)?
                    }
                    WireFormat::Anthropic => {
                        return Err(super::forward::unsupported_operation(provider))
                    }
                };
                (Operation::Embed, body)
            }
            Prepared::Count(req) => {
                req.model = routed.model.to_string();
                let body = match wire {
                    WireFormat::Gemini if provider.kind == crate::config::ProviderKind::Vertex => {
                        gemini::encode_count_tokens_request_vertex(req)
                    }
                    WireFormat::Gemini => gemini::encode_count_tokens_request(req),
                    WireFormat::Anthropic => {
                        anthropic::encode_count_tokens_request(req).map_err(translate_error)?
                    }
                    _ => {
                        return Ok(Upstream::Estimate(crate::translate::estimate_input_tokens(
                            req,
                        )))
                    }
                };
                (Operation::CountTokens, body)
            }
        };
        provider.api.adapt_request(routed.model, op, &mut body);
        Ok(Upstream::Send(op, body))
    }
}

/// Builds a complete upstream request with a JSON body.
pub fn build_request(
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
        .ok_or_else(|| super::forward::unsupported_operation(provider))?;
    let mut out = BytesMut::with_capacity(target.len() + body.len() + 512);
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(&target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(&provider.fixed_headers);
    provider
        .api
        .write_auth(provider, routed.key, &target, &body, &mut out)
        .map_err(|e| GatewayError::new(ErrorKind::NoUsableKey, e))?;
    write::header(&mut out, b"content-type", b"application/json");
    write::header(&mut out, b"x-request-id", ctx.id.as_bytes());
    write::header_u64(&mut out, b"content-length", body.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(out)
}

/// Answers a token count the gateway estimated itself.
pub async fn respond_estimate(
    conn: &mut ClientConn,
    tokens: u64,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> bool {
    let out = count_answer(inbound, tokens);
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    let extra = Some((&b"x-shardgate-token-count"[..], &b"estimated"[..]));
    respond_json(conn, 200, &bytes, routed, ctx, extra).await
}

fn count_answer(inbound: Inbound, tokens: u64) -> Value {
    match inbound {
        Inbound::AnthropicCountTokens => anthropic::encode_count_tokens_response(tokens),
        _ => serde_json::json!({ "totalTokens": tokens }),
    }
}

/// Translates a provider's successful answer (head in `up`) for the caller. Returns (status,
/// caller keep-alive, upstream reusable).
#[allow(clippy::too_many_arguments)]
pub async fn respond_success(
    conn: &mut ClientConn,
    up: &mut UpstreamConn,
    prepared: &Prepared,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
    deadline: Instant,
    waited: &mut Duration,
) -> (u16, bool, bool) {
    let wire = routed.provider.format(routed.model);
    let caller = caller_format(inbound);
    if let Prepared::Chat(req) = prepared {
        if req.stream {
            let encoder = caller.stream_encoder(req);
            return stream(conn, up, routed, wire, encoder, ctx, deadline, waited).await;
        }
    }
    let mut body = BytesMut::new();
    let mut reader = BodyReader::new(up);
    let read = reader
        .read_all(
            up,
            read_timeout(routed, deadline),
            MAX_TRANSLATED_BODY,
            waited,
            &mut body,
        )
        .await;
    let reusable = reader.reusable(up);
    let answer = read.map_err(|e| body_error(routed, &e)).and_then(|()| {
        let v = crate::translate::parse_json(&body)
            .map_err(|e| translate_error(crate::translate::upstream(e)))?;
        match prepared {
            Prepared::Chat(req) => {
                let mut resp = codec::decode_response(wire, &v).map_err(translate_error)?;
                if resp.model.is_empty() {
                    resp.model = routed.model.to_string();
                }
                Ok(caller.encode_response(&resp, req))
            }
            Prepared::Embed(_, base64) => {
                let vertex = routed.provider.kind == crate::config::ProviderKind::Vertex;
                let mut resp = match wire {
                    WireFormat::Gemini if vertex => cloud_embeddings::vertex_decode(&v),
                    WireFormat::Gemini => gemini::decode_embed_response(&v),
                    WireFormat::Cohere => cohere::decode_embed_response(&v),
                    WireFormat::Bedrock => cloud_embeddings::bedrock_decode(routed.model, &v),
                    _ => openai_embeddings::decode_embed_response(&v),
                }
                .map_err(translate_error)?;
                if resp.model.is_empty() {
                    resp.model = routed.model.to_string();
                }
                Ok(openai_embeddings::encode_embed_response(&resp, *base64))
            }
            Prepared::Count(_) => {
                let n = match wire {
                    WireFormat::Gemini => gemini::decode_count_tokens_response(&v),
                    _ => v
                        .get("input_tokens")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| {
                            crate::translate::upstream("count_tokens answer without input_tokens")
                        }),
                }
                .map_err(translate_error)?;
                Ok(count_answer(inbound, n))
            }
        }
    });
    match answer {
        Ok(out) => {
            let bytes = serde_json::to_vec(&out).unwrap_or_default();
            let ok = respond_json(conn, 200, &bytes, routed, ctx, None).await;
            (200, ok && ctx.keep_alive, reusable)
        }
        Err(err) => {
            super::forward::log_failure(ctx, routed.provider, &err);
            let ok = respond_gateway_error(conn, &err, routed, ctx).await;
            (err.status(), ok && ctx.keep_alive, false)
        }
    }
}

/// A provider's error answer, read whole (bounded) for mapping or for keeping until every
/// attempt failed.
pub struct ErrorAnswer {
    /// The provider's status.
    pub status: u16,
    /// Its `retry-after` header.
    pub retry_after: Option<Vec<u8>>,
    /// Its body (at most [`MAX_ERROR_BODY`] bytes).
    pub body: Vec<u8>,
    /// The provider's wire format (how to read the body).
    pub wire: WireFormat,
}

/// Reads the error answer whose head `up` holds; returns it and whether `up` may be pooled.
pub async fn read_error(
    up: &mut UpstreamConn,
    routed: &Routed<'_>,
    deadline: Instant,
    waited: &mut Duration,
) -> (ErrorAnswer, bool) {
    let status = up.head.status;
    let retry_after = up.head.header(b"retry-after").map(<[u8]>::to_vec);
    let mut body = BytesMut::new();
    let mut reader = BodyReader::new(up);
    // An unreadable error body still maps to an error of the same status.
    let complete = reader
        .read_all(
            up,
            read_timeout(routed, deadline),
            MAX_ERROR_BODY,
            waited,
            &mut body,
        )
        .await
        .is_ok();
    let reusable = complete && reader.reusable(up);
    (
        ErrorAnswer {
            status,
            retry_after,
            body: body.to_vec(),
            wire: routed.provider.format(routed.model),
        },
        reusable,
    )
}

/// Writes a provider's error answer to the caller: as it is when the caller speaks the
/// provider's format, else mapped into the caller's format with the same status and
/// `retry-after`.
pub async fn respond_error_answer(
    conn: &mut ClientConn,
    answer: &ErrorAnswer,
    same_format: bool,
    inbound: Inbound,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> bool {
    let extra = answer
        .retry_after
        .as_deref()
        .map(|v| (&b"retry-after"[..], v));
    if same_format {
        return respond_json(conn, answer.status, &answer.body, routed, ctx, extra).await;
    }
    let err = codec::decode_error(answer.wire, answer.status, &answer.body);
    let out = caller_format(inbound).encode_error(&err);
    // The provider's status as its codec mapped it (Cohere's 498 is a 401); never a non-error
    // status, which would make the caller's client misread the body.
    let status = if (400..=599).contains(&err.status) {
        err.status
    } else {
        502
    };
    respond_json(conn, status, &out, routed, ctx, extra).await
}

/// The read timeout for the next body read: the provider's idle timeout, never past the
/// request's deadline.
pub fn read_timeout(routed: &Routed<'_>, deadline: Instant) -> Duration {
    routed
        .provider
        .idle_timeout
        .min(deadline.saturating_duration_since(Instant::now()))
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

/// The response meta of an answer from `routed`.
pub fn meta<'a>(routed: &'a Routed<'_>, ctx: &'a RequestCtx) -> Meta<'a> {
    Meta {
        request_id: ctx.id.as_bytes(),
        provider: Some(&routed.provider.name),
        model: Some(routed.model),
        attempts: ctx.attempts,
        cache: "off",
    }
}

/// Writes a gateway error in the caller's format.
pub async fn respond_gateway_error(
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
#[allow(clippy::too_many_arguments)]
async fn stream(
    conn: &mut ClientConn,
    up: &mut UpstreamConn,
    routed: &Routed<'_>,
    wire: WireFormat,
    mut encoder: Box<dyn crate::translate::StreamEncode>,
    ctx: &mut RequestCtx,
    deadline: Instant,
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
            .next(up, read_timeout(routed, deadline), waited, &mut payload)
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
