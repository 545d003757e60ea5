//! OpenAI Chat Completions (`POST /v1/chat/completions`), both directions: the format of callers
//! using the OpenAI SDKs (and everything built on them), and the provider format of OpenAI and of
//! every OpenAI-compatible server (vLLM, Ollama, Groq, DeepSeek, Mistral, OpenRouter, Together,
//! Gemini's compatibility endpoint...).
//!
//! Requests from OpenAI-format callers (`decode_request`):
//! - `system` and `developer` messages, wherever they are, join `ChatRequest::system` in order
//!   (one entry per message, or per text part when the content is an array); their position in
//!   the conversation is lost.
//! - `tool` messages become `Part::ToolResult`s of one user message: consecutive tool messages
//!   share it, and the user message right after them joins it too. The result's tool name is not
//!   carried (OpenAI does not send it) and `is_error` is false (OpenAI has no such flag).
//! - assistant messages: `thinking_blocks` (`[{type: "thinking", thinking, signature} |
//!   {type: "redacted_thinking", data}]`, signatures kept) else `reasoning_content` become
//!   thinking parts, placed first; then the content (text and `refusal` parts as text); then
//!   `tool_calls`.
//! - `image_url` parts: a `data:<type>;base64,` URL becomes an inline image, anything else a URL
//!   image. `detail` is dropped.
//! - `reasoning_effort` becomes `Reasoning { effort, include_thoughts: effort != "none" }` (the
//!   reasoning text comes back in `reasoning_content`). As an extension, an Anthropic-style
//!   `thinking: {type: "enabled", budget_tokens}` (what gateways accept through the SDK's
//!   `extra_body`) sets the budget.
//! - `max_completion_tokens` wins over `max_tokens`; `safety_identifier` serves as `user` when
//!   `user` is absent.
//! - Refused (`TranslateError::Unsupported`, naming the field): `n` > 1, `logprobs: true`,
//!   `top_logprobs` > 0, a non-empty `logit_bias`, `audio`, `modalities` other than text,
//!   `web_search_options`, `verbosity` other than `medium`, the legacy `functions` /
//!   `function_call` parameters and `function` messages (deprecated since 2023: use `tools`),
//!   tools other than `function`, `tool_choice` `allowed_tools`/`custom`, `response_format`
//!   types other than `text`/`json_object`/`json_schema`, and `input_audio` / `file` content
//!   parts.
//! - Ignored: message `name`, `store`, `metadata`, `service_tier`, `prediction`,
//!   `prompt_cache_key`, `stream_options.include_obfuscation`, and other fields without effect on
//!   the answer's content.
//!
//! Requests sent to OpenAI-compatible providers (`encode_request`):
//! - the system strings, joined by blank lines, as one `system` message first (the chat
//!   templates of many open models served by compatible servers refuse several).
//! - a user message's tool results are sent first, as `tool` messages (OpenAI wants them right
//!   after the assistant's `tool_calls`), then the rest of it as one `user` message (a string when
//!   it is a single text). Images inside tool results go into that user message (tool messages
//!   take text only); texts of one result are joined with newlines.
//! - assistant texts are concatenated into one `content` string (`null` when the turn only calls
//!   tools); empty tool-call arguments are sent as `{}`.
//! - `max_tokens` is sent as `max_completion_tokens` for OpenAI reasoning models (names starting
//!   `o1`, `o3`, `o4`, `gpt-5`, `codex`, see [`is_reasoning_model`]), which refuse `max_tokens`;
//!   as `max_tokens` otherwise (what every compatible server knows).
//! - reasoning: an explicit effort is sent as `reasoning_effort` (except to OpenAI's older
//!   `gpt-4*`, `gpt-3.5*` and `chatgpt-*` models, which answer 400 to it: dropped there); a
//!   budget alone (Anthropic or Gemini callers) is mapped for reasoning models only (≤ 2048
//!   `low`, ≤ 8192 `medium`, more `high`; 0 none), because many models and servers refuse the
//!   parameter.
//! - JSON mode (`json_object`) adds "Respond with a JSON object." to the system message when no
//!   system or user text mentions "json", because OpenAI refuses JSON mode otherwise.
//! - `stream_options: {include_usage: true}` is sent with `stream` when `stream_include_usage` is
//!   set (the pipeline sets it: the gateway needs the token counts).
//!
//! Dropped when encoding for OpenAI-compatible providers:
//! - thinking and redacted-thinking parts (OpenAI rejects unknown message fields, and DeepSeek
//!   rejects `reasoning_content` sent back);
//! - `include_thoughts` (Chat Completions never returns OpenAI's reasoning text);
//! - `top_k` (OpenAI has no such parameter and rejects unknown ones);
//! - `temperature`, `top_p`, `presence_penalty` and `frequency_penalty` for reasoning models
//!   (they refuse any non-default value);
//! - `tool_choice` and `parallel_tool_calls` when there are no tools (OpenAI refuses them then);
//! - the `is_error` flag of tool results (OpenAI has no place for it; the text stays).
//!
//! Answers from providers (`decode_response`, `StreamDecoder`): reasoning is read from
//! `thinking_blocks`, else `reasoning_content` (DeepSeek, vLLM, Qwen), else `reasoning`
//! (OpenRouter, Groq, Ollama); Mistral's content arrays (`text` and `thinking` chunks) are read
//! too. A `refusal` becomes answer text with `StopReason::Refusal`. `finish_reason` `stop` after
//! tool calls (some compatible servers say so) becomes `ToolUse`; vLLM's `stop_reason` string
//! gives `StopSequence(Some(..))`. Usage also comes from DeepSeek's `prompt_cache_hit_tokens` and
//! Groq's `x_groq.usage`. Streams may omit `role`, put `usage` in the last choices chunk, omit
//! `[DONE]` (the `finish_reason` then ends them), omit tool-call `index` (the call `id` then tells
//! calls apart) or send a whole tool call in one piece.
//!
//! Answers for OpenAI-format callers (`encode_response`, `StreamEncoder`):
//! - thinking goes to `message.reasoning_content` (all thinking texts) and
//!   `message.thinking_blocks` (each block with its signature; redacted ones as
//!   `{type: "redacted_thinking", data}`). Streamed: `delta.reasoning_content` for each thinking
//!   piece, `delta.thinking_blocks: [{type: "thinking", thinking: "", signature}]` for the
//!   signature that closes a block, `delta.thinking_blocks: [{type: "redacted_thinking", data}]`
//!   for a redacted block.
//! - `finish_reason`: `length`; `content_filter` (safety filters and refusals: Anthropic's
//!   `refusal` is its classifiers stopping the answer; the text so far stays in `content`);
//!   else `tool_calls` exactly when the answer calls tools (also when a provider reported the
//!   end of turn after calling them, because agents loop on it); else `stop` (end of turn, stop
//!   sequence, and any stop OpenAI has no word for).
//! - the id is the provider's (`chatcmpl-<hex>` made up when it has none); `created` is the
//!   answer's, or the start of the stream. Empty tool-call arguments become `{}` (a streamed
//!   call that got no argument text gets a `{}` piece before the last chunk), so that callers'
//!   JSON parsing of them works; other arguments are kept as received.
//! - the stream is OpenAI's: a first chunk with `delta: {role: "assistant", content: "",
//!   refusal: null}`, content chunks, tool-call chunks (`id`, `type` and `function.name` only in
//!   the first piece of each call, which has `arguments: ""`), a last chunk with an empty `delta`
//!   and the `finish_reason`, then when the caller asked `stream_options.include_usage` a chunk
//!   with `choices: []` and the usage (every other chunk then has `usage: null`), then
//!   `data: [DONE]`. A failure after the start is one `data: {"error": {...}}` event and no
//!   `[DONE]`: the openai SDKs raise `APIError` on a chunk with an `error` key.
//! - errors are `{"error": {"message", "type", "param": null, "code"}}`; the SDKs pick the
//!   exception class from the HTTP status, the type follows the class
//!   (`invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
//!   `rate_limit_error`, `server_error`) except OpenAI's own `insufficient_quota`.

use serde_json::{json, Map, Value};

use crate::translate::sse::{write_data, SseEvent, SseParser};
use crate::translate::{
    invalid, model::*, now_secs, str_field, unsupported, upstream, ErrorClass, ProviderError,
    StreamDecode, StreamEncode, TranslateError,
};

type Obj = Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Small readers
// ---------------------------------------------------------------------------------------------

/// A field that is present and not `null` (OpenAI clients send `null` for "not given").
fn field<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_string(obj: &Obj, key: &str, path: &str) -> Result<Option<String>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{path}{key} must be a string"))),
    }
}

fn req_string(obj: &Obj, key: &str, path: &str) -> Result<String, TranslateError> {
    opt_string(obj, key, path)?.ok_or_else(|| invalid(format!("{path}{key}: field required")))
}

fn opt_f64(obj: &Obj, key: &str) -> Result<Option<f64>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a number"))),
    }
}

fn opt_u64(obj: &Obj, key: &str, path: &str) -> Result<Option<u64>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}{key} must be a non-negative integer"))),
    }
}

fn opt_bool(obj: &Obj, key: &str, path: &str) -> Result<Option<bool>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("{path}{key} must be a boolean"))),
    }
}

fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, TranslateError> {
    v.as_object()
        .ok_or_else(|| invalid(format!("{path} must be an object")))
}

// ---------------------------------------------------------------------------------------------
// Requests from OpenAI-format callers
// ---------------------------------------------------------------------------------------------

/// Decodes a caller's `POST /v1/chat/completions` body into the canonical request.
pub fn decode_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    refuse_unsupported(obj)?;
    let mut req = ChatRequest {
        model: req_string(obj, "model", "")?,
        ..ChatRequest::default()
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("messages must be an array")),
        None => return Err(invalid("messages: field required")),
    };
    decode_messages(messages, &mut req)?;

    if let Some(tools) = field(obj, "tools") {
        let tools = tools
            .as_array()
            .ok_or_else(|| invalid("tools must be an array"))?;
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(decode_tool(i, t)?);
        }
    }
    if let Some(choice) = field(obj, "tool_choice") {
        req.tool_choice = Some(decode_tool_choice(choice)?);
    }
    req.parallel_tool_calls = opt_bool(obj, "parallel_tool_calls", "")?;
    req.max_tokens = match opt_u64(obj, "max_completion_tokens", "")? {
        Some(n) => Some(n),
        None => opt_u64(obj, "max_tokens", "")?,
    };
    req.temperature = opt_f64(obj, "temperature")?;
    req.top_p = opt_f64(obj, "top_p")?;
    req.presence_penalty = opt_f64(obj, "presence_penalty")?;
    req.frequency_penalty = opt_f64(obj, "frequency_penalty")?;
    req.seed = match field(obj, "seed") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| invalid("seed must be an integer"))?,
        ),
    };
    req.stop = decode_stop(field(obj, "stop"))?;
    req.stream = opt_bool(obj, "stream", "")?.unwrap_or(false);
    if let Some(opts) = field(obj, "stream_options") {
        let opts = as_obj(opts, "stream_options")?;
        req.stream_include_usage =
            req.stream && opt_bool(opts, "include_usage", "stream_options.")?.unwrap_or(false);
    }
    if let Some(rf) = field(obj, "response_format") {
        req.response_format = decode_response_format(rf)?;
    }
    if let Some(effort) = opt_string(obj, "reasoning_effort", "")? {
        req.reasoning = Some(Reasoning {
            include_thoughts: effort != "none",
            effort: Some(effort),
            budget_tokens: None,
        });
    }
    if let Some(thinking) = field(obj, "thinking") {
        let t = as_obj(thinking, "thinking")?;
        if str_field(thinking, "type") == Some("enabled") {
            let r = req.reasoning.get_or_insert_with(Reasoning::default);
            r.budget_tokens = opt_u64(t, "budget_tokens", "thinking.")?;
            r.include_thoughts = true;
        }
    }
    req.user = match opt_string(obj, "user", "")? {
        Some(u) => Some(u),
        None => opt_string(obj, "safety_identifier", "")?,
    };
    Ok(req)
}

/// Refuses request parameters that would change the answer and that no translation can keep.
fn refuse_unsupported(obj: &Obj) -> Result<(), TranslateError> {
    if let Some(n) = field(obj, "n") {
        match n.as_u64() {
            Some(1) => {}
            Some(0) | None => return Err(invalid("n must be a positive integer")),
            Some(_) => return Err(unsupported("n > 1 (several choices)")),
        }
    }
    if field(obj, "logprobs") == Some(&Value::Bool(true)) {
        return Err(unsupported("logprobs"));
    }
    if field(obj, "top_logprobs").is_some_and(|v| v.as_u64() != Some(0)) {
        return Err(unsupported("top_logprobs"));
    }
    if let Some(bias) = field(obj, "logit_bias") {
        if bias.as_object().is_none_or(|m| !m.is_empty()) {
            return Err(unsupported("logit_bias"));
        }
    }
    if field(obj, "audio").is_some() {
        return Err(unsupported("audio"));
    }
    if let Some(modalities) = field(obj, "modalities") {
        let text_only = modalities
            .as_array()
            .is_some_and(|a| a.iter().all(|m| m.as_str() == Some("text")));
        if !text_only {
            return Err(unsupported("modalities other than text"));
        }
    }
    if field(obj, "web_search_options").is_some() {
        return Err(unsupported("web_search_options"));
    }
    if field(obj, "verbosity").is_some_and(|v| v.as_str() != Some("medium")) {
        return Err(unsupported("verbosity"));
    }
    if field(obj, "functions").is_some() || field(obj, "function_call").is_some() {
        return Err(unsupported(
            "functions/function_call (legacy function calling; use tools)",
        ));
    }
    Ok(())
}

fn decode_messages(messages: &[Value], req: &mut ChatRequest) -> Result<(), TranslateError> {
    // True while the last canonical message was opened by `tool` messages: later tool messages
    // and the next user message join it (tool results are user content in the canonical model).
    let mut in_tool_turn = false;
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let mo = as_obj(m, &path)?;
        let role = req_string(mo, "role", &format!("{path}."))?;
        match role.as_str() {
            "system" | "developer" => {
                let content = field(mo, "content")
                    .ok_or_else(|| invalid(format!("{path}.content: field required")))?;
                for p in decode_content(content, &path, Kind::System)? {
                    if let Part::Text(t) = p {
                        req.system.push(t);
                    }
                }
            }
            "user" => {
                let content = field(mo, "content")
                    .ok_or_else(|| invalid(format!("{path}.content: field required")))?;
                let parts = decode_content(content, &path, Kind::User)?;
                match req.messages.last_mut() {
                    Some(last) if in_tool_turn => last.parts.extend(parts),
                    _ => req.messages.push(Message {
                        role: Role::User,
                        parts,
                    }),
                }
                in_tool_turn = false;
            }
            "assistant" => {
                let parts = decode_assistant(mo, &path)?;
                if !parts.is_empty() {
                    req.messages.push(Message {
                        role: Role::Assistant,
                        parts,
                    });
                }
                in_tool_turn = false;
            }
            "tool" => {
                let result = Part::ToolResult(ToolResult {
                    call_id: req_string(mo, "tool_call_id", &format!("{path}."))?,
                    name: None,
                    content: match field(mo, "content") {
                        Some(c) => decode_content(c, &path, Kind::Tool)?,
                        None => return Err(invalid(format!("{path}.content: field required"))),
                    },
                    is_error: false,
                });
                match req.messages.last_mut() {
                    Some(last) if in_tool_turn => last.parts.push(result),
                    _ => req.messages.push(Message {
                        role: Role::User,
                        parts: vec![result],
                    }),
                }
                in_tool_turn = true;
            }
            "function" => {
                return Err(unsupported(
                    "function messages (legacy function calling; use tools)",
                ))
            }
            other => return Err(invalid(format!("{path}.role: unknown role '{other}'"))),
        }
    }
    Ok(())
}

/// Which message a content belongs to: each takes different part types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    System,
    User,
    Assistant,
    Tool,
}

fn decode_content(content: &Value, path: &str, kind: Kind) -> Result<Vec<Part>, TranslateError> {
    let items = match content {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items,
        _ => {
            return Err(invalid(format!(
                "{path}.content must be a string or an array of parts"
            )))
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let ppath = format!("{path}.content[{j}]");
        let io = as_obj(item, &ppath)?;
        let kind_name = req_string(io, "type", &format!("{ppath}."))?;
        match (kind_name.as_str(), kind) {
            ("text", _) => parts.push(Part::Text(req_string(io, "text", &format!("{ppath}."))?)),
            ("refusal", Kind::Assistant) => {
                parts.push(Part::Text(req_string(io, "refusal", &format!("{ppath}."))?))
            }
            ("image_url", Kind::User) => {
                let url = match field(io, "image_url") {
                    Some(Value::String(u)) => u.clone(),
                    Some(Value::Object(o)) => req_string(o, "url", &format!("{ppath}.image_url."))?,
                    _ => return Err(invalid(format!("{ppath}.image_url: field required"))),
                };
                parts.push(Part::Image(decode_image_url(&url, &ppath)?));
            }
            ("input_audio", _) => return Err(unsupported("input_audio content parts")),
            ("file", _) => return Err(unsupported("file content parts")),
            (other, _) => {
                return Err(invalid(format!(
                    "{ppath}.type: '{other}' parts are not allowed in this message"
                )))
            }
        }
    }
    Ok(parts)
}

fn decode_image_url(url: &str, path: &str) -> Result<ImageSource, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(ImageSource::Url(url.to_string()));
    };
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| invalid(format!("{path}.image_url.url: malformed data URL")))?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or_else(|| invalid(format!("{path}.image_url.url: data URL must be base64")))?;
    Ok(ImageSource::Base64 {
        media_type: if media_type.is_empty() {
            "image/png".to_string()
        } else {
            media_type.to_string()
        },
        data: data.to_string(),
    })
}

fn decode_assistant(mo: &Obj, path: &str) -> Result<Vec<Part>, TranslateError> {
    if field(mo, "function_call").is_some() {
        return Err(unsupported(
            "function_call in messages (legacy function calling; use tool_calls)",
        ));
    }
    let mut parts = match field(mo, "thinking_blocks") {
        Some(blocks) => decode_thinking_blocks(blocks, &format!("{path}.thinking_blocks"))?,
        None => match opt_string(mo, "reasoning_content", &format!("{path}."))? {
            Some(text) if !text.is_empty() => vec![Part::Thinking {
                text,
                signature: None,
            }],
            _ => Vec::new(),
        },
    };
    if let Some(content) = field(mo, "content") {
        parts.extend(
            decode_content(content, path, Kind::Assistant)?
                .into_iter()
                .filter(|p| !matches!(p, Part::Text(t) if t.is_empty())),
        );
    }
    if !parts.iter().any(|p| matches!(p, Part::Text(_))) {
        if let Some(refusal) = opt_string(mo, "refusal", &format!("{path}."))? {
            parts.push(Part::Text(refusal));
        }
    }
    if let Some(calls) = field(mo, "tool_calls") {
        let calls = calls
            .as_array()
            .ok_or_else(|| invalid(format!("{path}.tool_calls must be an array")))?;
        for (j, c) in calls.iter().enumerate() {
            let cpath = format!("{path}.tool_calls[{j}]");
            let co = as_obj(c, &cpath)?;
            match str_field(c, "type") {
                None | Some("function") => {}
                Some(other) => return Err(unsupported(format!("tool calls of type '{other}'"))),
            }
            let f = field(co, "function")
                .ok_or_else(|| invalid(format!("{cpath}.function: field required")))?;
            let fo = as_obj(f, &format!("{cpath}.function"))?;
            parts.push(Part::ToolCall(ToolCall {
                id: req_string(co, "id", &format!("{cpath}."))?,
                name: req_string(fo, "name", &format!("{cpath}.function."))?,
                arguments: arguments_text(field(fo, "arguments")),
            }));
        }
    }
    Ok(parts)
}

/// Tool-call arguments as JSON text: OpenAI sends a string; some compatible servers an object.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn decode_thinking_blocks(blocks: &Value, path: &str) -> Result<Vec<Part>, TranslateError> {
    let blocks = blocks
        .as_array()
        .ok_or_else(|| invalid(format!("{path} must be an array")))?;
    let mut parts = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}[{j}].");
        let bo = as_obj(b, &bpath)?;
        match str_field(b, "type") {
            Some("thinking") => parts.push(Part::Thinking {
                text: opt_string(bo, "thinking", &bpath)?.unwrap_or_default(),
                signature: opt_string(bo, "signature", &bpath)?.filter(|s| !s.is_empty()),
            }),
            Some("redacted_thinking") => parts.push(Part::RedactedThinking {
                data: req_string(bo, "data", &bpath)?,
            }),
            _ => {
                return Err(invalid(format!(
                    "{bpath}type must be thinking or redacted_thinking"
                )))
            }
        }
    }
    Ok(parts)
}

fn decode_tool(i: usize, t: &Value) -> Result<Tool, TranslateError> {
    let path = format!("tools[{i}].");
    let to = as_obj(t, &format!("tools[{i}]"))?;
    match str_field(t, "type") {
        Some("function") => {}
        Some(other) => return Err(unsupported(format!("tools of type '{other}'"))),
        None => return Err(invalid(format!("{path}type: field required"))),
    }
    let f =
        field(to, "function").ok_or_else(|| invalid(format!("{path}function: field required")))?;
    let fpath = format!("{path}function.");
    let fo = as_obj(f, &fpath)?;
    let parameters = match field(fo, "parameters") {
        None => json!({"type": "object"}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err(invalid(format!("{fpath}parameters must be an object"))),
    };
    Ok(Tool {
        name: req_string(fo, "name", &fpath)?,
        description: opt_string(fo, "description", &fpath)?,
        parameters,
        strict: opt_bool(fo, "strict", &fpath)?,
    })
}

fn decode_tool_choice(v: &Value) -> Result<ToolChoice, TranslateError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid(format!("tool_choice: unknown value '{other}'"))),
        },
        Value::Object(o) => match str_field(v, "type") {
            Some("function") => {
                let f = field(o, "function")
                    .ok_or_else(|| invalid("tool_choice.function: field required"))?;
                let fo = as_obj(f, "tool_choice.function")?;
                Ok(ToolChoice::Tool(req_string(
                    fo,
                    "name",
                    "tool_choice.function.",
                )?))
            }
            Some(other) => Err(unsupported(format!("tool_choice of type '{other}'"))),
            None => Err(invalid("tool_choice.type: field required")),
        },
        _ => Err(invalid("tool_choice must be a string or an object")),
    }
}

fn decode_stop(v: Option<&Value>) -> Result<Vec<String>, TranslateError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("stop must be a string or an array of strings"))
            })
            .collect(),
        Some(_) => Err(invalid("stop must be a string or an array of strings")),
    }
}

fn decode_response_format(v: &Value) -> Result<ResponseFormat, TranslateError> {
    let o = as_obj(v, "response_format")?;
    match str_field(v, "type") {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = field(o, "json_schema")
                .ok_or_else(|| invalid("response_format.json_schema: field required"))?;
            let jo = as_obj(js, "response_format.json_schema")?;
            let path = "response_format.json_schema.";
            Ok(ResponseFormat::JsonSchema {
                name: req_string(jo, "name", path)?,
                schema: match field(jo, "schema") {
                    None => json!({"type": "object"}),
                    Some(s @ Value::Object(_)) => s.clone(),
                    Some(_) => return Err(invalid(format!("{path}schema must be an object"))),
                },
                strict: opt_bool(jo, "strict", path)?.unwrap_or(false),
            })
        }
        Some(other) => Err(unsupported(format!("response_format of type '{other}'"))),
        None => Err(invalid("response_format.type: field required")),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests to OpenAI-compatible providers
// ---------------------------------------------------------------------------------------------

/// Whether `model` is one of OpenAI's reasoning models (o-series, GPT-5, Codex), which take
/// `max_completion_tokens` and `reasoning_effort` and refuse sampling parameters. A routing
/// prefix such as `openai/` is ignored.
pub fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    let o_series = ["o1", "o3", "o4"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    });
    o_series || name.starts_with("gpt-5") || name.starts_with("codex")
}

/// Whether `model` is one of OpenAI's older chat models, which answer 400 to any
/// `reasoning_effort`.
fn rejects_reasoning_effort(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    ["gpt-4", "gpt-3.5", "chatgpt-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `reasoning_effort` for a thinking budget (the inverse of the Anthropic codec's mapping).
fn budget_effort(budget: u64) -> Option<&'static str> {
    match budget {
        0 => None,
        1..=2048 => Some("low"),
        2049..=8192 => Some("medium"),
        _ => Some("high"),
    }
}

/// The system message added for JSON mode when the conversation never says "json".
const JSON_MODE_INSTRUCTION: &str = "Respond with a JSON object.";

/// Encodes the canonical request as an OpenAI Chat Completions body.
pub fn encode_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    let reasoning_model = is_reasoning_model(&req.model);
    let mut body = Obj::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(encode_messages(req)));
    if let Some(n) = req.max_tokens {
        let key = if reasoning_model {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body.insert(key.into(), json!(n));
    }
    if !reasoning_model {
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(p) = req.presence_penalty {
            body.insert("presence_penalty".into(), json!(p));
        }
        if let Some(p) = req.frequency_penalty {
            body.insert("frequency_penalty".into(), json!(p));
        }
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if let Some(seed) = req.seed {
        body.insert("seed".into(), json!(seed));
    }
    if !req.tools.is_empty() {
        body.insert(
            "tools".into(),
            Value::Array(req.tools.iter().map(encode_tool).collect()),
        );
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), encode_tool_choice(choice));
        }
        if let Some(p) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            body.insert(
                "response_format".into(),
                json!({
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": strict}
                }),
            );
        }
    }
    if let Some(r) = &req.reasoning {
        let effort = match (&r.effort, r.budget_tokens) {
            (Some(_), _) if rejects_reasoning_effort(&req.model) => None,
            (Some(e), _) => Some(e.as_str()),
            (None, Some(b)) if reasoning_model => budget_effort(b),
            _ => None,
        };
        if let Some(e) = effort {
            body.insert("reasoning_effort".into(), json!(e));
        }
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), json!(u));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        if req.stream_include_usage {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Ok(Value::Object(body))
}

fn encode_messages(req: &ChatRequest) -> Vec<Value> {
    let mut out = Vec::with_capacity(req.messages.len() + 2);
    let mut system: Vec<&str> = req.system.iter().map(String::as_str).collect();
    if req.response_format == ResponseFormat::JsonObject && !mentions_json(req) {
        system.push(JSON_MODE_INSTRUCTION);
    }
    if !system.is_empty() {
        // One system message: many chat templates of open models refuse a second one.
        out.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => encode_user(m, &mut out),
            Role::Assistant => encode_assistant(m, &mut out),
        }
    }
    out
}

fn mentions_json(req: &ChatRequest) -> bool {
    let has = |t: &str| t.to_ascii_lowercase().contains("json");
    req.system.iter().any(|s| has(s))
        || req
            .messages
            .iter()
            .filter(|m| m.role == Role::User)
            .flat_map(|m| &m.parts)
            .any(|p| matches!(p, Part::Text(t) if has(t)))
}

fn encode_user(m: &Message, out: &mut Vec<Value>) {
    let mut content = Vec::new();
    for p in &m.parts {
        if let Part::ToolResult(r) = p {
            let mut texts = Vec::new();
            for c in &r.content {
                match c {
                    Part::Text(t) => texts.push(t.as_str()),
                    Part::Image(src) => content.push(encode_image(src)),
                    _ => {}
                }
            }
            out.push(json!({
                "role": "tool",
                "tool_call_id": r.call_id,
                "content": texts.join("\n"),
            }));
        }
    }
    let mut only_text: Option<&str> = None;
    for p in &m.parts {
        match p {
            Part::Text(t) => {
                only_text = Some(t);
                content.push(json!({"type": "text", "text": t}));
            }
            Part::Image(src) => content.push(encode_image(src)),
            _ => {}
        }
    }
    match (content.len(), only_text) {
        (0, _) => {}
        (1, Some(t)) => out.push(json!({"role": "user", "content": t})),
        _ => out.push(json!({"role": "user", "content": content})),
    }
}

fn encode_image(src: &ImageSource) -> Value {
    let url = match src {
        ImageSource::Url(u) => u.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    };
    json!({"type": "image_url", "image_url": {"url": url}})
}

fn encode_assistant(m: &Message, out: &mut Vec<Value>) {
    let mut text = String::new();
    let mut has_text = false;
    let mut calls = Vec::new();
    for p in &m.parts {
        match p {
            Part::Text(t) => {
                text.push_str(t);
                has_text = true;
            }
            Part::ToolCall(c) => calls.push(encode_tool_call(c)),
            _ => {}
        }
    }
    if !has_text && calls.is_empty() {
        return;
    }
    let mut msg = Obj::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert(
        "content".into(),
        if has_text { json!(text) } else { Value::Null },
    );
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(msg));
}

fn encode_tool_call(c: &ToolCall) -> Value {
    json!({
        "id": c.id,
        "type": "function",
        "function": {
            "name": c.name,
            "arguments": if c.arguments.is_empty() { "{}" } else { &c.arguments },
        }
    })
}

fn encode_tool(t: &Tool) -> Value {
    let mut f = Obj::new();
    f.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        f.insert("description".into(), json!(d));
    }
    f.insert("parameters".into(), t.parameters.clone());
    if let Some(s) = t.strict {
        f.insert("strict".into(), json!(s));
    }
    json!({"type": "function", "function": f})
}

fn encode_tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

// ---------------------------------------------------------------------------------------------
// Usage and stop reasons
// ---------------------------------------------------------------------------------------------

/// Reads an OpenAI `usage` object (also DeepSeek's `prompt_cache_hit_tokens`).
pub fn decode_usage(u: &Value) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let cached = match u.pointer("/prompt_tokens_details/cached_tokens") {
        Some(v) if !v.is_null() => n(Some(v)),
        _ => n(u.get("prompt_cache_hit_tokens")),
    };
    Usage {
        input_tokens: n(u.get("prompt_tokens")),
        output_tokens: n(u.get("completion_tokens")),
        cached_input_tokens: cached,
        cache_creation_input_tokens: 0,
        reasoning_tokens: n(u.pointer("/completion_tokens_details/reasoning_tokens")),
    }
}

/// Writes an OpenAI `usage` object, with the detail objects api.openai.com always sends.
pub fn encode_usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The `finish_reason` for a stop (`called_tools`: the answer contains tool calls).
pub fn finish_reason(stop: &StopReason, called_tools: bool) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// Reads a choice's `finish_reason` (and vLLM's `stop_reason`, the matched stop string).
fn decode_finish(reason: Option<&str>, choice: &Value, called_tools: bool) -> StopReason {
    match reason {
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("stop") | Some("eos") | Some("end_turn") | None if called_tools => StopReason::ToolUse,
        Some("stop") | None => match str_field(choice, "stop_reason") {
            Some(s) => StopReason::StopSequence(Some(s.to_string())),
            None => StopReason::EndTurn,
        },
        Some("eos") | Some("end_turn") => StopReason::EndTurn,
        Some(other) => StopReason::Other(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers from OpenAI-compatible providers
// ---------------------------------------------------------------------------------------------

/// Reasoning of a message or delta: `thinking_blocks`, else `reasoning_content`, else
/// `reasoning` (a string). Invalid shapes are ignored: an answer is never refused for its
/// reasoning.
fn decode_reasoning(m: &Value) -> Vec<Part> {
    if let Some(blocks) = m.get("thinking_blocks").filter(|b| b.is_array()) {
        if let Ok(parts) = decode_thinking_blocks(blocks, "thinking_blocks") {
            return parts;
        }
    }
    for key in ["reasoning_content", "reasoning"] {
        if let Some(text) = str_field(m, key).filter(|t| !t.is_empty()) {
            return vec![Part::Thinking {
                text: text.to_string(),
                signature: None,
            }];
        }
    }
    Vec::new()
}

/// Mistral-style content arrays: `text` chunks and `thinking` chunks (whose `thinking` is a list
/// of text chunks).
fn decode_content_chunks(items: &[Value], parts: &mut Vec<Part>) {
    for item in items {
        match str_field(item, "type") {
            Some("text") => {
                if let Some(t) = str_field(item, "text") {
                    parts.push(Part::Text(t.to_string()));
                }
            }
            Some("thinking") => {
                let text: String = match item.get("thinking") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(a)) => {
                        a.iter().filter_map(|c| str_field(c, "text")).collect()
                    }
                    _ => String::new(),
                };
                parts.push(Part::Thinking {
                    text,
                    signature: None,
                });
            }
            _ => {}
        }
    }
}

/// Decodes an OpenAI Chat Completions answer (the first choice).
pub fn decode_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| upstream("chat completion without choices"))?;
    let msg = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| upstream("chat completion choice without message"))?;
    let mut parts = decode_reasoning(msg);
    match msg.get("content") {
        Some(Value::String(s)) if !s.is_empty() => parts.push(Part::Text(s.clone())),
        Some(Value::Array(items)) => decode_content_chunks(items, &mut parts),
        _ => {}
    }
    let refusal = str_field(msg, "refusal").filter(|r| !r.is_empty());
    if let Some(r) = refusal {
        parts.push(Part::Text(r.to_string()));
    }
    let mut called_tools = false;
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            let f = c.get("function").unwrap_or(&Value::Null);
            let name =
                str_field(f, "name").ok_or_else(|| upstream("tool call without function.name"))?;
            parts.push(Part::ToolCall(ToolCall {
                id: str_field(c, "id")
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| format!("call_{i}"), str::to_string),
                name: name.to_string(),
                arguments: arguments_text(f.get("arguments").filter(|a| !a.is_null())),
            }));
            called_tools = true;
        }
    }
    let stop = if refusal.is_some() {
        StopReason::Refusal
    } else {
        decode_finish(str_field(choice, "finish_reason"), choice, called_tools)
    };
    let usage = body
        .get("usage")
        .filter(|u| u.is_object())
        .or_else(|| body.pointer("/x_groq/usage"))
        .map(decode_usage)
        .unwrap_or_default();
    Ok(ChatResponse {
        id: str_field(body, "id").unwrap_or_default().to_string(),
        model: str_field(body, "model").unwrap_or_default().to_string(),
        created: body
            .get("created")
            .and_then(Value::as_u64)
            .unwrap_or_else(now_secs),
        parts,
        stop,
        usage,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers for OpenAI-format callers
// ---------------------------------------------------------------------------------------------

fn completion_id(id: &str) -> String {
    if id.is_empty() {
        format!("chatcmpl-{:x}{:04x}", now_secs(), id_salt())
    } else {
        id.to_string()
    }
}

/// A little variety for made-up ids without a random-number dependency.
fn id_salt() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos >> 8) as u16
}

fn thinking_block(p: &Part) -> Option<Value> {
    match p {
        Part::Thinking { text, signature } => {
            let mut b = Obj::new();
            b.insert("type".into(), json!("thinking"));
            b.insert("thinking".into(), json!(text));
            if let Some(s) = signature {
                b.insert("signature".into(), json!(s));
            }
            Some(Value::Object(b))
        }
        Part::RedactedThinking { data } => Some(json!({"type": "redacted_thinking", "data": data})),
        _ => None,
    }
}

/// Encodes a canonical answer as an OpenAI `chat.completion` object.
pub fn encode_response(resp: &ChatResponse) -> Value {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut blocks = Vec::new();
    let mut calls = Vec::new();
    for p in &resp.parts {
        match p {
            Part::Text(t) => {
                text.push_str(t);
                has_text = true;
            }
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            Part::ToolCall(c) => calls.push(encode_tool_call(c)),
            _ => {}
        }
        if let Some(b) = thinking_block(p) {
            blocks.push(b);
        }
    }
    let mut msg = Obj::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert(
        "content".into(),
        if has_text || calls.is_empty() {
            json!(text)
        } else {
            Value::Null
        },
    );
    msg.insert("refusal".into(), Value::Null);
    msg.insert("annotations".into(), json!([]));
    if !blocks.is_empty() {
        msg.insert("reasoning_content".into(), json!(reasoning));
        msg.insert("thinking_blocks".into(), Value::Array(blocks));
    }
    let called_tools = !calls.is_empty();
    if called_tools {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "id": completion_id(&resp.id),
        "object": "chat.completion",
        "created": if resp.created == 0 { now_secs() } else { resp.created },
        "model": resp.model,
        "choices": [{
            "index": 0,
            "message": msg,
            "logprobs": null,
            "finish_reason": finish_reason(&resp.stop, called_tools),
        }],
        "usage": encode_usage(&resp.usage),
    })
}

// ---------------------------------------------------------------------------------------------
// Streams from OpenAI-compatible providers
// ---------------------------------------------------------------------------------------------

/// One tool call of the stream being decoded.
#[derive(Debug)]
struct CallState {
    /// The provider's `index`, when it sends one.
    key: Option<u64>,
    id: String,
    name: String,
    /// Whether `ToolCallStart` was emitted (it waits for the name).
    started: bool,
    /// Arguments received before the name.
    pending: String,
}

/// Decodes an OpenAI-compatible `chat.completion.chunk` stream (first choice). A chunk with an
/// `error` key (or an `event: error`) ends decoding with `TranslateError::Upstream`;
/// `take_error` then gives it as a `ProviderError` (class from its `type`, status from the class). The stream may end without
/// `[DONE]` once a `finish_reason` was seen.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    sse: SseParser,
    scratch: Vec<SseEvent>,
    started: bool,
    done: bool,
    finished: bool,
    refusal: bool,
    calls: Vec<CallState>,
    /// The in-stream error's message, once one ended decoding.
    failed: Option<String>,
    error: Option<ProviderError>,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    fn handle(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.done || self.failed.is_some() {
            return Ok(());
        }
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            if self.started {
                self.finish(None, &Value::Null, out);
            }
            return Ok(());
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            // An `event: error` whose data is plain text is still the provider's error.
            Err(_) if ev.event == "error" => Value::String(data.to_string()),
            Err(e) => return Err(upstream(format!("malformed stream chunk: {e}"))),
        };
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(self.fail(stream_error(err)));
        }
        if ev.event == "error" {
            return Err(self.fail(stream_error(&chunk)));
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: str_field(&chunk, "id").unwrap_or_default().to_string(),
                model: str_field(&chunk, "model").unwrap_or_default().to_string(),
            });
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            });
        if let Some(choice) = choice {
            if let Some(delta) = choice.get("delta").filter(|d| d.is_object()) {
                self.delta(delta, out);
            }
            if let Some(reason) = str_field(choice, "finish_reason") {
                self.finish(Some(reason), choice, out);
            }
        }
        let usage = chunk
            .get("usage")
            .filter(|u| u.is_object())
            .or_else(|| chunk.pointer("/x_groq/usage").filter(|u| u.is_object()));
        if let Some(u) = usage {
            out.push(StreamEvent::Usage(decode_usage(u)));
        }
        Ok(())
    }

    fn fail(&mut self, err: ProviderError) -> TranslateError {
        self.failed = Some(err.message.clone());
        let e = upstream(err.message.clone());
        self.error = Some(err);
        e
    }

    fn delta(&mut self, delta: &Value, out: &mut Vec<StreamEvent>) {
        let reasoning_text = ["reasoning_content", "reasoning"]
            .iter()
            .find_map(|k| str_field(delta, k).filter(|t| !t.is_empty()));
        if let Some(t) = reasoning_text {
            out.push(StreamEvent::ThinkingDelta(t.to_string()));
        }
        if let Some(blocks) = delta.get("thinking_blocks").and_then(Value::as_array) {
            for b in blocks {
                match str_field(b, "type") {
                    Some("thinking") => {
                        // The text also came as `reasoning_content` when both are sent.
                        if reasoning_text.is_none() {
                            if let Some(t) = str_field(b, "thinking").filter(|t| !t.is_empty()) {
                                out.push(StreamEvent::ThinkingDelta(t.to_string()));
                            }
                        }
                        if let Some(s) = str_field(b, "signature").filter(|s| !s.is_empty()) {
                            out.push(StreamEvent::ThinkingSignature(s.to_string()));
                        }
                    }
                    Some("redacted_thinking") => {
                        if let Some(d) = str_field(b, "data") {
                            out.push(StreamEvent::RedactedThinking(d.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
        match delta.get("content") {
            Some(Value::String(s)) if !s.is_empty() => {
                out.push(StreamEvent::TextDelta(s.clone()));
            }
            Some(Value::Array(items)) => {
                let mut parts = Vec::new();
                decode_content_chunks(items, &mut parts);
                for p in parts {
                    match p {
                        Part::Text(t) if !t.is_empty() => out.push(StreamEvent::TextDelta(t)),
                        Part::Thinking { text, .. } if !text.is_empty() => {
                            out.push(StreamEvent::ThinkingDelta(text))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = str_field(delta, "refusal").filter(|r| !r.is_empty()) {
            self.refusal = true;
            out.push(StreamEvent::TextDelta(r.to_string()));
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                self.tool_delta(c, out);
            }
        }
    }

    fn tool_delta(&mut self, c: &Value, out: &mut Vec<StreamEvent>) {
        let key = c.get("index").and_then(Value::as_u64);
        let id = str_field(c, "id").filter(|s| !s.is_empty());
        let f = c.get("function").unwrap_or(&Value::Null);
        let name = str_field(f, "name").filter(|s| !s.is_empty());
        let args = arguments_text(f.get("arguments").filter(|a| !a.is_null()));
        let same_id = |call: &CallState| id.is_none_or(|id| call.id.is_empty() || call.id == id);
        let found = match key {
            // Some servers number every call 0: a new id under a known index is a new call.
            Some(k) => self
                .calls
                .iter()
                .rposition(|call| call.key == Some(k))
                .filter(|&i| same_id(&self.calls[i])),
            None => match id {
                Some(id) => self.calls.iter().rposition(|call| call.id == id),
                None => self.calls.len().checked_sub(1),
            },
        };
        let i = match found {
            Some(i) => i,
            None => {
                self.calls.push(CallState {
                    key,
                    id: String::new(),
                    name: String::new(),
                    started: false,
                    pending: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[i];
        if call.started {
            if !args.is_empty() {
                out.push(StreamEvent::ToolCallDelta {
                    index: i as u32,
                    arguments: args,
                });
            }
            return;
        }
        if let Some(id) = id {
            call.id = id.to_string();
        }
        // A provider that never names the call must not grow these without bound: what arrives
        // past the limits is dropped (no well-behaved provider comes near them).
        const MAX_PENDING: usize = 8 * 1024 * 1024;
        if let Some(name) = name {
            if call.name.len() + name.len() <= 1024 {
                call.name.push_str(name);
            }
        }
        if call.pending.len() + args.len() <= MAX_PENDING {
            call.pending.push_str(&args);
        }
        if !call.name.is_empty() {
            Self::start_call(i, call, out);
        }
    }

    fn start_call(i: usize, call: &mut CallState, out: &mut Vec<StreamEvent>) {
        call.started = true;
        if call.id.is_empty() {
            call.id = format!("call_{i}");
        }
        out.push(StreamEvent::ToolCallStart {
            index: i as u32,
            id: call.id.clone(),
            name: call.name.clone(),
        });
        if !call.pending.is_empty() {
            out.push(StreamEvent::ToolCallDelta {
                index: i as u32,
                arguments: std::mem::take(&mut call.pending),
            });
        }
    }

    /// Starts calls still waiting for their name, then emits `Finish` (once).
    fn finish(&mut self, reason: Option<&str>, choice: &Value, out: &mut Vec<StreamEvent>) {
        for (i, call) in self.calls.iter_mut().enumerate() {
            if !call.started {
                Self::start_call(i, call, out);
            }
        }
        if self.finished {
            return;
        }
        self.finished = true;
        let stop = if self.refusal {
            StopReason::Refusal
        } else {
            decode_finish(reason, choice, !self.calls.is_empty())
        };
        out.push(StreamEvent::Finish(stop));
    }
}

/// An in-stream error object (`{"message", "type", "code"}`) as a neutral error.
fn stream_error(err: &Value) -> ProviderError {
    let message = match err {
        Value::String(s) => s.clone(),
        _ => str_field(err, "message")
            .unwrap_or("the provider reported an error during the stream")
            .to_string(),
    };
    let class = str_field(err, "type")
        .and_then(class_for_type)
        .or_else(|| str_field(err, "code").and_then(class_for_type))
        .unwrap_or(ErrorClass::Server);
    ProviderError {
        status: status_for_class(class),
        class,
        message,
        code: error_code(err),
    }
}

impl StreamDecode for StreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(m) = &self.failed {
            return Err(upstream(m.clone()));
        }
        let mut events = std::mem::take(&mut self.scratch);
        let parsed = self.sse.feed(bytes, &mut events).map_err(upstream);
        let mut result = parsed;
        for ev in events.drain(..) {
            if result.is_ok() {
                result = self.handle(&ev, out);
            }
        }
        self.scratch = events;
        result
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(m) = &self.failed {
            return Err(upstream(m.clone()));
        }
        let mut events = Vec::new();
        self.sse.end(&mut events);
        for ev in &events {
            self.handle(ev, out)?;
        }
        if !self.started {
            return Err(upstream("the stream ended before its first chunk"));
        }
        if !self.done && !self.finished {
            return Err(upstream("the stream ended before its finish_reason"));
        }
        self.finish(None, &Value::Null, out);
        Ok(())
    }

    fn take_error(&mut self) -> Option<ProviderError> {
        self.error.take()
    }
}

// ---------------------------------------------------------------------------------------------
// Streams for OpenAI-format callers
// ---------------------------------------------------------------------------------------------

/// Writes `chat.completion.chunk` events as api.openai.com does (see the module notes).
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    ended: bool,
    /// Per tool-call index: whether any argument text was written.
    tool_args: Vec<(u32, bool)>,
    usage: Usage,
    stop: Option<StopReason>,
}

impl StreamEncoder {
    /// An encoder for the answer to `req` (its model names the answer until `Start` does; its
    /// `stream_include_usage` asks for the final usage chunk).
    pub fn new(req: &ChatRequest) -> Self {
        StreamEncoder {
            id: String::new(),
            model: req.model.clone(),
            created: 0,
            include_usage: req.stream_include_usage,
            started: false,
            ended: false,
            tool_args: Vec::new(),
            usage: Usage::default(),
            stop: None,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut c = Obj::new();
        c.insert("id".into(), json!(self.id));
        c.insert("object".into(), json!("chat.completion.chunk"));
        c.insert("created".into(), json!(self.created));
        c.insert("model".into(), json!(self.model));
        c.insert("choices".into(), choices);
        if self.include_usage {
            c.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        let bytes = serde_json::to_vec(&Value::Object(c)).unwrap_or_default();
        write_data(&bytes, out);
    }

    fn delta(&self, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        let choices = json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        }]);
        self.chunk(choices, None, out);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = completion_id(&self.id);
        self.created = now_secs();
        self.delta(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
            out,
        );
    }

    fn merge_usage(&mut self, u: &Usage) {
        let keep = |old: &mut u64, new: u64| {
            if new != 0 {
                *old = new;
            }
        };
        keep(&mut self.usage.input_tokens, u.input_tokens);
        keep(&mut self.usage.output_tokens, u.output_tokens);
        keep(&mut self.usage.cached_input_tokens, u.cached_input_tokens);
        keep(
            &mut self.usage.cache_creation_input_tokens,
            u.cache_creation_input_tokens,
        );
        keep(&mut self.usage.reasoning_tokens, u.reasoning_tokens);
    }

    fn tool_state(&mut self, index: u32) -> &mut bool {
        let pos = match self.tool_args.iter().position(|(i, _)| *i == index) {
            Some(p) => p,
            None => {
                self.tool_args.push((index, false));
                self.tool_args.len() - 1
            }
        };
        &mut self.tool_args[pos].1
    }
}

impl StreamEncode for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                if !self.started {
                    self.id.clone_from(id);
                    if !model.is_empty() {
                        self.model.clone_from(model);
                    }
                }
                self.ensure_started(out);
            }
            StreamEvent::TextDelta(t) => {
                self.ensure_started(out);
                if !t.is_empty() {
                    self.delta(json!({"content": t}), None, out);
                }
            }
            StreamEvent::ThinkingDelta(t) => {
                self.ensure_started(out);
                if !t.is_empty() {
                    self.delta(json!({"reasoning_content": t}), None, out);
                }
            }
            StreamEvent::ThinkingSignature(s) => {
                self.ensure_started(out);
                self.delta(
                    json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": s}]}),
                    None,
                    out,
                );
            }
            StreamEvent::RedactedThinking(d) => {
                self.ensure_started(out);
                self.delta(
                    json!({"thinking_blocks": [{"type": "redacted_thinking", "data": d}]}),
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                self.tool_state(*index);
                let id = if id.is_empty() {
                    format!("call_{index}")
                } else {
                    id.clone()
                };
                self.delta(
                    json!({"tool_calls": [{
                        "index": index,
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""}
                    }]}),
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.ensure_started(out);
                if !arguments.is_empty() {
                    *self.tool_state(*index) = true;
                    self.delta(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
                        None,
                        out,
                    );
                }
            }
            StreamEvent::Usage(u) => self.merge_usage(u),
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ensure_started(out);
        self.ended = true;
        // A call whose arguments never came would leave the caller parsing "" as JSON.
        let empty: Vec<u32> = self
            .tool_args
            .iter()
            .filter(|(_, sent)| !sent)
            .map(|(i, _)| *i)
            .collect();
        for index in empty {
            self.delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]}),
                None,
                out,
            );
        }
        let stop = self.stop.clone().unwrap_or_default();
        let reason = finish_reason(&stop, !self.tool_args.is_empty());
        self.delta(json!({}), Some(reason), out);
        if self.include_usage {
            self.chunk(json!([]), Some(encode_usage(&self.usage)), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        write_data(&encode_error(err), out);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn class_for_type(kind: &str) -> Option<ErrorClass> {
    Some(match kind {
        "invalid_request_error" | "BadRequestError" => ErrorClass::InvalidRequest,
        "authentication_error" | "invalid_api_key" => ErrorClass::Authentication,
        "permission_error" | "permission_denied" => ErrorClass::PermissionDenied,
        "not_found_error" | "model_not_found" | "NotFoundError" => ErrorClass::NotFound,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "insufficient_quota"
        | "requests"
        | "tokens" => ErrorClass::RateLimited,
        "overloaded_error" | "server_overloaded" => ErrorClass::Overloaded,
        "timeout" | "timeout_error" => ErrorClass::Timeout,
        "server_error" | "api_error" | "internal_error" => ErrorClass::Server,
        _ => return None,
    })
}

fn status_for_class(class: ErrorClass) -> u16 {
    match class {
        ErrorClass::InvalidRequest => 400,
        ErrorClass::Authentication => 401,
        ErrorClass::PermissionDenied => 403,
        ErrorClass::NotFound => 404,
        ErrorClass::TooLarge => 413,
        ErrorClass::RateLimited => 429,
        ErrorClass::Overloaded => 503,
        ErrorClass::Timeout => 504,
        ErrorClass::Server => 500,
    }
}

/// OpenAI's `code` is a string; some compatible servers put the HTTP status there (ignored).
fn error_code(err: &Value) -> Option<String> {
    str_field(err, "code")
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Reads an OpenAI-compatible error body: `{"error": {"message", "type", "param", "code"}}`,
/// also `{"error": "text"}`, vLLM's flat `{"object": "error", "message", ...}` and Gemini's
/// compatibility endpoint's `[{"error": {...}}]`. The class follows the HTTP status, except that
/// `insufficient_quota` keeps its code.
pub fn decode_error(status: u16, body: &[u8]) -> ProviderError {
    let raw = String::from_utf8_lossy(body).trim().to_string();
    let mut err = ProviderError::new(
        status,
        if raw.is_empty() {
            format!("the provider answered HTTP {status}")
        } else {
            raw
        },
    );
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return err;
    };
    let v = match &v {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        _ => v,
    };
    let inner = match v.get("error") {
        Some(Value::String(s)) => {
            err.message = s.clone();
            return err;
        }
        Some(e @ Value::Object(_)) => e,
        _ if v.get("message").is_some() => &v,
        _ => return err,
    };
    if let Some(m) = str_field(inner, "message").filter(|m| !m.is_empty()) {
        err.message = m.to_string();
    }
    err.code = error_code(inner);
    if err.code.is_none() && str_field(inner, "type") == Some("insufficient_quota") {
        err.code = Some("insufficient_quota".to_string());
    }
    err
}

fn error_type(err: &ProviderError) -> &'static str {
    if err.code.as_deref() == Some("insufficient_quota") {
        return "insufficient_quota";
    }
    match err.class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge => "invalid_request_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::PermissionDenied => "permission_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::RateLimited => "rate_limit_error",
        ErrorClass::Overloaded | ErrorClass::Timeout | ErrorClass::Server => "server_error",
    }
}

/// Encodes an error body for OpenAI-format callers: `{"error": {"message", "type", "param",
/// "code"}}` (`param` is always null: the neutral error does not carry it).
pub fn encode_error(err: &ProviderError) -> Vec<u8> {
    let body = json!({
        "error": {
            "message": err.message,
            "type": error_type(err),
            "param": null,
            "code": err.code,
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;

    const TEXT_REQ: &str = include_str!("../../tests/fixtures/translate/openai/text.request.json");
    const TOOL_REQ: &str = include_str!("../../tests/fixtures/translate/openai/tool.request.json");
    const IMAGE_REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/image.request.json");
    const SCHEMA_REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/json_schema.request.json");
    const THINKING_REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/thinking.request.json");
    const THINKING_UPSTREAM_REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/thinking.upstream.request.json");
    const TEXT_RESP: &str =
        include_str!("../../tests/fixtures/translate/openai/text.response.json");
    const TOOL_RESP: &str =
        include_str!("../../tests/fixtures/translate/openai/tool.response.json");
    const TEXT_SSE: &str = include_str!("../../tests/fixtures/translate/openai/text.sse");
    const TOOL_SSE: &str = include_str!("../../tests/fixtures/translate/openai/tool.sse");

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// What a caller in OpenAI format can say of the thinking fixture: an effort, not a budget.
    fn thinking_request_as_openai() -> ChatRequest {
        ChatRequest {
            reasoning: Some(Reasoning {
                effort: Some("low".into()),
                budget_tokens: None,
                include_thoughts: true,
            }),
            ..fixtures::thinking_request()
        }
    }

    #[test]
    fn golden_requests_decode() {
        assert_eq!(
            decode_request(&parse(TEXT_REQ)).unwrap(),
            fixtures::text_request()
        );
        assert_eq!(
            decode_request(&parse(TOOL_REQ)).unwrap(),
            fixtures::tool_request()
        );
        assert_eq!(
            decode_request(&parse(IMAGE_REQ)).unwrap(),
            fixtures::image_request()
        );
        assert_eq!(
            decode_request(&parse(SCHEMA_REQ)).unwrap(),
            fixtures::json_schema_request()
        );
        assert_eq!(
            decode_request(&parse(THINKING_REQ)).unwrap(),
            thinking_request_as_openai()
        );
    }

    #[test]
    fn golden_requests_encode() {
        assert_eq!(
            encode_request(&fixtures::text_request()).unwrap(),
            parse(TEXT_REQ)
        );
        assert_eq!(
            encode_request(&fixtures::tool_request()).unwrap(),
            parse(TOOL_REQ)
        );
        assert_eq!(
            encode_request(&fixtures::image_request()).unwrap(),
            parse(IMAGE_REQ)
        );
        assert_eq!(
            encode_request(&fixtures::json_schema_request()).unwrap(),
            parse(SCHEMA_REQ)
        );
        // Thinking is dropped, and a budget alone means nothing to a non-reasoning model.
        assert_eq!(
            encode_request(&fixtures::thinking_request()).unwrap(),
            parse(THINKING_UPSTREAM_REQ)
        );
        // An effort the caller chose goes through.
        let mut with_effort = parse(THINKING_UPSTREAM_REQ);
        with_effort["reasoning_effort"] = json!("low");
        assert_eq!(
            encode_request(&thinking_request_as_openai()).unwrap(),
            with_effort
        );
    }

    /// Fields api.openai.com sends that the gateway does not make up.
    fn without_provider_only_fields(mut v: Value) -> Value {
        if let Some(o) = v.as_object_mut() {
            for k in ["service_tier", "system_fingerprint", "obfuscation"] {
                o.remove(k);
            }
        }
        v
    }

    #[test]
    fn golden_responses_both_directions() {
        assert_eq!(
            decode_response(&parse(TEXT_RESP)).unwrap(),
            fixtures::text_response()
        );
        assert_eq!(
            decode_response(&parse(TOOL_RESP)).unwrap(),
            fixtures::tool_response()
        );
        assert_eq!(
            encode_response(&fixtures::text_response()),
            without_provider_only_fields(parse(TEXT_RESP))
        );
        assert_eq!(
            encode_response(&fixtures::tool_response()),
            without_provider_only_fields(parse(TOOL_RESP))
        );
    }

    fn decode_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<StreamEvent>, TranslateError> {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
            d.feed(&stream[start..c], &mut out)?;
            start = c;
        }
        d.end(&mut out)?;
        Ok(out)
    }

    /// A small deterministic generator for random piece sizes.
    fn lcg(seed: &mut u64) -> usize {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as usize
    }

    fn check_decode_everywhere(stream: &str, expected: &[StreamEvent]) {
        let bytes = stream.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(
                decode_pieces(bytes, &[cut]).unwrap(),
                expected,
                "cut at {cut}"
            );
        }
        let mut seed = 7;
        for _ in 0..50 {
            let mut cuts = Vec::new();
            let mut at = 0;
            loop {
                at += 1 + lcg(&mut seed) % 40;
                if at >= bytes.len() {
                    break;
                }
                cuts.push(at);
            }
            assert_eq!(decode_pieces(bytes, &cuts).unwrap(), expected);
        }
    }

    #[test]
    fn golden_streams_decode_cut_anywhere() {
        check_decode_everywhere(TEXT_SSE, &fixtures::text_stream());
        check_decode_everywhere(TOOL_SSE, &fixtures::tool_stream());
    }

    fn encode_events(req: &ChatRequest, events: &[StreamEvent]) -> Vec<u8> {
        let mut e = StreamEncoder::new(req);
        let mut out = Vec::new();
        for ev in events {
            e.event(ev, &mut out);
        }
        e.finish(&mut out);
        out
    }

    /// The `data:` payloads of a stream, chunks parsed with `created` zeroed.
    fn payloads(stream: &[u8]) -> Vec<Value> {
        let mut p = SseParser::new();
        let mut events = Vec::new();
        p.feed(stream, &mut events).unwrap();
        p.end(&mut events);
        events
            .into_iter()
            .map(|e| {
                assert_eq!(e.event, "");
                if e.data == "[DONE]" {
                    return json!("[DONE]");
                }
                let mut v = without_provider_only_fields(parse(&e.data));
                v["created"] = json!(0);
                v
            })
            .collect()
    }

    #[test]
    fn golden_streams_encode_and_read_back() {
        let req = ChatRequest {
            model: "test-model".into(),
            stream: true,
            stream_include_usage: true,
            ..ChatRequest::default()
        };
        for (events, native) in [
            (fixtures::text_stream(), TEXT_SSE),
            (fixtures::tool_stream(), TOOL_SSE),
        ] {
            let bytes = encode_events(&req, &events);
            assert_eq!(payloads(&bytes), payloads(native.as_bytes()));
            assert!(bytes.ends_with(b"data: [DONE]\n\n"));
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(text
                .split("\n\n")
                .all(|e| e.is_empty() || e.starts_with("data: ")));
            assert_eq!(decode_pieces(&bytes, &[]).unwrap(), events);
            let created: Vec<u64> = text
                .split("\n\n")
                .filter(|e| e.starts_with("data: {"))
                .map(|e| parse(&e[6..])["created"].as_u64().unwrap())
                .collect();
            assert!(created
                .iter()
                .all(|&c| c == created[0] && c > 1_700_000_000));
        }
    }

    #[test]
    fn stream_without_include_usage_has_no_usage_anywhere() {
        let req = ChatRequest {
            model: "m".into(),
            stream: true,
            ..ChatRequest::default()
        };
        let chunks = payloads(&encode_events(&req, &fixtures::text_stream()));
        assert_eq!(chunks.len(), 5); // role, two texts, finish, [DONE]
        for c in &chunks[..4] {
            assert!(c.get("usage").is_none());
            assert_eq!(c["choices"].as_array().unwrap().len(), 1);
        }
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[3]["choices"][0]["delta"], json!({}));
        assert_eq!(chunks[4], json!("[DONE]"));
    }

    #[test]
    fn stream_encoder_edge_cases() {
        let req = ChatRequest {
            model: "asked-model".into(),
            ..ChatRequest::default()
        };
        // Content before Start, a call without arguments, no Finish.
        let events = [
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: String::new(),
                name: "ping".into(),
            },
        ];
        let chunks = payloads(&encode_events(&req, &events));
        assert_eq!(chunks[0]["model"], "asked-model");
        assert!(chunks[0]["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hi");
        let call = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["id"], "call_0");
        assert_eq!(call["function"]["arguments"], "");
        assert_eq!(
            chunks[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
        assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");

        // Refusals and filters end as content_filter; redacted thinking has its block.
        let events = [
            StreamEvent::Start {
                id: "x".into(),
                model: "m".into(),
            },
            StreamEvent::RedactedThinking("opaque".into()),
            StreamEvent::Finish(StopReason::Refusal),
        ];
        let chunks = payloads(&encode_events(&req, &events));
        assert_eq!(
            chunks[1]["choices"][0]["delta"]["thinking_blocks"],
            json!([{"type": "redacted_thinking", "data": "opaque"}])
        );
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(
            decode_pieces(&encode_events(&req, &events), &[]).unwrap(),
            vec![
                events[0].clone(),
                events[1].clone(),
                StreamEvent::Finish(StopReason::ContentFilter)
            ]
        );
    }

    #[test]
    fn stream_error_is_one_error_event_without_done() {
        let req = ChatRequest::default();
        let mut e = StreamEncoder::new(&req);
        let mut out = Vec::new();
        e.event(
            &StreamEvent::Start {
                id: "c".into(),
                model: "m".into(),
            },
            &mut out,
        );
        let before = out.len();
        let err = ProviderError::new(529, "Overloaded");
        e.error(&err, &mut out);
        e.finish(&mut out);
        e.event(&StreamEvent::TextDelta("late".into()), &mut out);
        let tail = std::str::from_utf8(&out[before..]).unwrap();
        assert!(tail.starts_with("data: {\"error\":"));
        assert_eq!(tail.matches("data: ").count(), 1);
        assert!(!tail.contains("[DONE]"));
        let body = parse(tail.trim_start_matches("data: ").trim_end());
        assert_eq!(body["error"]["message"], "Overloaded");
        assert_eq!(body["error"]["type"], "server_error");

        // Our own decoder reads it back as the provider's error.
        let mut d = StreamDecoder::new();
        let mut events = Vec::new();
        let r = d.feed(&out, &mut events);
        assert_eq!(r, Err(upstream("Overloaded")));
        let pe = d.take_error().unwrap();
        assert_eq!(pe.class, ErrorClass::Server);
        assert_eq!(pe.message, "Overloaded");
        assert!(d.end(&mut events).is_err());
    }

    fn chunk(delta: Value, finish: Value) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    }

    #[test]
    fn stream_decoder_tolerates_compatible_servers() {
        // No role chunk, reasoning as `reasoning_content`, usage in the last choices chunk,
        // vLLM's stop string, no [DONE].
        let mut s = chunk(json!({"reasoning_content": "hmm"}), Value::Null);
        s += &chunk(json!({"content": "ok"}), Value::Null);
        s += &format!(
            "data: {}\n\n",
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {},
                   "finish_reason": "stop", "stop_reason": "END"}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                             "prompt_cache_hit_tokens": 2}})
        );
        let events = decode_pieces(s.as_bytes(), &[]).unwrap();
        assert_eq!(
            events,
            vec![
                StreamEvent::Start {
                    id: "c1".into(),
                    model: "m".into()
                },
                StreamEvent::ThinkingDelta("hmm".into()),
                StreamEvent::TextDelta("ok".into()),
                StreamEvent::Finish(StopReason::StopSequence(Some("END".into()))),
                StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 1,
                    cached_input_tokens: 2,
                    ..Usage::default()
                }),
            ]
        );

        // Calls without index (told apart by id), a whole call in one piece, `stop` after tool
        // calls, Groq's usage, a `reasoning` field.
        let mut s = chunk(json!({"reasoning": "r"}), Value::Null);
        s += &chunk(
            json!({"tool_calls": [{"id": "a", "type": "function",
                    "function": {"name": "f", "arguments": "{\"x\":1}"}}]}),
            Value::Null,
        );
        s += &chunk(
            json!({"tool_calls": [{"id": "b", "type": "function",
                    "function": {"name": "g", "arguments": "{"}}]}),
            Value::Null,
        );
        s += &chunk(
            json!({"tool_calls": [{"function": {"arguments": "}"}}]}),
            Value::Null,
        );
        s += &format!(
            "data: {}\n\n",
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {},
                   "finish_reason": "stop"}],
                   "x_groq": {"usage": {"prompt_tokens": 5, "completion_tokens": 6}}})
        );
        s += "data: [DONE]\n\n";
        let events = decode_pieces(s.as_bytes(), &[]).unwrap();
        assert_eq!(
            &events[1..],
            &[
                StreamEvent::ThinkingDelta("r".into()),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "a".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 0,
                    arguments: "{\"x\":1}".into()
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "b".into(),
                    name: "g".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 1,
                    arguments: "{".into()
                },
                StreamEvent::ToolCallDelta {
                    index: 1,
                    arguments: "}".into()
                },
                StreamEvent::Finish(StopReason::ToolUse),
                StreamEvent::Usage(Usage {
                    input_tokens: 5,
                    output_tokens: 6,
                    ..Usage::default()
                }),
            ]
        );

        // Every call numbered 0 (a new id means a new call), arguments before the name.
        let mut s = chunk(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"arguments": "{}"}}]}),
            Value::Null,
        );
        s += &chunk(
            json!({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}),
            Value::Null,
        );
        s += &chunk(
            json!({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
            json!("tool_calls"),
        );
        let events = decode_pieces(s.as_bytes(), &[]).unwrap();
        assert_eq!(
            &events[1..],
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
                    arguments: "{}".into()
                },
                StreamEvent::Finish(StopReason::ToolUse),
            ]
        );

        // A refusal streams as text and ends as a refusal; [DONE] without finish_reason ends it.
        let mut s = chunk(
            json!({"role": "assistant", "refusal": "I can't."}),
            Value::Null,
        );
        s += "data: [DONE]\n\n";
        let events = decode_pieces(s.as_bytes(), &[]).unwrap();
        assert_eq!(
            &events[1..],
            &[
                StreamEvent::TextDelta("I can't.".into()),
                StreamEvent::Finish(StopReason::Refusal)
            ]
        );
    }

    #[test]
    fn stream_decoder_rejects_cut_and_failed_streams() {
        let cut = chunk(json!({"content": "par"}), Value::Null);
        assert!(decode_pieces(cut.as_bytes(), &[]).is_err());
        assert!(decode_pieces(b"", &[]).is_err());
        assert!(decode_pieces(b": keep-alive\n\n", &[]).is_err());
        assert!(decode_pieces(b"data: {not json\n\n", &[]).is_err());

        let mut s = chunk(json!({"content": "par"}), Value::Null);
        s += "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n";
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        assert!(d.feed(s.as_bytes(), &mut out).is_err());
        assert_eq!(out.len(), 2);
        let pe = d.take_error().unwrap();
        assert_eq!(
            (pe.status, pe.class, pe.code.as_deref()),
            (429, ErrorClass::RateLimited, Some("rate_limit_exceeded"))
        );
        assert!(d.feed(b"data: [DONE]\n\n", &mut out).is_err());

        let mut d = StreamDecoder::new();
        assert!(d
            .feed(b"event: error\ndata: upstream exploded\n\n", &mut out)
            .is_err());
        assert_eq!(d.take_error().unwrap().message, "upstream exploded");
    }

    #[test]
    fn decode_request_refuses_what_translation_cannot_keep() {
        let base = || parse(TEXT_REQ);
        let cases: Vec<(&str, Value, &str)> = vec![
            ("n", json!(2), "n > 1"),
            ("logprobs", json!(true), "logprobs"),
            ("top_logprobs", json!(3), "top_logprobs"),
            ("logit_bias", json!({"50256": -100}), "logit_bias"),
            ("audio", json!({"voice": "alloy", "format": "wav"}), "audio"),
            ("modalities", json!(["text", "audio"]), "modalities"),
            ("web_search_options", json!({}), "web_search_options"),
            ("verbosity", json!("low"), "verbosity"),
            ("functions", json!([{"name": "f"}]), "functions"),
            ("function_call", json!("auto"), "functions"),
            (
                "tools",
                json!([{"type": "custom", "custom": {"name": "x"}}]),
                "custom",
            ),
            (
                "tool_choice",
                json!({"type": "allowed_tools", "allowed_tools": {}}),
                "allowed_tools",
            ),
            ("response_format", json!({"type": "grammar"}), "grammar"),
        ];
        for (key, value, named) in cases {
            let mut body = base();
            body[key] = value;
            match decode_request(&body) {
                Err(TranslateError::Unsupported(m)) => assert!(m.contains(named), "{key}: {m}"),
                other => panic!("{key}: {other:?}"),
            }
        }
        // Harmless values of the same fields are accepted.
        let mut body = base();
        for (k, v) in [
            ("n", json!(1)),
            ("logprobs", json!(false)),
            ("top_logprobs", json!(null)),
            ("logit_bias", json!({})),
            ("modalities", json!(["text"])),
            ("verbosity", json!("medium")),
            ("store", json!(true)),
            ("service_tier", json!("auto")),
        ] {
            body[k] = v;
        }
        assert_eq!(decode_request(&body).unwrap(), fixtures::text_request());

        for (message, named) in [
            (
                json!({"role": "function", "name": "f", "content": "x"}),
                "function",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}),
                "input_audio",
            ),
            (
                json!({"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}),
                "file",
            ),
            (
                json!({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}),
                "function_call",
            ),
        ] {
            let body = json!({"model": "m", "messages": [message]});
            match decode_request(&body) {
                Err(TranslateError::Unsupported(m)) => assert!(m.contains(named), "{m}"),
                other => panic!("{named}: {other:?}"),
            }
        }
    }

    #[test]
    fn decode_request_reports_malformed_fields() {
        let cases = [
            (json!([]), "object"),
            (json!({"messages": []}), "model"),
            (json!({"model": 1, "messages": []}), "model"),
            (json!({"model": "m"}), "messages"),
            (json!({"model": "m", "messages": {}}), "messages"),
            (json!({"model": "m", "messages": ["hi"]}), "messages[0]"),
            (
                json!({"model": "m", "messages": [{"content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
                "robot",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user"}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]}),
                "base64",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]}),
                "tool_calls[0].id",
            ),
            (json!({"model": "m", "messages": [], "stop": 3}), "stop"),
            (
                json!({"model": "m", "messages": [], "temperature": "hot"}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [], "max_tokens": -1}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "messages": [], "tool_choice": "sometimes"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "messages": [], "tools": [{"type": "function"}]}),
                "tools[0].function",
            ),
            (json!({"model": "m", "messages": [], "n": 0}), "n"),
            (
                json!({"model": "m", "messages": [], "response_format": {"type": "json_schema"}}),
                "json_schema",
            ),
        ];
        for (body, named) in cases {
            match decode_request(&body) {
                Err(TranslateError::Invalid(m)) => assert!(m.contains(named), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn decode_request_conventions() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Two lookups."},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "A"}]},
                {"role": "tool", "tool_call_id": "b", "content": "B"},
                {"role": "user", "content": "Thanks.", "name": "bob"},
                {"role": "system", "content": [{"type": "text", "text": "S1"}, {"type": "text", "text": "S2"}]},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}],
                 "reasoning_content": "plain reasoning"},
                {"role": "user", "content": [{"type": "text", "text": "x"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA", "detail": "low"}}]}
            ],
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "stop": "STOP",
            "stream": true,
            "stream_options": {"include_usage": true},
            "parallel_tool_calls": false,
            "seed": -3,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "response_format": {"type": "json_object"},
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "tools": [{"type": "function", "function": {"name": "f", "strict": true}}],
            "safety_identifier": "user-1",
            "thinking": {"type": "enabled", "budget_tokens": 4000}
        });
        let req = decode_request(&body).unwrap();
        assert_eq!(req.system, vec!["Be brief.", "S1", "S2"]);
        assert_eq!(req.messages.len(), 5);
        let result = |id: &str, text: &str| {
            Part::ToolResult(ToolResult {
                call_id: id.into(),
                name: None,
                content: vec![Part::Text(text.into())],
                is_error: false,
            })
        };
        assert_eq!(
            req.messages[2],
            Message {
                role: Role::User,
                parts: vec![
                    result("a", "A"),
                    result("b", "B"),
                    Part::Text("Thanks.".into())
                ],
            }
        );
        assert_eq!(req.messages[1].parts.len(), 2); // the empty content is not a text part
        assert_eq!(
            req.messages[3].parts,
            vec![
                Part::Thinking {
                    text: "plain reasoning".into(),
                    signature: None
                },
                Part::Text("No.".into())
            ]
        );
        assert_eq!(
            req.messages[4].parts[1],
            Part::Image(ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "AAAA".into()
            })
        );
        assert_eq!(req.max_tokens, Some(20));
        assert_eq!(req.stop, vec!["STOP"]);
        assert!(req.stream && req.stream_include_usage);
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.seed, Some(-3));
        assert_eq!(req.response_format, ResponseFormat::JsonObject);
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert_eq!(req.tools[0].parameters, json!({"type": "object"}));
        assert_eq!(req.tools[0].strict, Some(true));
        assert_eq!(req.user.as_deref(), Some("user-1"));
        assert_eq!(
            req.reasoning,
            Some(Reasoning {
                effort: None,
                budget_tokens: Some(4000),
                include_thoughts: true
            })
        );

        // include_usage without stream means nothing; effort none asks for no thoughts.
        let req = decode_request(&json!({"model": "m", "messages": [],
            "stream_options": {"include_usage": true}, "reasoning_effort": "none"}))
        .unwrap();
        assert!(!req.stream_include_usage);
        assert!(!req.reasoning.unwrap().include_thoughts);
    }

    #[test]
    fn encode_request_for_reasoning_models() {
        assert!(is_reasoning_model("o3-mini"));
        assert!(is_reasoning_model("o1"));
        assert!(is_reasoning_model("openai/gpt-5-mini"));
        assert!(!is_reasoning_model("gpt-4o"));
        assert!(!is_reasoning_model("o1x"));
        assert!(!is_reasoning_model("llama-3"));

        let mut req = fixtures::text_request();
        req.model = "o4-mini".into();
        req.presence_penalty = Some(0.1);
        req.frequency_penalty = Some(0.1);
        req.top_k = Some(5);
        req.reasoning = Some(Reasoning {
            effort: None,
            budget_tokens: Some(10_000),
            include_thoughts: true,
        });
        let body = encode_request(&req).unwrap();
        assert_eq!(body["max_completion_tokens"], 100);
        for absent in [
            "max_tokens",
            "temperature",
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "top_k",
        ] {
            assert!(body.get(absent).is_none(), "{absent}");
        }
        assert_eq!(body["reasoning_effort"], "high");
        for (budget, effort) in [
            (1024, json!("low")),
            (8192, json!("medium")),
            (0, Value::Null),
        ] {
            req.reasoning.as_mut().unwrap().budget_tokens = Some(budget);
            let body = encode_request(&req).unwrap();
            assert_eq!(
                body.get("reasoning_effort").unwrap_or(&Value::Null),
                &effort
            );
        }

        // A budget alone is not sent to other models (many answer 400 to reasoning_effort).
        req.model = "gpt-4o".into();
        let body = encode_request(&req).unwrap();
        assert!(body.get("reasoning_effort").is_none());
        // Nor an effort to OpenAI's older models; other servers get it.
        req.reasoning.as_mut().unwrap().effort = Some("high".into());
        assert!(encode_request(&req)
            .unwrap()
            .get("reasoning_effort")
            .is_none());
        req.model = "gemini-2.5-flash".into();
        assert_eq!(encode_request(&req).unwrap()["reasoning_effort"], "high");
        req.model = "gpt-4o".into();
        let body = encode_request(&req).unwrap();
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["temperature"], 0.5);
        assert!(body.get("top_k").is_none());
    }

    #[test]
    fn encode_request_shapes() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "t".into(),
                            signature: Some("s".into()),
                        },
                        Part::RedactedThinking { data: "r".into() },
                        Part::Text("A".into()),
                        Part::Text("B".into()),
                        Part::ToolCall(ToolCall {
                            id: "c".into(),
                            name: "f".into(),
                            arguments: String::new(),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text("see".into()),
                        Part::ToolResult(ToolResult {
                            call_id: "c".into(),
                            name: Some("f".into()),
                            content: vec![
                                Part::Text("one".into()),
                                Part::Text("two".into()),
                                Part::Image(ImageSource::Url("https://x/i.png".into())),
                            ],
                            is_error: true,
                        }),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Thinking {
                        text: "only thinking".into(),
                        signature: None,
                    }],
                },
            ],
            tool_choice: Some(ToolChoice::Required),
            parallel_tool_calls: Some(true),
            response_format: ResponseFormat::JsonObject,
            stream: true,
            stream_include_usage: true,
            seed: Some(1),
            user: Some("u".into()),
            ..ChatRequest::default()
        };
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": JSON_MODE_INSTRUCTION},
                {"role": "assistant", "content": "AB", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "c", "content": "one\ntwo"},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://x/i.png"}},
                    {"type": "text", "text": "see"}
                ]}
            ])
        );
        // No tools: no tool_choice nor parallel_tool_calls.
        assert!(body.get("tool_choice").is_none());
        assert!(body.get("parallel_tool_calls").is_none());
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["seed"], 1);
        assert_eq!(body["user"], "u");

        // Several system strings make one system message.
        let req = ChatRequest {
            system: vec!["A".into(), "B".into()],
            response_format: ResponseFormat::JsonObject,
            ..ChatRequest::default()
        };
        assert_eq!(
            encode_request(&req).unwrap()["messages"],
            json!([{"role": "system", "content": format!("A\n\nB\n\n{JSON_MODE_INSTRUCTION}")}])
        );

        // JSON mode adds nothing when the conversation already asks for JSON.
        let req = ChatRequest {
            system: vec!["Answer in JSON.".into()],
            response_format: ResponseFormat::JsonObject,
            ..ChatRequest::default()
        };
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body["messages"],
            json!([{"role": "system", "content": "Answer in JSON."}])
        );
        assert!(body.get("stream").is_none());

        // With tools, the choice and parallelism go through.
        let mut req = fixtures::tool_request();
        req.tool_choice = Some(ToolChoice::Tool("get_weather".into()));
        req.parallel_tool_calls = Some(false);
        req.tools[0].strict = Some(true);
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "function": {"name": "get_weather"}})
        );
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(body["tools"][0]["function"]["strict"], true);
    }

    #[test]
    fn decode_response_variants() {
        let body = json!({
            "id": "x", "object": "chat.completion", "created": 5, "model": "deepseek-reasoner",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": null, "reasoning_content": "think",
                "tool_calls": [{"id": "", "type": "function",
                                "function": {"name": "f", "arguments": {"a": 1}}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                      "prompt_cache_hit_tokens": 6,
                      "completion_tokens_details": {"reasoning_tokens": 2}}
        });
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.parts,
            vec![
                Part::Thinking {
                    text: "think".into(),
                    signature: None
                },
                Part::ToolCall(ToolCall {
                    id: "call_0".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into()
                })
            ]
        );
        assert_eq!(r.stop, StopReason::ToolUse);
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 4,
                cached_input_tokens: 6,
                cache_creation_input_tokens: 0,
                reasoning_tokens: 2
            }
        );

        // thinking_blocks win over reasoning_content; refusals; Mistral content chunks.
        let body = json!({"id": "y", "model": "m", "choices": [{"finish_reason": "stop", "message": {
            "role": "assistant", "content": null, "refusal": "I can't help with that.",
            "reasoning_content": "dup",
            "thinking_blocks": [{"type": "thinking", "thinking": "dup", "signature": "s"},
                                {"type": "redacted_thinking", "data": "d"}]}}]});
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.parts,
            vec![
                Part::Thinking {
                    text: "dup".into(),
                    signature: Some("s".into())
                },
                Part::RedactedThinking { data: "d".into() },
                Part::Text("I can't help with that.".into())
            ]
        );
        assert_eq!(r.stop, StopReason::Refusal);
        assert_eq!(r.usage, Usage::default());

        let body = json!({"id": "z", "model": "magistral", "choices": [{"finish_reason": "length",
            "message": {"role": "assistant", "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]},
                {"type": "text", "text": "Done"}]}}]});
        let r = decode_response(&body).unwrap();
        assert_eq!(r.stop, StopReason::MaxTokens);
        assert_eq!(r.parts[1], Part::Text("Done".into()));

        for (reason, stop) in [
            ("content_filter", StopReason::ContentFilter),
            ("function_call", StopReason::ToolUse),
            ("weird", StopReason::Other("weird".into())),
        ] {
            let body = json!({"choices": [{"finish_reason": reason,
                "message": {"role": "assistant", "content": "x"}}]});
            assert_eq!(decode_response(&body).unwrap().stop, stop);
        }
        for bad in [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [{"index": 0}]}),
        ] {
            assert!(matches!(
                decode_response(&bad),
                Err(TranslateError::Upstream(_))
            ));
        }
    }

    #[test]
    fn encode_response_variants() {
        let resp = ChatResponse {
            id: String::new(),
            model: "claude".into(),
            created: 0,
            parts: vec![
                Part::Thinking {
                    text: "a".into(),
                    signature: Some("sig".into()),
                },
                Part::RedactedThinking { data: "r".into() },
                Part::Thinking {
                    text: "b".into(),
                    signature: None,
                },
                Part::ToolCall(ToolCall {
                    id: "t".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                }),
            ],
            stop: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
                reasoning_tokens: 2,
                ..Usage::default()
            },
        };
        let v = encode_response(&resp);
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
        let msg = &v["choices"][0]["message"];
        assert_eq!(msg["content"], Value::Null);
        assert_eq!(msg["reasoning_content"], "ab");
        assert_eq!(
            msg["thinking_blocks"],
            json!([
                {"type": "thinking", "thinking": "a", "signature": "sig"},
                {"type": "redacted_thinking", "data": "r"},
                {"type": "thinking", "thinking": "b"}
            ])
        );
        // End of turn after tool calls is still a tool-call stop for OpenAI callers.
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            2
        );
        assert_eq!(v["usage"]["total_tokens"], 7);

        // Decoding our own answer gives the parts back (what an OpenAI caller sends next turn).
        let back = decode_response(&v).unwrap();
        assert_eq!(back.parts, resp.parts);

        for (stop, reason) in [
            (StopReason::MaxTokens, "length"),
            (StopReason::Refusal, "content_filter"),
            (StopReason::ContentFilter, "content_filter"),
            (StopReason::StopSequence(Some("X".into())), "stop"),
            (StopReason::Other("SAFETY_OTHER".into()), "stop"),
            (StopReason::ToolUse, "stop"),
        ] {
            let resp = ChatResponse {
                parts: vec![Part::Text("x".into())],
                stop,
                ..ChatResponse::default()
            };
            let v = encode_response(&resp);
            assert_eq!(v["choices"][0]["finish_reason"], reason);
            assert_eq!(v["choices"][0]["message"]["content"], "x");
            assert!(v["choices"][0]["message"].get("thinking_blocks").is_none());
        }
    }

    #[test]
    fn errors_from_providers() {
        let e = decode_error(
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-...","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(
            (e.status, e.class, e.message.as_str(), e.code.as_deref()),
            (
                401,
                ErrorClass::Authentication,
                "Incorrect API key provided: sk-...",
                Some("invalid_api_key")
            )
        );
        let e = decode_error(
            429,
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":null}}"#,
        );
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert_eq!(e.code.as_deref(), Some("insufficient_quota"));
        // vLLM's flat error with a numeric code.
        let e = decode_error(
            400,
            br#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!(
            (e.class, e.message.as_str(), e.code),
            (ErrorClass::InvalidRequest, "max_tokens is too large", None)
        );
        // Gemini's compatibility endpoint wraps it in an array.
        let e = decode_error(503, br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#);
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::Overloaded, "The model is overloaded.")
        );
        let e = decode_error(502, b"<html>Bad gateway</html>");
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::Server, "<html>Bad gateway</html>")
        );
        let e = decode_error(500, br#"{"error":"boom"}"#);
        assert_eq!(e.message, "boom");
        let e = decode_error(504, b"");
        assert_eq!(e.class, ErrorClass::Timeout);
        assert!(e.message.contains("504"));
    }

    #[test]
    fn errors_for_callers() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "server_error"),
            (503, "server_error"),
            (504, "server_error"),
        ] {
            let body = parse(
                std::str::from_utf8(&encode_error(&ProviderError::new(status, "m"))).unwrap(),
            );
            assert_eq!(
                body,
                json!({"error": {"message": "m", "type": kind, "param": null, "code": null}})
            );
        }
        let mut e = ProviderError::new(429, "quota");
        e.code = Some("insufficient_quota".into());
        let body = parse(std::str::from_utf8(&encode_error(&e)).unwrap());
        assert_eq!(body["error"]["type"], "insufficient_quota");
        assert_eq!(body["error"]["code"], "insufficient_quota");
        // What we send reads back the same.
        let back = decode_error(429, &encode_error(&e));
        assert_eq!(back, e);
    }
}
