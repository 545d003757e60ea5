//! Amazon Bedrock's Converse API, as a provider only (callers never speak Bedrock's format):
//! `POST /model/{modelId}/converse` answers JSON, `POST /model/{modelId}/converse-stream`
//! answers an AWS event stream (`application/vnd.amazon.eventstream`, see `eventstream.rs`).
//!
//! Wiring notes:
//! - The model id is in the URL, never in the body: build the path with
//!   `crate::providers::sigv4::bedrock_path`, and sign with `crate::providers::sigv4::sign`
//!   (service `bedrock`, host `bedrock-runtime.{region}.amazonaws.com`, `content-type:
//!   application/json` signed).
//! - Bedrock's answers carry no response id or model: `decode_response` and
//!   `StreamDecoder::new` make an id up and leave the model empty; the caller may fill them from
//!   the `x-amzn-RequestId` response header and the routed model (`StreamDecoder::with_ids`).
//! - HTTP errors name their type in the `x-amzn-ErrorType` header: pass it to
//!   `decode_error_typed` when available (`decode_error` also reads `__type` from the body).
//!
//! Refused (`TranslateError::Unsupported`):
//! - images by URL (Bedrock takes inline images only), and image types other than png, jpeg,
//!   gif and webp;
//! - `response_format` JSON mode without a schema (Bedrock only enforces a JSON schema; a schema
//!   maps to `outputConfig.textFormat`);
//! - non-zero `presence_penalty` / `frequency_penalty` (Converse has no such parameters);
//! - `tool_choice: none` once the conversation holds tool calls or results (Bedrock then requires
//!   the tools to be declared and has no way to forbid calling them). Without tool history,
//!   `none` is honoured by not declaring the tools.
//!
//! Dropped:
//! - `seed`, `user` and `parallel_tool_calls` (Converse has no equivalent);
//! - empty text parts (Bedrock rejects blank text blocks), and messages left empty by that;
//! - `Reasoning::include_thoughts` (Bedrock returns reasoning whenever it is enabled);
//! - in answers: image, document, citation and guardrail blocks, and server tool calls (which
//!   Bedrock runs itself) have no canonical part and are skipped.
//!
//! Mapped with care:
//! - consecutive messages of the same role are merged (Bedrock requires alternation);
//! - `top_k` goes to `additionalModelRequestFields` as `top_k` (Anthropic, Mistral, ...) or, for
//!   Amazon Nova models, `inferenceConfig.topK`;
//! - reasoning goes to `additionalModelRequestFields.thinking` in Anthropic's form
//!   (`{"type":"enabled","budget_tokens":N}`); an OpenAI-style effort without a budget becomes
//!   1024 (minimal/low), 4096 (medium) or 16384 (high) tokens, kept below `max_tokens`;
//! - Bedrock's `inputTokens` excludes cache reads and writes; canonical `input_tokens` adds them;
//! - a complete answer's tool input is a JSON object that is re-serialised into the canonical
//!   arguments text (same JSON, keys possibly reordered); streamed pieces pass through as sent.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use crate::translate::eventstream::{encode_message, EventStreamDecoder, Message as Frame};
use crate::translate::model::*;
use crate::translate::{
    invalid, now_secs, str_field, unsupported, upstream, ErrorClass, ProviderError, StreamDecode,
    TranslateError,
};

/// The content type of ConverseStream answers.
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Builds the Converse (or ConverseStream: the body is the same) request body.
pub fn encode_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("presence_penalty"));
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("frequency_penalty"));
    }
    if req.response_format == ResponseFormat::JsonObject {
        return Err(unsupported(
            "response_format json_object (Bedrock only enforces a JSON schema)",
        ));
    }

    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(encode_messages(&req.messages)?),
    );

    let system: Vec<Value> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({ "text": s }))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    let mut inference = Map::new();
    if let Some(n) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), json!(p));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }

    if let Some(tools) = encode_tool_config(req)? {
        body.insert("toolConfig".into(), tools);
    }

    let extra = additional_fields(req);
    if !extra.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(extra));
    }

    if let ResponseFormat::JsonSchema { name, schema, .. } = &req.response_format {
        // Bedrock takes the schema as a JSON string, not an object. It always enforces it, so a
        // non-strict request gets a stricter (still conforming) answer.
        let mut def = Map::new();
        def.insert("schema".into(), Value::String(schema.to_string()));
        if !name.is_empty() {
            def.insert("name".into(), Value::String(name.clone()));
        }
        body.insert(
            "outputConfig".into(),
            json!({ "textFormat": { "type": "json_schema", "structure": { "jsonSchema": def } } }),
        );
    }
    Ok(Value::Object(body))
}

fn encode_messages(messages: &[Message]) -> Result<Vec<Value>, TranslateError> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mut blocks = Vec::with_capacity(m.parts.len());
        for part in &m.parts {
            if let Some(b) = encode_part(part, i)? {
                blocks.push(b);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, prev)) if *role == m.role => prev.extend(blocks),
            _ => turns.push((m.role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, content)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": content })
        })
        .collect())
}

fn encode_part(part: &Part, msg: usize) -> Result<Option<Value>, TranslateError> {
    Ok(Some(match part {
        Part::Text(t) if t.is_empty() => return Ok(None),
        Part::Text(t) => json!({ "text": t }),
        Part::Image(img) => encode_image(img)?,
        Part::ToolCall(call) => {
            let input: Value = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments).map_err(|_| {
                    invalid(format!(
                        "messages[{msg}]: arguments of tool call {} are not valid JSON",
                        call.id
                    ))
                })?
            };
            json!({ "toolUse": { "toolUseId": call.id, "name": call.name, "input": input } })
        }
        Part::ToolResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for p in &result.content {
                match p {
                    Part::Text(t) if !t.is_empty() => content.push(json!({ "text": t })),
                    Part::Image(img) => content.push(encode_image(img)?),
                    _ => {}
                }
            }
            let mut block = Map::new();
            block.insert("toolUseId".into(), json!(result.call_id));
            block.insert("content".into(), Value::Array(content));
            // Only sent on failure: `status` is a Claude-only field that other models reject.
            if result.is_error {
                block.insert("status".into(), json!("error"));
            }
            json!({ "toolResult": block })
        }
        Part::Thinking { text, signature } => {
            if text.is_empty() && signature.is_none() {
                return Ok(None);
            }
            let mut r = Map::new();
            r.insert("text".into(), json!(text));
            if let Some(sig) = signature {
                r.insert("signature".into(), json!(sig));
            }
            json!({ "reasoningContent": { "reasoningText": r } })
        }
        Part::RedactedThinking { data } => {
            json!({ "reasoningContent": { "redactedContent": data } })
        }
    }))
}

fn encode_image(img: &ImageSource) -> Result<Value, TranslateError> {
    match img {
        ImageSource::Url(_) => Err(unsupported("image_url (Bedrock takes inline images only)")),
        ImageSource::Base64 { media_type, data } => {
            let format = match media_type.to_ascii_lowercase().as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(unsupported(format!(
                        "image type {other} (Bedrock takes png, jpeg, gif and webp)"
                    )))
                }
            };
            // JSON carries Bedrock's blob members as base64 text, which is what we hold.
            Ok(json!({ "image": { "format": format, "source": { "bytes": data } } }))
        }
    }
}

fn encode_tool_config(req: &ChatRequest) -> Result<Option<Value>, TranslateError> {
    let choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({ "auto": {} })),
        Some(ToolChoice::Required) => Some(json!({ "any": {} })),
        Some(ToolChoice::Tool(name)) => Some(json!({ "tool": { "name": name } })),
        Some(ToolChoice::None) => {
            if !req.tools.is_empty() && has_tool_history(&req.messages) {
                return Err(unsupported(
                    "tool_choice none in a conversation with tool calls (Bedrock cannot forbid tool calls)",
                ));
            }
            // Undeclared tools cannot be called: exactly what `none` asks for.
            return Ok(None);
        }
    };
    if req.tools.is_empty() {
        if matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        ) {
            return Err(invalid("tool_choice requires tools, but none were given"));
        }
        return Ok(None);
    }
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), json!(t.name));
            if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
                spec.insert("description".into(), json!(d));
            }
            spec.insert("inputSchema".into(), json!({ "json": t.parameters }));
            if t.strict == Some(true) {
                spec.insert("strict".into(), json!(true));
            }
            json!({ "toolSpec": spec })
        })
        .collect();
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(tools));
    if let Some(c) = choice {
        config.insert("toolChoice".into(), c);
    }
    Ok(Some(Value::Object(config)))
}

fn has_tool_history(messages: &[Message]) -> bool {
    messages.iter().any(|m| {
        m.parts
            .iter()
            .any(|p| matches!(p, Part::ToolCall(_) | Part::ToolResult(_)))
    })
}

/// Model-specific fields Converse passes through untouched.
fn additional_fields(req: &ChatRequest) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(k) = req.top_k {
        if req.model.contains("amazon.nova") {
            extra.insert("inferenceConfig".into(), json!({ "topK": k }));
        } else {
            extra.insert("top_k".into(), json!(k));
        }
    }
    if let Some(budget) = thinking_budget(req) {
        extra.insert(
            "thinking".into(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
    extra
}

fn thinking_budget(req: &ChatRequest) -> Option<u64> {
    let r = req.reasoning.as_ref()?;
    if let Some(b) = r.budget_tokens {
        // A zero budget is Gemini's way of turning thinking off.
        return (b > 0).then_some(b);
    }
    let budget = match r.effort.as_deref()? {
        "none" => return None,
        "minimal" | "low" => 1024,
        "medium" => 4096,
        _ => 16_384,
    };
    // Anthropic requires max_tokens > budget_tokens; 1024 is its minimum budget.
    Some(match req.max_tokens {
        Some(max) if budget >= max => max.saturating_sub(1).max(1024),
        _ => budget,
    })
}

/// Reads a Converse answer. Bedrock sends no id or model: the id is made up and the model left
/// empty for the caller to fill in.
pub fn decode_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let content = body
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("Bedrock answer has no output.message.content array"))?;
    let mut parts = Vec::with_capacity(content.len());
    for block in content {
        if let Some(p) = decode_block(block)? {
            parts.push(p);
        }
    }
    let stop = decode_stop(
        str_field(body, "stopReason").unwrap_or("end_turn"),
        body.get("additionalModelResponseFields"),
    );
    Ok(ChatResponse {
        id: make_id(),
        model: String::new(),
        created: now_secs(),
        parts,
        stop,
        usage: body.get("usage").map(decode_usage).unwrap_or_default(),
    })
}

fn decode_block(block: &Value) -> Result<Option<Part>, TranslateError> {
    if let Some(t) = str_field(block, "text") {
        return Ok(Some(Part::Text(t.to_owned())));
    }
    if let Some(tu) = block.get("toolUse") {
        // Bedrock runs server tools itself: the caller must not see them as calls to make.
        if str_field(tu, "type") == Some("server_tool_use") {
            return Ok(None);
        }
        let id = str_field(tu, "toolUseId").ok_or_else(|| upstream("toolUse without toolUseId"))?;
        let name = str_field(tu, "name").ok_or_else(|| upstream("toolUse without name"))?;
        let arguments = match tu.get("input") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(v) => v.to_string(),
        };
        return Ok(Some(Part::ToolCall(ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments,
        })));
    }
    if let Some(rc) = block.get("reasoningContent") {
        if let Some(rt) = rc.get("reasoningText") {
            return Ok(Some(Part::Thinking {
                text: str_field(rt, "text").unwrap_or_default().to_owned(),
                signature: str_field(rt, "signature").map(str::to_owned),
            }));
        }
        if let Some(data) = str_field(rc, "redactedContent") {
            return Ok(Some(Part::RedactedThinking {
                data: data.to_owned(),
            }));
        }
    }
    // Images, documents, citations and guardrail blocks have no canonical answer part.
    Ok(None)
}

fn decode_stop(reason: &str, extra: Option<&Value>) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        // Bedrock only says which sequence when the model's own fields carry it (Anthropic's
        // `stop_sequence`, returned when requested through additionalModelResponseFieldPaths).
        "stop_sequence" => StopReason::StopSequence(
            extra
                .and_then(|e| str_field(e, "stop_sequence"))
                .map(str::to_owned),
        ),
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Bedrock counts cache reads and writes apart from `inputTokens` (as Anthropic does), so the
/// canonical total adds them back. A few models have been seen to fold them into `inputTokens`
/// already; `totalTokens` (documented as everything) tells the two apart.
fn decode_usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (n("inputTokens"), n("outputTokens"));
    let (read, write) = (n("cacheReadInputTokens"), n("cacheWriteInputTokens"));
    let total = u.get("totalTokens").and_then(Value::as_u64);
    let already_inclusive =
        read + write > 0 && total == Some(input + output) && input >= read + write;
    Usage {
        input_tokens: if already_inclusive {
            input
        } else {
            input + read + write
        },
        output_tokens: output,
        cached_input_tokens: read,
        cache_creation_input_tokens: write,
        reasoning_tokens: 0,
    }
}

fn make_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "bedrock-{nanos:x}{:04x}",
        SEQ.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// Turns a ConverseStream body (AWS event-stream frames) into canonical events.
#[derive(Debug)]
pub struct StreamDecoder {
    frames: EventStreamDecoder,
    /// Reused between feeds to avoid an allocation per chunk.
    scratch: Vec<Frame>,
    id: String,
    model: String,
    started: bool,
    stopped: bool,
    /// Content block index of each tool call, in order: the position is the tool-call index.
    tool_blocks: Vec<u64>,
    /// Content blocks of server tool calls, which Bedrock runs itself and the caller never sees.
    server_blocks: Vec<u64>,
    exception: Option<ProviderError>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    /// A decoder with a made-up response id and an empty model name.
    pub fn new() -> Self {
        Self::with_ids(make_id(), String::new())
    }

    /// A decoder whose `Start` event carries this id (say `x-amzn-RequestId`; empty makes one
    /// up) and model.
    pub fn with_ids(id: impl Into<String>, model: impl Into<String>) -> Self {
        let id: String = id.into();
        StreamDecoder {
            frames: EventStreamDecoder::new(),
            scratch: Vec::new(),
            id: if id.is_empty() { make_id() } else { id },
            model: model.into(),
            started: false,
            stopped: false,
            tool_blocks: Vec::new(),
            server_blocks: Vec::new(),
            exception: None,
        }
    }

    /// The classified exception that ended the stream, if Bedrock sent one (the error `feed`
    /// returned only says it in words).
    pub fn exception(&self) -> Option<&ProviderError> {
        self.exception.as_ref()
    }

    fn handle(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        match frame.header_str(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = frame.header_str(":exception-type").unwrap_or("exception");
                return Err(self.fail(kind, error_message(&frame.payload, 502)));
            }
            "error" => {
                let kind = frame.header_str(":error-code").unwrap_or("error");
                let msg = frame
                    .header_str(":error-message")
                    .map(str::to_owned)
                    .unwrap_or_else(|| error_message(&frame.payload, 502));
                return Err(self.fail(kind, msg));
            }
            _ => return Ok(()),
        }
        let event = frame
            .header_str(":event-type")
            .ok_or_else(|| upstream("Bedrock stream event without :event-type"))?;
        let payload: Value = if frame.payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&frame.payload)
                .map_err(|e| upstream(format!("Bedrock {event} event is not JSON: {e}")))?
        };
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: self.id.clone(),
                model: self.model.clone(),
            });
        }
        let block = payload
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match event {
            "contentBlockStart" => {
                if let Some(tu) = payload.pointer("/start/toolUse") {
                    if str_field(tu, "type") == Some("server_tool_use") {
                        self.server_blocks.push(block);
                        return Ok(());
                    }
                    let index = self.tool_blocks.len() as u32;
                    self.tool_blocks.push(block);
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: str_field(tu, "toolUseId").unwrap_or_default().to_owned(),
                        name: str_field(tu, "name").unwrap_or_default().to_owned(),
                    });
                }
            }
            "contentBlockDelta" => {
                let Some(delta) = payload.get("delta") else {
                    return Ok(());
                };
                if let Some(t) = str_field(delta, "text") {
                    if !t.is_empty() {
                        out.push(StreamEvent::TextDelta(t.to_owned()));
                    }
                } else if let Some(tu) = delta.get("toolUse") {
                    if self.server_blocks.contains(&block) {
                        return Ok(());
                    }
                    let index = self
                        .tool_blocks
                        .iter()
                        .rposition(|&b| b == block)
                        .ok_or_else(|| {
                            upstream(format!(
                                "Bedrock toolUse delta for content block {block}, which started no tool call"
                            ))
                        })? as u32;
                    let piece = str_field(tu, "input").unwrap_or_default();
                    if !piece.is_empty() {
                        out.push(StreamEvent::ToolCallDelta {
                            index,
                            arguments: piece.to_owned(),
                        });
                    }
                } else if let Some(rc) = delta.get("reasoningContent") {
                    if let Some(t) = str_field(rc, "text").filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::ThinkingDelta(t.to_owned()));
                    }
                    if let Some(s) = str_field(rc, "signature").filter(|s| !s.is_empty()) {
                        out.push(StreamEvent::ThinkingSignature(s.to_owned()));
                    }
                    if let Some(d) = str_field(rc, "redactedContent") {
                        out.push(StreamEvent::RedactedThinking(d.to_owned()));
                    }
                }
            }
            "messageStop" => {
                self.stopped = true;
                out.push(StreamEvent::Finish(decode_stop(
                    str_field(&payload, "stopReason").unwrap_or("end_turn"),
                    payload.get("additionalModelResponseFields"),
                )));
            }
            "metadata" => {
                if let Some(u) = payload.get("usage") {
                    out.push(StreamEvent::Usage(decode_usage(u)));
                }
            }
            // messageStart, contentBlockStop, and anything newer carry nothing canonical.
            _ => {}
        }
        Ok(())
    }

    fn fail(&mut self, kind: &str, message: String) -> TranslateError {
        let err = classify(Some(kind), 502, message);
        let text = format!(
            "Bedrock stream {}: {}",
            err.code.as_deref().unwrap_or(kind),
            err.message
        );
        self.exception = Some(err);
        upstream(text)
    }
}

impl StreamDecode for StreamDecoder {
    fn take_error(&mut self) -> Option<ProviderError> {
        self.exception.take()
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let mut frames = std::mem::take(&mut self.scratch);
        let framing = self.frames.feed(bytes, &mut frames);
        // Frames completed before a framing error still count (an exception among them
        // explains the failure better than the framing error).
        for frame in frames.drain(..) {
            self.handle(&frame, out)?;
        }
        self.scratch = frames;
        framing.map_err(|e| upstream(format!("Bedrock event stream: {e}")))
    }

    fn end(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if !self.frames.is_idle() {
            return Err(upstream(
                "Bedrock event stream ended in the middle of a message",
            ));
        }
        if !self.stopped {
            return Err(upstream("Bedrock event stream ended without messageStop"));
        }
        Ok(())
    }
}

/// Encodes one ConverseStream event as Bedrock sends it (for the mock provider and tests).
pub fn encode_stream_event(event_type: &str, payload: &Value) -> Vec<u8> {
    encode_message(
        &[
            (":event-type", event_type.into()),
            (":content-type", "application/json".into()),
            (":message-type", "event".into()),
        ],
        payload.to_string().as_bytes(),
    )
}

/// Encodes a ConverseStream exception (`throttlingException`, `validationException`, ...) as
/// Bedrock sends it mid-stream.
pub fn encode_stream_exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode_message(
        &[
            (":exception-type", exception_type.into()),
            (":content-type", "application/json".into()),
            (":message-type", "exception".into()),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// Reads a Bedrock error body (`{"message": "..."}`, sometimes with `__type`).
pub fn decode_error(status: u16, body: &[u8]) -> ProviderError {
    decode_error_typed(status, None, body)
}

/// Like [`decode_error`], with the `x-amzn-ErrorType` response header, which names the error
/// (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`).
pub fn decode_error_typed(status: u16, error_type: Option<&str>, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let kind = error_type
        .filter(|t| !t.is_empty())
        .or_else(|| parsed.as_ref().and_then(|v| str_field(v, "__type")));
    classify(kind, status, error_message(body, status))
}

fn error_message(body: &[u8], status: u16) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = str_field(&v, "message").or_else(|| str_field(&v, "Message")) {
            return m.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_owned();
    if text.is_empty() {
        format!("Bedrock answered HTTP {status}")
    } else {
        text
    }
}

/// Maps a Bedrock error type (any of `ThrottlingException`, `throttlingException`,
/// `com.amazon.coral.service#ThrottlingException`, `ThrottlingException:http://...`) to the
/// status and class the caller should see; unknown types keep `status`.
fn classify(kind: Option<&str>, status: u16, message: String) -> ProviderError {
    let name = kind.map(|k| {
        let k = k.rsplit('#').next().unwrap_or(k);
        let k = k.split(':').next().unwrap_or(k);
        let mut c = k.chars();
        match c.next() {
            Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
            None => String::new(),
        }
    });
    let mapped = match name.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("throttlingexception" | "servicequotaexceededexception") => {
            Some((429, ErrorClass::RateLimited))
        }
        Some("modelnotreadyexception" | "serviceunavailableexception") => {
            Some((503, ErrorClass::Overloaded))
        }
        Some("modeltimeoutexception") => Some((504, ErrorClass::Timeout)),
        Some("accessdeniedexception") => Some((403, ErrorClass::PermissionDenied)),
        Some(
            "unrecognizedclientexception"
            | "invalidsignatureexception"
            | "incompletesignatureexception"
            | "missingauthenticationtokenexception"
            | "expiredtokenexception",
        ) => Some((401, ErrorClass::Authentication)),
        Some("resourcenotfoundexception") => Some((404, ErrorClass::NotFound)),
        Some("validationexception" | "conflictexception") => {
            Some((400, ErrorClass::InvalidRequest))
        }
        Some("modelerrorexception" | "modelstreamerrorexception") => {
            Some((502, ErrorClass::Server))
        }
        Some("internalserverexception") => Some((500, ErrorClass::Server)),
        _ => None,
    };
    let (status, class) = mapped.unwrap_or((status, ErrorClass::from_status(status)));
    ProviderError {
        status,
        class,
        message,
        code: name.filter(|n| !n.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// Bedrock takes the output schema as a JSON string: compare it as JSON, not as text, so
    /// the test does not depend on serde_json's key order.
    fn normalize(mut v: Value) -> Value {
        if let Some(s) = v.pointer_mut("/outputConfig/textFormat/structure/jsonSchema/schema") {
            if let Some(text) = s.as_str() {
                *s = serde_json::from_str(text).unwrap();
            }
        }
        v
    }

    #[test]
    fn golden_text_request() {
        let want = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/text.request.json"
        ));
        assert_eq!(encode_request(&fixtures::text_request()).unwrap(), want);
    }

    #[test]
    fn golden_tool_request() {
        let want = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/tool.request.json"
        ));
        assert_eq!(encode_request(&fixtures::tool_request()).unwrap(), want);
    }

    #[test]
    fn golden_image_request_inline_only() {
        let mut req = fixtures::image_request();
        assert_eq!(
            encode_request(&req),
            Err(TranslateError::Unsupported(
                "image_url (Bedrock takes inline images only)".into()
            ))
        );
        req.messages[0]
            .parts
            .retain(|p| !matches!(p, Part::Image(ImageSource::Url(_))));
        let want = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/image.request.json"
        ));
        assert_eq!(encode_request(&req).unwrap(), want);
    }

    #[test]
    fn golden_thinking_request() {
        let want = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/thinking.request.json"
        ));
        assert_eq!(encode_request(&fixtures::thinking_request()).unwrap(), want);
    }

    #[test]
    fn golden_json_schema_request() {
        let want = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/json_schema.request.json"
        ));
        let got = encode_request(&fixtures::json_schema_request()).unwrap();
        assert!(got["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"].is_string());
        assert_eq!(normalize(got), normalize(want));
    }

    #[test]
    fn golden_text_response() {
        let body = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/text.response.json"
        ));
        let mut got = decode_response(&body).unwrap();
        let want = fixtures::text_response();
        assert!(got.id.starts_with("bedrock-"));
        assert!(got.created > 1_700_000_000);
        (got.id, got.model, got.created) = (want.id.clone(), want.model.clone(), want.created);
        assert_eq!(got, want);
    }

    #[test]
    fn golden_tool_response() {
        let body = fixture(include_str!(
            "../../tests/fixtures/translate/bedrock/tool.response.json"
        ));
        let mut got = decode_response(&body).unwrap();
        let want = fixtures::tool_response();
        (got.id, got.model, got.created) = (want.id.clone(), want.model.clone(), want.created);
        assert_eq!(got, want);
    }

    #[test]
    fn refusals() {
        let base = fixtures::text_request();
        let refused = |req: ChatRequest| match encode_request(&req) {
            Err(TranslateError::Unsupported(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused(ChatRequest {
                presence_penalty: Some(0.5),
                ..base.clone()
            }),
            "presence_penalty"
        );
        assert_eq!(
            refused(ChatRequest {
                frequency_penalty: Some(-1.0),
                ..base.clone()
            }),
            "frequency_penalty"
        );
        assert!(refused(ChatRequest {
            response_format: ResponseFormat::JsonObject,
            ..base.clone()
        })
        .contains("json_object"));
        let mut tiff = fixtures::image_request();
        tiff.messages[0].parts = vec![Part::Image(ImageSource::Base64 {
            media_type: "image/tiff".into(),
            data: "AAAA".into(),
        })];
        assert!(refused(tiff).contains("image/tiff"));
        assert!(refused(ChatRequest {
            tool_choice: Some(ToolChoice::None),
            ..fixtures::tool_request()
        })
        .contains("tool_choice none"));
        // Zero penalties are the default OpenAI SDKs send: nothing to refuse.
        assert!(encode_request(&ChatRequest {
            presence_penalty: Some(0.0),
            frequency_penalty: Some(0.0),
            ..base
        })
        .is_ok());
    }

    #[test]
    fn tool_choice_mapping() {
        let mut req = fixtures::tool_request();
        req.tool_choice = Some(ToolChoice::Required);
        assert_eq!(
            encode_request(&req).unwrap()["toolConfig"]["toolChoice"],
            json!({"any": {}})
        );
        req.tool_choice = Some(ToolChoice::Tool("get_weather".into()));
        assert_eq!(
            encode_request(&req).unwrap()["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "get_weather"}})
        );
        // `none` without tool history: the tools are simply not declared.
        req.messages.truncate(1);
        req.tool_choice = Some(ToolChoice::None);
        let body = encode_request(&req).unwrap();
        assert!(body.get("toolConfig").is_none());
        // Strict tools ask Bedrock to enforce the schema.
        req.tool_choice = None;
        req.tools[0].strict = Some(true);
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body["toolConfig"]["tools"][0]["toolSpec"]["strict"],
            json!(true)
        );
        assert!(body["toolConfig"].get("toolChoice").is_none());
        // Forcing a tool with no tools is the caller's mistake.
        req.tools.clear();
        req.tool_choice = Some(ToolChoice::Required);
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Invalid(_))
        ));
    }

    #[test]
    fn merges_same_role_turns_and_drops_blank_text() {
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![Part::Text("a".into())],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Text(String::new())],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text("b".into()),
                        Part::ToolResult(ToolResult {
                            call_id: "c1".into(),
                            name: None,
                            content: vec![Part::Text("boom".into())],
                            is_error: true,
                        }),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::RedactedThinking {
                        data: "ZW5j".into(),
                    }],
                },
            ],
            ..ChatRequest::default()
        };
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body,
            json!({"messages": [
                {"role": "user", "content": [
                    {"text": "a"},
                    {"text": "b"},
                    {"toolResult": {"toolUseId": "c1", "content": [{"text": "boom"}], "status": "error"}}
                ]},
                {"role": "assistant", "content": [{"reasoningContent": {"redactedContent": "ZW5j"}}]}
            ]})
        );
    }

    #[test]
    fn bad_tool_arguments_are_invalid() {
        let mut req = fixtures::tool_request();
        if let Part::ToolCall(c) = &mut req.messages[1].parts[0] {
            c.arguments = "{not json".into();
        }
        assert!(
            matches!(encode_request(&req), Err(TranslateError::Invalid(m)) if m.contains("call_1"))
        );
    }

    #[test]
    fn top_k_and_effort() {
        let mut req = fixtures::text_request();
        req.top_k = Some(40);
        req.model = "anthropic.claude-3-5-sonnet-20240620-v1:0".into();
        assert_eq!(
            encode_request(&req).unwrap()["additionalModelRequestFields"],
            json!({"top_k": 40})
        );
        req.model = "us.amazon.nova-pro-v1:0".into();
        assert_eq!(
            encode_request(&req).unwrap()["additionalModelRequestFields"],
            json!({"inferenceConfig": {"topK": 40}})
        );
        req.top_k = None;
        req.max_tokens = Some(8000);
        req.reasoning = Some(Reasoning {
            effort: Some("high".into()),
            ..Reasoning::default()
        });
        assert_eq!(
            encode_request(&req).unwrap()["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 7999}})
        );
        req.reasoning = Some(Reasoning {
            effort: Some("medium".into()),
            ..Reasoning::default()
        });
        assert_eq!(
            encode_request(&req).unwrap()["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
        );
        req.reasoning = Some(Reasoning {
            effort: Some("none".into()),
            ..Reasoning::default()
        });
        assert!(encode_request(&req)
            .unwrap()
            .get("additionalModelRequestFields")
            .is_none());
    }

    #[test]
    fn response_reasoning_and_stop_reasons() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s1"}}},
                {"reasoningContent": {"redactedContent": "b64=="}},
                {"text": "Done."},
                {"image": {"format": "png", "source": {"bytes": "AAAA"}}}
            ]}},
            "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 112,
                      "cacheReadInputTokens": 40, "cacheWriteInputTokens": 60}
        });
        let got = decode_response(&body).unwrap();
        assert_eq!(
            got.parts,
            vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("s1".into())
                },
                Part::RedactedThinking {
                    data: "b64==".into()
                },
                Part::Text("Done.".into()),
            ]
        );
        assert_eq!(got.stop, StopReason::ContentFilter);
        assert_eq!(
            got.usage,
            Usage {
                input_tokens: 105,
                output_tokens: 7,
                cached_input_tokens: 40,
                cache_creation_input_tokens: 60,
                reasoning_tokens: 0
            }
        );
        for (word, want) in [
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence(None)),
            ("content_filtered", StopReason::ContentFilter),
            (
                "malformed_tool_use",
                StopReason::Other("malformed_tool_use".into()),
            ),
        ] {
            assert_eq!(decode_stop(word, None), want);
        }
        assert_eq!(
            decode_stop("stop_sequence", Some(&json!({"stop_sequence": "END"}))),
            StopReason::StopSequence(Some("END".into()))
        );
        assert!(matches!(
            decode_response(&json!({"output": {}})),
            Err(TranslateError::Upstream(_))
        ));
    }

    #[test]
    fn usage_already_inclusive_is_not_double_counted() {
        let u = decode_usage(
            &json!({"inputTokens": 100, "outputTokens": 5, "totalTokens": 105,
                                     "cacheReadInputTokens": 80}),
        );
        assert_eq!(u.input_tokens, 100);
        assert_eq!(u.cached_input_tokens, 80);
    }

    /// Encodes a stream fixture (`[{"event", "payload"}]`) the way Bedrock frames it.
    fn stream_bytes(text: &str) -> Vec<u8> {
        let events: Vec<Value> = serde_json::from_str(text).unwrap();
        let mut out = Vec::new();
        for e in events {
            out.extend(encode_stream_event(
                e["event"].as_str().unwrap(),
                &e["payload"],
            ));
        }
        out
    }

    fn decode_in(chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, TranslateError> {
        let mut d = StreamDecoder::with_ids("resp", "test-model");
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out)?;
        }
        d.end(&mut out)?;
        Ok(out)
    }

    fn check_stream(bytes: &[u8], mut want: Vec<StreamEvent>, id: &str) {
        if let Some(StreamEvent::Start { id: i, .. }) = want.first_mut() {
            assert_eq!(i, id);
            *i = "resp".into();
        }
        // Every single split point...
        for at in 0..=bytes.len() {
            let got = decode_in(&[&bytes[..at], &bytes[at..]]).unwrap();
            assert_eq!(got, want, "split at {at}");
        }
        // ...and pseudo-random piece sizes.
        let mut seed = 0x2545_F491_u32;
        for _ in 0..50 {
            let mut pieces = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = (seed as usize % 97 + 1).min(rest.len());
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(decode_in(&pieces).unwrap(), want);
        }
    }

    #[test]
    fn golden_text_stream() {
        let bytes = stream_bytes(include_str!(
            "../../tests/fixtures/translate/bedrock/text.stream.json"
        ));
        check_stream(&bytes, fixtures::text_stream(), "resp_1");
    }

    #[test]
    fn golden_tool_stream() {
        let bytes = stream_bytes(include_str!(
            "../../tests/fixtures/translate/bedrock/tool.stream.json"
        ));
        check_stream(&bytes, fixtures::tool_stream(), "resp_2");
    }

    #[test]
    fn stream_exception_is_an_error() {
        let mut bytes = encode_stream_event("messageStart", &json!({"role": "assistant"}));
        bytes.extend(encode_stream_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ));
        bytes.extend(encode_stream_exception(
            "throttlingException",
            "Too many tokens, please wait before trying again.",
        ));
        let mut d = StreamDecoder::with_ids("r", "m");
        let mut out = Vec::new();
        let err = d.feed(&bytes, &mut out).unwrap_err();
        assert_eq!(
            err,
            TranslateError::Upstream(
                "Bedrock stream ThrottlingException: Too many tokens, please wait before trying again."
                    .into()
            )
        );
        assert_eq!(
            out,
            vec![
                StreamEvent::Start {
                    id: "r".into(),
                    model: "m".into()
                },
                StreamEvent::TextDelta("Hi".into())
            ]
        );
        let e = d.exception().unwrap();
        assert_eq!((e.status, e.class), (429, ErrorClass::RateLimited));
        assert_eq!(e.code.as_deref(), Some("ThrottlingException"));

        let err = decode_in(&[&encode_stream_exception(
            "modelStreamErrorException",
            "Model produced invalid sequence",
        )])
        .unwrap_err();
        assert!(matches!(err, TranslateError::Upstream(m) if m.contains("invalid sequence")));
    }

    #[test]
    fn server_tool_calls_are_not_surfaced() {
        let mut bytes = encode_stream_event("messageStart", &json!({"role": "assistant"}));
        bytes.extend(encode_stream_event(
            "contentBlockStart",
            &json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "srv_1", "name": "web_search", "type": "server_tool_use"}}}),
        ));
        bytes.extend(encode_stream_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}}),
        ));
        bytes.extend(encode_stream_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 1, "delta": {"text": "Found it."}}),
        ));
        bytes.extend(encode_stream_event(
            "messageStop",
            &json!({"stopReason": "end_turn"}),
        ));
        assert_eq!(
            decode_in(&[&bytes]).unwrap(),
            vec![
                StreamEvent::Start {
                    id: "resp".into(),
                    model: "test-model".into()
                },
                StreamEvent::TextDelta("Found it.".into()),
                StreamEvent::Finish(StopReason::EndTurn),
            ]
        );
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "srv_1", "name": "web_search", "input": {}, "type": "server_tool_use"}},
                {"text": "Found it."}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        });
        assert_eq!(
            decode_response(&body).unwrap().parts,
            vec![Part::Text("Found it.".into())]
        );
    }

    #[test]
    fn truncated_or_unterminated_streams_fail_at_end() {
        let bytes = stream_bytes(include_str!(
            "../../tests/fixtures/translate/bedrock/text.stream.json"
        ));
        // Cut inside the last frame.
        assert!(matches!(
            decode_in(&[&bytes[..bytes.len() - 5]]),
            Err(TranslateError::Upstream(m)) if m.contains("middle")
        ));
        // Whole frames, but no messageStop.
        let partial = encode_stream_event("messageStart", &json!({"role": "assistant"}));
        assert!(matches!(
            decode_in(&[&partial]),
            Err(TranslateError::Upstream(m)) if m.contains("messageStop")
        ));
        // Metadata may be missing: messageStop is the proper end.
        let mut ok = partial.clone();
        ok.extend(encode_stream_event(
            "messageStop",
            &json!({"stopReason": "end_turn"}),
        ));
        assert!(decode_in(&[&ok]).is_ok());
        // A corrupted frame is a framing error.
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(
            decode_in(&[&bad]),
            Err(TranslateError::Upstream(m)) if m.contains("checksum")
        ));
        // A tool delta for a block that never started a tool call.
        let stray = encode_stream_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
        );
        assert!(decode_in(&[&stray]).is_err());
    }

    #[test]
    fn error_mapping() {
        let e = decode_error(
            429,
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!((e.status, e.class), (429, ErrorClass::RateLimited));
        assert_eq!(
            e.message,
            "Too many requests, please wait before trying again."
        );
        assert_eq!(e.code, None);

        let e = decode_error_typed(
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"The provided model identifier is invalid."}"#,
        );
        assert_eq!((e.status, e.class), (400, ErrorClass::InvalidRequest));
        assert_eq!(e.code.as_deref(), Some("ValidationException"));

        let e = decode_error(
            400,
            br#"{"__type":"com.amazon.coral.service#ThrottlingException","message":"Rate exceeded"}"#,
        );
        assert_eq!((e.status, e.class), (429, ErrorClass::RateLimited));

        let e = decode_error_typed(
            403,
            Some("UnrecognizedClientException"),
            br#"{"Message":"The security token included in the request is invalid."}"#,
        );
        assert_eq!((e.status, e.class), (401, ErrorClass::Authentication));
        assert_eq!(
            e.message,
            "The security token included in the request is invalid."
        );

        let e = decode_error_typed(424, Some("ModelErrorException"), b"{}");
        assert_eq!((e.status, e.class), (502, ErrorClass::Server));
        assert_eq!(e.message, "{}");

        let e = decode_error_typed(408, Some("ModelTimeoutException"), b"");
        assert_eq!((e.status, e.class), (504, ErrorClass::Timeout));
        assert_eq!(e.message, "Bedrock answered HTTP 408");

        let e = decode_error(503, b"<html>Service Unavailable</html>");
        assert_eq!((e.status, e.class), (503, ErrorClass::Overloaded));
        assert_eq!(e.message, "<html>Service Unavailable</html>");
    }
}
