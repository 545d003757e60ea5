//! The OpenAI Responses API (`POST /v1/responses`) as the caller's format, for requests whose
//! model belongs to another provider (a request for an OpenAI model is passed through and never
//! comes here). Caller side only: `decode_request`, `encode_response` (and
//! `encode_response_with_request`), `StreamEncoder` and `encode_error`.
//!
//! Refused with `TranslateError::Unsupported`, because they need state the gateway does not keep
//! or would change the answer in ways another provider cannot reproduce:
//! - `previous_response_id`, `conversation`, `prompt` (stored prompt templates),
//!   `background: true` and `item_reference` input items: the gateway stores no responses, so the
//!   caller sends the whole conversation in `input` (e.g. `input += response.output`).
//! - tools other than `function` (`web_search`, `file_search`, `computer_use_preview`, `mcp`,
//!   `code_interpreter`, `image_generation`, `custom`, ...), in `tools` and in `tool_choice`, and
//!   the input items those tools produce (`web_search_call`, `computer_call_output`, ...).
//! - `input_file` content, `input_image` by `file_id` (uploaded files live at OpenAI), audio.
//! - `top_logprobs` above 0, `include: ["message.output_text.logprobs"]`, and `text.verbosity`
//!   other than `medium`.
//!
//! Accepted and dropped:
//! - `store`, `metadata`, `truncation`, `service_tier`, `prompt_cache_key`, `max_tool_calls`
//!   (it only limits built-in tools), `stream_options`, other `include` values.
//! - `input_image.detail`, `text.format.description`, and the `id`/`status` of items sent back.
//! - a function tool without `strict` leaves strictness to the provider's default (the Responses
//!   API itself defaults to strict).
//! - `system`/`developer` messages anywhere in `input` join `instructions`, in order; their
//!   position in the conversation is lost.
//!
//! Conventions:
//! - consecutive input items of one side fold into one canonical message: `function_call` and
//!   `reasoning` items join the assistant message before them, `function_call_output` items the
//!   user message before them (model.rs: tool results are user content).
//! - a `reasoning` item becomes `Part::Thinking`: its `content` reasoning text, else its summary
//!   texts (joined by blank lines), and `encrypted_content` as the signature. Answers carry
//!   thinking as a reasoning item with one `summary_text` and the signature as
//!   `encrypted_content`, always (not only under `include: ["reasoning.encrypted_content"]`),
//!   so that a caller who sends `response.output` back returns the signature the provider checks.
//!   Redacted thinking travels as `encrypted_content` prefixed with `shardgate-redacted:`.
//! - the response id is the provider's, prefixed `resp_` when it lacks it; item ids are made from
//!   it and the output index (`msg_<id>_<n>`, `fc_<id>_<n>`, `rs_<id>_<n>`); a tool call's
//!   `call_id` is the provider's tool call id.
//! - a stream that fails ends with `response.failed` (the terminal lifecycle event) and then an
//!   `error` event that also carries a nested `error` object, which is what makes the openai
//!   SDKs raise instead of ending quietly.

use serde_json::{json, Map, Value};

use crate::translate::model::{
    ChatRequest, ChatResponse, ImageSource, Message, Part, Reasoning, ResponseFormat, Role,
    StopReason, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::translate::sse::write_event;
use crate::translate::{
    invalid, now_secs, unsupported, ErrorClass, ProviderError, StreamEncode, TranslateError,
};

/// Marks redacted thinking inside `encrypted_content`, so that it comes back as redacted
/// thinking rather than as a thinking block with an empty text.
const REDACTED_PREFIX: &str = "shardgate-redacted:";

type Obj = Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Request

/// Decodes a caller's `POST /v1/responses` body into the canonical request.
pub fn decode_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    refuse_unsupported_params(obj)?;
    let mut req = ChatRequest {
        model: req_str(obj, "model", "")?,
        ..ChatRequest::default()
    };
    if let Some(instructions) = opt_str(obj, "instructions", "")? {
        if !instructions.is_empty() {
            req.system.push(instructions);
        }
    }
    match get(obj, "input") {
        Some(Value::String(text)) => push_parts(
            &mut req.messages,
            Role::User,
            vec![Part::Text(text.clone())],
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                decode_item(item, &format!("input[{i}]"), &mut req)?;
            }
        }
        Some(_) => return Err(invalid("input must be a string or an array of items")),
        None => return Err(invalid("input is required")),
    }
    req.tools = decode_tools(obj)?;
    req.tool_choice = decode_tool_choice(obj, &mut req.tools)?;
    req.parallel_tool_calls = opt_bool(obj, "parallel_tool_calls", "")?;
    req.max_tokens = opt_u64(obj, "max_output_tokens", "")?;
    req.temperature = opt_f64(obj, "temperature", "")?;
    req.top_p = opt_f64(obj, "top_p", "")?;
    req.stream = opt_bool(obj, "stream", "")?.unwrap_or(false);
    req.response_format = decode_text_config(obj)?;
    req.reasoning = decode_reasoning_config(obj)?;
    // `safety_identifier` is the newer name of `user`.
    req.user = match opt_str(obj, "user", "")? {
        Some(user) => Some(user),
        None => opt_str(obj, "safety_identifier", "")?,
    };
    Ok(req)
}

fn refuse_unsupported_params(obj: &Obj) -> Result<(), TranslateError> {
    if get(obj, "previous_response_id").is_some() {
        return Err(unsupported(
            "previous_response_id (the gateway keeps no responses: send the whole conversation in `input`)",
        ));
    }
    if get(obj, "conversation").is_some() {
        return Err(unsupported(
            "conversation (the gateway keeps no conversations: send the whole conversation in `input`)",
        ));
    }
    if get(obj, "prompt").is_some() {
        return Err(unsupported("prompt (stored prompt templates)"));
    }
    if opt_bool(obj, "background", "")? == Some(true) {
        return Err(unsupported("background (the gateway keeps no responses)"));
    }
    if opt_u64(obj, "top_logprobs", "")?.unwrap_or(0) > 0 {
        return Err(unsupported("top_logprobs"));
    }
    let include = match get(obj, "include") {
        None => return Ok(()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("include must be an array of strings")),
    };
    if include
        .iter()
        .any(|v| v.as_str() == Some("message.output_text.logprobs"))
    {
        return Err(unsupported("include message.output_text.logprobs"));
    }
    Ok(())
}

fn decode_item(item: &Value, path: &str, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let obj = item
        .as_object()
        .ok_or_else(|| invalid(format!("{path} must be an object")))?;
    let kind = opt_str(obj, "type", path)?;
    match kind.as_deref().unwrap_or("message") {
        "message" => decode_message(obj, path, req),
        "function_call" => {
            let call = ToolCall {
                id: req_str(obj, "call_id", path)?,
                name: req_str(obj, "name", path)?,
                arguments: req_str(obj, "arguments", path)?,
            };
            push_parts(
                &mut req.messages,
                Role::Assistant,
                vec![Part::ToolCall(call)],
            );
            Ok(())
        }
        "function_call_output" => {
            let call_id = req_str(obj, "call_id", path)?;
            let output_path = field(path, "output");
            let content = match get(obj, "output") {
                Some(Value::String(text)) => vec![Part::Text(text.clone())],
                Some(Value::Array(parts)) => decode_content(parts, &output_path)?,
                Some(_) => {
                    return Err(invalid(format!(
                        "{output_path} must be a string or an array of content parts"
                    )))
                }
                None => return Err(invalid(format!("{output_path} is required"))),
            };
            let result = ToolResult {
                call_id,
                name: None,
                content,
                is_error: false,
            };
            push_parts(
                &mut req.messages,
                Role::User,
                vec![Part::ToolResult(result)],
            );
            Ok(())
        }
        "reasoning" => decode_reasoning_item(obj, path, req),
        "item_reference" => Err(unsupported(
            "item_reference input items (the gateway keeps no stored items)",
        )),
        other => Err(unsupported(format!("input items of type `{other}`"))),
    }
}

fn decode_message(obj: &Obj, path: &str, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let role = req_str(obj, "role", path)?;
    let content_path = field(path, "content");
    let parts = match get(obj, "content") {
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(list)) => decode_content(list, &content_path)?,
        Some(_) => {
            return Err(invalid(format!(
                "{content_path} must be a string or an array of content parts"
            )))
        }
        None => return Err(invalid(format!("{content_path} is required"))),
    };
    match role.as_str() {
        "user" => push_parts(&mut req.messages, Role::User, parts),
        "assistant" => push_parts(&mut req.messages, Role::Assistant, parts),
        "system" | "developer" => {
            for part in parts {
                match part {
                    Part::Text(text) => req.system.push(text),
                    _ => return Err(unsupported(format!("images in {role} messages"))),
                }
            }
        }
        other => {
            return Err(invalid(format!(
                "{path}.role must be user, assistant, system or developer, not `{other}`"
            )))
        }
    }
    Ok(())
}

fn decode_content(list: &[Value], path: &str) -> Result<Vec<Part>, TranslateError> {
    let mut parts = Vec::with_capacity(list.len());
    for (i, part) in list.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let obj = part
            .as_object()
            .ok_or_else(|| invalid(format!("{path} must be an object")))?;
        let kind = req_str(obj, "type", &path)?;
        match kind.as_str() {
            "input_text" | "output_text" => parts.push(Part::Text(req_str(obj, "text", &path)?)),
            "refusal" => parts.push(Part::Text(req_str(obj, "refusal", &path)?)),
            "input_image" => parts.push(Part::Image(decode_image(obj, &path)?)),
            "input_file" => return Err(unsupported("input_file content (file inputs)")),
            other => return Err(unsupported(format!("content parts of type `{other}`"))),
        }
    }
    Ok(parts)
}

fn decode_image(obj: &Obj, path: &str) -> Result<ImageSource, TranslateError> {
    if let Some(url) = opt_str(obj, "image_url", path)? {
        return parse_image_url(&url, &field(path, "image_url"));
    }
    if get(obj, "file_id").is_some() {
        return Err(unsupported(
            "input_image by file_id (files uploaded to OpenAI)",
        ));
    }
    Err(invalid(format!("{path}.image_url is required")))
}

fn parse_image_url(url: &str, path: &str) -> Result<ImageSource, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(ImageSource::Url(url.to_string()));
    };
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| invalid(format!("{path} is not a valid data URL")))?;
    let meta = meta
        .strip_suffix(";base64")
        .ok_or_else(|| invalid(format!("{path} must be a base64 data URL")))?;
    // Parameters such as `;charset=` may sit between the media type and `;base64`.
    let media_type = meta.split(';').next().unwrap_or_default();
    if media_type.is_empty() {
        return Err(invalid(format!("{path} has no media type")));
    }
    Ok(ImageSource::Base64 {
        media_type: media_type.to_string(),
        data: data.to_string(),
    })
}

fn decode_reasoning_item(
    obj: &Obj,
    path: &str,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let summary = text_list(obj, "summary", "summary_text", path)?;
    let content = text_list(obj, "content", "reasoning_text", path)?;
    // Full reasoning text, when a model returned it, is what produced the signature.
    let text = if content.is_empty() {
        summary.join("\n\n")
    } else {
        content.join("\n\n")
    };
    let encrypted = opt_str(obj, "encrypted_content", path)?.filter(|e| !e.is_empty());
    let part = match encrypted {
        Some(e) if e.starts_with(REDACTED_PREFIX) => Part::RedactedThinking {
            data: e[REDACTED_PREFIX.len()..].to_string(),
        },
        signature => {
            if text.is_empty() && signature.is_none() {
                return Ok(());
            }
            Part::Thinking { text, signature }
        }
    };
    push_parts(&mut req.messages, Role::Assistant, vec![part]);
    Ok(())
}

/// The texts of the parts of type `kind` in the array `key` (other part types are skipped).
fn text_list(obj: &Obj, key: &str, kind: &str, path: &str) -> Result<Vec<String>, TranslateError> {
    let list = match get(obj, key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid(format!("{path}.{key} must be an array"))),
    };
    let mut texts = Vec::new();
    for (i, part) in list.iter().enumerate() {
        let path = format!("{path}.{key}[{i}]");
        let obj = part
            .as_object()
            .ok_or_else(|| invalid(format!("{path} must be an object")))?;
        if opt_str(obj, "type", &path)?.as_deref() == Some(kind) {
            texts.push(req_str(obj, "text", &path)?);
        }
    }
    Ok(texts)
}

/// Appends parts to the conversation, folding them into the last message when it has the
/// same role.
fn push_parts(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => messages.push(Message { role, parts }),
    }
}

fn decode_tools(obj: &Obj) -> Result<Vec<Tool>, TranslateError> {
    let list = match get(obj, "tools") {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("tools must be an array")),
    };
    let mut tools = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let path = format!("tools[{i}]");
        let obj = tool
            .as_object()
            .ok_or_else(|| invalid(format!("{path} must be an object")))?;
        let kind = req_str(obj, "type", &path)?;
        if kind != "function" {
            return Err(unsupported(format!(
                "tools of type `{kind}` (only function tools can be translated)"
            )));
        }
        let parameters = match get(obj, "parameters") {
            None => json!({"type": "object"}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return Err(invalid(format!("{path}.parameters must be an object"))),
        };
        tools.push(Tool {
            name: req_str(obj, "name", &path)?,
            description: opt_str(obj, "description", &path)?,
            parameters,
            strict: opt_bool(obj, "strict", &path)?,
        });
    }
    Ok(tools)
}

fn decode_tool_choice(
    obj: &Obj,
    tools: &mut Vec<Tool>,
) -> Result<Option<ToolChoice>, TranslateError> {
    let choice = match get(obj, "tool_choice") {
        None => return Ok(None),
        Some(Value::String(s)) => {
            return match s.as_str() {
                "auto" => Ok(Some(ToolChoice::Auto)),
                "none" => Ok(Some(ToolChoice::None)),
                "required" => Ok(Some(ToolChoice::Required)),
                other => Err(invalid(format!(
                    "tool_choice must be auto, none, required or an object, not `{other}`"
                ))),
            }
        }
        Some(Value::Object(choice)) => choice,
        Some(_) => return Err(invalid("tool_choice must be a string or an object")),
    };
    let kind = req_str(choice, "type", "tool_choice")?;
    match kind.as_str() {
        "function" => Ok(Some(ToolChoice::Tool(req_str(
            choice,
            "name",
            "tool_choice",
        )?))),
        // Restricting the callable tools is the same as offering only those.
        "allowed_tools" => {
            let mode = match req_str(choice, "mode", "tool_choice")?.as_str() {
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                other => {
                    return Err(invalid(format!(
                        "tool_choice.mode must be auto or required, not `{other}`"
                    )))
                }
            };
            let Some(Value::Array(list)) = get(choice, "tools") else {
                return Err(invalid("tool_choice.tools must be an array"));
            };
            let mut names = Vec::with_capacity(list.len());
            for (i, tool) in list.iter().enumerate() {
                let path = format!("tool_choice.tools[{i}]");
                let obj = tool
                    .as_object()
                    .ok_or_else(|| invalid(format!("{path} must be an object")))?;
                let kind = req_str(obj, "type", &path)?;
                if kind != "function" {
                    return Err(unsupported(format!(
                        "tool_choice.tools entries of type `{kind}` (only function tools can be translated)"
                    )));
                }
                names.push(req_str(obj, "name", &path)?);
            }
            tools.retain(|t| names.contains(&t.name));
            Ok(Some(mode))
        }
        other => Err(unsupported(format!(
            "tool_choice of type `{other}` (only function tools can be translated)"
        ))),
    }
}

fn decode_text_config(obj: &Obj) -> Result<ResponseFormat, TranslateError> {
    let text = match get(obj, "text") {
        None => return Ok(ResponseFormat::Text),
        Some(Value::Object(text)) => text,
        Some(_) => return Err(invalid("text must be an object")),
    };
    match opt_str(text, "verbosity", "text")?.as_deref() {
        None | Some("medium") => {}
        Some(other) => return Err(unsupported(format!("text.verbosity `{other}`"))),
    }
    let format = match get(text, "format") {
        None => return Ok(ResponseFormat::Text),
        Some(Value::Object(format)) => format,
        Some(_) => return Err(invalid("text.format must be an object")),
    };
    match req_str(format, "type", "text.format")?.as_str() {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let schema = match get(format, "schema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                Some(_) => return Err(invalid("text.format.schema must be an object")),
                None => return Err(invalid("text.format.schema is required")),
            };
            Ok(ResponseFormat::JsonSchema {
                name: req_str(format, "name", "text.format")?,
                schema,
                strict: opt_bool(format, "strict", "text.format")?.unwrap_or(false),
            })
        }
        other => Err(invalid(format!(
            "text.format.type must be text, json_object or json_schema, not `{other}`"
        ))),
    }
}

fn decode_reasoning_config(obj: &Obj) -> Result<Option<Reasoning>, TranslateError> {
    let reasoning = match get(obj, "reasoning") {
        None => return Ok(None),
        Some(Value::Object(r)) => r,
        Some(_) => return Err(invalid("reasoning must be an object")),
    };
    let effort = opt_str(reasoning, "effort", "reasoning")?;
    // `generate_summary` is the deprecated name of `summary`.
    let summary = match opt_str(reasoning, "summary", "reasoning")? {
        Some(s) => Some(s),
        None => opt_str(reasoning, "generate_summary", "reasoning")?,
    };
    if effort.is_none() && summary.is_none() {
        return Ok(None);
    }
    Ok(Some(Reasoning {
        effort,
        budget_tokens: None,
        include_thoughts: summary.is_some(),
    }))
}

/// A field's value, with JSON `null` read as absent (the SDKs send `null` for "not given").
fn get<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn opt_str(obj: &Obj, key: &str, path: &str) -> Result<Option<String>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{} must be a string", field(path, key)))),
    }
}

fn req_str(obj: &Obj, key: &str, path: &str) -> Result<String, TranslateError> {
    opt_str(obj, key, path)?.ok_or_else(|| invalid(format!("{} is required", field(path, key))))
}

fn opt_f64(obj: &Obj, key: &str, path: &str) -> Result<Option<f64>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{} must be a number", field(path, key)))),
    }
}

fn opt_u64(obj: &Obj, key: &str, path: &str) -> Result<Option<u64>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(format!(
                "{} must be a non-negative integer",
                field(path, key)
            ))
        }),
    }
}

fn opt_bool(obj: &Obj, key: &str, path: &str) -> Result<Option<bool>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("{} must be a boolean", field(path, key)))),
    }
}

// ---------------------------------------------------------------------------------------------
// Response

/// Encodes a canonical answer as a Responses API `response` object. The request settings the
/// object echoes (`tools`, `temperature`, ...) are unknown here and take their defaults; see
/// `encode_response_with_request`.
pub fn encode_response(resp: &ChatResponse) -> Value {
    encode_response_with_request(resp, &ChatRequest::default())
}

/// Like `encode_response`, echoing the settings of the request that asked for the answer
/// (`instructions`, `tools`, `tool_choice`, `temperature`, `text.format`, ...) as the real API does.
pub fn encode_response_with_request(resp: &ChatResponse, req: &ChatRequest) -> Value {
    let id = response_id(&resp.id);
    let (status, reason) = status_of(&resp.stop);
    let output = output_items(item_base(&id), &resp.parts, reason.is_some());
    response_object(&ResponseFields {
        id: &id,
        created: resp.created,
        model: &resp.model,
        status,
        output,
        usage: Some(&resp.usage),
        incomplete_reason: reason,
        error: Value::Null,
        echo: &echo_fields(req),
    })
}

/// The response's status, and the `incomplete_details.reason` when it is incomplete.
fn status_of(stop: &StopReason) -> (&'static str, Option<&'static str>) {
    match stop {
        StopReason::MaxTokens => ("incomplete", Some("max_output_tokens")),
        StopReason::ContentFilter => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

fn response_id(id: &str) -> String {
    if id.is_empty() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("resp_{nanos:x}")
    } else if id.starts_with("resp_") {
        id.to_string()
    } else {
        format!("resp_{id}")
    }
}

fn item_base(response_id: &str) -> &str {
    response_id.strip_prefix("resp_").unwrap_or(response_id)
}

fn item_id(prefix: &str, base: &str, index: usize) -> String {
    format!("{prefix}_{base}_{index}")
}

fn output_items(base: &str, parts: &[Part], incomplete: bool) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut texts: Vec<Value> = Vec::new();
    for part in parts {
        let ends_message = matches!(
            part,
            Part::Thinking { .. } | Part::RedactedThinking { .. } | Part::ToolCall(_)
        );
        if ends_message && !texts.is_empty() {
            let id = item_id("msg", base, items.len());
            items.push(message_item(&id, "completed", std::mem::take(&mut texts)));
        }
        match part {
            Part::Text(text) => texts.push(output_text_part(text)),
            Part::Thinking { text, signature } => {
                let id = item_id("rs", base, items.len());
                items.push(reasoning_item(&id, text, signature.as_deref()));
            }
            Part::RedactedThinking { data } => {
                let id = item_id("rs", base, items.len());
                let encrypted = format!("{REDACTED_PREFIX}{data}");
                items.push(reasoning_item(&id, "", Some(&encrypted)));
            }
            Part::ToolCall(call) => {
                let id = item_id("fc", base, items.len());
                items.push(function_call_item(
                    &id,
                    "completed",
                    &call.id,
                    &call.name,
                    &call.arguments,
                ));
            }
            // Answers carry neither; images generated by a model have no place in this format.
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    if !texts.is_empty() {
        let id = item_id("msg", base, items.len());
        items.push(message_item(&id, "completed", texts));
    }
    // The item being generated when the limit struck is the one cut short.
    if incomplete {
        if let Some(Value::Object(last)) = items.last_mut() {
            if let Some(status) = last.get_mut("status") {
                *status = json!("incomplete");
            }
        }
    }
    items
}

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    })
}

fn reasoning_item(id: &str, text: &str, encrypted: Option<&str>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
    if let (Some(e), Value::Object(obj)) = (encrypted, &mut item) {
        obj.insert("encrypted_content".into(), json!(e));
    }
    item
}

fn function_call_item(id: &str, status: &str, call_id: &str, name: &str, args: &str) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": args,
        "call_id": call_id,
        "name": name,
    })
}

fn usage_value(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens.saturating_add(usage.output_tokens),
    })
}

/// The request settings a response object repeats.
fn echo_fields(req: &ChatRequest) -> Obj {
    let instructions = if req.system.is_empty() {
        Value::Null
    } else {
        json!(req.system.join("\n\n"))
    };
    let tool_choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => json!("auto"),
        Some(ToolChoice::None) => json!("none"),
        Some(ToolChoice::Required) => json!("required"),
        Some(ToolChoice::Tool(name)) => json!({"type": "function", "name": name}),
    };
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": t.strict,
            })
        })
        .collect();
    let format = match &req.response_format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict}),
    };
    let (effort, summary) = match &req.reasoning {
        Some(r) => (
            json!(r.effort),
            if r.include_thoughts {
                json!("auto")
            } else {
                Value::Null
            },
        ),
        None => (Value::Null, Value::Null),
    };
    let mut echo = Obj::new();
    echo.insert("instructions".into(), instructions);
    echo.insert("max_output_tokens".into(), json!(req.max_tokens));
    echo.insert(
        "parallel_tool_calls".into(),
        json!(req.parallel_tool_calls.unwrap_or(true)),
    );
    echo.insert(
        "reasoning".into(),
        json!({"effort": effort, "summary": summary}),
    );
    echo.insert("temperature".into(), json!(req.temperature));
    echo.insert("text".into(), json!({ "format": format }));
    echo.insert("tool_choice".into(), tool_choice);
    echo.insert("tools".into(), Value::Array(tools));
    echo.insert("top_p".into(), json!(req.top_p));
    echo.insert("user".into(), json!(req.user));
    echo
}

struct ResponseFields<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    status: &'a str,
    output: Vec<Value>,
    usage: Option<&'a Usage>,
    incomplete_reason: Option<&'a str>,
    error: Value,
    echo: &'a Obj,
}

fn response_object(f: &ResponseFields<'_>) -> Value {
    let mut obj = Obj::new();
    obj.insert("id".into(), json!(f.id));
    obj.insert("object".into(), json!("response"));
    obj.insert("created_at".into(), json!(f.created));
    obj.insert("status".into(), json!(f.status));
    obj.insert("background".into(), json!(false));
    obj.insert("error".into(), f.error.clone());
    obj.insert(
        "incomplete_details".into(),
        match f.incomplete_reason {
            Some(reason) => json!({ "reason": reason }),
            None => Value::Null,
        },
    );
    obj.insert("max_tool_calls".into(), Value::Null);
    obj.insert("metadata".into(), json!({}));
    obj.insert("model".into(), json!(f.model));
    obj.insert("output".into(), Value::Array(f.output.clone()));
    obj.insert("previous_response_id".into(), Value::Null);
    // Nothing is stored: `responses.retrieve` on this id would not find it.
    obj.insert("store".into(), json!(false));
    obj.insert("truncation".into(), json!("disabled"));
    obj.insert(
        "usage".into(),
        f.usage.map(usage_value).unwrap_or(Value::Null),
    );
    for (key, value) in f.echo {
        obj.insert(key.clone(), value.clone());
    }
    Value::Object(obj)
}

// ---------------------------------------------------------------------------------------------
// Stream

/// The item being streamed (items follow one another: the real API never interleaves them).
enum OpenItem {
    Message {
        id: String,
        text: String,
    },
    Reasoning {
        id: String,
        text: String,
        signature: Option<String>,
        part_open: bool,
    },
    Call {
        id: String,
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl OpenItem {
    fn item(&self, status: &str) -> Value {
        match self {
            OpenItem::Message { id, text } => {
                message_item(id, status, vec![output_text_part(text)])
            }
            OpenItem::Reasoning {
                id,
                text,
                signature,
                ..
            } => reasoning_item(id, text, signature.as_deref()),
            OpenItem::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => function_call_item(id, status, call_id, name, arguments),
        }
    }
}

/// Writes canonical stream events as the Responses API's server-sent events: `response.created`,
/// `response.in_progress`, then for each output item `response.output_item.added`, its content
/// events and `response.output_item.done`, and finally `response.completed` (or
/// `response.incomplete`) with the whole response, every event named by `event:` and numbered
/// by `sequence_number` from 0.
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    echo: Obj,
    started: bool,
    ended: bool,
    seq: u64,
    /// Finished items, by output index; the open item's index is `output.len()`.
    output: Vec<Value>,
    open: Option<OpenItem>,
    /// Canonical tool call index → output index, for deltas that arrive after their item closed.
    calls: Vec<(u32, usize)>,
    stop: Option<StopReason>,
    usage: Usage,
}

impl StreamEncoder {
    /// An encoder for the answer to `req` (whose settings the response objects echo).
    pub fn new(req: &ChatRequest) -> Self {
        StreamEncoder {
            id: String::new(),
            model: req.model.clone(),
            created: now_secs(),
            echo: echo_fields(req),
            started: false,
            ended: false,
            seq: 0,
            output: Vec::new(),
            open: None,
            calls: Vec::new(),
            stop: None,
            usage: Usage::default(),
        }
    }

    /// Sets `created_at` (instead of now), for reproducible output.
    pub fn with_created(mut self, created: u64) -> Self {
        self.created = created;
        self
    }

    fn response(
        &self,
        status: &str,
        output: Vec<Value>,
        usage: Option<&Usage>,
        reason: Option<&str>,
        error: Value,
    ) -> Value {
        response_object(&ResponseFields {
            id: &self.id,
            created: self.created,
            model: &self.model,
            status,
            output,
            usage,
            incomplete_reason: reason,
            error,
            echo: &self.echo,
        })
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = response_id("");
        }
        let response = self.response("in_progress", Vec::new(), None, None, Value::Null);
        emit(
            &mut self.seq,
            "response.created",
            json!({ "response": response }),
            out,
        );
        emit(
            &mut self.seq,
            "response.in_progress",
            json!({ "response": response }),
            out,
        );
    }

    fn next_item_id(&self, prefix: &str) -> String {
        item_id(prefix, item_base(&self.id), self.output.len())
    }

    /// Ends the open item: its closing content events, then `response.output_item.done`.
    fn close(&mut self, status: &str, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let index = self.output.len();
        match &open {
            OpenItem::Message { id, text } => {
                emit(
                    &mut self.seq,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                    out,
                );
                emit(
                    &mut self.seq,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text_part(text)}),
                    out,
                );
            }
            OpenItem::Reasoning {
                id,
                text,
                part_open: true,
                ..
            } => {
                emit(
                    &mut self.seq,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
                    out,
                );
                emit(
                    &mut self.seq,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
                    out,
                );
            }
            OpenItem::Reasoning { .. } => {}
            OpenItem::Call {
                id,
                name,
                arguments,
                ..
            } => {
                emit(
                    &mut self.seq,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": arguments, "name": name}),
                    out,
                );
            }
        }
        let item = open.item(status);
        emit(
            &mut self.seq,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            out,
        );
        self.output.push(item);
    }

    fn open_reasoning(&mut self, out: &mut Vec<u8>) {
        self.close("completed", out);
        let id = self.next_item_id("rs");
        emit(
            &mut self.seq,
            "response.output_item.added",
            json!({"output_index": self.output.len(), "item": reasoning_item(&id, "", None)}),
            out,
        );
        self.open = Some(OpenItem::Reasoning {
            id,
            text: String::new(),
            signature: None,
            part_open: false,
        });
    }

    fn text_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.close("completed", out);
            let id = self.next_item_id("msg");
            let index = self.output.len();
            emit(
                &mut self.seq,
                "response.output_item.added",
                json!({"output_index": index, "item": message_item(&id, "in_progress", Vec::new())}),
                out,
            );
            emit(
                &mut self.seq,
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text_part("")}),
                out,
            );
            self.open = Some(OpenItem::Message {
                id,
                text: String::new(),
            });
        }
        let index = self.output.len();
        if let Some(OpenItem::Message { id, text }) = &mut self.open {
            text.push_str(delta);
            emit(
                &mut self.seq,
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": []}),
                out,
            );
        }
    }

    fn thinking_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        if !matches!(self.open, Some(OpenItem::Reasoning { .. })) {
            self.open_reasoning(out);
        }
        let index = self.output.len();
        if let Some(OpenItem::Reasoning {
            id,
            text,
            part_open,
            ..
        }) = &mut self.open
        {
            if !*part_open {
                *part_open = true;
                emit(
                    &mut self.seq,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                    out,
                );
            }
            text.push_str(delta);
            emit(
                &mut self.seq,
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": delta}),
                out,
            );
        }
    }

    /// Closes the thinking block with its signature (opening an empty one for a signature that
    /// came alone).
    fn thinking_signature(&mut self, encrypted: String, out: &mut Vec<u8>) {
        if !matches!(self.open, Some(OpenItem::Reasoning { .. })) {
            self.open_reasoning(out);
        }
        if let Some(OpenItem::Reasoning { signature, .. }) = &mut self.open {
            *signature = Some(encrypted);
        }
        self.close("completed", out);
    }

    fn tool_call_start(&mut self, index: u32, call_id: &str, name: &str, out: &mut Vec<u8>) {
        self.close("completed", out);
        let id = self.next_item_id("fc");
        let output_index = self.output.len();
        emit(
            &mut self.seq,
            "response.output_item.added",
            json!({"output_index": output_index, "item": function_call_item(&id, "in_progress", call_id, name, "")}),
            out,
        );
        self.calls.push((index, output_index));
        self.open = Some(OpenItem::Call {
            id,
            index,
            call_id: call_id.to_string(),
            name: name.to_string(),
            arguments: String::new(),
        });
    }

    fn tool_call_delta(&mut self, index: u32, delta: &str, out: &mut Vec<u8>) {
        let open_index = self.output.len();
        if let Some(OpenItem::Call {
            id,
            index: open,
            arguments,
            ..
        }) = &mut self.open
        {
            if *open == index {
                arguments.push_str(delta);
                emit(
                    &mut self.seq,
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": open_index, "delta": delta}),
                    out,
                );
                return;
            }
        }
        // A provider that interleaves parallel calls: the piece belongs to an item already
        // done. The final response gets it; the delta is still sent for live consumers.
        let Some(&(_, output_index)) = self.calls.iter().find(|(i, _)| *i == index) else {
            return;
        };
        let Some(Value::Object(item)) = self.output.get_mut(output_index) else {
            return;
        };
        let mut arguments = item
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        arguments.push_str(delta);
        item.insert("arguments".into(), json!(arguments));
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        emit(
            &mut self.seq,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": output_index, "delta": delta}),
            out,
        );
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
                    self.id = response_id(id);
                    if !model.is_empty() {
                        self.model = model.clone();
                    }
                }
                self.start(out);
            }
            StreamEvent::TextDelta(delta) if !delta.is_empty() => {
                self.start(out);
                self.text_delta(delta, out);
            }
            StreamEvent::ThinkingDelta(delta) if !delta.is_empty() => {
                self.start(out);
                self.thinking_delta(delta, out);
            }
            StreamEvent::ThinkingSignature(signature) if !signature.is_empty() => {
                self.start(out);
                self.thinking_signature(signature.clone(), out);
            }
            StreamEvent::RedactedThinking(data) => {
                self.start(out);
                // A block of its own, never the signature of the thinking before it.
                self.open_reasoning(out);
                self.thinking_signature(format!("{REDACTED_PREFIX}{data}"), out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(out);
                self.tool_call_start(*index, id, name, out);
            }
            StreamEvent::ToolCallDelta { index, arguments } if !arguments.is_empty() => {
                self.start(out);
                self.tool_call_delta(*index, arguments, out);
            }
            StreamEvent::Usage(usage) => merge_usage(&mut self.usage, usage),
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
            StreamEvent::TextDelta(_)
            | StreamEvent::ThinkingDelta(_)
            | StreamEvent::ThinkingSignature(_)
            | StreamEvent::ToolCallDelta { .. } => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        let stop = self.stop.clone().unwrap_or_default();
        let (status, reason) = status_of(&stop);
        // The item still open is the one the limit cut short.
        let last_item_status = if reason.is_some() {
            "incomplete"
        } else {
            "completed"
        };
        self.close(last_item_status, out);
        let response = self.response(
            status,
            self.output.clone(),
            Some(&self.usage),
            reason,
            Value::Null,
        );
        let kind = if reason.is_some() {
            "response.incomplete"
        } else {
            "response.completed"
        };
        emit(&mut self.seq, kind, json!({ "response": response }), out);
        self.ended = true;
    }

    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        let mut output = self.output.clone();
        if let Some(open) = &self.open {
            output.push(open.item("incomplete"));
        }
        // `response.error.code` is an enumeration in the API; these two are the generic ones.
        let failed_code = if err.class == ErrorClass::RateLimited {
            "rate_limit_exceeded"
        } else {
            "server_error"
        };
        let error = json!({"code": failed_code, "message": err.message});
        let response = self.response("failed", output, Some(&self.usage), None, error);
        emit(
            &mut self.seq,
            "response.failed",
            json!({ "response": response }),
            out,
        );
        let code = err.code.clone().unwrap_or_else(|| failed_code.to_string());
        emit(
            &mut self.seq,
            "error",
            json!({
                "code": code,
                "message": err.message,
                "param": null,
                "error": {"type": error_type(err.class), "code": code, "message": err.message, "param": null},
            }),
            out,
        );
        self.ended = true;
    }
}

/// Later non-zero counts replace earlier ones (StreamEvent::Usage).
fn merge_usage(into: &mut Usage, from: &Usage) {
    let pairs = [
        (&mut into.input_tokens, from.input_tokens),
        (&mut into.output_tokens, from.output_tokens),
        (&mut into.cached_input_tokens, from.cached_input_tokens),
        (
            &mut into.cache_creation_input_tokens,
            from.cache_creation_input_tokens,
        ),
        (&mut into.reasoning_tokens, from.reasoning_tokens),
    ];
    for (slot, value) in pairs {
        if value != 0 {
            *slot = value;
        }
    }
}

/// Writes one event: `type` and `sequence_number` join the given fields.
fn emit(seq: &mut u64, kind: &str, mut data: Value, out: &mut Vec<u8>) {
    if let Value::Object(obj) = &mut data {
        obj.insert("type".into(), json!(kind));
        obj.insert("sequence_number".into(), json!(*seq));
    }
    *seq += 1;
    let bytes = serde_json::to_vec(&data).unwrap_or_default();
    write_event(kind, &bytes, out);
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Encodes an error as OpenAI does: `{"error":{"message","type","param","code"}}`.
pub fn encode_error(err: &ProviderError) -> Vec<u8> {
    let body = json!({
        "error": {
            "message": err.message,
            "type": error_type(err.class),
            "param": null,
            "code": err.code,
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn error_type(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge => "invalid_request_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::PermissionDenied => "permission_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::RateLimited => "rate_limit_error",
        ErrorClass::Overloaded | ErrorClass::Timeout | ErrorClass::Server => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;
    use crate::translate::sse::SseParser;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../tests/fixtures/translate/openai_responses/",
                $name
            ))
        };
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    // --- requests -------------------------------------------------------------------------

    #[test]
    fn golden_text_request() {
        // The Responses API has no stop sequences; everything else of the canonical sample fits.
        let expected = ChatRequest {
            stop: vec![],
            ..fixtures::text_request()
        };
        assert_eq!(
            decode_request(&json(fixture!("text.request.json"))).unwrap(),
            expected
        );
    }

    #[test]
    fn golden_tool_request() {
        assert_eq!(
            decode_request(&json(fixture!("tool.request.json"))).unwrap(),
            fixtures::tool_request()
        );
    }

    #[test]
    fn golden_image_request() {
        assert_eq!(
            decode_request(&json(fixture!("image.request.json"))).unwrap(),
            fixtures::image_request()
        );
    }

    #[test]
    fn golden_json_schema_request() {
        assert_eq!(
            decode_request(&json(fixture!("json_schema.request.json"))).unwrap(),
            fixtures::json_schema_request()
        );
    }

    #[test]
    fn golden_thinking_request() {
        // The Responses API sets reasoning by effort, not by a token budget.
        let expected = ChatRequest {
            reasoning: Some(Reasoning {
                effort: Some("low".into()),
                budget_tokens: None,
                include_thoughts: true,
            }),
            ..fixtures::thinking_request()
        };
        assert_eq!(
            decode_request(&json(fixture!("thinking.request.json"))).unwrap(),
            expected
        );
    }

    #[test]
    fn items_fold_into_alternating_messages() {
        let body = serde_json::json!({
            "model": "m",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}]},
                {"role": "user", "content": "b"},
                {"type": "reasoning", "id": "rs_x", "summary": [
                    {"type": "summary_text", "text": "s1"}, {"type": "summary_text", "text": "s2"}]},
                {"type": "message", "id": "msg_x", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "On it.", "annotations": []}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"x\":1}"},
                {"type": "function_call_output", "call_id": "c1", "output": [
                    {"type": "input_text", "text": "one"},
                    {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA", "detail": "low"}]},
                {"type": "function_call_output", "call_id": "c2", "output": "two"},
                {"role": "system", "content": "Late rule."}
            ]
        });
        let req = decode_request(&body).unwrap();
        assert_eq!(req.system, vec!["Be brief.", "Late rule."]);
        let expected = vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("a".into()), Part::Text("b".into())],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "s1\n\ns2".into(),
                        signature: None,
                    },
                    Part::Text("On it.".into()),
                    Part::ToolCall(ToolCall {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }),
                    Part::ToolCall(ToolCall {
                        id: "c2".into(),
                        name: "g".into(),
                        arguments: "{\"x\":1}".into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "c1".into(),
                        name: None,
                        content: vec![
                            Part::Text("one".into()),
                            Part::Image(ImageSource::Base64 {
                                media_type: "image/jpeg".into(),
                                data: "AAAA".into(),
                            }),
                        ],
                        is_error: false,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "c2".into(),
                        name: None,
                        content: vec![Part::Text("two".into())],
                        is_error: false,
                    }),
                ],
            },
        ];
        assert_eq!(req.messages, expected);
    }

    #[test]
    fn output_sent_back_as_input_round_trips() {
        // What SDK users do: `input += response.output`, then the tool outputs.
        let answer = ChatResponse {
            id: "msg_01abc".into(),
            model: "claude".into(),
            created: 1,
            parts: vec![
                Part::Thinking {
                    text: "Think.".into(),
                    signature: Some("sig".into()),
                },
                Part::RedactedThinking {
                    data: "opaque".into(),
                },
                Part::Text("Let me look.".into()),
                Part::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into(),
                }),
            ],
            stop: StopReason::ToolUse,
            usage: Usage::default(),
        };
        let encoded = encode_response(&answer);
        assert_eq!(encoded["id"], "resp_msg_01abc");
        let mut input = vec![serde_json::json!({"role": "user", "content": "q"})];
        input.extend(encoded["output"].as_array().unwrap().iter().cloned());
        input.push(
            serde_json::json!({"type": "function_call_output", "call_id": "toolu_1", "output": "r"}),
        );
        let req = decode_request(&serde_json::json!({"model": "m", "input": input})).unwrap();
        assert_eq!(req.messages.len(), 3);
        assert_eq!(req.messages[1].role, Role::Assistant);
        assert_eq!(req.messages[1].parts, answer.parts);
    }

    #[test]
    fn tool_and_format_variants() {
        let req = decode_request(&serde_json::json!({
            "model": "m",
            "input": "x",
            "tools": [
                {"type": "function", "name": "a", "parameters": null, "strict": true},
                {"type": "function", "name": "b", "description": "B", "parameters": {"type": "object"}, "strict": false},
                {"type": "function", "name": "c", "parameters": {"type": "object"}}
            ],
            "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [
                {"type": "function", "name": "a"}, {"type": "function", "name": "c"}]},
            "parallel_tool_calls": false,
            "text": {"format": {"type": "json_object"}, "verbosity": "medium"},
            "reasoning": {"effort": "high", "summary": null},
            "stream": true,
            "safety_identifier": "u-1",
            "store": false,
            "metadata": {"k": "v"},
            "truncation": "auto",
            "previous_response_id": null,
            "temperature": null
        }))
        .unwrap();
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(
            req.tools[0].parameters,
            serde_json::json!({"type": "object"})
        );
        assert_eq!(req.tools[0].strict, Some(true));
        assert_eq!(req.tools[1].strict, None);
        assert_eq!(req.tool_choice, Some(ToolChoice::Required));
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.response_format, ResponseFormat::JsonObject);
        assert_eq!(
            req.reasoning,
            Some(Reasoning {
                effort: Some("high".into()),
                budget_tokens: None,
                include_thoughts: false,
            })
        );
        assert!(req.stream);
        assert_eq!(req.user.as_deref(), Some("u-1"));
        assert_eq!(req.temperature, None);

        let req = decode_request(&serde_json::json!({
            "model": "m", "input": "x",
            "tools": [{"type": "function", "name": "a", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "a"},
            "user": "u-2", "safety_identifier": "ignored"
        }))
        .unwrap();
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool("a".into())));
        assert_eq!(req.user.as_deref(), Some("u-2"));
        for (choice, expected) in [
            ("auto", ToolChoice::Auto),
            ("none", ToolChoice::None),
            ("required", ToolChoice::Required),
        ] {
            let req = decode_request(
                &serde_json::json!({"model": "m", "input": "x", "tool_choice": choice}),
            )
            .unwrap();
            assert_eq!(req.tool_choice, Some(expected));
        }
    }

    #[test]
    fn image_urls() {
        let decode = |url: &str| {
            decode_request(
                &serde_json::json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_image", "image_url": url, "detail": "high"}]}]}),
            )
            .map(|r| r.messages[0].parts[0].clone())
        };
        assert_eq!(
            decode("data:image/webp;charset=x;base64,QUJD").unwrap(),
            Part::Image(ImageSource::Base64 {
                media_type: "image/webp".into(),
                data: "QUJD".into()
            })
        );
        assert_eq!(
            decode("http://e/x.gif").unwrap(),
            Part::Image(ImageSource::Url("http://e/x.gif".into()))
        );
        for bad in [
            "data:image/png,plain",
            "data:image/png;base64",
            "data:;base64,QQ==",
        ] {
            assert!(
                matches!(decode(bad), Err(TranslateError::Invalid(m)) if m.contains("input[0].content[0].image_url")),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_what_other_providers_cannot_honour() {
        let base = serde_json::json!({"model": "m", "input": "x"});
        let cases: Vec<(Value, &str)> = vec![
            (
                serde_json::json!({"previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                serde_json::json!({"conversation": "conv_1"}),
                "conversation",
            ),
            (serde_json::json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
            (serde_json::json!({"background": true}), "background"),
            (serde_json::json!({"top_logprobs": 3}), "top_logprobs"),
            (
                serde_json::json!({"include": ["message.output_text.logprobs"]}),
                "logprobs",
            ),
            (
                serde_json::json!({"tools": [{"type": "web_search"}]}),
                "`web_search`",
            ),
            (
                serde_json::json!({"tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}),
                "`file_search`",
            ),
            (
                serde_json::json!({"tools": [{"type": "computer_use_preview"}]}),
                "`computer_use_preview`",
            ),
            (
                serde_json::json!({"tools": [{"type": "custom", "name": "x"}]}),
                "`custom`",
            ),
            (
                serde_json::json!({"tool_choice": {"type": "web_search_preview"}}),
                "`web_search_preview`",
            ),
            (
                serde_json::json!({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "mcp", "server_label": "s"}]}}),
                "`mcp`",
            ),
            (
                serde_json::json!({"text": {"verbosity": "low"}}),
                "verbosity",
            ),
            (
                serde_json::json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
                "item_reference",
            ),
            (
                serde_json::json!({"input": [{"type": "web_search_call", "id": "ws_1"}]}),
                "`web_search_call`",
            ),
            (
                serde_json::json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1", "detail": "auto"}]}]}),
                "file_id",
            ),
            (
                serde_json::json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
                "input_file",
            ),
            (
                serde_json::json!({"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://e/i.png"}]}]}),
                "system",
            ),
        ];
        for (patch, needle) in cases {
            let mut body = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            match decode_request(&body) {
                Err(TranslateError::Unsupported(m)) => {
                    assert!(m.contains(needle), "{m} / {needle}")
                }
                other => panic!("{patch}: expected Unsupported, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (serde_json::json!([]), "JSON object"),
            (serde_json::json!({"input": "x"}), "model"),
            (serde_json::json!({"model": 1, "input": "x"}), "model"),
            (serde_json::json!({"model": "m"}), "input"),
            (serde_json::json!({"model": "m", "input": 3}), "input"),
            (serde_json::json!({"model": "m", "input": [1]}), "input[0]"),
            (
                serde_json::json!({"model": "m", "input": [{"content": "x"}]}),
                "input[0].role",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
                "input[0].role",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "user"}]}),
                "input[0].content",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "user", "content": [{"text": "x"}]}]}),
                "input[0].content[0].type",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}),
                "input[0].content[0].text",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
                "input[0].call_id",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]}),
                "input[0].arguments",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}),
                "input[0].output",
            ),
            (
                serde_json::json!({"model": "m", "input": [{"type": "reasoning", "summary": "x"}]}),
                "input[0].summary",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "temperature": "hot"}),
                "temperature",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "max_output_tokens": -1}),
                "max_output_tokens",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "stream": "yes"}),
                "stream",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "tools": {}}),
                "tools",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
                "tools[0].name",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": "x"}]}),
                "tools[0].parameters",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "tool_choice": "any"}),
                "tool_choice",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "tool_choice": {"type": "function"}}),
                "tool_choice.name",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}),
                "text.format.schema",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}),
                "text.format.type",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "reasoning": {"effort": 1}}),
                "reasoning.effort",
            ),
            (
                serde_json::json!({"model": "m", "input": "x", "include": "all"}),
                "include",
            ),
        ];
        for (body, needle) in cases {
            match decode_request(&body) {
                Err(TranslateError::Invalid(m)) => assert!(m.contains(needle), "{m} / {needle}"),
                other => panic!("{body}: expected Invalid, got {other:?}"),
            }
        }
    }

    // --- responses ------------------------------------------------------------------------

    #[test]
    fn golden_text_response() {
        assert_eq!(
            encode_response(&fixtures::text_response()),
            json(fixture!("text.response.json"))
        );
    }

    #[test]
    fn golden_tool_response() {
        assert_eq!(
            encode_response(&fixtures::tool_response()),
            json(fixture!("tool.response.json"))
        );
    }

    #[test]
    fn response_statuses_and_echo() {
        let mut resp = fixtures::tool_response();
        resp.stop = StopReason::MaxTokens;
        let v = encode_response(&resp);
        assert_eq!(v["status"], "incomplete");
        assert_eq!(
            v["incomplete_details"],
            serde_json::json!({"reason": "max_output_tokens"})
        );
        assert_eq!(v["output"][0]["status"], "completed");
        assert_eq!(v["output"][1]["status"], "incomplete");

        resp.stop = StopReason::ContentFilter;
        assert_eq!(
            encode_response(&resp)["incomplete_details"]["reason"],
            "content_filter"
        );
        for stop in [
            StopReason::EndTurn,
            StopReason::StopSequence(Some("x".into())),
            StopReason::Refusal,
            StopReason::Other("weird".into()),
        ] {
            resp.stop = stop;
            let v = encode_response(&resp);
            assert_eq!(v["status"], "completed");
            assert_eq!(v["incomplete_details"], Value::Null);
        }

        let mut req = fixtures::json_schema_request();
        req.system = vec!["A".into(), "B".into()];
        req.tool_choice = Some(ToolChoice::Tool("get_weather".into()));
        req.reasoning = Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
            include_thoughts: true,
        });
        req.user = Some("u".into());
        let v = encode_response_with_request(&fixtures::text_response(), &req);
        assert_eq!(v["instructions"], "A\n\nB");
        assert_eq!(v["max_output_tokens"], 50);
        assert_eq!(
            v["tool_choice"],
            serde_json::json!({"type": "function", "name": "get_weather"})
        );
        assert_eq!(v["text"]["format"]["type"], "json_schema");
        assert_eq!(v["text"]["format"]["name"], "city");
        assert_eq!(v["text"]["format"]["strict"], true);
        assert_eq!(
            v["reasoning"],
            serde_json::json!({"effort": "medium", "summary": "auto"})
        );
        assert_eq!(v["user"], "u");
    }

    #[test]
    fn usage_details() {
        let mut resp = fixtures::text_response();
        resp.usage = Usage {
            input_tokens: 100,
            output_tokens: 40,
            cached_input_tokens: 60,
            cache_creation_input_tokens: 20,
            reasoning_tokens: 30,
        };
        assert_eq!(
            encode_response(&resp)["usage"],
            serde_json::json!({
                "input_tokens": 100,
                "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 20},
                "output_tokens": 40,
                "output_tokens_details": {"reasoning_tokens": 30},
                "total_tokens": 140
            })
        );
    }

    // --- streams --------------------------------------------------------------------------

    /// Encodes `events`, checking that `Finish` and `Usage` write nothing before `finish()`.
    fn encode_stream(req: &ChatRequest, events: &[StreamEvent]) -> Vec<u8> {
        let mut enc = StreamEncoder::new(req).with_created(1_700_000_000);
        let mut out = Vec::new();
        for event in events {
            let before = out.len();
            enc.event(event, &mut out);
            if matches!(event, StreamEvent::Finish(_) | StreamEvent::Usage(_)) {
                assert_eq!(out.len(), before, "{event:?} must be held until finish()");
            }
        }
        enc.finish(&mut out);
        out
    }

    /// Parses SSE bytes fed in pieces of pseudo-random sizes.
    fn parse_sse(bytes: &[u8], seed: u64) -> Vec<(String, Value)> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut state = seed;
        let mut rest = bytes;
        while !rest.is_empty() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = ((state >> 33) as usize % 97 + 1).min(rest.len());
            parser.feed(&rest[..n], &mut events).unwrap();
            rest = &rest[n..];
        }
        parser.end(&mut events);
        events
            .into_iter()
            .map(|e| {
                (
                    e.event,
                    serde_json::from_str(&e.data).expect("event data is JSON"),
                )
            })
            .collect()
    }

    fn has(v: &Value, keys: &[&str], what: &str) {
        for key in keys {
            assert!(
                v.get(key).is_some_and(|x| !x.is_null()),
                "{what} lacks `{key}`: {v}"
            );
        }
    }

    fn check_item(item: &Value) {
        match item["type"].as_str() {
            Some("message") => {
                has(item, &["id", "role", "status", "content"], "message item");
                for part in item["content"].as_array().unwrap() {
                    has(part, &["type", "text", "annotations"], "output_text part");
                }
            }
            Some("function_call") => has(
                item,
                &["id", "call_id", "name", "arguments", "status"],
                "function_call item",
            ),
            Some("reasoning") => has(item, &["id", "summary"], "reasoning item"),
            other => panic!("unexpected item type {other:?}"),
        }
    }

    fn check_response_object(resp: &Value) {
        has(
            resp,
            &[
                "id",
                "object",
                "created_at",
                "model",
                "output",
                "parallel_tool_calls",
                "tool_choice",
                "tools",
                "status",
            ],
            "response",
        );
        assert_eq!(resp["object"], "response");
        resp["output"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(check_item);
    }

    /// Checks what the openai SDK relies on: names match types, sequence numbers count from 0,
    /// `response.created` comes first, every event has its required fields, content events
    /// refer to items already added, and replaying the deltas gives the final output.
    fn check_events(events: &[(String, Value)]) {
        assert_eq!(events[0].0, "response.created");
        let mut items: Vec<Value> = Vec::new();
        let mut done: Vec<Option<Value>> = Vec::new();
        for (n, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["type"], name.as_str());
            assert_eq!(data["sequence_number"], n);
            let required: &[&str] = match name.as_str() {
                "response.created"
                | "response.in_progress"
                | "response.completed"
                | "response.incomplete"
                | "response.failed" => &["response"],
                "response.output_item.added" | "response.output_item.done" => {
                    &["output_index", "item"]
                }
                "response.content_part.added" | "response.content_part.done" => {
                    &["item_id", "output_index", "content_index", "part"]
                }
                "response.output_text.delta" => &[
                    "item_id",
                    "output_index",
                    "content_index",
                    "delta",
                    "logprobs",
                ],
                "response.output_text.done" => &[
                    "item_id",
                    "output_index",
                    "content_index",
                    "text",
                    "logprobs",
                ],
                "response.function_call_arguments.delta" => &["item_id", "output_index", "delta"],
                "response.function_call_arguments.done" => {
                    &["item_id", "output_index", "arguments"]
                }
                "response.reasoning_summary_part.added"
                | "response.reasoning_summary_part.done" => {
                    &["item_id", "output_index", "summary_index", "part"]
                }
                "response.reasoning_summary_text.delta" => {
                    &["item_id", "output_index", "summary_index", "delta"]
                }
                "response.reasoning_summary_text.done" => {
                    &["item_id", "output_index", "summary_index", "text"]
                }
                "error" => &["message"],
                other => panic!("unexpected event {other}"),
            };
            has(data, required, name);
            let oi = data["output_index"].as_u64().map(|i| i as usize);
            if let Some(oi) = oi {
                if name != "response.output_item.added" {
                    assert!(oi < items.len(), "{name} before its item was added");
                    if let Some(id) = data.get("item_id") {
                        assert_eq!(id, &items[oi]["id"]);
                    }
                }
            }
            let text_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
            match name.as_str() {
                "response.created" | "response.in_progress" => {
                    check_response_object(&data["response"]);
                    assert_eq!(data["response"]["status"], "in_progress");
                }
                "response.output_item.added" => {
                    assert_eq!(oi, Some(items.len()));
                    check_item(&data["item"]);
                    items.push(data["item"].clone());
                    done.push(None);
                }
                "response.content_part.added" => {
                    let content = items[oi.unwrap()]["content"].as_array_mut().unwrap();
                    assert_eq!(data["content_index"], content.len());
                    content.push(data["part"].clone());
                }
                "response.output_text.delta" => {
                    let part = &mut items[oi.unwrap()]["content"]
                        [data["content_index"].as_u64().unwrap() as usize];
                    part["text"] = json!(text_of(&part["text"]) + &text_of(&data["delta"]));
                }
                "response.output_text.done" | "response.content_part.done" => {
                    let part = &items[oi.unwrap()]["content"]
                        [data["content_index"].as_u64().unwrap() as usize];
                    let text = data.get("text").unwrap_or(&data["part"]["text"]);
                    assert_eq!(&part["text"], text);
                }
                "response.function_call_arguments.delta" => {
                    let item = &mut items[oi.unwrap()];
                    item["arguments"] =
                        json!(text_of(&item["arguments"]) + &text_of(&data["delta"]));
                }
                "response.function_call_arguments.done" => {
                    assert_eq!(items[oi.unwrap()]["arguments"], data["arguments"]);
                }
                "response.reasoning_summary_part.added" => {
                    let summary = items[oi.unwrap()]["summary"].as_array_mut().unwrap();
                    assert_eq!(data["summary_index"], summary.len());
                    summary.push(data["part"].clone());
                }
                "response.reasoning_summary_text.delta" => {
                    let part = &mut items[oi.unwrap()]["summary"]
                        [data["summary_index"].as_u64().unwrap() as usize];
                    part["text"] = json!(text_of(&part["text"]) + &text_of(&data["delta"]));
                }
                "response.reasoning_summary_text.done" | "response.reasoning_summary_part.done" => {
                    let part = &items[oi.unwrap()]["summary"]
                        [data["summary_index"].as_u64().unwrap() as usize];
                    let text = data.get("text").unwrap_or(&data["part"]["text"]);
                    assert_eq!(&part["text"], text);
                }
                "response.output_item.done" => {
                    let item = &data["item"];
                    check_item(item);
                    let acc = &items[oi.unwrap()];
                    assert_eq!(item["id"], acc["id"]);
                    for key in ["content", "arguments", "summary"] {
                        if let Some(v) = acc.get(key) {
                            assert_eq!(&item[key], v, "{key} of item {}", item["id"]);
                        }
                    }
                    done[oi.unwrap()] = Some(item.clone());
                }
                "response.completed" | "response.incomplete" => {
                    assert_eq!(n, events.len() - 1, "{name} must be last");
                    let resp = &data["response"];
                    check_response_object(resp);
                    let finished: Vec<Value> = done.iter().map(|d| d.clone().unwrap()).collect();
                    assert_eq!(resp["output"], Value::Array(finished));
                    has(
                        &resp["usage"],
                        &[
                            "input_tokens",
                            "input_tokens_details",
                            "output_tokens",
                            "output_tokens_details",
                            "total_tokens",
                        ],
                        "usage",
                    );
                }
                "response.failed" => check_response_object(&data["response"]),
                _ => {}
            }
        }
    }

    fn assert_stream_matches(produced: &[u8], fixture: &str) {
        let expected = parse_sse(fixture.as_bytes(), 1);
        for seed in 0..20 {
            let got = parse_sse(produced, seed);
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g, e);
            }
        }
        check_events(&expected);
    }

    #[test]
    fn golden_text_stream() {
        let produced = encode_stream(&fixtures::text_request(), &fixtures::text_stream());
        assert_stream_matches(&produced, fixture!("text_stream.sse"));
    }

    #[test]
    fn golden_tool_stream() {
        let produced = encode_stream(&fixtures::tool_request(), &fixtures::tool_stream());
        assert_stream_matches(&produced, fixture!("tool_stream.sse"));
    }

    #[test]
    fn stream_final_response_equals_non_streamed_one() {
        // The same answer, streamed or not, gives the same response object (bar the echo).
        let events = fixtures::tool_stream();
        let events = parse_sse(&encode_stream(&ChatRequest::default(), &events), 7);
        let last = &events.last().unwrap().1["response"];
        let answer = ChatResponse {
            id: "resp_2".into(),
            model: "test-model".into(),
            created: 1_700_000_000,
            parts: vec![
                Part::Thinking {
                    text: "Need the tool.".into(),
                    signature: Some("sig-xyz".into()),
                },
                Part::Text("Checking.".into()),
                Part::ToolCall(ToolCall {
                    id: "call_9".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                }),
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input_tokens: 30,
                output_tokens: 15,
                ..Usage::default()
            },
        };
        assert_eq!(last, &encode_response(&answer));
    }

    #[test]
    fn stream_incomplete_on_max_tokens() {
        let events = vec![
            StreamEvent::Start {
                id: "r9".into(),
                model: "m".into(),
            },
            StreamEvent::TextDelta("Once upon".into()),
            StreamEvent::Usage(Usage {
                input_tokens: 5,
                ..Usage::default()
            }),
            StreamEvent::Finish(StopReason::MaxTokens),
            StreamEvent::Usage(Usage {
                output_tokens: 2,
                ..Usage::default()
            }),
        ];
        let parsed = parse_sse(&encode_stream(&ChatRequest::default(), &events), 3);
        check_events(&parsed);
        let (name, last) = parsed.last().unwrap();
        assert_eq!(name, "response.incomplete");
        let resp = &last["response"];
        assert_eq!(resp["id"], "resp_r9");
        assert_eq!(resp["status"], "incomplete");
        assert_eq!(resp["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(resp["output"][0]["id"], "msg_r9_0");
        assert_eq!(resp["output"][0]["status"], "incomplete");
        assert_eq!(resp["usage"]["input_tokens"], 5);
        assert_eq!(resp["usage"]["output_tokens"], 2);
        assert_eq!(resp["usage"]["total_tokens"], 7);
    }

    #[test]
    fn stream_thinking_blocks_signatures_and_redaction() {
        let events = vec![
            StreamEvent::Start {
                id: "resp_t".into(),
                model: "m".into(),
            },
            StreamEvent::ThinkingDelta("a".into()),
            StreamEvent::ThinkingDelta("b".into()),
            StreamEvent::RedactedThinking("blob".into()),
            StreamEvent::ThinkingSignature("lonely".into()),
            StreamEvent::ThinkingDelta("c".into()),
            StreamEvent::TextDelta("done".into()),
            StreamEvent::Finish(StopReason::EndTurn),
        ];
        let parsed = parse_sse(&encode_stream(&ChatRequest::default(), &events), 5);
        check_events(&parsed);
        let output = parsed.last().unwrap().1["response"]["output"].clone();
        assert_eq!(
            output,
            serde_json::json!([
                {"id": "rs_t_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "ab"}]},
                {"id": "rs_t_1", "type": "reasoning", "summary": [], "encrypted_content": "shardgate-redacted:blob"},
                {"id": "rs_t_2", "type": "reasoning", "summary": [], "encrypted_content": "lonely"},
                {"id": "rs_t_3", "type": "reasoning", "summary": [{"type": "summary_text", "text": "c"}]},
                {"id": "msg_t_4", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "done"}]}
            ])
        );
        // Sent back, these are the canonical parts again.
        let mut input = output.as_array().unwrap().clone();
        input.insert(0, serde_json::json!({"role": "user", "content": "q"}));
        let req = decode_request(&serde_json::json!({"model": "m", "input": input})).unwrap();
        assert_eq!(
            req.messages[1].parts,
            vec![
                Part::Thinking {
                    text: "ab".into(),
                    signature: None
                },
                Part::RedactedThinking {
                    data: "blob".into()
                },
                Part::Thinking {
                    text: String::new(),
                    signature: Some("lonely".into())
                },
                Part::Thinking {
                    text: "c".into(),
                    signature: None
                },
                Part::Text("done".into()),
            ]
        );
    }

    #[test]
    fn stream_parallel_tool_calls() {
        let call = |index: u32, id: &str| StreamEvent::ToolCallStart {
            index,
            id: id.into(),
            name: "f".into(),
        };
        let delta = |index: u32, a: &str| StreamEvent::ToolCallDelta {
            index,
            arguments: a.into(),
        };
        let events = vec![
            StreamEvent::Start {
                id: "resp_p".into(),
                model: "m".into(),
            },
            call(0, "c0"),
            delta(0, "{\"a\":"),
            delta(0, "1}"),
            call(1, "c1"),
            delta(1, "{}"),
            StreamEvent::Finish(StopReason::ToolUse),
        ];
        let parsed = parse_sse(&encode_stream(&ChatRequest::default(), &events), 9);
        check_events(&parsed);
        let output = &parsed.last().unwrap().1["response"]["output"];
        assert_eq!(output[0]["call_id"], "c0");
        assert_eq!(output[0]["arguments"], "{\"a\":1}");
        assert_eq!(output[1]["call_id"], "c1");
        assert_eq!(output[1]["arguments"], "{}");

        // A provider that interleaves: the late piece still reaches the final response.
        let events = vec![
            call(0, "c0"),
            delta(0, "{\"a\":"),
            call(1, "c1"),
            delta(0, "1}"),
            delta(1, "{}"),
        ];
        let parsed = parse_sse(&encode_stream(&ChatRequest::default(), &events), 9);
        assert_eq!(parsed[0].0, "response.created");
        assert!(parsed[0].1["response"]["id"]
            .as_str()
            .unwrap()
            .starts_with("resp_"));
        let output = &parsed.last().unwrap().1["response"]["output"];
        assert_eq!(output[0]["arguments"], "{\"a\":1}");
        assert_eq!(output[1]["arguments"], "{}");
    }

    #[test]
    fn stream_error_ends_with_failed_and_error_events() {
        let mut enc = StreamEncoder::new(&fixtures::text_request()).with_created(5);
        let mut out = Vec::new();
        enc.event(
            &StreamEvent::Start {
                id: "resp_e".into(),
                model: "m".into(),
            },
            &mut out,
        );
        enc.event(&StreamEvent::TextDelta("Par".into()), &mut out);
        let err = ProviderError {
            status: 529,
            class: ErrorClass::Overloaded,
            message: "Overloaded".into(),
            code: Some("overloaded_error".into()),
        };
        enc.error(&err, &mut out);
        let len = out.len();
        enc.finish(&mut out);
        enc.event(&StreamEvent::TextDelta("x".into()), &mut out);
        assert_eq!(out.len(), len, "nothing after the error");

        let parsed = parse_sse(&out, 2);
        check_events(&parsed);
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.failed",
                "error"
            ]
        );
        let failed = &parsed[5].1["response"];
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            failed["error"],
            serde_json::json!({"code": "server_error", "message": "Overloaded"})
        );
        assert_eq!(failed["output"][0]["status"], "incomplete");
        assert_eq!(failed["output"][0]["content"][0]["text"], "Par");
        let error = &parsed[6].1;
        assert_eq!(error["message"], "Overloaded");
        assert_eq!(error["code"], "overloaded_error");
        assert_eq!(error["param"], Value::Null);
        // The nested object is what makes openai-python and openai-node raise an APIError.
        assert_eq!(error["error"]["message"], "Overloaded");
        assert_eq!(error["error"]["type"], "server_error");

        // Failing before anything was sent still opens the stream properly.
        let mut enc = StreamEncoder::new(&ChatRequest::default());
        let mut out = Vec::new();
        enc.error(&ProviderError::new(429, "slow down"), &mut out);
        let parsed = parse_sse(&out, 4);
        check_events(&parsed);
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.failed",
                "error"
            ]
        );
        assert_eq!(
            parsed[2].1["response"]["error"]["code"],
            "rate_limit_exceeded"
        );
        assert_eq!(parsed[3].1["code"], "rate_limit_exceeded");
    }

    // --- errors ---------------------------------------------------------------------------

    #[test]
    fn error_bodies() {
        let body = |err: &ProviderError| json(std::str::from_utf8(&encode_error(err)).unwrap());
        assert_eq!(
            body(&ProviderError::new(400, "bad input")),
            serde_json::json!({"error": {"message": "bad input", "type": "invalid_request_error", "param": null, "code": null}})
        );
        let mut limited = ProviderError::new(429, "Rate limited");
        limited.code = Some("rate_limit_exceeded".into());
        assert_eq!(
            body(&limited),
            serde_json::json!({"error": {"message": "Rate limited", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
        );
        for (status, kind) in [
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "invalid_request_error"),
            (500, "server_error"),
            (503, "server_error"),
            (504, "server_error"),
        ] {
            assert_eq!(
                body(&ProviderError::new(status, "x"))["error"]["type"],
                kind
            );
        }
    }
}
