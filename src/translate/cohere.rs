//! Cohere as a provider: Chat API v2 (`POST /v2/chat`) and Embed API v2 (`POST /v2/embed`).
//!
//! Callers never speak Cohere's format, so this module has only the provider half of the codec
//! interface: `encode_request`, `decode_response`, `StreamDecoder` and `decode_error`, plus
//! `encode_embed_request` / `decode_embed_response` for embeddings.
//!
//! Wiring: `POST {base}/v2/chat` (base `https://api.cohere.com`), `Authorization: Bearer KEY`,
//! `Content-Type: application/json`; the model is in the body, and `"stream": true` makes the
//! answer an SSE stream (`text/event-stream`). Embeddings: `POST {base}/v2/embed`, same headers.
//! Cohere's answers name no model: `decode_response` leaves `model` empty unless the body has
//! one, and `StreamDecoder::with_model` puts the routed model in the `Start` event.
//!
//! How canonical requests map:
//! - `system` becomes one leading `system` message (text blocks when there are several);
//! - tool results (`Part::ToolResult`) become `tool` messages with `tool_call_id`, in order;
//!   text and images next to them in the same user turn follow as a `user` message;
//! - an assistant turn that calls tools sends its text as `tool_plan` (Cohere's "what I am
//!   about to do" text); decoded answers turn `tool_plan` back into text before the calls;
//! - images are `image_url` content blocks (a URL or a `data:` URL). Only vision models
//!   (`command-a-vision-…`, `c4ai-aya-vision-…`) accept them; other models answer 400;
//! - `top_p` → `p`, `top_k` → `k`, `stop` → `stop_sequences`; JSON mode and JSON schemas →
//!   `response_format: {type: "json_object", json_schema?}`; any tool with `strict: true` →
//!   `strict_tools: true`;
//! - reasoning → `thinking: {type: "enabled", token_budget?}` (`type: "disabled"` for effort
//!   `none`); only reasoning models (`command-a-reasoning-…`) accept it.
//!
//! Refused (`TranslateError::Unsupported`):
//! - `tool_choice` naming one tool (Cohere only has `REQUIRED` and `NONE`);
//! - an image inside a tool result (tool messages take text and documents only);
//! - an image in an assistant turn.
//!
//! Dropped:
//! - thinking signatures and redacted thinking blocks of earlier turns (Cohere has neither;
//!   thinking text goes back as `thinking` content, but only when the request enables
//!   reasoning: other models may refuse thinking they cannot have produced);
//! - `ToolResult::is_error` (Cohere has no such flag; the result text is sent as it is);
//! - `parallel_tool_calls`, `user`, `stream_include_usage` (usage always comes at the end);
//! - a JSON schema's `name` and `strict` (Cohere always constrains output to the schema);
//! - the level of `reasoning.effort` (Cohere only has on/off plus a token budget) and
//!   `include_thoughts` (Cohere returns thinking whenever it is on).

use serde_json::{json, Map, Value};

use crate::translate::sse::{SseEvent, SseParser};
use crate::translate::{
    invalid, now_secs, str_field, unsupported, upstream, ChatRequest, ChatResponse, EmbedRequest,
    EmbedResponse, ErrorClass, ImageSource, Message, Part, ProviderError, ResponseFormat, Role,
    StopReason, StreamDecode, StreamEvent, ToolCall, ToolChoice, TranslateError, Usage,
};

/// The `input_type` `encode_embed_request` sends. Cohere's v3+ embedding models require one and
/// OpenAI-style callers give none: `search_document` is the type for texts that get stored and
/// compared, and its vectors also match `search_query` vectors of the same model.
pub const DEFAULT_EMBED_INPUT_TYPE: &str = "search_document";

/// Builds the Cohere `/v2/chat` body for `req`.
pub fn encode_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(req.model.clone()));
    body.insert("messages".into(), Value::Array(encode_messages(req)?));
    body.insert("stream".into(), Value::Bool(req.stream));

    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), Value::String(t.name.clone()));
                if let Some(d) = &t.description {
                    function.insert("description".into(), Value::String(d.clone()));
                }
                function.insert("parameters".into(), t.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if req.tools.iter().any(|t| t.strict == Some(true)) {
            body.insert("strict_tools".into(), Value::Bool(true));
        }
    }
    match &req.tool_choice {
        None | Some(ToolChoice::Auto) => {}
        // Without tools "no tool call" is what happens anyway, and Cohere wants `tools` next
        // to any `tool_choice`.
        Some(ToolChoice::None) if req.tools.is_empty() => {}
        Some(ToolChoice::None) => {
            body.insert("tool_choice".into(), Value::String("NONE".into()));
        }
        Some(ToolChoice::Required) => {
            body.insert("tool_choice".into(), Value::String("REQUIRED".into()));
        }
        Some(ToolChoice::Tool(_)) => {
            return Err(unsupported(
                "tool_choice naming a specific tool (Cohere only forces some tool or none)",
            ))
        }
    }

    if let Some(n) = req.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("p".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        body.insert("k".into(), json!(k));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(s) = req.seed {
        body.insert("seed".into(), json!(s));
    }
    if let Some(f) = req.frequency_penalty {
        body.insert("frequency_penalty".into(), json!(f));
    }
    if let Some(p) = req.presence_penalty {
        body.insert("presence_penalty".into(), json!(p));
    }
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        ResponseFormat::JsonSchema { schema, .. } => {
            body.insert(
                "response_format".into(),
                json!({"type": "json_object", "json_schema": schema}),
            );
        }
    }
    if let Some(r) = &req.reasoning {
        let thinking = if r.effort.as_deref() == Some("none") {
            json!({"type": "disabled"})
        } else {
            match r.budget_tokens {
                Some(b) => json!({"type": "enabled", "token_budget": b}),
                None => json!({"type": "enabled"}),
            }
        };
        body.insert("thinking".into(), thinking);
    }
    Ok(Value::Object(body))
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn image_block(src: &ImageSource) -> Value {
    let url = match src {
        ImageSource::Url(u) => u.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    };
    json!({"type": "image_url", "image_url": {"url": url}})
}

/// A lone text block is sent as a plain string, the form Cohere's own examples use.
fn content_value(mut blocks: Vec<Value>) -> Value {
    if blocks.len() == 1 && blocks[0].get("type").and_then(Value::as_str) == Some("text") {
        if let Some(Value::String(t)) = blocks[0].get_mut("text").map(Value::take) {
            return Value::String(t);
        }
    }
    Value::Array(blocks)
}

fn encode_messages(req: &ChatRequest) -> Result<Vec<Value>, TranslateError> {
    // Thinking of earlier turns only means something to a reasoning model, and a model without
    // reasoning may reject `thinking` content it cannot have produced.
    let keep_thinking = req
        .reasoning
        .as_ref()
        .is_some_and(|r| r.effort.as_deref() != Some("none"));
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        let blocks = req.system.iter().map(|s| text_block(s)).collect();
        out.push(json!({"role": "system", "content": content_value(blocks)}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => encode_user(m, &mut out)?,
            Role::Assistant => out.push(encode_assistant(m, keep_thinking)?),
        }
    }
    Ok(out)
}

fn flush_user(blocks: &mut Vec<Value>, out: &mut Vec<Value>) {
    if !blocks.is_empty() {
        let content = content_value(std::mem::take(blocks));
        out.push(json!({"role": "user", "content": content}));
    }
}

fn encode_user(m: &Message, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let mut blocks = Vec::new();
    for part in &m.parts {
        match part {
            Part::Text(t) => blocks.push(text_block(t)),
            Part::Image(src) => blocks.push(image_block(src)),
            Part::ToolResult(r) => {
                // Cohere wants tool messages right where the results are, so whatever text came
                // before them is sent first as its own user message.
                flush_user(&mut blocks, out);
                let mut content = Vec::new();
                for p in &r.content {
                    match p {
                        Part::Text(t) => content.push(text_block(t)),
                        Part::Image(_) => return Err(unsupported("an image in a tool result")),
                        _ => {}
                    }
                }
                let content = if content.is_empty() {
                    Value::String(String::new())
                } else {
                    content_value(content)
                };
                out.push(json!({"role": "tool", "tool_call_id": r.call_id, "content": content}));
            }
            Part::ToolCall(_) => return Err(invalid("a tool call in a user message")),
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {}
        }
    }
    flush_user(&mut blocks, out);
    Ok(())
}

fn encode_assistant(m: &Message, keep_thinking: bool) -> Result<Value, TranslateError> {
    let has_calls = m.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let mut content = Vec::new();
    let mut plan = String::new();
    let mut calls = Vec::new();
    for part in &m.parts {
        match part {
            Part::Text(t) if has_calls => {
                if !plan.is_empty() && !t.is_empty() {
                    plan.push_str("\n\n");
                }
                plan.push_str(t);
            }
            Part::Text(t) => content.push(text_block(t)),
            Part::Thinking { text, .. } if keep_thinking && !text.is_empty() => {
                content.push(json!({"type": "thinking", "thinking": text}));
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {}
            Part::ToolCall(c) => calls.push(json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })),
            Part::Image(_) => return Err(unsupported("an image in an assistant message")),
            Part::ToolResult(_) => return Err(invalid("a tool result in an assistant message")),
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), Value::String("assistant".into()));
    if !content.is_empty() {
        msg.insert("content".into(), content_value(content));
    } else if calls.is_empty() {
        msg.insert("content".into(), Value::String(String::new()));
    }
    if !plan.is_empty() {
        msg.insert("tool_plan".into(), Value::String(plan));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    Ok(Value::Object(msg))
}

/// Reads a count that Cohere may send as an integer or (in `billed_units`) as a float.
fn count(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
}

/// Cohere's `usage`: `tokens` counts everything the model read and wrote; `billed_units` only
/// what was billed (a fallback when `tokens` is absent); `cached_tokens` is part of the input.
fn decode_usage(u: &Value) -> Usage {
    let tokens = u.get("tokens");
    let billed = u.get("billed_units");
    let pick = |key: &str| {
        count(tokens.and_then(|t| t.get(key)))
            .or_else(|| count(billed.and_then(|b| b.get(key))))
            .unwrap_or(0)
    };
    let input_tokens = pick("input_tokens");
    let output_tokens = pick("output_tokens");
    let cached = count(u.get("cached_tokens")).unwrap_or(0);
    Usage {
        // Billed-only reports may leave cached tokens out of the input count.
        input_tokens: input_tokens.max(cached),
        output_tokens,
        cached_input_tokens: cached,
        ..Usage::default()
    }
}

fn decode_finish(reason: &str) -> StopReason {
    match reason {
        "COMPLETE" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "STOP_SEQUENCE" => StopReason::StopSequence(None),
        "TOOL_CALL" => StopReason::ToolUse,
        "ERROR_TOXIC" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Turns Cohere's `/v2/chat` answer into the canonical response. `created` is now (Cohere
/// sends no time) and `model` is empty unless the body names one: the caller fills it in.
pub fn decode_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let msg = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| upstream("Cohere answer without a message object"))?;
    let mut parts = Vec::new();
    match msg.get("content") {
        Some(Value::String(t)) if !t.is_empty() => parts.push(Part::Text(t.clone())),
        Some(Value::Array(items)) => {
            for item in items {
                match str_field(item, "type") {
                    Some("text") => {
                        if let Some(t) = str_field(item, "text") {
                            parts.push(Part::Text(t.to_string()));
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) = str_field(item, "thinking") {
                            parts.push(Part::Thinking {
                                text: t.to_string(),
                                signature: None,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if let Some(plan) = str_field(msg, "tool_plan").filter(|p| !p.is_empty()) {
        parts.push(Part::Text(plan.to_string()));
    }
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            let function = call.get("function");
            let name = function
                .and_then(|f| str_field(f, "name"))
                .ok_or_else(|| upstream("Cohere tool call without function.name"))?;
            parts.push(Part::ToolCall(ToolCall {
                id: str_field(call, "id").unwrap_or_default().to_string(),
                name: name.to_string(),
                arguments: arguments_text(function.and_then(|f| f.get("arguments"))),
            }));
        }
    }
    let stop = match str_field(body, "finish_reason") {
        Some(r) => decode_finish(r),
        None if parts.iter().any(|p| matches!(p, Part::ToolCall(_))) => StopReason::ToolUse,
        None => StopReason::EndTurn,
    };
    Ok(ChatResponse {
        id: str_field(body, "id")
            .map(str::to_string)
            .unwrap_or_else(|| format!("cohere-{}", now_secs())),
        model: str_field(body, "model").unwrap_or_default().to_string(),
        created: now_secs(),
        parts,
        stop,
        usage: body.get("usage").map(decode_usage).unwrap_or_default(),
    })
}

/// Turns Cohere's v2 chat event stream into canonical events.
///
/// Cohere names each event twice (`event:` line and a `type` field in the data); the `type`
/// field wins. `tool_plan` pieces become text, `thinking` content becomes thinking, and
/// `message-end` carries both the finish reason and the usage. A trailing `data: [DONE]` (sent
/// by some Cohere-compatible servers) is ignored.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    parser: SseParser,
    model: String,
    started: bool,
    ended: bool,
    /// Cohere's `index` of each tool call started so far, by canonical index.
    tool_calls: Vec<Option<u64>>,
    scratch: Vec<SseEvent>,
}

impl StreamDecoder {
    /// A decoder whose `Start` event names no model (Cohere's stream does not).
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    /// A decoder whose `Start` event names `model` (the model the request was routed to).
    pub fn with_model(model: &str) -> Self {
        StreamDecoder {
            model: model.to_string(),
            ..StreamDecoder::default()
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.to_string(),
                model: self.model.clone(),
            });
        }
    }

    fn handle(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| upstream(format!("Cohere stream event is not JSON: {e}")))?;
        let kind = str_field(&v, "type").unwrap_or(ev.event.as_str());
        let message = v.get("delta").and_then(|d| d.get("message"));
        match kind {
            "message-start" => {
                let id = str_field(&v, "id").unwrap_or_default();
                self.start(id, out);
            }
            "content-start" | "content-delta" => {
                self.start("", out);
                let content = message.and_then(|m| m.get("content"));
                if let Some(t) = content.and_then(|c| str_field(c, "thinking")) {
                    if !t.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(t.to_string()));
                    }
                }
                if let Some(t) = content.and_then(|c| str_field(c, "text")) {
                    if !t.is_empty() {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                }
            }
            "tool-plan-delta" => {
                self.start("", out);
                if let Some(t) = message.and_then(|m| str_field(m, "tool_plan")) {
                    if !t.is_empty() {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                }
            }
            "tool-call-start" => {
                self.start("", out);
                let call = tool_call_delta(message);
                let function = call.and_then(|c| c.get("function"));
                let index = self.tool_calls.len() as u32;
                self.tool_calls.push(v.get("index").and_then(Value::as_u64));
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: call
                        .and_then(|c| str_field(c, "id"))
                        .unwrap_or_default()
                        .to_string(),
                    name: function
                        .and_then(|f| str_field(f, "name"))
                        .unwrap_or_default()
                        .to_string(),
                });
                let args = arguments_text(function.and_then(|f| f.get("arguments")));
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: args,
                    });
                }
            }
            "tool-call-delta" => {
                let index = self.tool_index(v.get("index").and_then(Value::as_u64))?;
                let function = tool_call_delta(message).and_then(|c| c.get("function"));
                let args = arguments_text(function.and_then(|f| f.get("arguments")));
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: args,
                    });
                }
            }
            "message-end" => {
                self.start("", out);
                let delta = v.get("delta");
                if let Some(r) = delta.and_then(|d| str_field(d, "finish_reason")) {
                    out.push(StreamEvent::Finish(decode_finish(r)));
                }
                if let Some(u) = delta.and_then(|d| d.get("usage")) {
                    out.push(StreamEvent::Usage(decode_usage(u)));
                }
                self.ended = true;
            }
            "error" => {
                let msg = str_field(&v, "message").unwrap_or("unknown error");
                return Err(upstream(format!("Cohere stream error: {msg}")));
            }
            // content-end, tool-call-end, citation-start/-end, debug: nothing to carry over.
            _ => {}
        }
        Ok(())
    }

    /// The canonical index of the tool call Cohere's `index` names (the latest when absent).
    fn tool_index(&self, cohere: Option<u64>) -> Result<u32, TranslateError> {
        let found = match cohere {
            Some(c) => self.tool_calls.iter().rposition(|i| *i == Some(c)),
            None => None,
        };
        found
            .or_else(|| self.tool_calls.len().checked_sub(1))
            .map(|i| i as u32)
            .ok_or_else(|| upstream("Cohere tool-call-delta before any tool-call-start"))
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let events = std::mem::take(&mut self.scratch);
        let mut result = Ok(());
        for ev in &events {
            result = self.handle(ev, out);
            if result.is_err() {
                break;
            }
        }
        self.scratch = events;
        self.scratch.clear();
        result
    }
}

/// `delta.message.tool_calls` is one object in Cohere's stream; take the first if a compatible
/// server sends a list.
fn tool_call_delta(message: Option<&Value>) -> Option<&Value> {
    match message?.get("tool_calls")? {
        Value::Array(items) => items.first(),
        v => Some(v),
    }
}

impl StreamDecode for StreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        self.parser
            .feed(bytes, &mut self.scratch)
            .map_err(upstream)?;
        self.drain(out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        self.parser.end(&mut self.scratch);
        self.drain(out)?;
        if self.ended {
            Ok(())
        } else {
            Err(upstream("Cohere stream ended before message-end"))
        }
    }
}

/// Turns a Cohere error answer (`{"message": "..."}`, sometimes with an `id`) into a neutral
/// error. Cohere's own codes 498 (invalid token) and 499 (request cancelled) become 401 and 502;
/// 422 becomes 400.
pub fn decode_error(status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            str_field(v, "message")
                .or_else(|| v.get("error").and_then(|e| str_field(e, "message")))
                .or_else(|| str_field(v, "error"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let message = if message.is_empty() {
        format!("Cohere answered HTTP {status}")
    } else {
        message
    };
    let (status, class) = match status {
        498 => (401, ErrorClass::Authentication),
        499 => (502, ErrorClass::Server),
        422 => (400, ErrorClass::InvalidRequest),
        s if s < 400 => (502, ErrorClass::Server),
        s => (s, ErrorClass::from_status(s)),
    };
    ProviderError {
        status,
        class,
        message,
        code: None,
    }
}

/// Builds the Cohere `/v2/embed` body for `req` with `DEFAULT_EMBED_INPUT_TYPE`, asking for
/// float vectors.
pub fn encode_embed_request(req: &EmbedRequest) -> Value {
    encode_embed_request_as(req, DEFAULT_EMBED_INPUT_TYPE)
}

/// Builds the Cohere `/v2/embed` body with an explicit `input_type` (`search_document`,
/// `search_query`, `classification` or `clustering`).
pub fn encode_embed_request_as(req: &EmbedRequest, input_type: &str) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(req.model.clone()));
    body.insert("texts".into(), json!(req.inputs));
    body.insert("input_type".into(), Value::String(input_type.to_string()));
    body.insert("embedding_types".into(), json!(["float"]));
    if let Some(d) = req.dimensions {
        body.insert("output_dimension".into(), json!(d));
    }
    Value::Object(body)
}

/// Reads Cohere's `/v2/embed` answer (`embeddings.float`, or the older bare list of vectors).
/// `model` is empty unless the body names one.
pub fn decode_embed_response(body: &Value) -> Result<EmbedResponse, TranslateError> {
    let list = match body.get("embeddings") {
        Some(Value::Object(by_type)) => by_type.get("float"),
        Some(v @ Value::Array(_)) => Some(v),
        _ => None,
    }
    .and_then(Value::as_array)
    .ok_or_else(|| upstream("Cohere embed answer without float embeddings"))?;
    let mut vectors = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let nums = v
            .as_array()
            .ok_or_else(|| upstream(format!("Cohere embedding {i} is not a list")))?;
        let mut vector = Vec::with_capacity(nums.len());
        for n in nums {
            let f = n
                .as_f64()
                .ok_or_else(|| upstream(format!("Cohere embedding {i} has a non-number")))?;
            vector.push(f as f32);
        }
        vectors.push(vector);
    }
    let input_tokens = count(
        body.get("meta")
            .and_then(|m| m.get("billed_units"))
            .and_then(|b| b.get("input_tokens")),
    )
    .unwrap_or(0);
    Ok(EmbedResponse {
        model: str_field(body, "model").unwrap_or_default().to_string(),
        vectors,
        input_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;
    use crate::translate::ToolResult;

    fn native(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    const TEXT_REQ: &str = include_str!("../../tests/fixtures/translate/cohere/text.request.json");
    const TOOL_REQ: &str = include_str!("../../tests/fixtures/translate/cohere/tool.request.json");
    const IMAGE_REQ: &str =
        include_str!("../../tests/fixtures/translate/cohere/image.request.json");
    const SCHEMA_REQ: &str =
        include_str!("../../tests/fixtures/translate/cohere/json_schema.request.json");
    const THINKING_REQ: &str =
        include_str!("../../tests/fixtures/translate/cohere/thinking.request.json");
    const TEXT_RESP: &str =
        include_str!("../../tests/fixtures/translate/cohere/text.response.json");
    const TOOL_RESP: &str =
        include_str!("../../tests/fixtures/translate/cohere/tool.response.json");
    const TEXT_SSE: &str = include_str!("../../tests/fixtures/translate/cohere/text.sse");
    const TOOL_SSE: &str = include_str!("../../tests/fixtures/translate/cohere/tool.sse");
    const EMBED_REQ: &str =
        include_str!("../../tests/fixtures/translate/cohere/embed.request.json");
    const EMBED_RESP: &str =
        include_str!("../../tests/fixtures/translate/cohere/embed.response.json");

    #[test]
    fn golden_requests() {
        let cases = [
            ("text", fixtures::text_request(), TEXT_REQ),
            ("tool", fixtures::tool_request(), TOOL_REQ),
            ("image", fixtures::image_request(), IMAGE_REQ),
            ("json_schema", fixtures::json_schema_request(), SCHEMA_REQ),
            ("thinking", fixtures::thinking_request(), THINKING_REQ),
        ];
        for (name, req, text) in cases {
            let got = encode_request(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, native(text), "{name}");
        }
    }

    /// Cohere answers carry no model or time: the gateway fills `model` in and `created` is now.
    fn with_fixed_meta(mut resp: ChatResponse, model: &str) -> ChatResponse {
        resp.model = model.to_string();
        resp.created = 1_700_000_000;
        resp
    }

    #[test]
    fn golden_responses() {
        let cases = [
            ("text", fixtures::text_response(), TEXT_RESP),
            ("tool", fixtures::tool_response(), TOOL_RESP),
        ];
        for (name, want, text) in cases {
            let before = now_secs();
            let got = decode_response(&native(text)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(got.created >= before, "{name}: created is now");
            assert_eq!(got.model, "", "{name}: Cohere names no model");
            assert_eq!(with_fixed_meta(got, &want.model), want, "{name}");
        }
    }

    fn decode_stream_split(stream: &[u8], cut: usize) -> Vec<StreamEvent> {
        let mut d = StreamDecoder::with_model("test-model");
        let mut out = Vec::new();
        d.feed(&stream[..cut], &mut out).unwrap();
        d.feed(&stream[cut..], &mut out).unwrap();
        d.end(&mut out).unwrap();
        out
    }

    #[test]
    fn text_stream_at_every_split_point() {
        let want = fixtures::text_stream();
        let bytes = TEXT_SSE.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(decode_stream_split(bytes, cut), want, "cut at {cut}");
        }
    }

    #[test]
    fn tool_stream_at_every_split_point() {
        // Cohere's thinking has no signature: the canonical stream minus that event.
        let want: Vec<StreamEvent> = fixtures::tool_stream()
            .into_iter()
            .filter(|e| !matches!(e, StreamEvent::ThinkingSignature(_)))
            .collect();
        let bytes = TOOL_SSE.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(decode_stream_split(bytes, cut), want, "cut at {cut}");
        }
    }

    #[test]
    fn stream_fed_byte_by_byte_with_crlf() {
        let crlf = TOOL_SSE.replace('\n', "\r\n");
        let mut d = StreamDecoder::with_model("test-model");
        let mut out = Vec::new();
        for b in crlf.as_bytes() {
            d.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        d.end(&mut out).unwrap();
        assert_eq!(out.len(), fixtures::tool_stream().len() - 1);
    }

    #[test]
    fn stream_start_is_emitted_once_and_first() {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        // No message-start at all (a compatible server): Start still comes first, once.
        let s = "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"a\"}}}}\n\n\
                 data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"b\"}}}}\n\n\
                 data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\"}}\n\n\
                 data: [DONE]\n\n";
        d.feed(s.as_bytes(), &mut out).unwrap();
        d.end(&mut out).unwrap();
        assert_eq!(
            out,
            vec![
                StreamEvent::Start {
                    id: String::new(),
                    model: String::new()
                },
                StreamEvent::TextDelta("a".into()),
                StreamEvent::TextDelta("b".into()),
                StreamEvent::Finish(StopReason::MaxTokens),
            ]
        );
    }

    #[test]
    fn stream_without_message_end_is_an_error() {
        let cut = TEXT_SSE.find("event: message-end").unwrap();
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&TEXT_SSE.as_bytes()[..cut], &mut out).unwrap();
        assert!(matches!(d.end(&mut out), Err(TranslateError::Upstream(_))));
    }

    #[test]
    fn stream_garbage_and_orphan_deltas_are_errors() {
        let mut out = Vec::new();
        let mut d = StreamDecoder::new();
        assert!(d.feed(b"data: {not json\n\n", &mut out).is_err());
        let mut d = StreamDecoder::new();
        let orphan = b"data: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\"}}}}}\n\n";
        assert!(d.feed(orphan, &mut out).is_err());
    }

    #[test]
    fn stream_parallel_tool_calls_keep_their_indexes() {
        let s = concat!(
            "data: {\"id\":\"m\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n",
            "data: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}\n\n",
            "data: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n",
            "data: {\"type\":\"tool-call-end\",\"index\":0}\n\n",
            "data: {\"type\":\"tool-call-start\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\"\"}}}}}\n\n",
            "data: {\"type\":\"tool-call-delta\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\":1}\"}}}}}\n\n",
            "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":5.0,\"output_tokens\":7.0},\"cached_tokens\":2}}}\n\n",
        );
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.feed(s.as_bytes(), &mut out).unwrap();
        d.end(&mut out).unwrap();
        assert_eq!(
            &out[1..],
            &[
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "a".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 0,
                    arguments: "{}".into()
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "b".into(),
                    name: "g".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 1,
                    arguments: "{\"x\"".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 1,
                    arguments: ":1}".into()
                },
                StreamEvent::Finish(StopReason::ToolUse),
                StreamEvent::Usage(Usage {
                    input_tokens: 5,
                    output_tokens: 7,
                    cached_input_tokens: 2,
                    ..Usage::default()
                }),
            ]
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(decode_finish("COMPLETE"), StopReason::EndTurn);
        assert_eq!(
            decode_finish("STOP_SEQUENCE"),
            StopReason::StopSequence(None)
        );
        assert_eq!(decode_finish("MAX_TOKENS"), StopReason::MaxTokens);
        assert_eq!(decode_finish("TOOL_CALL"), StopReason::ToolUse);
        assert_eq!(decode_finish("ERROR"), StopReason::Other("ERROR".into()));
        assert_eq!(
            decode_finish("TIMEOUT"),
            StopReason::Other("TIMEOUT".into())
        );
    }

    #[test]
    fn response_with_thinking_and_bad_shapes() {
        let body = json!({
            "id": "r",
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "ok"}
            ]},
            "usage": {"tokens": {"input_tokens": 3, "output_tokens": 4}}
        });
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.parts,
            vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: None
                },
                Part::Text("ok".into())
            ]
        );
        assert_eq!(r.usage.output_tokens, 4);
        assert!(decode_response(&json!({"id": "x"})).is_err());
        let bad_call = json!({"message": {"tool_calls": [{"id": "c", "function": {}}]}});
        assert!(decode_response(&bad_call).is_err());
    }

    #[test]
    fn error_mapping() {
        let e = decode_error(
            429,
            br#"{"id":"abc","message":"You are using a Trial key"}"#,
        );
        assert_eq!(
            (e.status, e.class, e.message.as_str()),
            (429, ErrorClass::RateLimited, "You are using a Trial key")
        );
        let e = decode_error(400, br#"{"message":"invalid request: model not found"}"#);
        assert_eq!((e.status, e.class), (400, ErrorClass::InvalidRequest));
        let e = decode_error(401, br#"{"message":"invalid api token"}"#);
        assert_eq!((e.status, e.class), (401, ErrorClass::Authentication));
        let e = decode_error(498, br#"{"message":"invalid api token"}"#);
        assert_eq!((e.status, e.class), (401, ErrorClass::Authentication));
        let e = decode_error(422, br#"{"message":"too many tokens"}"#);
        assert_eq!((e.status, e.class), (400, ErrorClass::InvalidRequest));
        let e = decode_error(503, b"upstream connect error");
        assert_eq!(
            (e.status, e.class, e.message.as_str()),
            (503, ErrorClass::Overloaded, "upstream connect error")
        );
        let e = decode_error(500, b"");
        assert_eq!((e.status, e.class), (500, ErrorClass::Server));
        assert!(e.message.contains("500"));
        let e = decode_error(499, br#"{"message":"request cancelled"}"#);
        assert_eq!((e.status, e.class), (502, ErrorClass::Server));
    }

    #[test]
    fn refuses_a_named_tool_choice() {
        let mut req = fixtures::tool_request();
        req.tool_choice = Some(ToolChoice::Tool("get_weather".into()));
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Unsupported(_))
        ));
    }

    #[test]
    fn refuses_images_where_cohere_takes_none() {
        let mut req = fixtures::tool_request();
        req.messages[2] = Message {
            role: Role::User,
            parts: vec![Part::ToolResult(ToolResult {
                call_id: "call_1".into(),
                name: None,
                content: vec![Part::Image(ImageSource::Url("https://x/y.png".into()))],
                is_error: false,
            })],
        };
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Unsupported(_))
        ));
        let mut req = fixtures::text_request();
        req.messages[1]
            .parts
            .push(Part::Image(ImageSource::Url("https://x/y.png".into())));
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Unsupported(_))
        ));
    }

    #[test]
    fn other_request_options() {
        let mut req = fixtures::tool_request();
        req.tool_choice = Some(ToolChoice::Required);
        req.tools[0].strict = Some(true);
        req.top_k = Some(40);
        req.seed = Some(7);
        req.frequency_penalty = Some(0.1);
        req.presence_penalty = Some(0.2);
        req.response_format = ResponseFormat::JsonObject;
        req.stream = true;
        req.system = vec!["a".into(), "b".into()];
        // A result next to user text: the tool message first, then the text.
        req.messages[2].parts.push(Part::Text("Thanks".into()));
        let v = encode_request(&req).unwrap();
        assert_eq!(v["tool_choice"], "REQUIRED");
        assert_eq!(v["strict_tools"], true);
        assert_eq!(v["k"], 40);
        assert_eq!(v["seed"], 7);
        assert_eq!(v["frequency_penalty"], 0.1);
        assert_eq!(v["presence_penalty"], 0.2);
        assert_eq!(v["response_format"], json!({"type": "json_object"}));
        assert_eq!(v["stream"], true);
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": [
                {"type": "text", "text": "a"}, {"type": "text", "text": "b"}
            ]})
        );
        let msgs = v["messages"].as_array().unwrap();
        assert_eq!(msgs[msgs.len() - 2]["role"], "tool");
        assert_eq!(
            msgs[msgs.len() - 1],
            json!({"role": "user", "content": "Thanks"})
        );

        req.tool_choice = Some(ToolChoice::None);
        assert_eq!(encode_request(&req).unwrap()["tool_choice"], "NONE");
        req.tools.clear();
        assert!(encode_request(&req).unwrap().get("tool_choice").is_none());
        req.reasoning = Some(crate::translate::Reasoning {
            effort: Some("none".into()),
            ..Default::default()
        });
        assert_eq!(
            encode_request(&req).unwrap()["thinking"],
            json!({"type": "disabled"})
        );
    }

    #[test]
    fn earlier_thinking_is_dropped_without_reasoning() {
        let mut req = fixtures::thinking_request();
        req.reasoning = None;
        let v = encode_request(&req).unwrap();
        assert!(v["messages"][1].get("content").is_none());
        assert_eq!(v["messages"][1]["tool_calls"][0]["id"], "call_1");
        assert!(v.get("thinking").is_none());
    }

    #[test]
    fn assistant_text_with_calls_is_the_tool_plan() {
        let mut req = fixtures::tool_request();
        req.messages[1]
            .parts
            .insert(0, Part::Text("Let me check.".into()));
        let v = encode_request(&req).unwrap();
        assert_eq!(v["messages"][1]["tool_plan"], "Let me check.");
        assert!(v["messages"][1].get("content").is_none());
    }

    #[test]
    fn embeddings() {
        let req = EmbedRequest {
            model: "embed-v4.0".into(),
            inputs: vec!["hello".into(), "world".into()],
            dimensions: Some(256),
        };
        assert_eq!(encode_embed_request(&req), native(EMBED_REQ));
        let mut plain = req.clone();
        plain.dimensions = None;
        let v = encode_embed_request_as(&plain, "search_query");
        assert_eq!(v["input_type"], "search_query");
        assert!(v.get("output_dimension").is_none());

        let got = decode_embed_response(&native(EMBED_RESP)).unwrap();
        assert_eq!(
            got,
            EmbedResponse {
                model: String::new(),
                vectors: vec![vec![0.25, -0.5, 0.125], vec![1.0, 0.0, -1.0]],
                input_tokens: 2,
            }
        );
        let legacy = json!({"embeddings": [[0.5]], "meta": {"billed_units": {"input_tokens": 1}}});
        assert_eq!(
            decode_embed_response(&legacy).unwrap().vectors,
            vec![vec![0.5]]
        );
        assert!(decode_embed_response(&json!({"embeddings": {"int8": [[1]]}})).is_err());
        assert!(decode_embed_response(&json!({"embeddings": {"float": [["x"]]}})).is_err());
    }
}
