//! Routing: which format answers a request, with which faults, and how the connection task must
//! deliver it (a [`Plan`]).
//!
//! Routes match on the path's end so that any prefix works (`/openai/deployments/X/chat/completions`,
//! `/anthropic/v1/messages`, `/genai/v1beta/models/M:generateContent`, `/cohere/v2/chat`,
//! `/bedrock/model/ID/converse`).

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;

use super::faults::Faults;
use super::formats::{
    amz_error_type, anthropic, bedrock, cohere, error_body, gemini, openai, Call, Dialect, ReqBody,
};
use super::http::{self, Request};
use super::inspect::Shared;
use super::text::{now_secs, prompt_tokens};
use super::Config;

/// Largest embedding dimension accepted.
const MAX_DIMS: usize = 16_384;
/// Embedding dimension when the request names none.
const DEFAULT_DIMS: usize = 8;

/// Per-thread context of the request handler.
pub struct Ctx {
    /// Command-line settings.
    pub cfg: Arc<Config>,
    /// Recording and counters shared by all threads.
    pub shared: Arc<Shared>,
    /// This thread's index (also in generated ids).
    pub thread: usize,
    /// Per-thread id sequence.
    seq: Cell<u64>,
}

impl Ctx {
    /// Context for thread `thread`.
    pub fn new(cfg: Arc<Config>, shared: Arc<Shared>, thread: usize) -> Self {
        Self {
            cfg,
            shared,
            thread,
            seq: Cell::new(0),
        }
    }
}

/// Where the handler writes a complete (non-streaming) response.
pub struct Resp<'a> {
    /// The connection's output buffer; the response is appended.
    pub out: &'a mut Vec<u8>,
    /// Scratch buffer for the body (cleared by the handler).
    pub body: &'a mut Vec<u8>,
    /// Whether the response announces `connection: close`.
    pub close: bool,
}

impl Resp<'_> {
    /// Appends a JSON response with the current body to `out`; returns the head's length.
    fn send(&mut self, status: u16, extra: &[(&str, &str)]) -> usize {
        let start = self.out.len();
        http::write_head(
            self.out,
            status,
            "application/json",
            self.body.len(),
            extra,
            self.close,
        );
        let head_len = self.out.len() - start;
        self.out.extend_from_slice(self.body);
        head_len
    }
}

/// How the connection task delivers the answer to one request.
pub struct Plan {
    /// Wait this long before the head (`--latency-ms`, plus `--slow-ms` for `slow`).
    pub delay_ms: u64,
    /// What to send.
    pub action: Action,
}

/// What to send for one request.
pub enum Action {
    /// The full response was appended to the output buffer; `cut` sends only the head and half the
    /// body, then drops the connection.
    Sent {
        /// Length of the response head within the appended bytes.
        head_len: usize,
        /// Drop the connection halfway through the body.
        cut: bool,
    },
    /// Close the connection without a reply.
    Reset,
    /// A chunked streaming response.
    Stream(StreamPlan),
}

/// A streaming response: each event is one HTTP chunk, written and flushed on its own.
pub struct StreamPlan {
    /// `text/event-stream`, `application/json` for Gemini's streamed array, or
    /// `application/vnd.amazon.eventstream` for Bedrock.
    pub content_type: &'static str,
    /// The events (SSE events, JSON array pieces or event-stream messages), in order.
    pub events: Vec<Vec<u8>>,
    /// Drop the connection after the head and 2 events.
    pub cut: bool,
}

impl Plan {
    fn sent(head_len: usize) -> Self {
        Self {
            delay_ms: 0,
            action: Action::Sent {
                head_len,
                cut: false,
            },
        }
    }

    /// Whether the response is complete in the output buffer and needs no wait or special delivery.
    pub fn is_immediate(&self) -> bool {
        self.delay_ms == 0 && matches!(self.action, Action::Sent { cut: false, .. })
    }
}

/// The endpoints.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route<'a> {
    Chat,
    Completions,
    Embeddings,
    Responses,
    Messages,
    CountTokens,
    Gemini {
        model: &'a str,
        action: GeminiAction,
    },
    CohereChat,
    CohereEmbed,
    /// Claude on Vertex AI: `.../models/{model}:rawPredict` or `:streamRawPredict`, Anthropic's
    /// Messages format with the model in the path.
    RawPredict {
        model: &'a str,
    },
    /// Embeddings by `POST .../model/{id}/invoke` (Bedrock) or `.../models/{m}:predict` (Vertex).
    CloudEmbed {
        model: &'a str,
        bedrock: bool,
    },
    /// `model` as it appears in the path (percent-encoded).
    Bedrock {
        model: &'a str,
        stream: bool,
    },
    Models,
    Model(&'a str),
    Health,
    InspectGet,
    InspectReset,
    NotFound,
}

/// Gemini model actions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GeminiAction {
    Generate,
    Stream,
    CountTokens,
    Embed,
    BatchEmbed,
}

/// Bedrock's `/model/{modelId}/converse` and `/model/{modelId}/converse-stream` (any prefix).
fn bedrock_route(path: &str) -> Option<Route<'_>> {
    if let Some(rest) = path.strip_suffix("/invoke") {
        let i = rest.find("/model/")?;
        let model = &rest[i + "/model/".len()..];
        return Some(if model.is_empty() {
            Route::NotFound
        } else {
            Route::CloudEmbed {
                model,
                bedrock: true,
            }
        });
    }
    let (rest, stream) = match path.strip_suffix("/converse-stream") {
        Some(rest) => (rest, true),
        None => (path.strip_suffix("/converse")?, false),
    };
    let i = rest.find("/model/")?;
    let model = &rest[i + "/model/".len()..];
    Some(if model.is_empty() {
        Route::NotFound
    } else {
        Route::Bedrock { model, stream }
    })
}

fn route(path: &str) -> Route<'_> {
    if let Some(rest) = path.strip_prefix("/_mock/") {
        return match rest {
            "requests" => Route::InspectGet,
            "reset" => Route::InspectReset,
            _ => Route::NotFound,
        };
    }
    if let Some(r) = bedrock_route(path) {
        return r;
    }
    if path.ends_with("/chat/completions") {
        Route::Chat
    } else if path.ends_with("/completions") {
        Route::Completions
    } else if path.ends_with("/embeddings") {
        Route::Embeddings
    } else if path.ends_with("/responses") {
        Route::Responses
    } else if path.ends_with("/messages/count_tokens") {
        Route::CountTokens
    } else if path.ends_with("/messages") {
        Route::Messages
    } else if path.ends_with("/v2/chat") {
        Route::CohereChat
    } else if path.ends_with("/v2/embed") {
        Route::CohereEmbed
    } else if path.ends_with("/models") {
        Route::Models
    } else if let Some(i) = path.find("/models/") {
        let rest = &path[i + "/models/".len()..];
        match rest.rsplit_once(':') {
            Some((model, action)) if !model.is_empty() => {
                let action = match action {
                    "generateContent" => GeminiAction::Generate,
                    "streamGenerateContent" => GeminiAction::Stream,
                    "countTokens" => GeminiAction::CountTokens,
                    "embedContent" => GeminiAction::Embed,
                    "batchEmbedContents" => GeminiAction::BatchEmbed,
                    "rawPredict" | "streamRawPredict" => return Route::RawPredict { model },
                    "predict" => {
                        return Route::CloudEmbed {
                            model,
                            bedrock: false,
                        }
                    }
                    _ => return Route::NotFound,
                };
                Route::Gemini { model, action }
            }
            Some(_) => Route::NotFound,
            None if rest.is_empty() => Route::NotFound,
            None => Route::Model(rest),
        }
    } else if path == "/health" {
        Route::Health
    } else {
        Route::NotFound
    }
}

fn dialect(route: Route<'_>, path: &str) -> Dialect {
    match route {
        Route::Messages | Route::CountTokens | Route::RawPredict { .. } => Dialect::Anthropic,
        Route::Gemini { .. } => Dialect::Gemini,
        Route::CohereChat | Route::CohereEmbed => Dialect::Cohere,
        Route::Bedrock { .. } | Route::CloudEmbed { bedrock: true, .. } => Dialect::Bedrock,
        Route::CloudEmbed { .. } => Dialect::Gemini,
        Route::NotFound if path.starts_with("/anthropic") => Dialect::Anthropic,
        Route::NotFound if path.contains("/model/") || path.starts_with("/bedrock") => {
            Dialect::Bedrock
        }
        Route::NotFound if path.starts_with("/v2/") || path.starts_with("/cohere") => {
            Dialect::Cohere
        }
        Route::NotFound if path.contains("/v1beta/") || path.starts_with("/genai") => {
            Dialect::Gemini
        }
        _ => Dialect::OpenAi,
    }
}

/// Appends an error response; `retry-after: 1` on 429, `allow` on 405, and for Bedrock the
/// `x-amzn-errortype` header.
fn error(resp: &mut Resp<'_>, dialect: Dialect, status: u16, message: &str) -> Plan {
    resp.body.clear();
    error_body(resp.body, dialect, status, message);
    let mut extra = [("", ""); 2];
    let mut n = 0;
    match status {
        429 => {
            extra[0] = ("retry-after", "1");
            n = 1;
        }
        405 => {
            extra[0] = ("allow", "GET, POST");
            n = 1;
        }
        _ => {}
    }
    if dialect == Dialect::Bedrock {
        extra[n] = ("x-amzn-errortype", amz_error_type(status));
        n += 1;
    }
    Plan::sent(resp.send(status, &extra[..n]))
}

/// Appends an error response for a request the codec refused.
pub fn codec_error(resp: &mut Resp<'_>, e: http::HttpError) {
    error(resp, Dialect::OpenAi, e.status, e.message);
}

/// Answers one request: appends a complete response to `resp.out`, or returns how to deliver it.
pub fn handle(req: &Request<'_>, ctx: &Ctx, resp: &mut Resp<'_>) -> Plan {
    resp.body.clear();
    let route = route(req.path);
    if ctx.shared.enabled() && !matches!(route, Route::InspectGet | Route::InspectReset) {
        ctx.shared.record(ctx.thread, req);
    }
    let dialect = dialect(route, req.path);
    let want = match route {
        Route::Models | Route::Model(_) | Route::Health => "GET",
        Route::InspectGet if req.method == "DELETE" => "DELETE",
        Route::InspectGet => "GET",
        Route::NotFound => {
            let msg = format!("mock: no route for {} {}", req.method, req.path);
            return error(resp, dialect, 404, &msg);
        }
        _ => "POST",
    };
    if req.method != want {
        return error(resp, dialect, 405, "mock: method not allowed");
    }
    match route {
        Route::Health => {
            resp.body.extend_from_slice(br#"{"status":"ok"}"#);
            Plan::sent(resp.send(200, &[]))
        }
        Route::InspectGet if req.method == "GET" => {
            ctx.shared.snapshot_json(resp.body);
            Plan::sent(resp.send(200, &[]))
        }
        Route::InspectGet | Route::InspectReset => {
            ctx.shared.reset();
            resp.body.extend_from_slice(br#"{"ok":true}"#);
            Plan::sent(resp.send(200, &[]))
        }
        Route::Models => {
            openai::models(resp.body);
            Plan::sent(resp.send(200, &[]))
        }
        Route::Model(id) => {
            openai::model(resp.body, id);
            Plan::sent(resp.send(200, &[]))
        }
        _ => provider(req, ctx, resp, route, dialect),
    }
}

/// The model-serving routes: parse, apply faults, answer.
fn provider(
    req: &Request<'_>,
    ctx: &Ctx,
    resp: &mut Resp<'_>,
    route: Route<'_>,
    dialect: Dialect,
) -> Plan {
    let body = match ReqBody::parse(req.body) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("mock: request body is not a valid JSON object: {e}");
            return error(resp, dialect, 400, &msg);
        }
    };
    let decoded: Cow<'_, str>;
    let model: &str = match route {
        Route::Gemini { model, .. } | Route::RawPredict { model } => model,
        Route::Bedrock { model, .. } | Route::CloudEmbed { model, .. } => {
            decoded = percent_decode(model);
            &decoded
        }
        _ => match body.model.as_deref() {
            Some(m) if !m.is_empty() => m,
            _ => return error(resp, dialect, 400, "mock: missing required field `model`"),
        },
    };
    let mut faults = Faults::from_model(model);
    // Faults named in the credential let tests fail one key of a provider and not the others.
    for h in req.headers {
        if matches!(
            h.name.to_ascii_lowercase().as_str(),
            "authorization" | "x-api-key" | "x-goog-api-key" | "api-key"
        ) {
            faults = faults.or(Faults::from_model(&String::from_utf8_lossy(h.value)));
        }
    }
    // `flakyN`: the first N requests for this model (since the last reset) fail with 500.
    if faults.status.is_none() {
        if let Some(n) = super::faults::flaky_count(model) {
            if ctx.shared.flaky_hit(model) <= n {
                faults.status = Some(500);
            }
        }
    }
    let cfg = &ctx.cfg;
    let delay_ms = cfg.latency_ms + if faults.slow { cfg.slow_ms } else { 0 };
    if faults.reset {
        return Plan {
            delay_ms,
            action: Action::Reset,
        };
    }
    if let Some(status) = faults.status {
        let msg = format!("mock: injected {status} for model {model}");
        let mut plan = error(resp, dialect, status, &msg);
        plan.delay_ms = delay_ms;
        return plan;
    }

    let seq = ctx.seq.get();
    ctx.seq.set(seq + 1);
    let mut id_buf = [0u8; 48];
    let id_len = {
        use std::io::Write as _;
        let mut cur = &mut id_buf[..];
        let _ = write!(cur, "{}-{}", ctx.thread, seq);
        48 - cur.len()
    };
    let id = std::str::from_utf8(&id_buf[..id_len]).unwrap_or("0");
    let ptok = prompt_tokens(req.body.len());
    let call = Call {
        model,
        tool: body.first_tool(),
        include_usage: body
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        prompt_tokens: ptok,
        chunks: cfg.stream_chunks,
        id,
        created: now_secs(),
    };
    let stream = body.stream.unwrap_or(false);
    let stream_plan = |content_type, events| Plan {
        delay_ms,
        action: Action::Stream(StreamPlan {
            content_type,
            events,
            cut: faults.cut,
        }),
    };
    const SSE: &str = "text/event-stream";
    let dims_ok = |d: usize| (1..=MAX_DIMS).contains(&d);
    let out = &mut *resp.body;
    match route {
        Route::Chat if stream => return stream_plan(SSE, openai::chat_events(&call)),
        Route::Chat => openai::chat(out, &call),
        Route::Completions if stream => return stream_plan(SSE, openai::completion_events(&call)),
        Route::Completions => openai::completion(out, &call),
        Route::Responses if stream => return stream_plan(SSE, openai::responses_events(&call)),
        Route::Responses => openai::responses(out, &call),
        Route::Messages if stream => return stream_plan(SSE, anthropic::message_events(&call)),
        Route::Messages => anthropic::message(out, &call),
        Route::RawPredict { .. } if stream => {
            return stream_plan(SSE, anthropic::message_events(&call))
        }
        Route::RawPredict { .. } => anthropic::message(out, &call),
        Route::CountTokens => anthropic::count_tokens(out, ptok),
        Route::Gemini { action, .. } => match action {
            GeminiAction::Generate => gemini::generate(out, &call),
            GeminiAction::CountTokens => gemini::count_tokens(out, ptok),
            GeminiAction::Stream => {
                let sse = req.query.split('&').any(|kv| kv == "alt=sse");
                let ct = if sse { SSE } else { "application/json" };
                return stream_plan(ct, gemini::stream_events(&call, sse));
            }
            GeminiAction::Embed => {
                let Some(item) = body.content.and_then(gemini_content) else {
                    return error(
                        resp,
                        dialect,
                        400,
                        "mock: `content` must be a Content with at least one text part",
                    );
                };
                let dims = body.output_dimensionality.unwrap_or(DEFAULT_DIMS);
                if !dims_ok(dims) {
                    return error(
                        resp,
                        dialect,
                        400,
                        "mock: `outputDimensionality` out of range",
                    );
                }
                gemini::embed_content(out, &item, dims);
            }
            GeminiAction::BatchEmbed => match body.requests.map(gemini_requests) {
                Some(Ok(items)) => gemini::batch_embed_contents(out, &items),
                Some(Err(msg)) => return error(resp, dialect, 400, msg),
                None => return error(resp, dialect, 400, "mock: missing `requests`"),
            },
        },
        Route::CohereChat if stream => return stream_plan(SSE, cohere::chat_events(&call)),
        Route::CohereChat => cohere::chat(out, &call),
        Route::CohereEmbed => {
            let Some(texts) = body.texts.and_then(cohere_texts) else {
                return error(
                    resp,
                    dialect,
                    400,
                    "mock: `texts` must be a non-empty array of strings",
                );
            };
            if body.input_type.as_deref().is_none_or(str::is_empty) {
                return error(
                    resp,
                    dialect,
                    400,
                    "mock: `input_type` is required for embed models v3 and higher",
                );
            }
            if !body.embedding_types.is_none_or(only_float) {
                return error(
                    resp,
                    dialect,
                    400,
                    "mock: only `embedding_types: [\"float\"]` is served",
                );
            }
            let dims = body.output_dimension.unwrap_or(DEFAULT_DIMS);
            if !dims_ok(dims) {
                return error(resp, dialect, 400, "mock: `output_dimension` out of range");
            }
            cohere::embed(out, id, &texts, dims, ptok);
        }
        Route::Bedrock { stream: true, .. } => {
            return stream_plan(
                bedrock::EVENT_STREAM,
                bedrock::converse_events(&call, delay_ms),
            )
        }
        Route::Bedrock { .. } => bedrock::converse(out, &call, delay_ms),
        Route::CloudEmbed { bedrock, .. } => match cloud_embed(req.body, model, bedrock) {
            Ok(body) => out.extend_from_slice(&body),
            Err(msg) => return error(resp, dialect, 400, msg),
        },
        Route::Embeddings => {
            let Some(items) = body.input.and_then(embedding_items) else {
                return error(
                    resp,
                    dialect,
                    400,
                    "mock: `input` must be a non-empty string, array of strings, or token array(s)",
                );
            };
            let dims = body.dimensions.unwrap_or(DEFAULT_DIMS);
            if !dims_ok(dims) {
                return error(resp, dialect, 400, "mock: `dimensions` out of range");
            }
            let base64 = body.encoding_format.as_deref() == Some("base64");
            openai::embeddings(out, model, &items, dims, base64, ptok);
        }
        _ => return error(resp, dialect, 404, "mock: no such route"),
    }
    Plan {
        delay_ms,
        action: Action::Sent {
            head_len: resp.send(200, &[]),
            cut: faults.cut,
        },
    }
}

/// A Vertex `:predict` or Bedrock `InvokeModel` embeddings answer (Cohere Embed's shape for
/// `cohere.*` models, Titan's for the others), vectors derived like every embeddings route's.
fn cloud_embed(body: &[u8], model: &str, bedrock: bool) -> Result<Vec<u8>, &'static str> {
    use crate::mock::formats::embedding_vector;
    let v: Value = serde_json::from_slice(body).map_err(|_| "mock: body is not JSON")?;
    let texts: Vec<String> = if !bedrock {
        v.get("instances")
            .and_then(Value::as_array)
            .ok_or("mock: `instances` is required")?
            .iter()
            .map(|i| i.get("content").and_then(Value::as_str).map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("mock: every instance needs a `content` string")?
    } else if model.contains("cohere.") {
        v.get("texts")
            .and_then(Value::as_array)
            .ok_or("mock: `texts` is required")?
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("mock: `texts` must be strings")?
    } else {
        vec![v
            .get("inputText")
            .and_then(Value::as_str)
            .ok_or("mock: `inputText` is required")?
            .to_string()]
    };
    let dims = v
        .pointer("/parameters/outputDimensionality")
        .or_else(|| v.get("dimensions"))
        .or_else(|| v.get("output_dimension"))
        .and_then(Value::as_u64)
        .map_or(8, |d| d as usize)
        .clamp(1, MAX_DIMS);
    let tokens = |t: &str| t.split_whitespace().count().max(1);
    let answer = if !bedrock {
        let predictions: Vec<Value> = texts
            .iter()
            .map(|t| {
                serde_json::json!({"embeddings": {
                    "values": embedding_vector(t.as_bytes(), dims),
                    "statistics": {"token_count": tokens(t) as f64, "truncated": false}
                }})
            })
            .collect();
        serde_json::json!({ "predictions": predictions })
    } else if model.contains("cohere.") {
        let vectors: Vec<Vec<f32>> = texts
            .iter()
            .map(|t| embedding_vector(t.as_bytes(), dims))
            .collect();
        serde_json::json!({"id": "mock", "embeddings": vectors, "texts": texts, "response_type": "embeddings_floats"})
    } else {
        let t = &texts[0];
        serde_json::json!({"embedding": embedding_vector(t.as_bytes(), dims), "inputTextTokenCount": tokens(t)})
    };
    serde_json::to_vec(&answer).map_err(|_| "mock: serialization failed")
}

/// The items of an embeddings `input`, as bytes to derive vectors from.
fn embedding_items(raw: &RawValue) -> Option<Vec<Vec<u8>>> {
    match serde_json::from_str::<Value>(raw.get()).ok()? {
        Value::String(s) => Some(vec![s.into_bytes()]),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) if a.iter().all(Value::is_number) => {
            Some(vec![raw.get().as_bytes().to_vec()])
        }
        Value::Array(a) => Some(
            a.into_iter()
                .map(|v| match v {
                    Value::String(s) => s.into_bytes(),
                    other => other.to_string().into_bytes(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The item of a Gemini `content`, if it has text.
fn gemini_content(raw: &RawValue) -> Option<Vec<u8>> {
    serde_json::from_str::<gemini::EmbedContent>(raw.get())
        .ok()?
        .item()
}

/// The `(item, dims)` of each of Gemini's batch `requests`.
fn gemini_requests(raw: &RawValue) -> Result<Vec<(Vec<u8>, usize)>, &'static str> {
    let reqs: Vec<gemini::EmbedRequest> = serde_json::from_str(raw.get())
        .map_err(|_| "mock: `requests` must be an array of EmbedContentRequest")?;
    if reqs.is_empty() {
        return Err("mock: `requests` is empty");
    }
    reqs.into_iter()
        .map(|r| {
            let item = r
                .content
                .as_ref()
                .and_then(gemini::EmbedContent::item)
                .ok_or("mock: every request needs a `content` with a text part")?;
            let dims = r.dims.unwrap_or(DEFAULT_DIMS);
            if !(1..=MAX_DIMS).contains(&dims) {
                return Err("mock: `outputDimensionality` out of range");
            }
            Ok((item, dims))
        })
        .collect()
}

/// Cohere's `texts`, if a non-empty array of strings.
fn cohere_texts(raw: &RawValue) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(raw.get())
        .ok()
        .filter(|t| !t.is_empty())
}

/// Whether Cohere's `embedding_types` asks for floats only.
fn only_float(raw: &RawValue) -> bool {
    serde_json::from_str::<Vec<Cow<'_, str>>>(raw.get())
        .is_ok_and(|t| !t.is_empty() && t.iter().all(|t| t == "float"))
}

/// Percent-decodes a path segment (Bedrock model ids arrive as `...-v1%3A0`); invalid escapes
/// are kept as they are. Borrows when there is nothing to decode.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/v1/chat/completions"), Route::Chat);
        assert_eq!(route("/openai/deployments/x/chat/completions"), Route::Chat);
        assert_eq!(route("/v1/completions"), Route::Completions);
        assert_eq!(route("/anthropic/v1/messages"), Route::Messages);
        assert_eq!(route("/v1/messages/count_tokens"), Route::CountTokens);
        assert_eq!(
            route("/genai/v1beta/models/openai/gpt-4o:streamGenerateContent"),
            Route::Gemini {
                model: "openai/gpt-4o",
                action: GeminiAction::Stream
            }
        );
        assert_eq!(route("/v1/models"), Route::Models);
        assert_eq!(route("/v1/models/gpt-4o"), Route::Model("gpt-4o"));
        assert_eq!(route("/v1/models/x:nope"), Route::NotFound);
        assert_eq!(route("/nope"), Route::NotFound);
        assert_eq!(
            route("/v1beta/models/text-embedding-004:batchEmbedContents"),
            Route::Gemini {
                model: "text-embedding-004",
                action: GeminiAction::BatchEmbed
            }
        );
        assert_eq!(
            route("/v1beta/models/e:embedContent"),
            Route::Gemini {
                model: "e",
                action: GeminiAction::Embed
            }
        );
        assert_eq!(route("/v2/chat"), Route::CohereChat);
        assert_eq!(route("/cohere/v2/chat"), Route::CohereChat);
        assert_eq!(route("/v2/embed"), Route::CohereEmbed);
        assert_eq!(route("/v2/chat/completions"), Route::Chat);
        assert_eq!(
            route("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            Route::Bedrock {
                model: "anthropic.claude-3-5-sonnet-20240620-v1%3A0",
                stream: false
            }
        );
        assert_eq!(
            route("/bedrock/model/arn:aws:bedrock:us-east-1::foundation-model/m/converse-stream"),
            Route::Bedrock {
                model: "arn:aws:bedrock:us-east-1::foundation-model/m",
                stream: true
            }
        );
        assert_eq!(route("/model//converse"), Route::NotFound);
        assert_eq!(route("/v1/models/converse"), Route::Model("converse"));
        assert_eq!(
            route("/model/m/invoke"),
            Route::CloudEmbed {
                model: "m",
                bedrock: true
            }
        );
        assert_eq!(route("/model//invoke"), Route::NotFound);
        assert_eq!(route("/model/m/unknown"), Route::NotFound);
        assert_eq!(
            route("/v1/projects/p/locations/l/publishers/google/models/e:predict"),
            Route::CloudEmbed {
                model: "e",
                bedrock: false
            }
        );
    }

    #[test]
    fn dialects() {
        assert_eq!(dialect(Route::CohereChat, "/v2/chat"), Dialect::Cohere);
        assert_eq!(dialect(Route::NotFound, "/v2/nope"), Dialect::Cohere);
        assert_eq!(
            dialect(Route::NotFound, "/model/m/invoke"),
            Dialect::Bedrock
        );
        assert_eq!(dialect(route("/model/m/converse"), ""), Dialect::Bedrock);
    }

    #[test]
    fn decodes_model_ids() {
        assert_eq!(percent_decode("a.b-v1%3A0"), "a.b-v1:0");
        assert_eq!(percent_decode("arn%3Aaws%2Fx%2f"), "arn:aws/x/");
        assert_eq!(percent_decode("plain"), "plain");
        assert!(matches!(percent_decode("plain"), Cow::Borrowed(_)));
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn embed_inputs() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).ok();
        let r = raw(
            r#"[{"model":"models/e","content":{"parts":[{"text":"x"}]},"outputDimensionality":3}]"#,
        );
        assert_eq!(
            r.as_deref().map(gemini_requests),
            Some(Ok(vec![(b"x".to_vec(), 3)]))
        );
        let r = raw(r#"[{"content":{"parts":[]}}]"#);
        assert!(r
            .as_deref()
            .map(gemini_requests)
            .is_some_and(|r| r.is_err()));
        let r = raw("[]");
        assert!(r
            .as_deref()
            .map(gemini_requests)
            .is_some_and(|r| r.is_err()));
        assert_eq!(
            raw(r#"["a","b"]"#).as_deref().and_then(cohere_texts),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(raw("[]").as_deref().and_then(cohere_texts), None);
        assert_eq!(raw("[1]").as_deref().and_then(cohere_texts), None);
        assert!(raw(r#"["float"]"#).as_deref().is_some_and(only_float));
        assert!(!raw(r#"["float","int8"]"#)
            .as_deref()
            .is_some_and(only_float));
        assert!(!raw("[]").as_deref().is_some_and(only_float));
    }
}
