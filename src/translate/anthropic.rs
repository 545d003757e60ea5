//! Anthropic Messages API (`POST /v1/messages`): the format of callers on
//! `/anthropic/v1/messages` (the Anthropic SDKs, Claude Code and other coding agents) and the
//! provider format of Anthropic and of Claude on Vertex AI (same body; `providers/vertex.rs` moves
//! the model into the URL and adds `anthropic_version`).
//!
//! Requests sent to Anthropic (`encode_request`):
//! - `max_tokens` is required by Anthropic: the request's value, else [`DEFAULT_MAX_TOKENS`].
//! - Reasoning becomes `thinking: {type: "enabled", budget_tokens}`: an explicit budget is used as
//!   given (raised to Anthropic's minimum of [`MIN_THINKING_BUDGET`]; a budget of 0 means no
//!   thinking); an OpenAI-style effort alone is mapped by [`effort_budget`] (`none` → no thinking,
//!   `minimal` 1024, `low` 2048, `medium` 8192, `high` 16384, `xhigh`/`max` 32768, anything else
//!   8192); `include_thoughts` alone → 8192. The budget counts towards `max_tokens` and must stay
//!   below it, so when it does not, `max_tokens` becomes budget + `max_tokens` (the caller's room
//!   for the visible answer is kept).
//! - `response_format` `json_schema` → `output_config.format` (Anthropic structured outputs, GA on
//!   Claude 4.5 and later; older models answer 400, which reaches the caller: never a free-text
//!   answer in place of the schema). `json_object` is emulated faithfully with a tool named
//!   [`JSON_OBJECT_TOOL`] whose input is any object, forced with `tool_choice` (`any` when the
//!   caller also has tools); `decode_response` and `StreamDecoder` turn that tool's input back
//!   into answer text and its `tool_use` stop into `end_turn`.
//! - Tool results come first in their user turn (Anthropic requires it); consecutive turns of the
//!   same role are merged (Anthropic requires alternation).
//! - A conversation with tool calls or results but no tools gets placeholder tool definitions
//!   (named after the calls, schema `{"type":"object"}`) and `tool_choice: none`, because
//!   Anthropic refuses `tool_use`/`tool_result` blocks without tools.
//!
//! Dropped when encoding for Anthropic (context it cannot take, or soft sampling preferences):
//! - thinking parts without a signature (they came from another provider; Anthropic rejects
//!   unsigned thinking), and thinking parts in user turns;
//! - thinking parts of a final (prefill) assistant turn when thinking is off (Anthropic rejects
//!   them), and trailing whitespace of that turn's last text (likewise);
//! - empty or whitespace-only text parts and system strings (Anthropic rejects empty text blocks);
//! - `temperature` and `top_k` when thinking is on, and `top_p` below 0.95 then (Anthropic rejects
//!   them with thinking); `top_p` when `temperature` is also set (current Claude models accept only
//!   one of the two); `temperature` above 1 is lowered to 1 (Anthropic's range is 0–1);
//! - `presence_penalty`, `frequency_penalty` and `seed` (Anthropic has no equivalent; they tune
//!   sampling, they do not define what the answer must be);
//! - tools' `strict` flag (only some Claude models take it and those that do not reject the whole
//!   request; Claude follows tool schemas without it);
//! - thinking itself when `tool_choice` forces a tool (`required`, a named tool, or the JSON-mode
//!   emulation), because Anthropic refuses thinking with forced tool use and the forced tool is the
//!   caller's hard constraint; and when the turn being continued is an assistant tool call that
//!   does not start with a signed thinking block (Anthropic then requires one: this happens when
//!   the history came through a provider without Anthropic thinking);
//! - tool-call arguments that are not a JSON object are sent as `{}` (Anthropic needs an object).
//!
//! Refused by `decode_request` (callers in Anthropic format): document blocks, image `file`
//! sources, server tools (`type` such as `web_search_20250305`, `bash_20250124`,
//! `text_editor_20250124`), `mcp_servers`, and any content block type the canonical model lacks
//! (named in the error). Ignored: `cache_control`, `citations` settings, `service_tier`,
//! `container`, `context_management` and other fields without effect on the answer's content.
//!
//! Answers for Anthropic callers (`encode_response`, `StreamEncoder`): tool-call arguments that are
//! not a JSON object become `{}` in non-streamed answers (the caller's tool then reports missing
//! arguments to the model, instead of the whole turn failing); a stop reported as `end_turn` after
//! tool calls (Gemini does that) is sent as `tool_use`, because agents loop on it; thinking from
//! other providers is sent with an empty `signature`; `content_filter` becomes `refusal`.
//! Streamed usage: `message_start` carries the input tokens when already known, and
//! `message_delta.usage` always carries the final input, cache and output counts (OpenAI and
//! Gemini report input tokens only at the end; the SDKs take them from there).

use serde_json::{json, Map, Value};

use crate::translate::sse::{write_event, SseEvent, SseParser};
use crate::translate::{
    invalid, model::*, now_secs, str_field, unsupported, upstream, ErrorClass, ProviderError,
    StreamDecode, StreamEncode, TranslateError,
};

/// `max_tokens` sent to Anthropic when the request names none (Anthropic requires it): enough
/// for ordinary answers and within every current Claude model's output limit.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic's smallest accepted thinking budget; smaller budgets are raised to it.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// The tool that emulates JSON mode (`response_format: json_object`) on Anthropic. The name is
/// the gateway's own so that no caller tool is mistaken for it when answers are decoded.
pub const JSON_OBJECT_TOOL: &str = "shardgate_json_object";

/// The thinking budget used for an OpenAI-style reasoning effort (`None`: no thinking).
pub fn effort_budget(effort: &str) -> Option<u64> {
    match effort {
        "none" => None,
        "minimal" => Some(1024),
        "low" => Some(2048),
        "high" => Some(16384),
        "xhigh" | "max" => Some(32768),
        _ => Some(8192),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests from Anthropic-format callers
// ---------------------------------------------------------------------------------------------

/// Decodes an Anthropic Messages request (`max_tokens` required, as Anthropic requires it).
pub fn decode_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    decode_any_request(body, true)
}

/// Decodes a `/v1/messages/count_tokens` request: a Messages request without `max_tokens`.
pub fn decode_count_tokens_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    decode_any_request(body, false)
}

/// The body of a `count_tokens` answer.
pub fn encode_count_tokens_response(input_tokens: u64) -> Value {
    json!({ "input_tokens": input_tokens })
}

fn decode_any_request(body: &Value, need_max_tokens: bool) -> Result<ChatRequest, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("request body must be a JSON object"))?;
    let mut req = ChatRequest {
        model: match obj.get("model") {
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(invalid("model must be a string")),
            None => return Err(invalid("model: field required")),
        },
        ..ChatRequest::default()
    };

    req.max_tokens = opt_u64(obj, "max_tokens")?;
    if need_max_tokens && req.max_tokens.is_none() {
        return Err(invalid("max_tokens: field required"));
    }
    req.temperature = opt_f64(obj, "temperature")?;
    req.top_p = opt_f64(obj, "top_p")?;
    req.top_k = opt_u64(obj, "top_k")?;
    req.stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream must be a boolean")),
    };
    if let Some(stops) = non_null(obj, "stop_sequences") {
        let arr = stops
            .as_array()
            .ok_or_else(|| invalid("stop_sequences must be an array of strings"))?;
        for s in arr {
            let s = s
                .as_str()
                .ok_or_else(|| invalid("stop_sequences must be an array of strings"))?;
            req.stop.push(s.to_string());
        }
    }

    match non_null(obj, "system") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => req.system.push(s.clone()),
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                if str_field(b, "type") != Some("text") {
                    return Err(invalid(format!("system[{i}] must be a text block")));
                }
                let text = str_field(b, "text")
                    .ok_or_else(|| invalid(format!("system[{i}].text: field required")))?;
                if !text.is_empty() {
                    req.system.push(text.to_string());
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                "system must be a string or an array of text blocks",
            ))
        }
    }

    let messages = obj
        .get("messages")
        .ok_or_else(|| invalid("messages: field required"))?
        .as_array()
        .ok_or_else(|| invalid("messages must be an array"))?;
    for (i, m) in messages.iter().enumerate() {
        req.messages.push(decode_message(i, m)?);
    }

    if let Some(tools) = non_null(obj, "tools") {
        let tools = tools
            .as_array()
            .ok_or_else(|| invalid("tools must be an array"))?;
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(decode_tool(i, t)?);
        }
    }

    if let Some(tc) = non_null(obj, "tool_choice") {
        let ty =
            str_field(tc, "type").ok_or_else(|| invalid("tool_choice.type: field required"))?;
        req.tool_choice = Some(match ty {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Required,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Tool(
                str_field(tc, "name")
                    .ok_or_else(|| invalid("tool_choice.name: field required"))?
                    .to_string(),
            ),
            other => {
                return Err(invalid(format!(
                    "tool_choice.type: unknown value '{other}'"
                )))
            }
        });
        match tc.get("disable_parallel_tool_use") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(true)) => req.parallel_tool_calls = Some(false),
            Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(invalid(
                    "tool_choice.disable_parallel_tool_use must be a boolean",
                ))
            }
        }
    }

    let output_config = non_null(obj, "output_config");
    let effort = match output_config.and_then(|c| c.get("effort")) {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(e.clone()),
        Some(_) => return Err(invalid("output_config.effort must be a string")),
    };
    // `output_format` is the beta spelling that `output_config.format` replaced.
    let format = output_config
        .and_then(|c| non_null_value(c.get("format")))
        .or_else(|| non_null(obj, "output_format"));
    if let Some(format) = format {
        match str_field(format, "type") {
            Some("json_schema") => {
                let schema = format
                    .get("schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| invalid("output_config.format.schema must be an object"))?;
                req.response_format = ResponseFormat::JsonSchema {
                    // Anthropic schemas have no name; OpenAI requires one.
                    name: "response".to_string(),
                    schema: schema.clone(),
                    strict: true,
                };
            }
            _ => return Err(invalid("output_config.format.type must be \"json_schema\"")),
        }
    }

    req.reasoning = match non_null(obj, "thinking") {
        None => effort.map(|e| Reasoning {
            effort: Some(e),
            budget_tokens: None,
            include_thoughts: false,
        }),
        Some(t) => {
            let shown = str_field(t, "display") != Some("omitted");
            match str_field(t, "type") {
                Some("enabled") => Some(Reasoning {
                    effort,
                    budget_tokens: Some(
                        opt_u64_in(t, "budget_tokens", "thinking.budget_tokens")?
                            .ok_or_else(|| invalid("thinking.budget_tokens: field required"))?,
                    ),
                    include_thoughts: shown,
                }),
                Some("adaptive") => Some(Reasoning {
                    effort,
                    budget_tokens: None,
                    include_thoughts: shown,
                }),
                Some("disabled") => None,
                _ => {
                    return Err(invalid(
                        "thinking.type must be \"enabled\", \"adaptive\" or \"disabled\"",
                    ))
                }
            }
        }
    };

    if let Some(meta) = non_null(obj, "metadata") {
        match meta.get("user_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) => req.user = Some(u.clone()),
            Some(_) => return Err(invalid("metadata.user_id must be a string")),
        }
    }

    if non_null(obj, "mcp_servers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(unsupported("mcp_servers"));
    }
    Ok(req)
}

fn decode_message(i: usize, m: &Value) -> Result<Message, TranslateError> {
    let role = match str_field(m, "role") {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            return Err(invalid(format!(
                "messages[{i}].role must be \"user\" or \"assistant\""
            )))
        }
    };
    let parts = match m.get("content") {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                parts.push(decode_block(&format!("messages[{i}].content[{j}]"), b)?);
            }
            parts
        }
        Some(_) => {
            return Err(invalid(format!(
                "messages[{i}].content must be a string or an array of content blocks"
            )))
        }
        None => return Err(invalid(format!("messages[{i}].content: field required"))),
    };
    Ok(Message { role, parts })
}

fn decode_block(path: &str, b: &Value) -> Result<Part, TranslateError> {
    let ty = str_field(b, "type").ok_or_else(|| invalid(format!("{path}.type: field required")))?;
    let req_str = |key: &str| -> Result<String, TranslateError> {
        str_field(b, key)
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("{path}.{key}: field required (a string)")))
    };
    Ok(match ty {
        "text" => Part::Text(req_str("text")?),
        "image" => Part::Image(decode_image_source(path, b)?),
        "tool_use" => Part::ToolCall(ToolCall {
            id: req_str("id")?,
            name: req_str("name")?,
            arguments: match b.get("input") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(v @ Value::Object(_)) => v.to_string(),
                Some(_) => return Err(invalid(format!("{path}.input must be an object"))),
            },
        }),
        "tool_result" => {
            let content = match b.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) if s.is_empty() => Vec::new(),
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                Some(Value::Array(items)) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for (k, item) in items.iter().enumerate() {
                        let p = format!("{path}.content[{k}]");
                        match str_field(item, "type") {
                            Some("text") => parts.push(Part::Text(
                                str_field(item, "text")
                                    .ok_or_else(|| invalid(format!("{p}.text: field required")))?
                                    .to_string(),
                            )),
                            Some("image") => {
                                parts.push(Part::Image(decode_image_source(&p, item)?))
                            }
                            Some("document") => return Err(unsupported("document content blocks")),
                            Some(other) => {
                                return Err(unsupported(format!("{other} blocks in tool results")))
                            }
                            None => return Err(invalid(format!("{p}.type: field required"))),
                        }
                    }
                    parts
                }
                Some(_) => {
                    return Err(invalid(format!(
                        "{path}.content must be a string or an array of content blocks"
                    )))
                }
            };
            Part::ToolResult(ToolResult {
                call_id: req_str("tool_use_id")?,
                name: None,
                content,
                is_error: match b.get("is_error") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(e)) => *e,
                    Some(_) => return Err(invalid(format!("{path}.is_error must be a boolean"))),
                },
            })
        }
        "thinking" => Part::Thinking {
            text: str_field(b, "thinking").unwrap_or_default().to_string(),
            signature: str_field(b, "signature")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        "redacted_thinking" => Part::RedactedThinking {
            data: req_str("data")?,
        },
        "document" => return Err(unsupported("document content blocks")),
        other => return Err(unsupported(format!("{other} content blocks"))),
    })
}

fn decode_image_source(path: &str, b: &Value) -> Result<ImageSource, TranslateError> {
    let src = b
        .get("source")
        .ok_or_else(|| invalid(format!("{path}.source: field required")))?;
    match str_field(src, "type") {
        Some("base64") => Ok(ImageSource::Base64 {
            media_type: str_field(src, "media_type")
                .ok_or_else(|| invalid(format!("{path}.source.media_type: field required")))?
                .to_string(),
            data: str_field(src, "data")
                .ok_or_else(|| invalid(format!("{path}.source.data: field required")))?
                .to_string(),
        }),
        Some("url") => Ok(ImageSource::Url(
            str_field(src, "url")
                .ok_or_else(|| invalid(format!("{path}.source.url: field required")))?
                .to_string(),
        )),
        Some("file") => Err(unsupported("image file sources (Files API)")),
        _ => Err(invalid(format!(
            "{path}.source.type must be \"base64\" or \"url\""
        ))),
    }
}

fn decode_tool(i: usize, t: &Value) -> Result<Tool, TranslateError> {
    if let Some(ty) = str_field(t, "type") {
        if ty != "custom" {
            return Err(unsupported(format!("tool type {ty}")));
        }
    }
    let name = str_field(t, "name")
        .ok_or_else(|| invalid(format!("tools[{i}].name: field required")))?
        .to_string();
    let parameters = t
        .get("input_schema")
        .filter(|s| s.is_object())
        .cloned()
        .ok_or_else(|| {
            invalid(format!(
                "tools[{i}].input_schema: field required (an object)"
            ))
        })?;
    Ok(Tool {
        name,
        description: str_field(t, "description").map(str::to_string),
        parameters,
        strict: t.get("strict").and_then(Value::as_bool),
    })
}

fn non_null<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    non_null_value(obj.get(key))
}

fn non_null_value(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, TranslateError> {
    as_opt_u64(obj.get(key), key)
}

fn opt_u64_in(v: &Value, key: &str, name: &str) -> Result<Option<u64>, TranslateError> {
    as_opt_u64(v.get(key), name)
}

fn as_opt_u64(v: Option<&Value>, name: &str) -> Result<Option<u64>, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            if let Some(n) = v.as_u64() {
                return Ok(Some(n));
            }
            // Some clients serialise integers as `100.0`.
            match v.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(Some(f as u64)),
                _ => Err(invalid(format!("{name} must be a non-negative integer"))),
            }
        }
    }
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, TranslateError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a number"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests to Anthropic
// ---------------------------------------------------------------------------------------------

/// Encodes a request for Anthropic's Messages API (also Claude on Vertex, after the provider
/// moves the model into the URL). See the module header for what is mapped, dropped or refused.
pub fn encode_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    let mut turns = encode_turns(&req.messages);

    // Tools and tool_choice, with the JSON-mode emulation folded in.
    let mut tools: Vec<Value> = req.tools.iter().map(encode_tool).collect();
    let mut choice: Option<Value> = None;
    let forced_caller_tool =
        !req.tools.is_empty() && matches!(req.tool_choice, Some(ToolChoice::Tool(_)));
    let emulate_json = req.response_format == ResponseFormat::JsonObject && !forced_caller_tool;
    if emulate_json {
        tools.push(json!({
            "name": JSON_OBJECT_TOOL,
            "description": "Give your complete answer as the input of this tool: one JSON object.",
            "input_schema": {"type": "object"},
        }));
        let caller_may_call = !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None);
        choice = Some(if caller_may_call {
            json!({"type": "any"})
        } else {
            json!({"type": "tool", "name": JSON_OBJECT_TOOL, "disable_parallel_tool_use": true})
        });
    } else if !req.tools.is_empty() {
        choice = req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        });
    }
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    if tools.is_empty() {
        let names = history_tool_names(&turns);
        if let Some(names) = names {
            for name in names {
                tools.push(json!({"name": name, "input_schema": {"type": "object"}}));
            }
            choice = Some(json!({"type": "none"}));
        }
    }
    let forced = choice
        .as_ref()
        .is_some_and(|c| c["type"] == "any" || c["type"] == "tool");

    let mut budget = thinking_budget(req);
    if forced || !continued_turn_allows_thinking(&turns) {
        budget = None;
    }
    finish_final_assistant_turn(&mut turns, budget.is_some());

    let mut body = Map::new();
    body.insert("model".into(), Value::String(req.model.clone()));
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget {
        if b >= max_tokens {
            max_tokens = b.saturating_add(max_tokens);
        }
    }
    body.insert("max_tokens".into(), json!(max_tokens));

    let system: Vec<&String> = req.system.iter().filter(|s| !s.trim().is_empty()).collect();
    match system.as_slice() {
        [] => {}
        [one] => {
            body.insert("system".into(), Value::String((*one).clone()));
        }
        many => {
            let blocks = many
                .iter()
                .map(|s| json!({"type": "text", "text": s}))
                .collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }

    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            let content = if blocks.len() == 1 && blocks[0]["type"] == "text" {
                blocks.swap_remove(0)["text"].take()
            } else {
                Value::Array(blocks)
            };
            json!({"role": role, "content": content})
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));

    if let Some(b) = budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
        if let Some(p) = req.top_p.filter(|p| *p >= 0.95) {
            body.insert("top_p".into(), json!(p));
        }
    } else {
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        } else if let Some(p) = req.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(k) = req.top_k {
            body.insert("top_k".into(), json!(k));
        }
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = choice {
        body.insert("tool_choice".into(), c);
    }
    if let ResponseFormat::JsonSchema { schema, .. } = &req.response_format {
        body.insert(
            "output_config".into(),
            json!({"format": {"type": "json_schema", "schema": schema}}),
        );
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({ "user_id": user }));
    }
    Ok(Value::Object(body))
}

/// Encodes a `/v1/messages/count_tokens` request: the Messages body without the fields that
/// endpoint does not take.
pub fn encode_count_tokens_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    let mut body = encode_request(req)?;
    if let Some(obj) = body.as_object_mut() {
        obj.retain(|k, _| {
            matches!(
                k.as_str(),
                "model" | "system" | "messages" | "tools" | "tool_choice" | "thinking"
            )
        });
    }
    Ok(body)
}

fn thinking_budget(req: &ChatRequest) -> Option<u64> {
    let r = req.reasoning.as_ref()?;
    let budget = match (r.budget_tokens, r.effort.as_deref()) {
        (Some(0), _) => return None,
        (Some(b), _) => b,
        (None, Some(e)) => effort_budget(e)?,
        (None, None) if r.include_thoughts => effort_budget("medium")?,
        (None, None) => return None,
    };
    Some(budget.max(MIN_THINKING_BUDGET))
}

/// The conversation as Anthropic turns: alternating roles, blocks Anthropic accepts, tool results
/// first in their turn.
fn encode_turns(messages: &[Message]) -> Vec<(Role, Vec<Value>)> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::with_capacity(messages.len());
    for m in messages {
        let mut blocks = Vec::with_capacity(m.parts.len());
        for p in &m.parts {
            if let Some(b) = encode_part(m.role, p) {
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
    for (role, blocks) in &mut turns {
        if *role == Role::User && blocks.iter().any(|b| b["type"] == "tool_result") {
            let (mut results, rest): (Vec<Value>, Vec<Value>) =
                blocks.drain(..).partition(|b| b["type"] == "tool_result");
            results.extend(rest);
            *blocks = results;
        }
    }
    turns
}

fn encode_part(role: Role, p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) if t.trim().is_empty() => return None,
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(src) => json!({"type": "image", "source": encode_image_source(src)}),
        Part::ToolCall(c) => json!({
            "type": "tool_use",
            "id": c.id,
            "name": c.name,
            "input": arguments_object(&c.arguments),
        }),
        Part::ToolResult(r) => {
            let mut block = json!({"type": "tool_result", "tool_use_id": r.call_id});
            let mut content: Vec<Value> = Vec::with_capacity(r.content.len());
            for part in &r.content {
                match part {
                    Part::Text(t) if !t.trim().is_empty() => {
                        content.push(json!({"type": "text", "text": t}))
                    }
                    Part::Image(src) => {
                        content.push(json!({"type": "image", "source": encode_image_source(src)}))
                    }
                    _ => {}
                }
            }
            if content.len() == 1 && content[0]["type"] == "text" {
                block["content"] = content.swap_remove(0)["text"].take();
            } else if !content.is_empty() {
                block["content"] = Value::Array(content);
            }
            if r.is_error {
                block["is_error"] = Value::Bool(true);
            }
            block
        }
        Part::Thinking { text, signature } => match signature {
            Some(sig) if role == Role::Assistant && !sig.is_empty() => {
                json!({"type": "thinking", "thinking": text, "signature": sig})
            }
            _ => return None,
        },
        Part::RedactedThinking { data } if role == Role::Assistant => {
            json!({"type": "redacted_thinking", "data": data})
        }
        Part::RedactedThinking { .. } => return None,
    })
}

fn encode_image_source(src: &ImageSource) -> Value {
    match src {
        ImageSource::Url(url) => match parse_data_url(url) {
            Some((media_type, data)) => {
                json!({"type": "base64", "media_type": media_type, "data": data})
            }
            None => json!({"type": "url", "url": url}),
        },
        ImageSource::Base64 { media_type, data } => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
    }
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// Tool-call arguments as the JSON object Anthropic requires (`{}` when they are not one).
fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

fn encode_tool(t: &Tool) -> Value {
    let mut schema = match &t.parameters {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    // Anthropic requires an object schema with its `type`; OpenAI tools may omit it.
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    let mut tool = json!({"name": t.name, "input_schema": schema});
    if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
        tool["description"] = Value::String(d.to_string());
    }
    tool
}

/// The tool names the conversation uses, when it has tool blocks (`None` when it has none).
fn history_tool_names(turns: &[(Role, Vec<Value>)]) -> Option<Vec<String>> {
    let mut any = false;
    let mut names: Vec<String> = Vec::new();
    for b in turns.iter().flat_map(|(_, blocks)| blocks) {
        match b["type"].as_str() {
            Some("tool_use") => {
                any = true;
                if let Some(n) = b["name"].as_str() {
                    if !names.iter().any(|x| x == n) {
                        names.push(n.to_string());
                    }
                }
            }
            Some("tool_result") => any = true,
            _ => {}
        }
    }
    if !any {
        return None;
    }
    if names.is_empty() {
        names.push("tool".to_string());
    }
    Some(names)
}

/// Anthropic requires, with thinking on, that the assistant turn whose tool calls are being
/// answered starts with a thinking block.
fn continued_turn_allows_thinking(turns: &[(Role, Vec<Value>)]) -> bool {
    let answering_tools = matches!(
        turns.last(),
        Some((Role::User, blocks)) if blocks.iter().any(|b| b["type"] == "tool_result")
    );
    if !answering_tools {
        return true;
    }
    match turns.iter().rev().find(|(r, _)| *r == Role::Assistant) {
        Some((_, blocks)) => matches!(
            blocks.first().and_then(|b| b["type"].as_str()),
            Some("thinking" | "redacted_thinking")
        ),
        None => true,
    }
}

/// A final assistant turn is a prefill: Anthropic rejects trailing whitespace there, and thinking
/// blocks when thinking is off.
fn finish_final_assistant_turn(turns: &mut Vec<(Role, Vec<Value>)>, thinking: bool) {
    let Some((Role::Assistant, blocks)) = turns.last_mut() else {
        return;
    };
    if !thinking {
        blocks.retain(|b| b["type"] != "thinking" && b["type"] != "redacted_thinking");
    }
    if let Some(last) = blocks.last_mut() {
        if last["type"] == "text" {
            let trimmed = last["text"]
                .as_str()
                .unwrap_or_default()
                .trim_end()
                .to_string();
            if trimmed.is_empty() {
                blocks.pop();
            } else {
                last["text"] = Value::String(trimmed);
            }
        }
    }
    if blocks.is_empty() {
        turns.pop();
    }
}

// ---------------------------------------------------------------------------------------------
// Complete answers
// ---------------------------------------------------------------------------------------------

/// Anthropic's usage fields: `input_tokens` excludes cached tokens, unlike the canonical count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct WireUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    /// `output_tokens_details.thinking_tokens` (a part of `output`).
    thinking: u64,
}

impl WireUsage {
    /// Overwrites the fields `v` carries (streams send them in two events).
    fn merge(&mut self, v: &Value) {
        let get = |k: &str| v.get(k).and_then(Value::as_u64);
        if let Some(n) = get("input_tokens") {
            self.input = n;
        }
        if let Some(n) = get("output_tokens") {
            self.output = n;
        }
        if let Some(n) = get("cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = get("cache_creation_input_tokens") {
            self.cache_creation = n;
        }
        if let Some(n) = v
            .pointer("/output_tokens_details/thinking_tokens")
            .and_then(Value::as_u64)
        {
            self.thinking = n;
        }
    }

    fn canonical(self) -> Usage {
        Usage {
            input_tokens: self
                .input
                .saturating_add(self.cache_read)
                .saturating_add(self.cache_creation),
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
            cache_creation_input_tokens: self.cache_creation,
            reasoning_tokens: self.thinking,
        }
    }

    fn from_canonical(u: &Usage) -> WireUsage {
        WireUsage {
            input: u
                .input_tokens
                .saturating_sub(u.cached_input_tokens)
                .saturating_sub(u.cache_creation_input_tokens),
            output: u.output_tokens,
            cache_read: u.cached_input_tokens,
            cache_creation: u.cache_creation_input_tokens,
            thinking: u.reasoning_tokens,
        }
    }

    fn to_json(self) -> Value {
        let mut v = json!({
            "input_tokens": self.input,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
        });
        if self.thinking > 0 {
            v["output_tokens_details"] = json!({ "thinking_tokens": self.thinking });
        }
        v
    }
}

fn decode_stop(reason: Option<&str>, sequence: Option<&str>) -> StopReason {
    match reason {
        None | Some("end_turn") => StopReason::EndTurn,
        Some("max_tokens") | Some("model_context_window_exceeded") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence(sequence.map(str::to_string)),
        Some("tool_use") => StopReason::ToolUse,
        Some("refusal") => StopReason::Refusal,
        Some(other) => StopReason::Other(other.to_string()),
    }
}

/// The `stop_reason` and `stop_sequence` for an Anthropic caller.
fn encode_stop(stop: &StopReason, called_tools: bool) -> (&str, Value) {
    match stop {
        StopReason::EndTurn if called_tools => ("tool_use", Value::Null),
        StopReason::EndTurn => ("end_turn", Value::Null),
        StopReason::MaxTokens => ("max_tokens", Value::Null),
        StopReason::StopSequence(s) => (
            "stop_sequence",
            s.as_ref().map_or(Value::Null, |s| Value::String(s.clone())),
        ),
        StopReason::ToolUse => ("tool_use", Value::Null),
        StopReason::ContentFilter | StopReason::Refusal => ("refusal", Value::Null),
        StopReason::Other(o) if o == "pause_turn" => ("pause_turn", Value::Null),
        StopReason::Other(_) if called_tools => ("tool_use", Value::Null),
        StopReason::Other(_) => ("end_turn", Value::Null),
    }
}

/// Decodes an Anthropic Messages answer.
pub fn decode_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    if str_field(body, "type") == Some("error") {
        let msg = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("error without a message");
        return Err(upstream(format!("Anthropic answered with an error: {msg}")));
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("message without a content array"))?;
    let mut parts = Vec::with_capacity(content.len());
    let mut real_tool_calls = false;
    let mut json_mode = false;
    for b in content {
        match str_field(b, "type") {
            Some("text") => {
                let t = str_field(b, "text").unwrap_or_default();
                if !t.is_empty() {
                    parts.push(Part::Text(t.to_string()));
                }
            }
            Some("thinking") => parts.push(Part::Thinking {
                text: str_field(b, "thinking").unwrap_or_default().to_string(),
                signature: str_field(b, "signature")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            }),
            Some("redacted_thinking") => parts.push(Part::RedactedThinking {
                data: str_field(b, "data").unwrap_or_default().to_string(),
            }),
            Some("tool_use") => {
                let name = str_field(b, "name").unwrap_or_default();
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                if name == JSON_OBJECT_TOOL {
                    json_mode = true;
                    parts.push(Part::Text(input.to_string()));
                } else {
                    real_tool_calls = true;
                    parts.push(Part::ToolCall(ToolCall {
                        id: str_field(b, "id").unwrap_or_default().to_string(),
                        name: name.to_string(),
                        arguments: input.to_string(),
                    }));
                }
            }
            // Server-tool blocks cannot occur: requests with server tools are refused.
            _ => {}
        }
    }
    let mut stop = decode_stop(
        str_field(body, "stop_reason"),
        str_field(body, "stop_sequence"),
    );
    if json_mode && !real_tool_calls && stop == StopReason::ToolUse {
        stop = StopReason::EndTurn;
    }
    let mut usage = WireUsage::default();
    if let Some(u) = body.get("usage") {
        usage.merge(u);
    }
    Ok(ChatResponse {
        id: str_field(body, "id").unwrap_or_default().to_string(),
        model: str_field(body, "model").unwrap_or_default().to_string(),
        created: now_secs(),
        parts,
        stop,
        usage: usage.canonical(),
    })
}

/// Encodes an answer as an Anthropic Messages `message` object.
pub fn encode_response(resp: &ChatResponse) -> Value {
    let stamp = unique_stamp();
    let mut content = Vec::with_capacity(resp.parts.len());
    let mut called_tools = false;
    for p in &resp.parts {
        match p {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => content.push(json!({"type": "text", "text": t})),
            Part::Thinking { text, signature } => content.push(json!({
                "type": "thinking",
                "thinking": text,
                "signature": signature.as_deref().unwrap_or_default(),
            })),
            Part::RedactedThinking { data } => {
                content.push(json!({"type": "redacted_thinking", "data": data}))
            }
            Part::ToolCall(c) => {
                called_tools = true;
                content.push(json!({
                    "type": "tool_use",
                    "id": tool_use_id(&c.id, stamp, content.len()),
                    "name": c.name,
                    "input": arguments_object(&c.arguments),
                }));
            }
            // Images and tool results are not part of answers.
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let (stop_reason, stop_sequence) = encode_stop(&resp.stop, called_tools);
    json!({
        "id": message_id(&resp.id, stamp),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": WireUsage::from_canonical(&resp.usage).to_json(),
    })
}

/// A value that differs between answers, for ids the upstream did not give: agents key their
/// state on message and tool-use ids, so made-up ids must not repeat across turns.
fn unique_stamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn message_id(id: &str, stamp: u128) -> String {
    if id.is_empty() {
        format!("msg_{stamp:x}")
    } else {
        id.to_string()
    }
}

fn tool_use_id(id: &str, stamp: u128, n: usize) -> String {
    if id.is_empty() {
        format!("toolu_{stamp:x}_{n}")
    } else {
        id.to_string()
    }
}

/// Writes a `ping` event: the SDKs skip it wherever it comes, so it can keep a caller's
/// connection alive while the upstream is silent (a reasoning model thinking).
pub fn write_ping(out: &mut Vec<u8>) {
    write_event("ping", br#"{"type":"ping"}"#, out);
}

// ---------------------------------------------------------------------------------------------
// Streams from Anthropic
// ---------------------------------------------------------------------------------------------

/// What a content block of an Anthropic stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
    /// A tool call, with its canonical index.
    Tool(u32),
    /// The JSON-mode emulation tool, whose input is answer text.
    JsonText,
    /// A block the canonical model has no place for (server tools); skipped.
    Other,
}

/// Decodes Anthropic's event stream (`message_start` … `message_stop`). An `error` event ends
/// decoding with `TranslateError::Upstream("<type>: <message>")`; [`StreamDecoder::take_error`]
/// then gives it as a `ProviderError` (class from its type, e.g. `overloaded_error`) for callers
/// that want to report or retry it precisely. A stream that ends after its final `message_delta`
/// but without `message_stop` is accepted (the answer is complete); one that ends earlier is an
/// error.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    sse: SseParser,
    pending: Vec<SseEvent>,
    started: bool,
    complete: bool,
    failed: bool,
    /// (Anthropic block index, its kind), in order of appearance.
    blocks: Vec<(u64, BlockKind)>,
    tool_calls: u32,
    json_mode: bool,
    usage: WireUsage,
    error: Option<ProviderError>,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider's `error` event, if the stream carried one.
    pub fn take_error(&mut self) -> Option<ProviderError> {
        self.error.take()
    }

    fn block(&self, index: u64) -> BlockKind {
        self.blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map_or(BlockKind::Other, |(_, k)| *k)
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
    }

    fn handle(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| upstream(format!("stream event is not JSON: {e}")))?;
        let ty = str_field(&v, "type").unwrap_or(ev.event.as_str());
        match ty {
            "message_start" => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                if !self.started {
                    self.started = true;
                    out.push(StreamEvent::Start {
                        id: str_field(msg, "id").unwrap_or_default().to_string(),
                        model: str_field(msg, "model").unwrap_or_default().to_string(),
                    });
                }
                if let Some(u) = msg.get("usage") {
                    self.usage.merge(u);
                    // Reported now so that an answer cut short still has its input counted.
                    if self.usage != WireUsage::default() {
                        out.push(StreamEvent::Usage(self.usage.canonical()));
                    }
                }
            }
            "content_block_start" => {
                self.ensure_started(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let kind = match str_field(block, "type") {
                    Some("text") => {
                        let t = str_field(block, "text").unwrap_or_default();
                        if !t.is_empty() {
                            out.push(StreamEvent::TextDelta(t.to_string()));
                        }
                        BlockKind::Text
                    }
                    Some("thinking") => {
                        let t = str_field(block, "thinking").unwrap_or_default();
                        if !t.is_empty() {
                            out.push(StreamEvent::ThinkingDelta(t.to_string()));
                        }
                        if let Some(sig) = str_field(block, "signature").filter(|s| !s.is_empty()) {
                            out.push(StreamEvent::ThinkingSignature(sig.to_string()));
                        }
                        BlockKind::Thinking
                    }
                    Some("redacted_thinking") => {
                        out.push(StreamEvent::RedactedThinking(
                            str_field(block, "data").unwrap_or_default().to_string(),
                        ));
                        BlockKind::Other
                    }
                    Some("tool_use") => {
                        let name = str_field(block, "name").unwrap_or_default();
                        // Anthropic starts with `input: {}` and streams the input as deltas;
                        // a server that sends it whole at the start is taken as well.
                        let initial = block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                            .map(Value::to_string);
                        if name == JSON_OBJECT_TOOL {
                            self.json_mode = true;
                            if let Some(text) = initial {
                                out.push(StreamEvent::TextDelta(text));
                            }
                            BlockKind::JsonText
                        } else {
                            let index = self.tool_calls;
                            self.tool_calls += 1;
                            out.push(StreamEvent::ToolCallStart {
                                index,
                                id: str_field(block, "id").unwrap_or_default().to_string(),
                                name: name.to_string(),
                            });
                            if let Some(arguments) = initial {
                                out.push(StreamEvent::ToolCallDelta { index, arguments });
                            }
                            BlockKind::Tool(index)
                        }
                    }
                    _ => BlockKind::Other,
                };
                self.blocks.push((index, kind));
            }
            "content_block_delta" => {
                self.ensure_started(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = v.get("delta").unwrap_or(&Value::Null);
                let kind = self.block(index);
                match (str_field(delta, "type"), kind) {
                    (Some("text_delta"), _) => {
                        if let Some(t) = str_field(delta, "text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta(t.to_string()));
                        }
                    }
                    (Some("thinking_delta"), _) => {
                        if let Some(t) = str_field(delta, "thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::ThinkingDelta(t.to_string()));
                        }
                    }
                    (Some("signature_delta"), _) => {
                        if let Some(s) = str_field(delta, "signature").filter(|s| !s.is_empty()) {
                            out.push(StreamEvent::ThinkingSignature(s.to_string()));
                        }
                    }
                    (Some("input_json_delta"), BlockKind::Tool(index)) => {
                        if let Some(p) = str_field(delta, "partial_json").filter(|p| !p.is_empty())
                        {
                            out.push(StreamEvent::ToolCallDelta {
                                index,
                                arguments: p.to_string(),
                            });
                        }
                    }
                    (Some("input_json_delta"), BlockKind::JsonText) => {
                        if let Some(p) = str_field(delta, "partial_json").filter(|p| !p.is_empty())
                        {
                            out.push(StreamEvent::TextDelta(p.to_string()));
                        }
                    }
                    // Citations, server-tool input and unknown deltas have no canonical place.
                    _ => {}
                }
            }
            "content_block_stop" | "ping" => {}
            "message_delta" => {
                self.ensure_started(out);
                let delta = v.get("delta").unwrap_or(&Value::Null);
                if let Some(reason) = str_field(delta, "stop_reason") {
                    let mut stop = decode_stop(Some(reason), str_field(delta, "stop_sequence"));
                    if self.json_mode && self.tool_calls == 0 && stop == StopReason::ToolUse {
                        stop = StopReason::EndTurn;
                    }
                    out.push(StreamEvent::Finish(stop));
                    self.complete = true;
                }
                if let Some(u) = v.get("usage") {
                    self.usage.merge(u);
                    out.push(StreamEvent::Usage(self.usage.canonical()));
                }
            }
            "message_stop" => {
                self.ensure_started(out);
                self.complete = true;
            }
            "error" => {
                let err = v.get("error").unwrap_or(&Value::Null);
                let kind = str_field(err, "type").unwrap_or("api_error");
                let message = str_field(err, "message")
                    .unwrap_or("stream error")
                    .to_string();
                let status = status_for_error_type(kind).unwrap_or(500);
                self.error = Some(ProviderError {
                    status,
                    class: class_for_error_type(kind).unwrap_or(ErrorClass::from_status(status)),
                    message: message.clone(),
                    code: Some(kind.to_string()),
                });
                self.failed = true;
                return Err(upstream(format!("{kind}: {message}")));
            }
            // Event types added after this was written are skipped, as the SDKs do.
            _ => {}
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let pending = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for ev in &pending {
            if self.failed {
                break;
            }
            if let Err(e) = self.handle(ev, out) {
                result = Err(e);
                break;
            }
        }
        self.pending = pending;
        self.pending.clear();
        result
    }
}

impl StreamDecode for StreamDecoder {
    fn take_error(&mut self) -> Option<ProviderError> {
        StreamDecoder::take_error(self)
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.failed {
            return Err(upstream("stream already failed"));
        }
        self.sse.feed(bytes, &mut self.pending).map_err(upstream)?;
        self.drain(out)
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.failed {
            return Err(upstream("stream already failed"));
        }
        self.sse.end(&mut self.pending);
        self.drain(out)?;
        if !self.started {
            return Err(upstream("stream ended before message_start"));
        }
        if !self.complete {
            return Err(upstream("stream ended before message_stop"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Streams to Anthropic-format callers
// ---------------------------------------------------------------------------------------------

/// The block a `StreamEncoder` has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// A thinking block; `signed` once its signature went out (more thinking opens a new block).
    Thinking {
        signed: bool,
    },
    /// A tool call: its canonical index.
    Tool(u32),
}

/// Writes the event stream the Anthropic SDKs expect: `message_start`; per block
/// `content_block_start`, its deltas and `content_block_stop`, with indexes from 0 and a new
/// block whenever the kind changes (a thinking block gets its `signature_delta` before its
/// stop); then `message_delta` (stop reason and the final usage) and `message_stop`.
/// `message_start` is written with the first content (or at the end), so that input tokens
/// reported right after the start are in it. Tool-call pieces are expected one call after
/// another (every known provider streams them so); a piece for a call whose block is already
/// closed is still written with that block's index rather than lost.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    started: bool,
    ended: bool,
    open: Option<Open>,
    open_index: u32,
    next_index: u32,
    /// (canonical tool-call index, block index).
    tool_blocks: Vec<(u32, u32)>,
    usage: Usage,
    stop: Option<StopReason>,
    /// Makes up ids the upstream did not give.
    stamp: u128,
}

impl StreamEncoder {
    /// An encoder for an answer to `req` (its model names the answer until the stream does).
    pub fn new(req: &ChatRequest) -> Self {
        StreamEncoder {
            id: String::new(),
            model: req.model.clone(),
            started: false,
            ended: false,
            open: None,
            open_index: 0,
            next_index: 0,
            tool_blocks: Vec::new(),
            usage: Usage::default(),
            stop: None,
            stamp: unique_stamp(),
        }
    }

    fn write(name: &str, data: &Value, out: &mut Vec<u8>) {
        let json = serde_json::to_vec(data).unwrap_or_default();
        write_event(name, &json, out);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let msg = json!({
            "type": "message_start",
            "message": {
                "id": message_id(&self.id, self.stamp),
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": WireUsage::from_canonical(&self.usage).to_json(),
            }
        });
        Self::write("message_start", &msg, out);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            Self::write(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.open_index}),
                out,
            );
        }
    }

    fn open_block(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) {
        self.close(out);
        self.open = Some(kind);
        self.open_index = self.next_index;
        self.next_index += 1;
        Self::write(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.open_index, "content_block": block}),
            out,
        );
    }

    fn delta(index: u32, delta: Value, out: &mut Vec<u8>) {
        Self::write(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
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
            }
            StreamEvent::Usage(u) => self.merge_usage(u),
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
            StreamEvent::TextDelta(t) => {
                if t.is_empty() {
                    return;
                }
                self.ensure_started(out);
                if self.open != Some(Open::Text) {
                    self.open_block(Open::Text, json!({"type": "text", "text": ""}), out);
                }
                Self::delta(
                    self.open_index,
                    json!({"type": "text_delta", "text": t}),
                    out,
                );
            }
            StreamEvent::ThinkingDelta(t) => {
                if t.is_empty() {
                    return;
                }
                self.ensure_started(out);
                if self.open != Some(Open::Thinking { signed: false }) {
                    self.open_block(
                        Open::Thinking { signed: false },
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                        out,
                    );
                }
                Self::delta(
                    self.open_index,
                    json!({"type": "thinking_delta", "thinking": t}),
                    out,
                );
            }
            StreamEvent::ThinkingSignature(sig) => {
                if sig.is_empty() {
                    return;
                }
                self.ensure_started(out);
                // A signature without thinking text before it (Gemini signs function calls)
                // gets a block of its own so that it comes back on the next turn.
                if self.open != Some(Open::Thinking { signed: false }) {
                    self.open_block(
                        Open::Thinking { signed: false },
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                        out,
                    );
                }
                Self::delta(
                    self.open_index,
                    json!({"type": "signature_delta", "signature": sig}),
                    out,
                );
                self.open = Some(Open::Thinking { signed: true });
            }
            StreamEvent::RedactedThinking(data) => {
                self.ensure_started(out);
                self.close(out);
                self.open_block(
                    Open::Text,
                    json!({"type": "redacted_thinking", "data": data}),
                    out,
                );
                self.close(out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                if self.tool_blocks.iter().any(|(i, _)| i == index) {
                    return;
                }
                self.ensure_started(out);
                let id = tool_use_id(id, self.stamp, *index as usize);
                self.open_block(
                    Open::Tool(*index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
                self.tool_blocks.push((*index, self.open_index));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if arguments.is_empty() {
                    return;
                }
                let block = if self.open == Some(Open::Tool(*index)) {
                    Some(self.open_index)
                } else {
                    self.tool_blocks
                        .iter()
                        .find(|(i, _)| i == index)
                        .map(|(_, b)| *b)
                };
                // A piece of a call that never started cannot be placed.
                if let Some(block) = block {
                    Self::delta(
                        block,
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                        out,
                    );
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ensure_started(out);
        self.close(out);
        self.ended = true;
        let stop = self.stop.clone().unwrap_or_default();
        let (stop_reason, stop_sequence) = encode_stop(&stop, !self.tool_blocks.is_empty());
        Self::write(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": WireUsage::from_canonical(&self.usage).to_json(),
            }),
            out,
        );
        Self::write("message_stop", &json!({"type": "message_stop"}), out);
    }

    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        Self::write("error", &error_body(err), out);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn class_for_error_type(kind: &str) -> Option<ErrorClass> {
    Some(match kind {
        "invalid_request_error" => ErrorClass::InvalidRequest,
        "authentication_error" => ErrorClass::Authentication,
        "permission_error" => ErrorClass::PermissionDenied,
        "not_found_error" => ErrorClass::NotFound,
        "request_too_large" => ErrorClass::TooLarge,
        // Out of credit is a quota problem, like OpenAI's `insufficient_quota`.
        "rate_limit_error" | "billing_error" => ErrorClass::RateLimited,
        "overloaded_error" => ErrorClass::Overloaded,
        "timeout_error" => ErrorClass::Timeout,
        "api_error" => ErrorClass::Server,
        _ => return None,
    })
}

fn status_for_error_type(kind: &str) -> Option<u16> {
    Some(match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => return None,
    })
}

fn error_type(err: &ProviderError) -> &'static str {
    if err.status == 402 {
        return "billing_error";
    }
    match err.class {
        ErrorClass::InvalidRequest => "invalid_request_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::PermissionDenied => "permission_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::TooLarge => "request_too_large",
        ErrorClass::RateLimited => "rate_limit_error",
        ErrorClass::Overloaded => "overloaded_error",
        ErrorClass::Timeout => "timeout_error",
        ErrorClass::Server => "api_error",
    }
}

fn error_body(err: &ProviderError) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(err), "message": err.message},
    })
}

/// Reads an error answer from Anthropic (`{"type":"error","error":{"type","message"}}`) or from
/// Vertex in front of it (Google's `{"error":{"code","message","status"}}`, possibly in an array).
/// The status is kept as given; the class comes from Anthropic's error type when there is one.
pub fn decode_error(status: u16, body: &[u8]) -> ProviderError {
    let mut err = ProviderError::new(status, String::new());
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let v = match parsed {
        Some(Value::Array(mut items)) if !items.is_empty() => Some(items.swap_remove(0)),
        other => other,
    };
    let inner = v.as_ref().and_then(|v| v.get("error"));
    if let Some(inner) = inner {
        if let Some(msg) = str_field(inner, "message") {
            err.message = msg.to_string();
        }
        if let Some(kind) = str_field(inner, "type") {
            if let Some(class) = class_for_error_type(kind) {
                err.class = class;
            }
            err.code = Some(kind.to_string());
        } else if let Some(s) = str_field(inner, "status") {
            err.code = Some(s.to_string());
        }
    }
    if err.message.is_empty() {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        err.message = if text.is_empty() {
            format!("HTTP {status} from the provider")
        } else {
            let mut end = text.len().min(2000);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_string()
        };
    }
    err
}

/// Writes an error in Anthropic's shape; the type follows the class (402 → `billing_error`).
pub fn encode_error(err: &ProviderError) -> Vec<u8> {
    serde_json::to_vec(&error_body(err)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    const TEXT_REQUEST: &str =
        include_str!("../../tests/fixtures/translate/anthropic/text.request.json");
    const TOOL_REQUEST: &str =
        include_str!("../../tests/fixtures/translate/anthropic/tool.request.json");
    const IMAGE_REQUEST: &str =
        include_str!("../../tests/fixtures/translate/anthropic/image.request.json");
    const JSON_SCHEMA_REQUEST: &str =
        include_str!("../../tests/fixtures/translate/anthropic/json_schema.request.json");
    const THINKING_REQUEST: &str =
        include_str!("../../tests/fixtures/translate/anthropic/thinking.request.json");
    const TEXT_RESPONSE: &str =
        include_str!("../../tests/fixtures/translate/anthropic/text.response.json");
    const TOOL_RESPONSE: &str =
        include_str!("../../tests/fixtures/translate/anthropic/tool.response.json");
    const TEXT_STREAM: &str =
        include_str!("../../tests/fixtures/translate/anthropic/text.stream.sse");
    const TOOL_STREAM: &str =
        include_str!("../../tests/fixtures/translate/anthropic/tool.stream.sse");
    const API_STREAM: &str =
        include_str!("../../tests/fixtures/translate/anthropic/thinking_tool.api.sse");

    fn json_schema_as_decoded() -> ChatRequest {
        // Anthropic schemas carry no name: the decoder names them "response".
        let mut r = fixtures::json_schema_request();
        if let ResponseFormat::JsonSchema { name, .. } = &mut r.response_format {
            *name = "response".into();
        }
        r
    }

    #[test]
    fn golden_requests_decode() {
        let cases = [
            (TEXT_REQUEST, fixtures::text_request()),
            (TOOL_REQUEST, fixtures::tool_request()),
            (IMAGE_REQUEST, fixtures::image_request()),
            (JSON_SCHEMA_REQUEST, json_schema_as_decoded()),
            (THINKING_REQUEST, fixtures::thinking_request()),
        ];
        for (i, (native, canonical)) in cases.into_iter().enumerate() {
            assert_eq!(
                decode_request(&fixture(native)).unwrap(),
                canonical,
                "case {i}"
            );
        }
    }

    #[test]
    fn golden_requests_encode() {
        // Current Claude models take temperature or top_p, not both: top_p is dropped.
        let mut text = fixture(TEXT_REQUEST);
        text.as_object_mut().unwrap().remove("top_p");
        let cases = [
            (text, fixtures::text_request()),
            (fixture(TOOL_REQUEST), fixtures::tool_request()),
            (fixture(IMAGE_REQUEST), fixtures::image_request()),
            (
                fixture(JSON_SCHEMA_REQUEST),
                fixtures::json_schema_request(),
            ),
            (fixture(THINKING_REQUEST), fixtures::thinking_request()),
        ];
        for (i, (native, canonical)) in cases.into_iter().enumerate() {
            assert_eq!(encode_request(&canonical).unwrap(), native, "case {i}");
        }
    }

    #[test]
    fn golden_responses_both_directions() {
        for (native, canonical) in [
            (TEXT_RESPONSE, fixtures::text_response()),
            (TOOL_RESPONSE, fixtures::tool_response()),
        ] {
            let mut decoded = decode_response(&fixture(native)).unwrap();
            assert!(decoded.created > 0);
            decoded.created = canonical.created;
            assert_eq!(decoded, canonical);
            assert_eq!(encode_response(&canonical), fixture(native));
        }
    }

    /// Feeds `bytes` cut at `cut` (and fed byte by byte when `cut` is `None`).
    fn decode_stream(bytes: &[u8], cut: Option<usize>) -> Result<Vec<StreamEvent>, TranslateError> {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        match cut {
            Some(c) => {
                d.feed(&bytes[..c], &mut out)?;
                d.feed(&bytes[c..], &mut out)?;
            }
            None => {
                for b in bytes {
                    d.feed(std::slice::from_ref(b), &mut out)?;
                }
            }
        }
        d.end(&mut out)?;
        Ok(out)
    }

    fn decode_everywhere(bytes: &[u8]) -> Vec<StreamEvent> {
        let whole = decode_stream(bytes, Some(bytes.len())).unwrap();
        for cut in 0..=bytes.len() {
            assert_eq!(
                decode_stream(bytes, Some(cut)).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        assert_eq!(decode_stream(bytes, None).unwrap(), whole, "byte by byte");
        whole
    }

    #[test]
    fn golden_streams_decode_at_every_split_point() {
        assert_eq!(
            decode_everywhere(TEXT_STREAM.as_bytes()),
            fixtures::text_stream()
        );
        assert_eq!(
            decode_everywhere(TOOL_STREAM.as_bytes()),
            fixtures::tool_stream()
        );
    }

    fn parse_sse(bytes: &[u8]) -> Vec<(String, Value)> {
        let mut p = SseParser::new();
        let mut events = Vec::new();
        p.feed(bytes, &mut events).unwrap();
        p.end(&mut events);
        events
            .into_iter()
            .map(|e| {
                let v: Value = serde_json::from_str(&e.data).expect("event data is JSON");
                assert_eq!(v["type"], e.event.as_str(), "event name matches its type");
                (e.event, v)
            })
            .collect()
    }

    fn encode_stream(req: &ChatRequest, events: &[StreamEvent]) -> Vec<u8> {
        let mut e = StreamEncoder::new(req);
        let mut out = Vec::new();
        for ev in events {
            e.event(ev, &mut out);
        }
        e.finish(&mut out);
        out
    }

    /// Replays a stream the way the Anthropic SDKs accumulate it, checking the protocol on the
    /// way: `message_start` first, blocks started at the next index, deltas only into open blocks
    /// of the matching kind, every block stopped, tool input complete JSON at its stop, and
    /// `message_delta` then `message_stop` last. Returns the final message.
    fn accumulate(bytes: &[u8]) -> Value {
        let events = parse_sse(bytes);
        assert!(!events.is_empty());
        assert_eq!(events[0].0, "message_start");
        let mut msg = events[0].1["message"].clone();
        assert_eq!(msg["content"], json!([]));
        let mut open: Vec<bool> = Vec::new();
        let mut json_bufs: Vec<String> = Vec::new();
        let mut saw_delta = false;
        for (i, (name, v)) in events.iter().enumerate().skip(1) {
            match name.as_str() {
                "content_block_start" => {
                    assert!(!saw_delta);
                    let index = v["index"].as_u64().unwrap() as usize;
                    assert_eq!(index, open.len(), "blocks start at the next index");
                    assert!(open.iter().all(|o| !o), "one block open at a time");
                    msg["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(v["content_block"].clone());
                    open.push(true);
                    json_bufs.push(String::new());
                }
                "content_block_delta" => {
                    let index = v["index"].as_u64().unwrap() as usize;
                    assert!(open[index], "delta into an open block");
                    let block = &mut msg["content"][index];
                    let d = &v["delta"];
                    match d["type"].as_str().unwrap() {
                        "text_delta" => {
                            assert_eq!(block["type"], "text");
                            let t = format!(
                                "{}{}",
                                block["text"].as_str().unwrap(),
                                d["text"].as_str().unwrap()
                            );
                            block["text"] = json!(t);
                        }
                        "thinking_delta" => {
                            assert_eq!(block["type"], "thinking");
                            let t = format!(
                                "{}{}",
                                block["thinking"].as_str().unwrap(),
                                d["thinking"].as_str().unwrap()
                            );
                            block["thinking"] = json!(t);
                        }
                        "signature_delta" => {
                            assert_eq!(block["type"], "thinking");
                            block["signature"] = d["signature"].clone();
                        }
                        "input_json_delta" => {
                            assert_eq!(block["type"], "tool_use");
                            json_bufs[index].push_str(d["partial_json"].as_str().unwrap());
                        }
                        other => panic!("unexpected delta {other}"),
                    }
                }
                "content_block_stop" => {
                    let index = v["index"].as_u64().unwrap() as usize;
                    assert!(open[index], "stop of an open block");
                    open[index] = false;
                    let block = &mut msg["content"][index];
                    if block["type"] == "tool_use" && !json_bufs[index].is_empty() {
                        let input: Value = serde_json::from_str(&json_bufs[index])
                            .expect("tool input is complete JSON at its stop");
                        assert!(input.is_object());
                        block["input"] = input;
                    }
                }
                "message_delta" => {
                    assert!(
                        open.iter().all(|o| !o),
                        "blocks closed before message_delta"
                    );
                    saw_delta = true;
                    msg["stop_reason"] = v["delta"]["stop_reason"].clone();
                    msg["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                    let usage = v["usage"].as_object().unwrap();
                    assert!(usage["output_tokens"].is_u64(), "output_tokens is required");
                    for (k, n) in usage {
                        msg["usage"][k] = n.clone();
                    }
                }
                "message_stop" => {
                    assert!(saw_delta);
                    assert_eq!(i, events.len() - 1, "message_stop is last");
                }
                other => panic!("unexpected event {other}"),
            }
        }
        assert_eq!(events.last().unwrap().0, "message_stop");
        msg
    }

    #[test]
    fn golden_streams_encode_and_read_back() {
        for (native, canonical) in [
            (TEXT_STREAM, fixtures::text_stream()),
            (TOOL_STREAM, fixtures::tool_stream()),
        ] {
            let bytes = encode_stream(&ChatRequest::default(), &canonical);
            assert_eq!(parse_sse(&bytes), parse_sse(native.as_bytes()));
            assert_eq!(decode_everywhere(&bytes), canonical);
            accumulate(&bytes);
        }
    }

    #[test]
    fn real_api_stream_decodes() {
        let events = decode_everywhere(API_STREAM.as_bytes());
        let start_usage = Usage {
            input_tokens: 1902,
            output_tokens: 3,
            cached_input_tokens: 1500,
            ..Usage::default()
        };
        let expected = vec![
            StreamEvent::Start {
                id: "msg_01HvKq9cQk2s7Xn4Yb3Lz8Rt".into(),
                model: "claude-sonnet-4-5-20250929".into(),
            },
            StreamEvent::Usage(start_usage),
            StreamEvent::ThinkingDelta("The user wants the weather.".into()),
            StreamEvent::ThinkingDelta(" I'll call get_weather.".into()),
            StreamEvent::ThinkingSignature(
                "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds".into(),
            ),
            StreamEvent::TextDelta("Let me check.".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"city\": \"Pa".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "ris\"}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "toolu_01LnVq3XjY7Fp2kR9sT4wB6d".into(),
                name: "get_time".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{\"zone\": \"Europe/Paris\"}".into(),
            },
            StreamEvent::Finish(StopReason::ToolUse),
            StreamEvent::Usage(Usage {
                output_tokens: 89,
                ..start_usage
            }),
        ];
        assert_eq!(events, expected);
    }

    #[test]
    fn stream_decoder_error_event() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
                      event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        let err = d.feed(stream.as_bytes(), &mut out).unwrap_err();
        assert_eq!(
            err,
            TranslateError::Upstream("overloaded_error: Overloaded".into())
        );
        assert!(matches!(out[0], StreamEvent::Start { .. }));
        let pe = d.take_error().unwrap();
        assert_eq!((pe.status, pe.class), (529, ErrorClass::Overloaded));
        assert_eq!(pe.message, "Overloaded");
        assert!(d.end(&mut out).is_err());
    }

    #[test]
    fn stream_decoder_requires_an_end() {
        // Cut before message_delta: an error.
        let cut = TEXT_STREAM.find("event: message_delta").unwrap();
        let err = decode_stream(&TEXT_STREAM.as_bytes()[..cut], Some(cut)).unwrap_err();
        assert_eq!(
            err,
            TranslateError::Upstream("stream ended before message_stop".into())
        );
        // Cut after the final message_delta: the answer is complete.
        let cut = TEXT_STREAM.find("event: message_stop").unwrap();
        let events = decode_stream(&TEXT_STREAM.as_bytes()[..cut], Some(cut)).unwrap();
        assert_eq!(events, fixtures::text_stream());
        // Nothing at all.
        assert!(decode_stream(b"", Some(0)).is_err());
        // Not JSON.
        assert!(decode_stream(b"event: message_start\ndata: {oops\n\n", Some(3)).is_err());
    }

    #[test]
    fn stream_decoder_other_blocks() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"shardgate_json_object\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let events = decode_everywhere(stream.as_bytes());
        assert_eq!(
            events[1..],
            [
                StreamEvent::RedactedThinking("opaque".into()),
                StreamEvent::TextDelta("{\"a\":".into()),
                StreamEvent::TextDelta("1}".into()),
                StreamEvent::Finish(StopReason::EndTurn),
                StreamEvent::Usage(Usage {
                    output_tokens: 7,
                    ..Usage::default()
                }),
            ]
        );
    }

    fn start() -> StreamEvent {
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt-x".into(),
        }
    }

    #[test]
    fn stream_encoder_openai_like_upstream() {
        // Usage arrives only at the end; two tool calls one after the other; empty pieces.
        let events = vec![
            start(),
            StreamEvent::TextDelta(String::new()),
            StreamEvent::ThinkingDelta("hmm".into()),
            StreamEvent::TextDelta("Sure.".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "read".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: String::new(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"path\":".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "\"a.rs\"}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_b".into(),
                name: "read".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{\"path\":\"b.rs\"}".into(),
            },
            StreamEvent::Finish(StopReason::ToolUse),
            StreamEvent::Usage(Usage {
                input_tokens: 1000,
                output_tokens: 50,
                cached_input_tokens: 600,
                ..Usage::default()
            }),
        ];
        let bytes = encode_stream(&ChatRequest::default(), &events);
        let msg = accumulate(&bytes);
        assert_eq!(msg["id"], "chatcmpl-1");
        assert_eq!(msg["model"], "gpt-x");
        assert_eq!(
            msg["content"],
            json!([
                {"type": "thinking", "thinking": "hmm", "signature": ""},
                {"type": "text", "text": "Sure."},
                {"type": "tool_use", "id": "call_a", "name": "read", "input": {"path": "a.rs"}},
                {"type": "tool_use", "id": "call_b", "name": "read", "input": {"path": "b.rs"}},
            ])
        );
        assert_eq!(msg["stop_reason"], "tool_use");
        assert_eq!(
            msg["usage"],
            json!({"input_tokens": 400, "cache_read_input_tokens": 600,
                   "cache_creation_input_tokens": 0, "output_tokens": 50})
        );
    }

    #[test]
    fn stream_encoder_gemini_like_upstream() {
        // Usage right after the start; a signature on a function call; STOP after tool calls;
        // whole arguments in one piece.
        let events = vec![
            start(),
            StreamEvent::Usage(Usage {
                input_tokens: 77,
                output_tokens: 0,
                ..Usage::default()
            }),
            StreamEvent::ToolCallStart {
                index: 0,
                id: String::new(),
                name: "ls".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
            },
            StreamEvent::ThinkingSignature("gsig".into()),
            StreamEvent::Finish(StopReason::EndTurn),
            StreamEvent::Usage(Usage {
                input_tokens: 77,
                output_tokens: 9,
                ..Usage::default()
            }),
        ];
        let bytes = encode_stream(&ChatRequest::default(), &events);
        let first = &parse_sse(&bytes)[0].1;
        assert_eq!(
            first["message"]["usage"]["input_tokens"], 77,
            "early usage in message_start"
        );
        let msg = accumulate(&bytes);
        let id = msg["content"][0]["id"].as_str().unwrap().to_string();
        assert!(
            id.starts_with("toolu_") && id.ends_with("_0"),
            "made-up id {id}"
        );
        assert_eq!(
            msg["content"],
            json!([
                {"type": "tool_use", "id": id, "name": "ls", "input": {}},
                {"type": "thinking", "thinking": "", "signature": "gsig"},
            ])
        );
        assert_eq!(
            msg["stop_reason"], "tool_use",
            "end_turn after tool calls becomes tool_use"
        );
        assert_eq!(msg["usage"]["output_tokens"], 9);
        assert_eq!(msg["usage"]["input_tokens"], 77);
    }

    #[test]
    fn made_up_ids_differ_between_answers_and_pings_are_skipped() {
        let events = [
            start(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: String::new(),
                name: "f".into(),
            },
        ];
        let a = accumulate(&encode_stream(&ChatRequest::default(), &events));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = accumulate(&encode_stream(&ChatRequest::default(), &events));
        assert_ne!(a["content"][0]["id"], b["content"][0]["id"]);

        let mut bytes = Vec::new();
        write_ping(&mut bytes);
        bytes.extend_from_slice(TEXT_STREAM.as_bytes());
        write_ping(&mut bytes);
        assert_eq!(decode_everywhere(&bytes), fixtures::text_stream());
    }

    #[test]
    fn stream_encoder_thinking_blocks() {
        let events = vec![
            start(),
            StreamEvent::ThinkingDelta("a".into()),
            StreamEvent::ThinkingSignature("s1".into()),
            StreamEvent::ThinkingDelta("b".into()),
            StreamEvent::ThinkingSignature("s2".into()),
            StreamEvent::RedactedThinking("r".into()),
            StreamEvent::TextDelta("x".into()),
            StreamEvent::Finish(StopReason::StopSequence(Some("END".into()))),
        ];
        let msg = accumulate(&encode_stream(&ChatRequest::default(), &events));
        assert_eq!(
            msg["content"],
            json!([
                {"type": "thinking", "thinking": "a", "signature": "s1"},
                {"type": "thinking", "thinking": "b", "signature": "s2"},
                {"type": "redacted_thinking", "data": "r"},
                {"type": "text", "text": "x"},
            ])
        );
        assert_eq!(msg["stop_reason"], "stop_sequence");
        assert_eq!(msg["stop_sequence"], "END");
    }

    #[test]
    fn stream_encoder_edge_cases() {
        // Nothing but a start: still a complete, well-formed message.
        let msg = accumulate(&encode_stream(
            &ChatRequest {
                model: "m".into(),
                ..ChatRequest::default()
            },
            &[],
        ));
        assert_eq!(msg["content"], json!([]));
        assert_eq!(msg["model"], "m");
        assert_eq!(msg["stop_reason"], "end_turn");

        // A delta for an unknown call is dropped; a repeated start is ignored; finish twice is
        // harmless; events after finish are ignored.
        let mut e = StreamEncoder::new(&ChatRequest::default());
        let mut out = Vec::new();
        e.event(&start(), &mut out);
        e.event(
            &StreamEvent::ToolCallDelta {
                index: 3,
                arguments: "{".into(),
            },
            &mut out,
        );
        e.event(
            &StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            &mut out,
        );
        e.event(
            &StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            &mut out,
        );
        e.event(
            &StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
            },
            &mut out,
        );
        e.finish(&mut out);
        let len = out.len();
        e.finish(&mut out);
        e.event(&StreamEvent::TextDelta("late".into()), &mut out);
        assert_eq!(out.len(), len);
        let msg = accumulate(&out);
        assert_eq!(msg["content"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn stream_encoder_error() {
        let mut e = StreamEncoder::new(&ChatRequest::default());
        let mut out = Vec::new();
        e.event(&start(), &mut out);
        e.event(&StreamEvent::TextDelta("par".into()), &mut out);
        e.error(&ProviderError::new(503, "upstream unavailable"), &mut out);
        e.finish(&mut out);
        let events = parse_sse(&out);
        let (name, last) = events.last().unwrap();
        assert_eq!(name, "error");
        assert_eq!(
            *last,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "upstream unavailable"}})
        );
        assert_eq!(events.iter().filter(|(n, _)| n == "error").count(), 1);
        assert!(events.iter().all(|(n, _)| n != "message_stop"));
    }

    /// Deterministic pseudo-random event sequences: the output must always follow the protocol
    /// and read back to the same content.
    #[test]
    fn stream_encoder_random_sequences_follow_the_protocol() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let mut events = vec![start()];
            let mut tools = 0u32;
            let mut text = String::new();
            for _ in 0..next(12) {
                match next(6) {
                    0 => {
                        events.push(StreamEvent::TextDelta("t".into()));
                        text.push('t');
                    }
                    1 => events.push(StreamEvent::ThinkingDelta("k".into())),
                    2 => events.push(StreamEvent::ThinkingSignature("s".into())),
                    3 => events.push(StreamEvent::RedactedThinking("r".into())),
                    _ => {
                        events.push(StreamEvent::ToolCallStart {
                            index: tools,
                            id: format!("c{tools}"),
                            name: "f".into(),
                        });
                        events.push(StreamEvent::ToolCallDelta {
                            index: tools,
                            arguments: "{\"a\":".into(),
                        });
                        events.push(StreamEvent::ToolCallDelta {
                            index: tools,
                            arguments: "1}".into(),
                        });
                        tools += 1;
                    }
                }
            }
            events.push(StreamEvent::Finish(StopReason::EndTurn));
            let bytes = encode_stream(&ChatRequest::default(), &events);
            let msg = accumulate(&bytes);
            let content = msg["content"].as_array().unwrap();
            let got_text: String = content
                .iter()
                .filter(|b| b["type"] == "text")
                .map(|b| b["text"].as_str().unwrap())
                .collect();
            assert_eq!(got_text, text);
            assert_eq!(
                content.iter().filter(|b| b["type"] == "tool_use").count() as u32,
                tools
            );
            let expected_stop = if tools > 0 { "tool_use" } else { "end_turn" };
            assert_eq!(msg["stop_reason"], expected_stop);
            // Our own decoder reads it back to the same text and tool calls.
            let back = decode_stream(&bytes, None).unwrap();
            let back_text: String = back
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::TextDelta(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(back_text, text);
        }
    }

    // ----- requests: refusals and validation -----

    fn base() -> Value {
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    #[test]
    fn decode_request_refusals() {
        let doc = with(
            base(),
            "messages",
            json!([{"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]),
        );
        assert_eq!(
            decode_request(&doc),
            Err(unsupported("document content blocks"))
        );
        let search = with(
            base(),
            "tools",
            json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]),
        );
        assert_eq!(
            decode_request(&search),
            Err(unsupported("tool type web_search_20250305"))
        );
        let bash = with(
            base(),
            "tools",
            json!([{"type": "bash_20250124", "name": "bash"}]),
        );
        assert_eq!(
            decode_request(&bash),
            Err(unsupported("tool type bash_20250124"))
        );
        let mcp = with(
            base(),
            "mcp_servers",
            json!([{"type": "url", "url": "https://x", "name": "x"}]),
        );
        assert_eq!(decode_request(&mcp), Err(unsupported("mcp_servers")));
        let file = with(
            base(),
            "messages",
            json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]),
        );
        assert!(matches!(
            decode_request(&file),
            Err(TranslateError::Unsupported(_))
        ));
        let server_use = with(
            base(),
            "messages",
            json!([{"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]}]),
        );
        assert_eq!(
            decode_request(&server_use),
            Err(unsupported("server_tool_use content blocks"))
        );
    }

    #[test]
    fn decode_request_validation() {
        let mut no_max = base();
        no_max.as_object_mut().unwrap().remove("max_tokens");
        assert_eq!(
            decode_request(&no_max),
            Err(invalid("max_tokens: field required"))
        );
        assert_eq!(
            decode_count_tokens_request(&no_max).unwrap().max_tokens,
            None
        );
        let mut no_model = base();
        no_model.as_object_mut().unwrap().remove("model");
        assert_eq!(
            decode_request(&no_model),
            Err(invalid("model: field required"))
        );
        let bad_role = with(
            base(),
            "messages",
            json!([{"role": "system", "content": "x"}]),
        );
        assert!(
            matches!(decode_request(&bad_role), Err(TranslateError::Invalid(m)) if m.contains("messages[0].role"))
        );
        let bad_max = with(base(), "max_tokens", json!("10"));
        assert!(
            matches!(decode_request(&bad_max), Err(TranslateError::Invalid(m)) if m.contains("max_tokens"))
        );
        let bad_temp = with(base(), "temperature", json!("hot"));
        assert!(
            matches!(decode_request(&bad_temp), Err(TranslateError::Invalid(m)) if m.contains("temperature"))
        );
        let no_schema = with(base(), "tools", json!([{"name": "f"}]));
        assert!(
            matches!(decode_request(&no_schema), Err(TranslateError::Invalid(m)) if m.contains("tools[0].input_schema"))
        );
        let no_budget = with(base(), "thinking", json!({"type": "enabled"}));
        assert!(
            matches!(decode_request(&no_budget), Err(TranslateError::Invalid(m)) if m.contains("budget_tokens"))
        );
        let tool_use_no_id = with(
            base(),
            "messages",
            json!([{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]),
        );
        assert!(
            matches!(decode_request(&tool_use_no_id), Err(TranslateError::Invalid(m)) if m.contains("messages[0].content[0].id"))
        );
        assert!(decode_request(&json!([1])).is_err());
        assert!(decode_request(&with(base(), "messages", json!("hi"))).is_err());
    }

    #[test]
    fn decode_request_claude_code_shape() {
        // What Claude Code sends: system blocks with cache_control, metadata, thinking, tool
        // results with block content and is_error, unknown fields.
        let body = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "stream": true,
            "system": [
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be careful."}
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "fix it", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "look", "signature": ""},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                     "content": [{"type": "text", "text": "no such file"},
                                 {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}
                ]}
            ],
            "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "metadata": {"user_id": "user_abc"},
            "context_management": {"edits": []},
            "temperature": 1
        });
        let r = decode_request(&body).unwrap();
        assert!(r.stream);
        assert_eq!(r.system, vec!["You are Claude Code.", "Be careful."]);
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.user.as_deref(), Some("user_abc"));
        assert_eq!(r.temperature, Some(1.0));
        assert_eq!(
            r.reasoning,
            Some(Reasoning {
                effort: None,
                budget_tokens: Some(31999),
                include_thoughts: true
            })
        );
        assert_eq!(
            r.messages[1].parts,
            vec![
                Part::Thinking {
                    text: "look".into(),
                    signature: None
                },
                Part::RedactedThinking { data: "xyz".into() },
                Part::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "Read".into(),
                    arguments: "{\"file_path\":\"/a\"}".into()
                }),
            ]
        );
        assert_eq!(
            r.messages[2].parts,
            vec![Part::ToolResult(ToolResult {
                call_id: "toolu_1".into(),
                name: None,
                content: vec![
                    Part::Text("no such file".into()),
                    Part::Image(ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "AA==".into()
                    })
                ],
                is_error: true,
            })]
        );
        // Adaptive thinking with an effort, and the beta structured-output spelling.
        let adaptive = json!({
            "model": "m", "max_tokens": 5, "messages": [],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "output_format": {"type": "json_schema", "schema": {"type": "object"}}
        });
        let r = decode_request(&adaptive).unwrap();
        assert_eq!(
            r.reasoning,
            Some(Reasoning {
                effort: Some("high".into()),
                budget_tokens: None,
                include_thoughts: true
            })
        );
        assert!(matches!(
            r.response_format,
            ResponseFormat::JsonSchema { .. }
        ));
        let disabled = with(base(), "thinking", json!({"type": "disabled"}));
        assert_eq!(decode_request(&disabled).unwrap().reasoning, None);
    }

    // ----- requests to Anthropic -----

    fn user(text: &str) -> Message {
        Message {
            role: Role::User,
            parts: vec![Part::Text(text.into())],
        }
    }

    fn call(id: &str) -> Part {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: "f".into(),
            arguments: "{\"x\":1}".into(),
        })
    }

    fn result(id: &str) -> Part {
        Part::ToolResult(ToolResult {
            call_id: id.into(),
            name: Some("f".into()),
            content: vec![Part::Text("ok".into())],
            is_error: false,
        })
    }

    fn tool() -> Tool {
        Tool {
            name: "f".into(),
            description: None,
            parameters: json!({}),
            strict: Some(true),
        }
    }

    fn effort(e: &str) -> Option<Reasoning> {
        Some(Reasoning {
            effort: Some(e.into()),
            budget_tokens: None,
            include_thoughts: false,
        })
    }

    #[test]
    fn encode_request_defaults_and_sampling() {
        let req = ChatRequest {
            model: "claude".into(),
            messages: vec![user("hi")],
            temperature: Some(1.6),
            top_k: Some(40),
            presence_penalty: Some(0.5),
            frequency_penalty: Some(0.5),
            seed: Some(7),
            stream: true,
            user: Some("u1".into()),
            system: vec!["a".into(), " ".into(), "b".into()],
            ..ChatRequest::default()
        };
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude", "max_tokens": DEFAULT_MAX_TOKENS,
                "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 1.0, "top_k": 40, "stream": true,
                "metadata": {"user_id": "u1"}
            })
        );
        let only_top_p = ChatRequest {
            top_p: Some(0.8),
            ..ChatRequest::default()
        };
        assert_eq!(encode_request(&only_top_p).unwrap()["top_p"], 0.8);
    }

    #[test]
    fn encode_request_thinking_budgets() {
        let mk = |reasoning, max_tokens| ChatRequest {
            messages: vec![user("q")],
            reasoning,
            max_tokens,
            temperature: Some(0.2),
            top_k: Some(5),
            top_p: Some(0.5),
            ..ChatRequest::default()
        };
        // Effort only: table budget; max_tokens raised above it; temperature/top_k/top_p dropped.
        let b = encode_request(&mk(effort("high"), Some(1000))).unwrap();
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 16384})
        );
        assert_eq!(b["max_tokens"], 17384);
        assert!(
            b.get("temperature").is_none() && b.get("top_k").is_none() && b.get("top_p").is_none()
        );
        let b = encode_request(&mk(effort("low"), None)).unwrap();
        assert_eq!(b["thinking"]["budget_tokens"], 2048);
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(encode_request(&mk(effort("none"), None))
            .unwrap()
            .get("thinking")
            .is_none());
        // Small explicit budgets are raised to the minimum; 0 means off.
        let small = Some(Reasoning {
            budget_tokens: Some(100),
            ..Reasoning::default()
        });
        assert_eq!(
            encode_request(&mk(small, Some(8000))).unwrap()["thinking"]["budget_tokens"],
            1024
        );
        let zero = Some(Reasoning {
            budget_tokens: Some(0),
            include_thoughts: true,
            ..Reasoning::default()
        });
        let b = encode_request(&mk(zero, None)).unwrap();
        assert!(b.get("thinking").is_none());
        assert_eq!(b["temperature"], 0.2);
        // top_p >= 0.95 is allowed with thinking.
        let mut r = mk(effort("medium"), None);
        r.top_p = Some(0.97);
        assert_eq!(encode_request(&r).unwrap()["top_p"], 0.97);
    }

    #[test]
    fn encode_request_thinking_conflicts() {
        // Forced tool use turns thinking off.
        let forced = ChatRequest {
            messages: vec![user("q")],
            tools: vec![tool()],
            tool_choice: Some(ToolChoice::Required),
            reasoning: effort("high"),
            ..ChatRequest::default()
        };
        let b = encode_request(&forced).unwrap();
        assert!(b.get("thinking").is_none());
        assert_eq!(b["tool_choice"], json!({"type": "any"}));
        // Continuing a tool call that has no signed thinking (history from another provider).
        let continued = ChatRequest {
            messages: vec![
                user("q"),
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "unsigned".into(),
                            signature: None,
                        },
                        call("c1"),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![result("c1")],
                },
            ],
            tools: vec![tool()],
            reasoning: effort("high"),
            ..ChatRequest::default()
        };
        let b = encode_request(&continued).unwrap();
        assert!(b.get("thinking").is_none());
        assert_eq!(
            b["messages"][1]["content"][0]["type"], "tool_use",
            "unsigned thinking dropped"
        );
        // With a signed thinking block first, thinking stays on.
        let mut signed = continued.clone();
        signed.messages[1].parts[0] = Part::Thinking {
            text: "t".into(),
            signature: Some("s".into()),
        };
        assert!(encode_request(&signed).unwrap().get("thinking").is_some());
        // A new user question after the tool loop does not need it.
        let mut later = continued;
        later.messages.push(Message {
            role: Role::Assistant,
            parts: vec![Part::Text("done".into())],
        });
        later.messages.push(user("next"));
        assert!(encode_request(&later).unwrap().get("thinking").is_some());
    }

    #[test]
    fn encode_request_conversation_shape() {
        let req = ChatRequest {
            messages: vec![
                user("a"),
                user("b"),
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Text(String::new()), call("c1"), call("c2")],
                },
                // OpenAI order: tool messages, then a user message, possibly text first.
                Message {
                    role: Role::User,
                    parts: vec![Part::Text("see".into()), result("c1")],
                },
                Message {
                    role: Role::User,
                    parts: vec![result("c2")],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "t".into(),
                            signature: Some("s".into()),
                        },
                        Part::Text("Prefix  \n".into()),
                    ],
                },
            ],
            tools: vec![tool()],
            parallel_tool_calls: Some(false),
            ..ChatRequest::default()
        };
        let b = encode_request(&req).unwrap();
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
                    {"type": "tool_use", "id": "c2", "name": "f", "input": {"x": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "ok"},
                    {"type": "tool_result", "tool_use_id": "c2", "content": "ok"},
                    {"type": "text", "text": "see"}
                ]},
                {"role": "assistant", "content": "Prefix"}
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"name": "f", "input_schema": {"type": "object"}}])
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn encode_request_tool_details() {
        let req = ChatRequest {
            messages: vec![
                user("q"),
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall(ToolCall {
                        id: "c".into(),
                        name: "g".into(),
                        arguments: "not json".into(),
                    })],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: "c".into(),
                        name: None,
                        content: vec![
                            Part::Text("chart".into()),
                            Part::Image(ImageSource::Url("data:image/jpeg;base64,/9j/".into())),
                        ],
                        is_error: true,
                    })],
                },
            ],
            ..ChatRequest::default()
        };
        let b = encode_request(&req).unwrap();
        assert_eq!(b["messages"][1]["content"][0]["input"], json!({}));
        assert_eq!(
            b["messages"][2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "c", "is_error": true, "content": [
                {"type": "text", "text": "chart"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}
            ]})
        );
        // No tools in the request but tool blocks in the history: placeholders, never called.
        assert_eq!(
            b["tools"],
            json!([{"name": "g", "input_schema": {"type": "object"}}])
        );
        assert_eq!(b["tool_choice"], json!({"type": "none"}));
        // ToolChoice::None with tools, and a named tool.
        let mut r = ChatRequest {
            messages: vec![user("q")],
            tools: vec![tool()],
            ..ChatRequest::default()
        };
        r.tool_choice = Some(ToolChoice::None);
        assert_eq!(
            encode_request(&r).unwrap()["tool_choice"],
            json!({"type": "none"})
        );
        r.tool_choice = Some(ToolChoice::Tool("f".into()));
        assert_eq!(
            encode_request(&r).unwrap()["tool_choice"],
            json!({"type": "tool", "name": "f"})
        );
        // tool_choice without tools is not sent.
        let r = ChatRequest {
            messages: vec![user("q")],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::default()
        };
        assert!(encode_request(&r).unwrap().get("tool_choice").is_none());
    }

    #[test]
    fn json_object_mode_is_emulated_and_decoded_back() {
        let req = ChatRequest {
            messages: vec![user("Give me JSON")],
            response_format: ResponseFormat::JsonObject,
            reasoning: effort("high"),
            ..ChatRequest::default()
        };
        let b = encode_request(&req).unwrap();
        assert_eq!(b["tools"][0]["name"], JSON_OBJECT_TOOL);
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": JSON_OBJECT_TOOL, "disable_parallel_tool_use": true})
        );
        assert!(
            b.get("thinking").is_none(),
            "forced tool use excludes thinking"
        );
        // With caller tools: any tool, theirs or the JSON one.
        let with_tools = ChatRequest {
            tools: vec![tool()],
            ..req.clone()
        };
        assert_eq!(
            encode_request(&with_tools).unwrap()["tool_choice"],
            json!({"type": "any"})
        );

        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": JSON_OBJECT_TOOL, "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 4}
        });
        let r = decode_response(&answer).unwrap();
        assert_eq!(r.parts, vec![Part::Text("{\"city\":\"Paris\"}".into())]);
        assert_eq!(r.stop, StopReason::EndTurn);
    }

    #[test]
    fn count_tokens_bodies() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![user("q")],
            max_tokens: Some(5),
            temperature: Some(0.1),
            stream: true,
            ..ChatRequest::default()
        };
        assert_eq!(
            encode_count_tokens_request(&req).unwrap(),
            json!({"model": "m", "messages": [{"role": "user", "content": "q"}]})
        );
        assert_eq!(
            encode_count_tokens_response(42),
            json!({"input_tokens": 42})
        );
    }

    // ----- answers -----

    #[test]
    fn decode_response_details() {
        let body = json!({
            "id": "msg_x", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "text", "text": "Hi", "citations": null}
            ],
            "stop_reason": "stop_sequence", "stop_sequence": "END",
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 100,
                      "cache_read_input_tokens": 50, "output_tokens": 7, "service_tier": "standard",
                      "output_tokens_details": {"thinking_tokens": 4}}
        });
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.parts,
            vec![
                Part::Thinking {
                    text: "hm".into(),
                    signature: Some("sig".into())
                },
                Part::RedactedThinking { data: "enc".into() },
                Part::Text("Hi".into()),
            ]
        );
        assert_eq!(r.stop, StopReason::StopSequence(Some("END".into())));
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 155,
                output_tokens: 7,
                cached_input_tokens: 50,
                cache_creation_input_tokens: 100,
                reasoning_tokens: 4
            }
        );
        // And back: the cache split survives.
        assert_eq!(
            encode_response(&r)["usage"],
            body["usage"]
                .as_object()
                .map(|u| {
                    let mut u = u.clone();
                    u.remove("service_tier");
                    Value::Object(u)
                })
                .unwrap()
        );
        for (reason, stop) in [
            ("max_tokens", StopReason::MaxTokens),
            ("refusal", StopReason::Refusal),
            ("pause_turn", StopReason::Other("pause_turn".into())),
            ("model_context_window_exceeded", StopReason::MaxTokens),
        ] {
            let b = json!({"content": [], "stop_reason": reason});
            assert_eq!(decode_response(&b).unwrap().stop, stop);
        }
        let err = json!({"type": "error", "error": {"type": "api_error", "message": "boom"}});
        assert!(
            matches!(decode_response(&err), Err(TranslateError::Upstream(m)) if m.contains("boom"))
        );
        assert!(decode_response(&json!({"id": "x"})).is_err());
    }

    #[test]
    fn encode_response_for_anthropic_callers() {
        let resp = ChatResponse {
            id: "chatcmpl-9".into(),
            model: "gemini-2.5-pro".into(),
            created: 1,
            parts: vec![
                Part::Thinking {
                    text: "plan".into(),
                    signature: None,
                },
                Part::Text(String::new()),
                Part::ToolCall(ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{\"a\":".into(),
                }),
            ],
            stop: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 3,
                ..Usage::default()
            },
        };
        let v = encode_response(&resp);
        assert_eq!(
            v["content"],
            json!([
                {"type": "thinking", "thinking": "plan", "signature": ""},
                {"type": "tool_use", "id": "c", "name": "f", "input": {}}
            ])
        );
        assert_eq!(v["stop_reason"], "tool_use");
        let filtered = ChatResponse {
            parts: vec![],
            stop: StopReason::ContentFilter,
            ..resp
        };
        assert_eq!(encode_response(&filtered)["stop_reason"], "refusal");
    }

    // ----- errors -----

    #[test]
    fn errors_both_directions() {
        let e = decode_error(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
        );
        assert_eq!(
            e,
            ProviderError {
                status: 529,
                class: ErrorClass::Overloaded,
                message: "Overloaded".into(),
                code: Some("overloaded_error".into())
            }
        );
        let billing = decode_error(
            400,
            br#"{"type":"error","error":{"type":"billing_error","message":"credit"}}"#,
        );
        assert_eq!(billing.class, ErrorClass::RateLimited);
        let vertex = decode_error(
            429,
            br#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(vertex.message, "Quota exceeded");
        assert_eq!(vertex.class, ErrorClass::RateLimited);
        assert_eq!(vertex.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        let raw = decode_error(502, b"<html>Bad gateway</html>");
        assert_eq!(
            (raw.class, raw.message.as_str()),
            (ErrorClass::Server, "<html>Bad gateway</html>")
        );
        assert_eq!(decode_error(500, b"").message, "HTTP 500 from the provider");

        for (status, ty) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
            (504, "timeout_error"),
        ] {
            let body: Value =
                serde_json::from_slice(&encode_error(&ProviderError::new(status, "m"))).unwrap();
            assert_eq!(
                body,
                json!({"type": "error", "error": {"type": ty, "message": "m"}}),
                "{status}"
            );
            // And read back (402 `billing_error` reads as a quota problem: RateLimited).
            let back = decode_error(status, &encode_error(&ProviderError::new(status, "m")));
            let class = if status == 402 {
                ErrorClass::RateLimited
            } else {
                ProviderError::new(status, "m").class
            };
            assert_eq!(back.class, class, "{status}");
        }
    }
}
