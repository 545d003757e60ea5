//! Google Gemini `generateContent` / `streamGenerateContent` (AI Studio and Gemini on Vertex AI),
//! in both directions: requests from the google-genai SDK on `/genai/.../models/{m}:generateContent`,
//! and requests to Gemini providers.
//!
//! The model is in the URL, never in the body: `decode_request` leaves `model` empty and
//! `encode_request` does not write it. Streams are always asked for with `?alt=sse` (each SSE
//! `data:` is one `GenerateContentResponse`); the decoder also reads the plain JSON-array stream
//! (no `alt=sse`). Keys are read in camelCase (what the SDK sends) or snake_case, and written in
//! camelCase.
//!
//! Mappings worth knowing:
//! - Function calls without an `id` get `call_{n}` (n counts the calls of the request, in order)
//!   when decoding a request, and `call_{responseId}_{n}` (or `call_{n}`) when decoding an answer.
//!   A `functionResponse` without an `id` answers the earliest unanswered call of the same name.
//!   Encoders write the canonical ids as `functionCall.id` / `functionResponse.id`.
//! - `functionResponse.response`: `{"output": x}` (or google-genai's `{"result": x}`) decodes to
//!   the text of `x`, `{"error": x}` to an
//!   error result with the text of `x`, any other object to its JSON text. Encoding wraps a result
//!   that is not a JSON object as `{"output": text}` (`{"error": text}` for errors) and sends a
//!   JSON object as it is, as the Gemini API documents.
//! - Thought signatures keep their place: a `thought` part becomes `Thinking { text, signature }`;
//!   a signature on a later part (a `functionCall`, or text) is attached to the unsigned thinking
//!   just before it, or becomes `Thinking { text: "", signature }` placed before that part.
//!   Encoding reverses this: a thinking signature rides on the next non-thinking part of the same
//!   message (where Gemini 3 requires it for function calls), else stays on the thought part (or
//!   on an empty text part when there is no thought text). Streams map the same way
//!   (`ThinkingSignature` before the events of the part that carried it).
//! - Usage: Gemini's `candidatesTokenCount` excludes thoughts; canonical `output_tokens` is
//!   `candidatesTokenCount + thoughtsTokenCount`. `toolUsePromptTokenCount` counts as input.
//! - Reasoning: `budget_tokens` ↔ `thinkingBudget` (`-1`, dynamic, decodes to no budget; `0`
//!   decodes to `budget_tokens: Some(0)`, thinking off); `effort` without a budget is sent as a
//!   budget: `none` 0, `minimal` 512, `low` 1024, `medium` 8192, `high`/`xhigh` 24576 (valid for
//!   every Gemini 2.5 model); `thinkingLevel` decodes to `effort`.
//! - JSON schema output is sent as `responseMimeType: application/json` + `responseJsonSchema`,
//!   tool parameters as `parametersJsonSchema` (full JSON Schema, only the root `$schema` removed);
//!   the older OpenAPI-style `responseSchema` / `parameters` are converted to JSON Schema on decode
//!   (lower-case types, `nullable` to a `"null"` type, `propertyOrdering`/`example` dropped). The
//!   schema's name is not carried by Gemini: it decodes to the schema's `title`, else `response`.
//! - Image URLs go as `fileData { fileUri, mimeType }` with the MIME type guessed from the file
//!   extension (`image/jpeg` when unknown): Gemini must be able to fetch the URL itself (public or
//!   signed HTTPS, `gs://` on Vertex, Files API URIs). `data:` URLs go inline.
//!
//! Refused (`Unsupported`) when decoding a request: built-in tools (`googleSearch`,
//! `googleSearchRetrieval`, `codeExecution`, `urlContext`, `fileSearch`, `googleMaps`,
//! `computerUse`, ...), `candidateCount` > 1, `cachedContent`, `responseLogprobs`/`logprobs`,
//! `responseModalities` other than text, `responseMimeType` other than text or JSON,
//! non-image `inlineData`/`fileData` (audio, video, PDF), `executableCode`/`codeExecutionResult`
//! parts. When encoding a request: more than 5 stop sequences.
//!
//! Dropped: `safetySettings`, `labels`, `mediaResolution`, `speechConfig` and other generation
//! knobs without a canonical field (decode); thinking without a signature (Gemini needs only
//! signatures back), signatures that are not base64 (other providers' formats Gemini would reject
//! with a 400), redacted thinking, `parallel_tool_calls`, `user`, tool `strict` (encode).
//! Images inside tool results are sent as separate parts right after the `functionResponse`.
//! A model turn whose first function call has no signature gets Gemini's documented
//! `skip_thought_signature_validator` signature, so that history from other providers (or from
//! callers that drop signatures) does not fail Gemini 3's validation.
//!
//! Also here: `encode_embed_request`/`decode_embed_response` (`:batchEmbedContents`, AI Studio)
//! and `encode_count_tokens_request` (AI Studio: the prompt inside `generateContentRequest`),
//! `encode_count_tokens_request_vertex` (Vertex: fields at the top level),
//! `decode_count_tokens_request`, `decode_count_tokens_response` (`:countTokens`).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::translate::sse::{self, SseEvent, SseParser};
use crate::translate::{
    invalid, now_secs, unsupported, upstream, ChatRequest, ChatResponse, EmbedRequest,
    EmbedResponse, ErrorClass, ImageSource, Message, Part, ProviderError, Reasoning,
    ResponseFormat, Role, StopReason, StreamDecode, StreamEncode, StreamEvent, Tool, ToolCall,
    ToolChoice, ToolResult, TranslateError, Usage,
};

/// The signature Gemini documents for function calls whose real signature is unknown.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";
/// Another documented placeholder signature; neither carries reasoning, so decoding drops both.
const OTHER_PLACEHOLDER_SIGNATURE: &str = "context_engineering_is_the_way_to_go";
/// Gemini's limit on `stopSequences`.
const MAX_STOP_SEQUENCES: usize = 5;
/// Largest single stream object kept while waiting for its end (JSON-array streams).
const MAX_STREAM_OBJECT: usize = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Field access

/// A non-null field by its camelCase name, or by the snake_case spelling of that name.
fn field<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(x) = obj.get(camel).filter(|x| !x.is_null()) {
        return Some(x);
    }
    if !camel.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    obj.get(&snake).filter(|x| !x.is_null())
}

/// camelCase spelling of a key that may be snake_case.
fn camel_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn get_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>, TranslateError> {
    match field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_str()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}.{key} must be a string"))),
    }
}

fn get_bool(v: &Value, key: &str, path: &str) -> Result<Option<bool>, TranslateError> {
    match field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}.{key} must be a boolean"))),
    }
}

fn get_f64(v: &Value, key: &str, path: &str) -> Result<Option<f64>, TranslateError> {
    match field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}.{key} must be a number"))),
    }
}

/// An integer field; proto JSON may also quote integers, and the Python SDK types some of them
/// (`topK`) as floats.
fn get_i64(v: &Value, key: &str, path: &str) -> Result<Option<i64>, TranslateError> {
    let Some(x) = field(v, key) else {
        return Ok(None);
    };
    if let Some(n) = x.as_i64() {
        return Ok(Some(n));
    }
    if let Some(f) = x.as_f64() {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return Ok(Some(f as i64));
        }
    }
    if let Some(n) = x.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
        return Ok(Some(n));
    }
    Err(invalid(format!("{path}.{key} must be an integer")))
}

fn get_u64(v: &Value, key: &str, path: &str) -> Result<Option<u64>, TranslateError> {
    match get_i64(v, key, path)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| invalid(format!("{path}.{key} must not be negative"))),
    }
}

fn get_array<'a>(
    v: &'a Value,
    key: &str,
    path: &str,
) -> Result<Option<&'a Vec<Value>>, TranslateError> {
    match field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_array()
            .map(Some)
            .ok_or_else(|| invalid(format!("{path}.{key} must be an array"))),
    }
}

fn get_object<'a>(
    v: &'a Value,
    key: &str,
    path: &str,
) -> Result<Option<&'a Value>, TranslateError> {
    match field(v, key) {
        None => Ok(None),
        Some(x) if x.is_object() => Ok(Some(x)),
        Some(_) => Err(invalid(format!("{path}.{key} must be an object"))),
    }
}

/// A count from usage metadata (proto JSON leaves zero counts out, and may quote them).
fn count(v: &Value, key: &str) -> u64 {
    match field(v, key) {
        Some(x) => x
            .as_u64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0),
        None => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Thought signatures

/// Whether `s` is base64 as Gemini's `bytes` fields take it: standard or URL-safe alphabet,
/// padded or not, and canonical (unused trailing bits zero, which google-genai's parser checks).
/// Other providers' signatures that are not (`msg_...`) would fail with a 400, or break the
/// caller's SDK.
fn is_signature(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    if body.is_empty() || pad > 2 || (pad > 0 && !s.len().is_multiple_of(4)) {
        return false;
    }
    let mut last = 0u8;
    for b in body.bytes() {
        last = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return false,
        };
    }
    match body.len() % 4 {
        0 => true,
        2 => last & 0x0f == 0,
        3 => last & 0x03 == 0,
        _ => false,
    }
}

/// A part's `thoughtSignature`, without the placeholders that carry no reasoning.
fn part_signature(p: &Value, path: &str) -> Result<Option<String>, TranslateError> {
    Ok(get_str(p, "thoughtSignature", path)?
        .filter(|s| !s.is_empty() && *s != SKIP_SIGNATURE && *s != OTHER_PLACEHOLDER_SIGNATURE)
        .map(str::to_string))
}

// ---------------------------------------------------------------------------------------------
// Decoding contents

/// Ids for function calls that arrive without one, and the pairing of results with calls.
struct CallIds {
    prefix: String,
    next: usize,
    /// (id, name, answered)
    calls: Vec<(String, String, bool)>,
}

impl CallIds {
    fn new(prefix: String) -> CallIds {
        CallIds {
            prefix,
            next: 0,
            calls: Vec::new(),
        }
    }

    fn generated(&mut self) -> String {
        let id = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        id
    }

    fn call(&mut self, given: Option<&str>, name: &str) -> String {
        let id = match given.filter(|s| !s.is_empty()) {
            Some(s) => {
                // Keep generated ids aligned with call positions even when some calls have ids.
                self.next += 1;
                s.to_string()
            }
            None => self.generated(),
        };
        self.calls.push((id.clone(), name.to_string(), false));
        id
    }

    fn result(&mut self, given: Option<&str>, name: &str) -> String {
        if let Some(g) = given.filter(|s| !s.is_empty()) {
            if let Some(c) = self.calls.iter_mut().find(|c| c.0 == g && !c.2) {
                c.2 = true;
            }
            return g.to_string();
        }
        if let Some(c) = self.calls.iter_mut().find(|c| !c.2 && c.1 == name) {
            c.2 = true;
            return c.0.clone();
        }
        self.generated()
    }
}

/// Text of a JSON value: strings as they are, anything else as JSON text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `functionResponse.response` → (text, is_error).
fn decode_function_response(resp: Option<&Value>) -> (String, bool) {
    match resp {
        None => (String::new(), false),
        Some(Value::Object(m)) if m.len() == 1 => {
            // `result` is what google-genai's automatic function calling wraps results in.
            if let Some(o) = m.get("output").or_else(|| m.get("result")) {
                (value_text(o), false)
            } else if let Some(e) = m.get("error") {
                (value_text(e), true)
            } else {
                (Value::Object(m.clone()).to_string(), false)
            }
        }
        Some(v) => (value_text(v), false),
    }
}

/// An `inlineData` or `fileData` part as an image; `None` (or an error when `strict`) for other
/// media.
fn decode_media(p: &Value, path: &str, strict: bool) -> Result<Option<Part>, TranslateError> {
    if let Some(d) = get_object(p, "inlineData", path)? {
        let dp = format!("{path}.inlineData");
        let mime = get_str(d, "mimeType", &dp)?.unwrap_or("");
        let data =
            get_str(d, "data", &dp)?.ok_or_else(|| invalid(format!("{dp}.data is required")))?;
        if mime.starts_with("image/") {
            return Ok(Some(Part::Image(ImageSource::Base64 {
                media_type: mime.to_string(),
                data: data.to_string(),
            })));
        }
        if strict {
            return Err(unsupported(format!("inlineData with mimeType '{mime}'")));
        }
        return Ok(None);
    }
    if let Some(d) = get_object(p, "fileData", path)? {
        let dp = format!("{path}.fileData");
        let uri = get_str(d, "fileUri", &dp)?
            .ok_or_else(|| invalid(format!("{dp}.fileUri is required")))?;
        match get_str(d, "mimeType", &dp)? {
            Some(m) if !m.starts_with("image/") => {
                if strict {
                    return Err(unsupported(format!("fileData with mimeType '{m}'")));
                }
                return Ok(None);
            }
            _ => return Ok(Some(Part::Image(ImageSource::Url(uri.to_string())))),
        }
    }
    Ok(None)
}

/// Decodes one part onto `out` (the parts of the message being built). `strict` refuses parts
/// the canonical model cannot carry (requests); answers skip them.
fn decode_part(
    p: &Value,
    path: &str,
    ids: &mut CallIds,
    out: &mut Vec<Part>,
    strict: bool,
) -> Result<(), TranslateError> {
    if !p.is_object() {
        return Err(invalid(format!("{path} must be an object")));
    }
    let sig = part_signature(p, path)?;
    let text = get_str(p, "text", path)?;
    if get_bool(p, "thought", path)?.unwrap_or(false) {
        let t = text.unwrap_or("");
        // Streamed thoughts arrive in pieces; an unsigned block continues until a signature.
        if let Some(Part::Thinking { text, signature }) = out.last_mut() {
            if signature.is_none() {
                text.push_str(t);
                *signature = sig;
                return Ok(());
            }
        }
        if !t.is_empty() || sig.is_some() {
            out.push(Part::Thinking {
                text: t.to_string(),
                signature: sig,
            });
        }
        return Ok(());
    }
    if let Some(s) = sig {
        match out.last_mut() {
            Some(Part::Thinking { signature, .. }) if signature.is_none() => *signature = Some(s),
            _ => out.push(Part::Thinking {
                text: String::new(),
                signature: Some(s),
            }),
        }
    }
    if let Some(t) = text {
        if !t.is_empty() {
            out.push(Part::Text(t.to_string()));
        }
        return Ok(());
    }
    if let Some(fc) = get_object(p, "functionCall", path)? {
        let fp = format!("{path}.functionCall");
        let name =
            get_str(fc, "name", &fp)?.ok_or_else(|| invalid(format!("{fp}.name is required")))?;
        let id = ids.call(get_str(fc, "id", &fp)?, name);
        let arguments = match field(fc, "args") {
            Some(a) => a.to_string(),
            None => "{}".to_string(),
        };
        out.push(Part::ToolCall(ToolCall {
            id,
            name: name.to_string(),
            arguments,
        }));
        return Ok(());
    }
    if let Some(fr) = get_object(p, "functionResponse", path)? {
        let fp = format!("{path}.functionResponse");
        let name = get_str(fr, "name", &fp)?.unwrap_or("");
        let call_id = ids.result(get_str(fr, "id", &fp)?, name);
        let (text, is_error) = decode_function_response(field(fr, "response"));
        let mut content = vec![Part::Text(text)];
        if let Some(extra) = get_array(fr, "parts", &fp)? {
            for (j, ep) in extra.iter().enumerate() {
                if let Some(img) = decode_media(ep, &format!("{fp}.parts[{j}]"), strict)? {
                    content.push(img);
                }
            }
        }
        out.push(Part::ToolResult(ToolResult {
            call_id,
            name: (!name.is_empty()).then(|| name.to_string()),
            content,
            is_error,
        }));
        return Ok(());
    }
    if let Some(img) = decode_media(p, path, strict)? {
        out.push(img);
        return Ok(());
    }
    if strict {
        for key in [
            "executableCode",
            "codeExecutionResult",
            "toolCall",
            "toolResponse",
        ] {
            if field(p, key).is_some() {
                return Err(unsupported(format!("'{key}' parts")));
            }
        }
    }
    // Parts with nothing we read (videoMetadata alone, empty objects) carry nothing to translate.
    Ok(())
}

/// Decodes `contents` into messages, merging consecutive contents of one role (streamed history
/// arrives as one content per chunk).
fn decode_contents(
    contents: &[Value],
    ids: &mut CallIds,
    strict: bool,
) -> Result<Vec<Message>, TranslateError> {
    let mut messages: Vec<Message> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let path = format!("contents[{i}]");
        if !c.is_object() {
            return Err(invalid(format!("{path} must be an object")));
        }
        let role = match get_str(c, "role", &path)?.unwrap_or("user") {
            "user" | "function" | "" => Role::User,
            "model" => Role::Assistant,
            other => {
                return Err(invalid(format!(
                    "{path}.role must be 'user' or 'model', not '{other}'"
                )))
            }
        };
        let parts = get_array(c, "parts", &path)?
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if messages.last().map(|m| m.role) != Some(role) {
            messages.push(Message {
                role,
                parts: Vec::new(),
            });
        }
        if let Some(msg) = messages.last_mut() {
            for (j, p) in parts.iter().enumerate() {
                decode_part(
                    p,
                    &format!("{path}.parts[{j}]"),
                    ids,
                    &mut msg.parts,
                    strict,
                )?;
            }
        }
    }
    messages.retain(|m| !m.parts.is_empty());
    Ok(messages)
}

// ---------------------------------------------------------------------------------------------
// Schemas

/// Gemini's OpenAPI-style `Schema` (upper-case types, `nullable`) as JSON Schema.
fn openapi_to_json_schema(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (k, val) in m {
        let k = camel_key(k);
        match k.as_str() {
            "type" => {
                if let Some(t) = val.as_str() {
                    let t = t.to_ascii_lowercase();
                    if t != "type_unspecified" {
                        out.insert(k, Value::String(t));
                    }
                } else {
                    out.insert(k, val.clone());
                }
            }
            "nullable" => nullable = val.as_bool().unwrap_or(false),
            "propertyOrdering" | "example" => {}
            "properties" => {
                let props = match val {
                    Value::Object(p) => Value::Object(
                        p.iter()
                            .map(|(name, s)| (name.clone(), openapi_to_json_schema(s)))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(k, props);
            }
            "items" => {
                out.insert(k, openapi_to_json_schema(val));
            }
            "anyOf" => {
                let list = match val {
                    Value::Array(a) => Value::Array(a.iter().map(openapi_to_json_schema).collect()),
                    other => other.clone(),
                };
                out.insert(k, list);
            }
            _ => {
                out.insert(k, val.clone());
            }
        }
    }
    if nullable {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        } else if let Some(Value::Array(list)) = out.get_mut("anyOf") {
            list.push(json!({"type": "null"}));
        }
    }
    Value::Object(out)
}

/// A JSON schema as Gemini takes it: the root `$schema` is meaningless to Gemini.
fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("$schema") => {
            let mut m = m.clone();
            m.remove("$schema");
            Value::Object(m)
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// decode_request

/// Decodes a google-genai `generateContent` request body into the canonical request. The model
/// comes from the URL: `model` is left empty for the caller to set.
pub fn decode_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    if !body.is_object() {
        return Err(invalid("the request body must be a JSON object"));
    }
    let mut req = ChatRequest::default();

    if let Some(si) = field(body, "systemInstruction") {
        req.system = decode_system(si)?;
    }

    let contents =
        get_array(body, "contents", "request")?.ok_or_else(|| invalid("contents is required"))?;
    if contents.is_empty() {
        return Err(invalid("contents must not be empty"));
    }
    let mut ids = CallIds::new("call_".to_string());
    req.messages = decode_contents(contents, &mut ids, true)?;

    if let Some(tools) = get_array(body, "tools", "request")? {
        for (i, t) in tools.iter().enumerate() {
            decode_tool(t, &format!("tools[{i}]"), &mut req.tools)?;
        }
    }
    if let Some(tc) = get_object(body, "toolConfig", "request")? {
        decode_tool_config(tc, &mut req)?;
    }
    if field(body, "cachedContent").is_some() {
        return Err(unsupported("cachedContent"));
    }
    if let Some(gc) = get_object(body, "generationConfig", "request")? {
        decode_generation_config(gc, &mut req)?;
    }
    Ok(req)
}

fn decode_system(si: &Value) -> Result<Vec<String>, TranslateError> {
    if let Some(s) = si.as_str() {
        return Ok(vec![s.to_string()]);
    }
    if !si.is_object() {
        return Err(invalid("systemInstruction must be an object"));
    }
    let mut out = Vec::new();
    if let Some(parts) = get_array(si, "parts", "systemInstruction")? {
        for (j, p) in parts.iter().enumerate() {
            let path = format!("systemInstruction.parts[{j}]");
            if !p.is_object() {
                return Err(invalid(format!("{path} must be an object")));
            }
            if let Some(t) = get_str(p, "text", &path)? {
                if !t.is_empty() {
                    out.push(t.to_string());
                }
            }
        }
    }
    Ok(out)
}

fn decode_tool(t: &Value, path: &str, tools: &mut Vec<Tool>) -> Result<(), TranslateError> {
    let Some(obj) = t.as_object() else {
        return Err(invalid(format!("{path} must be an object")));
    };
    for (key, val) in obj {
        if val.is_null() {
            continue;
        }
        let key = camel_key(key);
        if key != "functionDeclarations" {
            return Err(unsupported(format!("the Gemini built-in tool '{key}'")));
        }
        let decls = val
            .as_array()
            .ok_or_else(|| invalid(format!("{path}.functionDeclarations must be an array")))?;
        for (j, d) in decls.iter().enumerate() {
            let dp = format!("{path}.functionDeclarations[{j}]");
            if !d.is_object() {
                return Err(invalid(format!("{dp} must be an object")));
            }
            let name = get_str(d, "name", &dp)?
                .ok_or_else(|| invalid(format!("{dp}.name is required")))?;
            let parameters = if let Some(s) = field(d, "parametersJsonSchema") {
                s.clone()
            } else if let Some(s) = field(d, "parameters") {
                openapi_to_json_schema(s)
            } else {
                json!({"type": "object"})
            };
            tools.push(Tool {
                name: name.to_string(),
                description: get_str(d, "description", &dp)?.map(str::to_string),
                parameters,
                strict: None,
            });
        }
    }
    Ok(())
}

fn decode_tool_config(tc: &Value, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let Some(fcc) = get_object(tc, "functionCallingConfig", "toolConfig")? else {
        return Ok(());
    };
    let path = "toolConfig.functionCallingConfig";
    let names: Vec<String> = match get_array(fcc, "allowedFunctionNames", path)? {
        Some(list) => list
            .iter()
            .map(|n| {
                n.as_str().map(str::to_string).ok_or_else(|| {
                    invalid(format!("{path}.allowedFunctionNames must hold strings"))
                })
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let mode = get_str(fcc, "mode", path)?
        .unwrap_or("")
        .to_ascii_uppercase();
    req.tool_choice = match mode.as_str() {
        "AUTO" | "VALIDATED" => Some(ToolChoice::Auto),
        "NONE" => Some(ToolChoice::None),
        "ANY" => match names.as_slice() {
            [one] => Some(ToolChoice::Tool(one.clone())),
            [] => Some(ToolChoice::Required),
            several => {
                // "Call one of these" is "call a tool" over just these tools.
                req.tools.retain(|t| several.contains(&t.name));
                Some(ToolChoice::Required)
            }
        },
        "" | "MODE_UNSPECIFIED" => None,
        other => {
            return Err(invalid(format!(
                "{path}.mode must be AUTO, ANY, NONE or VALIDATED, not '{other}'"
            )))
        }
    };
    Ok(())
}

fn decode_generation_config(gc: &Value, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let path = "generationConfig";
    req.temperature = get_f64(gc, "temperature", path)?;
    req.top_p = get_f64(gc, "topP", path)?;
    req.top_k = get_u64(gc, "topK", path)?;
    req.max_tokens = get_u64(gc, "maxOutputTokens", path)?;
    req.presence_penalty = get_f64(gc, "presencePenalty", path)?;
    req.frequency_penalty = get_f64(gc, "frequencyPenalty", path)?;
    req.seed = get_i64(gc, "seed", path)?;
    if let Some(stops) = get_array(gc, "stopSequences", path)? {
        for s in stops {
            let s = s
                .as_str()
                .ok_or_else(|| invalid(format!("{path}.stopSequences must hold strings")))?;
            req.stop.push(s.to_string());
        }
    }
    if get_u64(gc, "candidateCount", path)?.unwrap_or(1) > 1 {
        return Err(unsupported("candidateCount > 1"));
    }
    if get_bool(gc, "responseLogprobs", path)?.unwrap_or(false) {
        return Err(unsupported("responseLogprobs"));
    }
    if field(gc, "logprobs").is_some() {
        return Err(unsupported("logprobs"));
    }
    if let Some(mods) = get_array(gc, "responseModalities", path)? {
        for m in mods {
            let m = m.as_str().unwrap_or("");
            if !m.eq_ignore_ascii_case("TEXT") {
                return Err(unsupported(format!("responseModalities '{m}'")));
            }
        }
    }

    let schema = if let Some(s) = field(gc, "responseJsonSchema") {
        Some(s.clone())
    } else {
        field(gc, "responseSchema").map(openapi_to_json_schema)
    };
    let mime = get_str(gc, "responseMimeType", path)?.unwrap_or("");
    req.response_format = match (mime, schema) {
        ("application/json" | "" | "text/plain", Some(schema)) => ResponseFormat::JsonSchema {
            name: schema
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_string(),
            schema,
            strict: true,
        },
        ("application/json", None) => ResponseFormat::JsonObject,
        ("" | "text/plain", None) => ResponseFormat::Text,
        (other, _) => return Err(unsupported(format!("responseMimeType '{other}'"))),
    };

    if let Some(tc) = get_object(gc, "thinkingConfig", path)? {
        let tp = "generationConfig.thinkingConfig";
        let budget = get_i64(tc, "thinkingBudget", tp)?;
        let level = get_str(tc, "thinkingLevel", tp)?
            .map(str::to_ascii_lowercase)
            .filter(|l| !l.is_empty() && l != "thinking_level_unspecified");
        let include = get_bool(tc, "includeThoughts", tp)?.unwrap_or(false);
        if budget.is_some() || level.is_some() || include {
            req.reasoning = Some(Reasoning {
                effort: level,
                // -1 asks for a dynamic budget: no fixed number.
                budget_tokens: budget.and_then(|b| u64::try_from(b).ok()),
                include_thoughts: include,
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding contents

/// The MIME type Gemini needs with a `fileData` URL, from its extension.
fn guess_image_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "bmp" => "image/bmp",
        _ => "image/jpeg",
    }
}

fn encode_image(src: &ImageSource) -> Value {
    match src {
        ImageSource::Base64 { media_type, data } => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        ImageSource::Url(url) => {
            if let Some(rest) = url.strip_prefix("data:") {
                if let Some((meta, data)) = rest.split_once(',') {
                    if let Some(mime) = meta.strip_suffix(";base64") {
                        return json!({"inlineData": {"mimeType": mime, "data": data}});
                    }
                }
            }
            json!({"fileData": {"mimeType": guess_image_mime(url), "fileUri": url}})
        }
    }
}

/// Tool-call arguments (JSON text) as the object Gemini takes.
fn parse_args(args: &str) -> Option<Value> {
    if args.trim().is_empty() {
        return Some(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// A tool result as `functionResponse.response`.
fn encode_function_response(tr: &ToolResult) -> Value {
    let texts: Vec<&str> = tr
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let text = texts.join("\n");
    let parsed = serde_json::from_str::<Value>(&text).ok();
    if tr.is_error {
        return match parsed {
            Some(v @ (Value::Object(_) | Value::Array(_))) => json!({ "error": v }),
            _ => json!({ "error": text }),
        };
    }
    match parsed {
        Some(v @ Value::Object(_)) => v,
        _ => json!({ "output": text }),
    }
}

fn set_signature(part: &mut Value, sig: String) {
    if let Some(obj) = part.as_object_mut() {
        obj.insert("thoughtSignature".into(), Value::String(sig));
    }
}

/// Encodes one non-thinking part (possibly as several Gemini parts). `names` maps call ids to
/// tool names, filled as calls are met. In requests a malformed part is an error; answers fall
/// back to something Gemini clients can read.
fn encode_content_part(
    part: &Part,
    names: &mut HashMap<String, String>,
    request: bool,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    match part {
        Part::Text(t) => {
            if !t.is_empty() {
                out.push(json!({ "text": t }));
            }
        }
        Part::Image(src) => out.push(encode_image(src)),
        Part::ToolCall(tc) => {
            names.insert(tc.id.clone(), tc.name.clone());
            let args = match parse_args(&tc.arguments) {
                Some(a) => a,
                None if request => {
                    return Err(invalid(format!(
                        "the arguments of tool call '{}' are not a JSON object",
                        tc.id
                    )))
                }
                None => json!({}),
            };
            let mut call = Map::new();
            if !tc.id.is_empty() {
                call.insert("id".into(), Value::String(tc.id.clone()));
            }
            call.insert("name".into(), Value::String(tc.name.clone()));
            call.insert("args".into(), args);
            out.push(json!({ "functionCall": call }));
        }
        Part::ToolResult(tr) => {
            let name = match tr.name.clone().or_else(|| names.get(&tr.call_id).cloned()) {
                Some(n) => n,
                None if request => {
                    return Err(invalid(format!(
                        "tool result '{}' answers no earlier tool call (Gemini needs the function name)",
                        tr.call_id
                    )))
                }
                None => String::new(),
            };
            let mut resp = Map::new();
            if !tr.call_id.is_empty() {
                resp.insert("id".into(), Value::String(tr.call_id.clone()));
            }
            resp.insert("name".into(), Value::String(name));
            resp.insert("response".into(), encode_function_response(tr));
            out.push(json!({ "functionResponse": resp }));
            for p in &tr.content {
                if let Part::Image(src) = p {
                    out.push(encode_image(src));
                }
            }
        }
        Part::Thinking { .. } | Part::RedactedThinking { .. } => {}
    }
    Ok(())
}

/// Encodes a message's parts, keeping thought signatures in place (see the module docs). In
/// requests, thinking without a usable signature is dropped; answers keep it as thought text.
fn encode_parts(
    parts: &[Part],
    names: &mut HashMap<String, String>,
    request: bool,
) -> Result<Vec<Value>, TranslateError> {
    let mut out: Vec<Value> = Vec::new();
    // A signature waiting for the next part; `Some(i)` when `out[i]` is the thought text it closes.
    let mut pending: Option<(String, Option<usize>)> = None;
    let flush = |pending: &mut Option<(String, Option<usize>)>, out: &mut Vec<Value>| {
        if let Some((sig, at)) = pending.take() {
            match at.and_then(|i| out.get_mut(i)) {
                Some(p) => set_signature(p, sig),
                None => out.push(json!({"text": "", "thoughtSignature": sig})),
            }
        }
    };
    for part in parts {
        match part {
            Part::Thinking { text, signature } => {
                let sig = signature.as_deref().filter(|s| is_signature(s));
                if sig.is_none() && request {
                    continue;
                }
                flush(&mut pending, &mut out);
                let at = if text.is_empty() {
                    None
                } else {
                    out.push(json!({"text": text, "thought": true}));
                    Some(out.len() - 1)
                };
                if let Some(s) = sig {
                    pending = Some((s.to_string(), at));
                }
            }
            Part::RedactedThinking { .. } => {}
            other => {
                let start = out.len();
                encode_content_part(other, names, request, &mut out)?;
                if out.len() > start {
                    if let Some((sig, _)) = pending.take() {
                        set_signature(&mut out[start], sig);
                    }
                }
            }
        }
    }
    flush(&mut pending, &mut out);
    Ok(out)
}

/// Gives the first function call of a model turn a signature when it has none (Gemini 3
/// refuses function calls of the current turn without one).
fn ensure_call_signature(parts: &mut [Value]) {
    if let Some(first) = parts.iter_mut().find(|p| p.get("functionCall").is_some()) {
        if first.get("thoughtSignature").is_none() {
            set_signature(first, SKIP_SIGNATURE.to_string());
        }
    }
}

/// Encodes the conversation; `request: false` never fails (for token counting, where a
/// malformed turn should still be counted).
fn encode_contents(messages: &[Message], request: bool) -> Result<Vec<Value>, TranslateError> {
    let mut names = HashMap::new();
    // (role, parts) with consecutive same-role messages merged: Gemini wants all results of a
    // turn's parallel calls in one content.
    let mut contents: Vec<(Role, Vec<Value>)> = Vec::new();
    for msg in messages {
        let parts = encode_parts(&msg.parts, &mut names, request)?;
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((role, existing)) if *role == msg.role => existing.extend(parts),
            _ => contents.push((msg.role, parts)),
        }
    }
    Ok(contents
        .into_iter()
        .map(|(role, mut parts)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => {
                    ensure_call_signature(&mut parts);
                    "model"
                }
            };
            json!({"role": role, "parts": parts})
        })
        .collect())
}

/// The thinking budget sent for an OpenAI-style effort (valid for every Gemini 2.5 model).
fn effort_budget(effort: &str) -> Option<u64> {
    match effort {
        "none" => Some(0),
        "minimal" => Some(512),
        "low" => Some(1024),
        "medium" => Some(8192),
        "high" | "xhigh" => Some(24576),
        _ => None,
    }
}

fn encode_generation_config(req: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let mut gc = Map::new();
    if let Some(n) = req.max_tokens {
        gc.insert("maxOutputTokens".into(), n.into());
    }
    if let Some(t) = req.temperature {
        gc.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        gc.insert("topP".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        gc.insert("topK".into(), k.into());
    }
    if !req.stop.is_empty() {
        if req.stop.len() > MAX_STOP_SEQUENCES {
            return Err(unsupported(format!(
                "more than {MAX_STOP_SEQUENCES} stop sequences"
            )));
        }
        gc.insert("stopSequences".into(), json!(req.stop));
    }
    if let Some(p) = req.presence_penalty {
        gc.insert("presencePenalty".into(), json!(p));
    }
    if let Some(p) = req.frequency_penalty {
        gc.insert("frequencyPenalty".into(), json!(p));
    }
    if let Some(s) = req.seed {
        gc.insert("seed".into(), s.into());
    }
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            gc.insert("responseMimeType".into(), "application/json".into());
        }
        ResponseFormat::JsonSchema { schema, .. } => {
            gc.insert("responseMimeType".into(), "application/json".into());
            gc.insert("responseJsonSchema".into(), clean_schema(schema));
        }
    }
    if let Some(r) = &req.reasoning {
        let mut tc = Map::new();
        let budget = r
            .budget_tokens
            .or_else(|| r.effort.as_deref().and_then(effort_budget));
        if let Some(b) = budget {
            tc.insert("thinkingBudget".into(), b.into());
        }
        if r.include_thoughts {
            tc.insert("includeThoughts".into(), true.into());
        }
        if !tc.is_empty() {
            gc.insert("thinkingConfig".into(), Value::Object(tc));
        }
    }
    Ok(gc)
}

/// Encodes the canonical request as a Gemini `generateContent` body (the model goes in the URL).
pub fn encode_request(req: &ChatRequest) -> Result<Value, TranslateError> {
    let contents = encode_contents(&req.messages, true)?;
    if contents.is_empty() {
        return Err(invalid("the request has no message content to send"));
    }
    let mut body = encode_prompt(req, contents);
    let gc = encode_generation_config(req)?;
    if !gc.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gc));
    }
    Ok(Value::Object(body))
}

/// Contents, system instruction, tools and tool config: everything but generation settings.
fn encode_prompt(req: &ChatRequest, contents: Vec<Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !req.system.is_empty() {
        let parts: Vec<Value> = req.system.iter().map(|s| json!({ "text": s })).collect();
        body.insert("systemInstruction".into(), json!({ "parts": parts }));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), Value::String(t.name.clone()));
                if let Some(desc) = &t.description {
                    d.insert("description".into(), Value::String(desc.clone()));
                }
                d.insert("parametersJsonSchema".into(), clean_schema(&t.parameters));
                Value::Object(d)
            })
            .collect();
        body.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
        if let Some(choice) = &req.tool_choice {
            let fcc = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            body.insert("toolConfig".into(), json!({ "functionCallingConfig": fcc }));
        }
    }
    body
}

// ---------------------------------------------------------------------------------------------
// Answers

/// Gemini's `finishReason` as a canonical stop reason (`STOP` with function calls is a tool stop).
fn decode_finish(reason: &str, has_tool_calls: bool) -> StopReason {
    match reason {
        "STOP" | "" | "FINISH_REASON_UNSPECIFIED" => {
            if has_tool_calls {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            }
        }
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// Finish reasons the google-genai SDK knows; others are sent as `OTHER`.
const KNOWN_FINISH_REASONS: &[&str] = &[
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

fn encode_finish(stop: &StopReason) -> &str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence(_) | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter | StopReason::Refusal => "SAFETY",
        StopReason::Other(s) => KNOWN_FINISH_REASONS
            .iter()
            .find(|k| **k == s.as_str())
            .copied()
            .unwrap_or("OTHER"),
    }
}

fn decode_usage(u: &Value) -> Usage {
    let thoughts = count(u, "thoughtsTokenCount");
    Usage {
        input_tokens: count(u, "promptTokenCount") + count(u, "toolUsePromptTokenCount"),
        output_tokens: count(u, "candidatesTokenCount") + thoughts,
        cached_input_tokens: count(u, "cachedContentTokenCount"),
        cache_creation_input_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

fn encode_usage(u: &Usage) -> Value {
    let mut m = Map::new();
    m.insert("promptTokenCount".into(), u.input_tokens.into());
    m.insert(
        "candidatesTokenCount".into(),
        u.output_tokens.saturating_sub(u.reasoning_tokens).into(),
    );
    if u.reasoning_tokens > 0 {
        m.insert("thoughtsTokenCount".into(), u.reasoning_tokens.into());
    }
    if u.cached_input_tokens > 0 {
        m.insert(
            "cachedContentTokenCount".into(),
            u.cached_input_tokens.into(),
        );
    }
    m.insert(
        "totalTokenCount".into(),
        (u.input_tokens + u.output_tokens).into(),
    );
    Value::Object(m)
}

/// The prefix of generated call ids in an answer: unique per response when it has an id.
fn answer_call_prefix(response_id: &str) -> String {
    if response_id.is_empty() {
        "call_".to_string()
    } else {
        format!("call_{response_id}_")
    }
}

fn made_up_id() -> String {
    format!("gemini-{}", now_secs())
}

/// Decodes a Gemini `generateContent` answer into the canonical response.
pub fn decode_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    if !body.is_object() {
        return Err(upstream("the Gemini answer is not a JSON object"));
    }
    if let Some(e) = field(body, "error") {
        let msg = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(upstream(format!("Gemini returned an error: {msg}")));
    }
    let response_id = field(body, "responseId")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut resp = ChatResponse {
        id: if response_id.is_empty() {
            made_up_id()
        } else {
            response_id.to_string()
        },
        model: field(body, "modelVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        created: field(body, "createTime")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or_else(now_secs),
        ..ChatResponse::default()
    };
    if let Some(u) = field(body, "usageMetadata") {
        resp.usage = decode_usage(u);
    }
    let candidate = field(body, "candidates")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let Some(candidate) = candidate else {
        let blocked = field(body, "promptFeedback")
            .and_then(|f| field(f, "blockReason"))
            .is_some();
        if blocked {
            resp.stop = StopReason::ContentFilter;
            return Ok(resp);
        }
        return Err(upstream("the Gemini answer has no candidates"));
    };
    let parts = field(candidate, "content")
        .and_then(|c| field(c, "parts"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut ids = CallIds::new(answer_call_prefix(response_id));
    for (j, p) in parts.iter().enumerate() {
        decode_part(
            p,
            &format!("candidates[0].content.parts[{j}]"),
            &mut ids,
            &mut resp.parts,
            false,
        )
        .map_err(|e| upstream(e.to_string()))?;
    }
    let has_calls = resp.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let reason = field(candidate, "finishReason")
        .and_then(Value::as_str)
        .unwrap_or("");
    resp.stop = decode_finish(reason, has_calls);
    Ok(resp)
}

/// Encodes the canonical answer as a Gemini `generateContent` response for google-genai callers.
pub fn encode_response(resp: &ChatResponse) -> Value {
    let mut names = HashMap::new();
    let parts = encode_parts(&resp.parts, &mut names, false).unwrap_or_default();
    let mut cand = Map::new();
    if !parts.is_empty() {
        cand.insert("content".into(), json!({"parts": parts, "role": "model"}));
    }
    cand.insert("finishReason".into(), encode_finish(&resp.stop).into());
    cand.insert("index".into(), 0.into());
    json!({
        "candidates": [Value::Object(cand)],
        "usageMetadata": encode_usage(&resp.usage),
        "modelVersion": resp.model,
        "responseId": resp.id,
        "createTime": format_rfc3339(resp.created),
    })
}

// ---------------------------------------------------------------------------------------------
// Streams

/// How the provider's stream is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not known until the first non-blank byte.
    Unknown,
    /// `?alt=sse`: one JSON chunk per `data:`.
    Sse,
    /// No `alt=sse`: one JSON array whose elements arrive as they are made.
    Array,
}

/// Reads a `streamGenerateContent` body (SSE, or the JSON-array form) into canonical events.
pub struct StreamDecoder {
    framing: Framing,
    sse: SseParser,
    sse_events: Vec<SseEvent>,
    /// JSON-array framing: the element being read, its brace depth and string state.
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    started: bool,
    finished: bool,
    response_id: String,
    tool_index: u32,
    usage: Option<Usage>,
    usage_sent: Option<Usage>,
    error: Option<ProviderError>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder::new()
    }
}

impl StreamDecoder {
    /// A decoder that has read nothing.
    pub fn new() -> StreamDecoder {
        StreamDecoder {
            framing: Framing::Unknown,
            sse: SseParser::new(),
            sse_events: Vec::new(),
            element: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            started: false,
            finished: false,
            response_id: String::new(),
            tool_index: 0,
            usage: None,
            usage_sent: None,
            error: None,
        }
    }

    /// The error the provider sent inside the stream, after `feed` failed because of it (so the
    /// caller can forward it in the caller's format rather than a generic 502).
    pub fn take_error(&mut self) -> Option<ProviderError> {
        self.error.take()
    }

    fn chunk(&mut self, v: &Value, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(e) = field(v, "error") {
            let status = e
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0);
            let err = error_from_object(status, e)
                .unwrap_or_else(|| ProviderError::new(500, "Gemini stream error"));
            let msg = format!("Gemini stream error: {}", err.message);
            self.error = Some(err);
            return Err(upstream(msg));
        }
        if !self.started {
            self.started = true;
            self.response_id = field(v, "responseId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            out.push(StreamEvent::Start {
                id: if self.response_id.is_empty() {
                    made_up_id()
                } else {
                    self.response_id.clone()
                },
                model: field(v, "modelVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        let candidate = field(v, "candidates")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(c) = candidate {
            let parts = field(c, "content")
                .and_then(|c| field(c, "parts"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for p in parts {
                self.part(p, out);
            }
            if let Some(reason) = field(c, "finishReason").and_then(Value::as_str) {
                if reason != "FINISH_REASON_UNSPECIFIED" {
                    out.push(StreamEvent::Finish(decode_finish(
                        reason,
                        self.tool_index > 0,
                    )));
                    self.finished = true;
                }
            }
        } else if field(v, "promptFeedback")
            .and_then(|f| field(f, "blockReason"))
            .is_some()
        {
            out.push(StreamEvent::Finish(StopReason::ContentFilter));
            self.finished = true;
        }
        if let Some(u) = field(v, "usageMetadata") {
            self.usage = Some(decode_usage(u));
        }
        if self.finished && self.usage.is_some() && self.usage != self.usage_sent {
            self.send_usage(out);
        }
        Ok(())
    }

    fn send_usage(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(u) = self.usage {
            out.push(StreamEvent::Usage(u));
            self.usage_sent = Some(u);
        }
    }

    fn part(&mut self, p: &Value, out: &mut Vec<StreamEvent>) {
        let sig = part_signature(p, "part").ok().flatten();
        let text = field(p, "text").and_then(Value::as_str).unwrap_or("");
        if field(p, "thought")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            if !text.is_empty() {
                out.push(StreamEvent::ThinkingDelta(text.to_string()));
            }
            if let Some(s) = sig {
                out.push(StreamEvent::ThinkingSignature(s));
            }
            return;
        }
        if let Some(s) = sig {
            out.push(StreamEvent::ThinkingSignature(s));
        }
        if !text.is_empty() {
            out.push(StreamEvent::TextDelta(text.to_string()));
        } else if let Some(fc) = field(p, "functionCall") {
            let index = self.tool_index;
            self.tool_index += 1;
            let id = match field(fc, "id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_string(),
                _ => format!("{}{index}", answer_call_prefix(&self.response_id)),
            };
            out.push(StreamEvent::ToolCallStart {
                index,
                id,
                name: field(fc, "name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
            // Gemini sends a call whole: its arguments are one piece.
            let arguments = field(fc, "args").map_or_else(|| "{}".to_string(), Value::to_string);
            out.push(StreamEvent::ToolCallDelta { index, arguments });
        }
    }

    fn feed_sse(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        self.sse
            .feed(bytes, &mut self.sse_events)
            .map_err(upstream)?;
        self.drain_sse(out)
    }

    fn drain_sse(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let events = std::mem::take(&mut self.sse_events);
        for ev in events {
            let data = ev.data.trim();
            if data.is_empty() || data == "[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_str(data)
                .map_err(|e| upstream(format!("bad Gemini stream chunk: {e}")))?;
            self.chunk(&v, out)?;
        }
        Ok(())
    }

    fn feed_array(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        for &b in bytes {
            if self.depth == 0 {
                // Between elements: `[`, `,`, `]` and blanks.
                if b == b'{' {
                    self.element.clear();
                    self.element.push(b);
                    self.depth = 1;
                }
                continue;
            }
            self.element.push(b);
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' => self.depth += 1,
                b'}' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let element = std::mem::take(&mut self.element);
                        let v: Value = serde_json::from_slice(&element)
                            .map_err(|e| upstream(format!("bad Gemini stream element: {e}")))?;
                        self.chunk(&v, out)?;
                    }
                }
                _ => {}
            }
            if self.element.len() > MAX_STREAM_OBJECT {
                return Err(upstream("Gemini stream element too large"));
            }
        }
        Ok(())
    }
}

impl StreamDecode for StreamDecoder {
    fn take_error(&mut self) -> Option<ProviderError> {
        StreamDecoder::take_error(self)
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let mut bytes = bytes;
        if self.framing == Framing::Unknown {
            let skip = bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(bytes.len());
            bytes = &bytes[skip..];
            match bytes.first() {
                None => return Ok(()),
                Some(b'[') => self.framing = Framing::Array,
                Some(_) => self.framing = Framing::Sse,
            }
        }
        match self.framing {
            Framing::Array => self.feed_array(bytes, out),
            _ => self.feed_sse(bytes, out),
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.framing == Framing::Sse {
            self.sse.end(&mut self.sse_events);
            self.drain_sse(out)?;
        }
        if self.depth > 0 {
            return Err(upstream("the Gemini stream was cut inside a chunk"));
        }
        if !self.started {
            return Err(upstream("the Gemini stream ended before any chunk"));
        }
        if !self.finished {
            return Err(upstream("the Gemini stream ended without a finishReason"));
        }
        if self.usage.is_some() && self.usage != self.usage_sent {
            self.send_usage(out);
        }
        Ok(())
    }
}

/// A tool call of the answer, held until complete: Gemini clients take a call only whole.
struct PendingCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
    signature: Option<String>,
}

/// Writes canonical events as a google-genai `alt=sse` stream: one `data:` chunk per text or
/// thinking piece, tool calls whole, and a last chunk with `finishReason` and `usageMetadata`.
pub struct StreamEncoder {
    id: String,
    model: String,
    calls: Vec<PendingCall>,
    /// A signature for the next part; `true` when it closes thought text already sent.
    signature: Option<(String, bool)>,
    thinking_open: bool,
    finish: Option<StopReason>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamEncoder {
    /// An encoder for the answer to `req` (its model names the answer until `Start` says more).
    pub fn new(req: &ChatRequest) -> StreamEncoder {
        StreamEncoder {
            id: String::new(),
            model: req.model.clone(),
            calls: Vec::new(),
            signature: None,
            thinking_open: false,
            finish: None,
            usage: None,
            done: false,
        }
    }

    fn write_chunk(
        &self,
        parts: Vec<Value>,
        finish: Option<&str>,
        usage: Option<&Usage>,
        out: &mut Vec<u8>,
    ) {
        let mut cand = Map::new();
        cand.insert("content".into(), json!({"parts": parts, "role": "model"}));
        if let Some(f) = finish {
            cand.insert("finishReason".into(), f.into());
        }
        cand.insert("index".into(), 0.into());
        let mut chunk = Map::new();
        chunk.insert("candidates".into(), json!([Value::Object(cand)]));
        if let Some(u) = usage {
            chunk.insert("usageMetadata".into(), encode_usage(u));
        }
        if !self.model.is_empty() {
            chunk.insert("modelVersion".into(), Value::String(self.model.clone()));
        }
        if !self.id.is_empty() {
            chunk.insert("responseId".into(), Value::String(self.id.clone()));
        }
        let bytes = serde_json::to_vec(&Value::Object(chunk)).unwrap_or_default();
        sse::write_data(&bytes, out);
    }

    /// The buffered tool calls as parts (emptying the buffer).
    fn call_parts(&mut self) -> Vec<Value> {
        let mut names = HashMap::new();
        let mut parts = Vec::new();
        for call in std::mem::take(&mut self.calls) {
            let start = parts.len();
            let tc = Part::ToolCall(ToolCall {
                id: call.id,
                name: call.name,
                arguments: call.arguments,
            });
            // Answers never fail to encode: bad arguments become `{}`.
            let _ = encode_content_part(&tc, &mut names, false, &mut parts);
            if let (Some(sig), Some(p)) = (call.signature, parts.get_mut(start)) {
                set_signature(p, sig);
            }
        }
        parts
    }

    fn flush_calls(&mut self, out: &mut Vec<u8>) {
        if !self.calls.is_empty() {
            let parts = self.call_parts();
            self.write_chunk(parts, None, None, out);
        }
    }

    /// A pending signature as a part of its own (nothing followed that could carry it).
    fn signature_part(&mut self) -> Option<Value> {
        self.signature.take().map(|(sig, after_thought)| {
            if after_thought {
                json!({"text": "", "thought": true, "thoughtSignature": sig})
            } else {
                json!({"text": "", "thoughtSignature": sig})
            }
        })
    }
}

fn merge_usage(old: Option<Usage>, new: &Usage) -> Usage {
    let Some(mut u) = old else {
        return *new;
    };
    let pick = |old: u64, new: u64| if new != 0 { new } else { old };
    u.input_tokens = pick(u.input_tokens, new.input_tokens);
    u.output_tokens = pick(u.output_tokens, new.output_tokens);
    u.cached_input_tokens = pick(u.cached_input_tokens, new.cached_input_tokens);
    u.cache_creation_input_tokens = pick(
        u.cache_creation_input_tokens,
        new.cache_creation_input_tokens,
    );
    u.reasoning_tokens = pick(u.reasoning_tokens, new.reasoning_tokens);
    u
}

impl StreamEncode for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                if !model.is_empty() {
                    self.model = model.clone();
                }
            }
            StreamEvent::TextDelta(t) => {
                self.flush_calls(out);
                if t.is_empty() {
                    return;
                }
                let mut part = json!({ "text": t });
                if let Some((sig, _)) = self.signature.take() {
                    set_signature(&mut part, sig);
                }
                self.thinking_open = false;
                self.write_chunk(vec![part], None, None, out);
            }
            StreamEvent::ThinkingDelta(t) => {
                self.flush_calls(out);
                if t.is_empty() {
                    return;
                }
                let mut parts: Vec<Value> = self.signature_part().into_iter().collect();
                parts.push(json!({"text": t, "thought": true}));
                self.thinking_open = true;
                self.write_chunk(parts, None, None, out);
            }
            StreamEvent::ThinkingSignature(sig) => {
                self.flush_calls(out);
                if let Some(p) = self.signature_part() {
                    self.write_chunk(vec![p], None, None, out);
                }
                if is_signature(sig) {
                    self.signature = Some((sig.clone(), self.thinking_open));
                }
                self.thinking_open = false;
            }
            StreamEvent::RedactedThinking(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.thinking_open = false;
                self.calls.push(PendingCall {
                    index: *index,
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                    signature: self.signature.take().map(|(s, _)| s),
                });
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.index == *index) {
                    c.arguments.push_str(arguments);
                }
            }
            StreamEvent::Usage(u) => self.usage = Some(merge_usage(self.usage, u)),
            StreamEvent::Finish(r) => self.finish = Some(r.clone()),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        let mut parts = self.call_parts();
        parts.extend(self.signature_part());
        if parts.is_empty() {
            // google-genai's `chunk.text` is None for a chunk without a text part.
            parts.push(json!({"text": ""}));
        }
        let reason =
            encode_finish(self.finish.as_ref().unwrap_or(&StopReason::EndTurn)).to_string();
        let usage = self.usage;
        self.write_chunk(parts, Some(&reason), usage.as_ref(), out);
    }

    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        // google-genai raises APIError for a chunk that is `{"error": {...}}`.
        sse::write_data(&encode_error(err), out);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Google's canonical status name for an error class.
fn status_name(err: &ProviderError) -> &'static str {
    if err.status == 402 {
        return "RESOURCE_EXHAUSTED";
    }
    match err.class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge => "INVALID_ARGUMENT",
        ErrorClass::Authentication => "UNAUTHENTICATED",
        ErrorClass::PermissionDenied => "PERMISSION_DENIED",
        ErrorClass::NotFound => "NOT_FOUND",
        ErrorClass::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorClass::Overloaded => "UNAVAILABLE",
        ErrorClass::Timeout => "DEADLINE_EXCEEDED",
        ErrorClass::Server => "INTERNAL",
    }
}

/// The class a Google status name stands for.
fn class_of_status_name(name: &str) -> Option<ErrorClass> {
    Some(match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorClass::InvalidRequest,
        "UNAUTHENTICATED" => ErrorClass::Authentication,
        "PERMISSION_DENIED" => ErrorClass::PermissionDenied,
        "NOT_FOUND" => ErrorClass::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorClass::RateLimited,
        "UNAVAILABLE" => ErrorClass::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorClass::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorClass::Server,
        _ => return None,
    })
}

/// A Google error object (`{"code","message","status"}`) as a neutral error.
fn error_from_object(status: u16, e: &Value) -> Option<ProviderError> {
    let message = e.get("message").and_then(Value::as_str)?.to_string();
    let code = e.get("status").and_then(Value::as_str).map(str::to_string);
    let named = code.as_deref().and_then(class_of_status_name);
    let status = if status >= 400 {
        status
    } else {
        e.get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c >= 400)
            .unwrap_or(500)
    };
    let class = match (ErrorClass::from_status(status), named) {
        // A 500 that Google names (stream errors carry no HTTP status) takes its name's class.
        (ErrorClass::Server, Some(c)) => c,
        (c, _) => c,
    };
    Some(ProviderError {
        status,
        class,
        message,
        code,
    })
}

/// Reads a Gemini error body (`{"error":{...}}`, or that inside an array); never fails.
pub fn decode_error(status: u16, body: &[u8]) -> ProviderError {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let e = v
            .get("error")
            .or_else(|| v.get(0).and_then(|first| first.get("error")));
        if let Some(err) = e.and_then(|e| error_from_object(status, e)) {
            return err;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("Gemini returned HTTP {status}")
    } else {
        text.chars().take(2000).collect()
    };
    ProviderError::new(status, message)
}

/// Writes an error as Google's error object, as the google-genai SDK reads it.
pub fn encode_error(err: &ProviderError) -> Vec<u8> {
    let status = match err.code.as_deref() {
        Some(c) if class_of_status_name(c).is_some() => c.to_string(),
        _ => status_name(err).to_string(),
    };
    let body = json!({"error": {"code": err.status, "message": err.message, "status": status}});
    serde_json::to_vec(&body).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Embeddings and token counting

/// `models/{model}`, the form Gemini's bodies name models in.
fn model_resource(model: &str) -> String {
    if model.starts_with("models/") {
        model.to_string()
    } else {
        format!("models/{model}")
    }
}

/// Encodes an embeddings request as a Gemini `:batchEmbedContents` body (AI Studio).
pub fn encode_embed_request(req: &EmbedRequest) -> Value {
    let model = model_resource(&req.model);
    let requests: Vec<Value> = req
        .inputs
        .iter()
        .map(|text| {
            let mut r = Map::new();
            r.insert("model".into(), Value::String(model.clone()));
            r.insert("content".into(), json!({"parts": [{ "text": text }]}));
            if let Some(d) = req.dimensions {
                r.insert("outputDimensionality".into(), d.into());
            }
            Value::Object(r)
        })
        .collect();
    json!({ "requests": requests })
}

/// Decodes a `:batchEmbedContents` answer (`model` is left for the caller to set).
pub fn decode_embed_response(body: &Value) -> Result<EmbedResponse, TranslateError> {
    let list = field(body, "embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("the Gemini embeddings answer has no 'embeddings' array"))?;
    let mut vectors = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let values = field(e, "values")
            .and_then(Value::as_array)
            .ok_or_else(|| upstream(format!("embeddings[{i}] has no 'values' array")))?;
        let v = values
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| upstream(format!("embeddings[{i}].values must be numbers")))?;
        vectors.push(v);
    }
    Ok(EmbedResponse {
        model: String::new(),
        vectors,
        input_tokens: field(body, "usageMetadata").map_or(0, |u| count(u, "promptTokenCount")),
    })
}

/// The prompt of a chat request for counting: generation settings do not change the count, and
/// a request the generation encoder would refuse (say 6 stop sequences) can still be counted.
fn count_tokens_prompt(req: &ChatRequest) -> Map<String, Value> {
    let contents = encode_contents(&req.messages, false).unwrap_or_default();
    encode_prompt(req, contents)
}

/// Encodes a chat request as an AI Studio `:countTokens` body: the prompt goes in
/// `generateContentRequest` (with its `models/{model}`), so system instructions and tools count.
pub fn encode_count_tokens_request(req: &ChatRequest) -> Value {
    let mut inner = count_tokens_prompt(req);
    inner.insert("model".into(), Value::String(model_resource(&req.model)));
    json!({ "generateContentRequest": inner })
}

/// Encodes a chat request as a Vertex AI `:countTokens` body (its fields sit at the top level;
/// Vertex takes no `toolConfig` there).
pub fn encode_count_tokens_request_vertex(req: &ChatRequest) -> Value {
    let mut body = count_tokens_prompt(req);
    body.remove("toolConfig");
    Value::Object(body)
}

/// Decodes a Gemini `:countTokens` request: `{contents}` (what google-genai sends to AI Studio),
/// `{generateContentRequest: {...}}`, or Vertex's top-level `contents`/`systemInstruction`/`tools`.
pub fn decode_count_tokens_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    match field(body, "generateContentRequest") {
        Some(inner) => decode_request(inner),
        None => decode_request(body),
    }
}

/// Reads a `:countTokens` answer's `totalTokens` (absent means zero, as proto JSON omits zeros).
pub fn decode_count_tokens_response(body: &Value) -> Result<u64, TranslateError> {
    if !body.is_object() {
        return Err(upstream(
            "the Gemini countTokens answer is not a JSON object",
        ));
    }
    Ok(count(body, "totalTokens"))
}

// ---------------------------------------------------------------------------------------------
// Timestamps (Vertex's `createTime`)

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds of an RFC 3339 timestamp (`2025-01-02T03:04:05.123456Z`, or with an offset).
fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { s.get(from..to)?.parse().ok() };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest.get(1..)?.split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

/// An RFC 3339 UTC timestamp of Unix seconds.
fn format_rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(0);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::fixtures;

    fn native(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    const TEXT_REQ: &str = include_str!("../../tests/fixtures/translate/gemini/text.request.json");
    const TOOL_REQ: &str = include_str!("../../tests/fixtures/translate/gemini/tool.request.json");
    const IMAGE_REQ: &str =
        include_str!("../../tests/fixtures/translate/gemini/image.request.json");
    const SCHEMA_REQ: &str =
        include_str!("../../tests/fixtures/translate/gemini/json_schema.request.json");
    const THINKING_REQ: &str =
        include_str!("../../tests/fixtures/translate/gemini/thinking.request.json");
    const TEXT_RESP: &str =
        include_str!("../../tests/fixtures/translate/gemini/text.response.json");
    const TOOL_RESP: &str =
        include_str!("../../tests/fixtures/translate/gemini/tool.response.json");
    const TEXT_STREAM: &str = include_str!("../../tests/fixtures/translate/gemini/text.stream.sse");
    const TOOL_STREAM: &str = include_str!("../../tests/fixtures/translate/gemini/tool.stream.sse");

    /// What decoding the Gemini form of a canonical request gives: the model is in the URL, and
    /// Gemini carries tool names on results and no schema name.
    fn as_decoded(mut req: ChatRequest) -> ChatRequest {
        req.model = String::new();
        for m in &mut req.messages {
            let mut names = HashMap::new();
            for p in &mut m.parts {
                if let Part::ToolResult(tr) = p {
                    if tr.name.is_none() {
                        tr.name = names
                            .get(&tr.call_id)
                            .cloned()
                            .or(Some("get_weather".into()));
                    }
                } else if let Part::ToolCall(tc) = p {
                    names.insert(tc.id.clone(), tc.name.clone());
                }
            }
        }
        if let ResponseFormat::JsonSchema { name, .. } = &mut req.response_format {
            *name = "response".into();
        }
        req
    }

    fn request_cases() -> Vec<(&'static str, &'static str, ChatRequest)> {
        vec![
            ("text", TEXT_REQ, fixtures::text_request()),
            ("tool", TOOL_REQ, fixtures::tool_request()),
            ("image", IMAGE_REQ, fixtures::image_request()),
            ("json_schema", SCHEMA_REQ, fixtures::json_schema_request()),
            ("thinking", THINKING_REQ, fixtures::thinking_request()),
        ]
    }

    #[test]
    fn golden_requests_decode() {
        for (name, text, canonical) in request_cases() {
            let got = decode_request(&native(text)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, as_decoded(canonical), "{name}");
        }
    }

    #[test]
    fn golden_requests_encode() {
        for (name, text, canonical) in request_cases() {
            let got = encode_request(&canonical).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, native(text), "{name}");
        }
    }

    #[test]
    fn golden_responses_both_ways() {
        for (name, text, canonical) in [
            ("text", TEXT_RESP, fixtures::text_response()),
            ("tool", TOOL_RESP, fixtures::tool_response()),
        ] {
            assert_eq!(decode_response(&native(text)).unwrap(), canonical, "{name}");
            assert_eq!(encode_response(&canonical), native(text), "{name}");
        }
    }

    /// Gemini sends a call's arguments whole: the fixture's pieces arrive as one.
    fn coalesce(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        let mut out: Vec<StreamEvent> = Vec::new();
        for ev in events {
            if let StreamEvent::ToolCallDelta { index, arguments } = &ev {
                if let Some(StreamEvent::ToolCallDelta {
                    index: last,
                    arguments: acc,
                }) = out.last_mut()
                {
                    if last == index {
                        acc.push_str(arguments);
                        continue;
                    }
                }
            }
            out.push(ev);
        }
        out
    }

    fn decode_in_two(bytes: &[u8], cut: usize) -> Result<Vec<StreamEvent>, TranslateError> {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes[..cut], &mut out)?;
        d.feed(&bytes[cut..], &mut out)?;
        d.end(&mut out)?;
        Ok(out)
    }

    fn decode_bytewise(bytes: &[u8]) -> Vec<StreamEvent> {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        for b in bytes {
            d.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        d.end(&mut out).unwrap();
        out
    }

    /// The canonical stream's signature is not base64 (google-genai would refuse the chunk), so
    /// the Gemini stream carries a real one: base64 of the same text.
    fn with_real_signature(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        events
            .into_iter()
            .map(|e| match e {
                StreamEvent::ThinkingSignature(s) if s == "sig-xyz" => {
                    StreamEvent::ThinkingSignature("c2lnLXh5eg==".into())
                }
                other => other,
            })
            .collect()
    }

    fn stream_cases() -> Vec<(&'static str, &'static str, Vec<StreamEvent>)> {
        vec![
            ("text", TEXT_STREAM, fixtures::text_stream()),
            (
                "tool",
                TOOL_STREAM,
                with_real_signature(fixtures::tool_stream()),
            ),
        ]
    }

    #[test]
    fn stream_encoder_drops_signatures_sdks_cannot_parse() {
        let bytes = encode_stream(&fixtures::tool_stream());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("sig-xyz"));
        let back = decode_in_two(&bytes, 0).unwrap();
        let expected: Vec<StreamEvent> = coalesce(fixtures::tool_stream())
            .into_iter()
            .filter(|e| !matches!(e, StreamEvent::ThinkingSignature(_)))
            .collect();
        assert_eq!(back, expected);
    }

    #[test]
    fn golden_streams_decode_at_every_split() {
        for (name, text, events) in stream_cases() {
            let expected = coalesce(events);
            let bytes = text.as_bytes();
            for cut in 0..=bytes.len() {
                let got = decode_in_two(bytes, cut).unwrap_or_else(|e| panic!("{name} {cut}: {e}"));
                assert_eq!(got, expected, "{name} cut at {cut}");
            }
            assert_eq!(decode_bytewise(bytes), expected, "{name} bytewise");
        }
    }

    fn encode_stream(events: &[StreamEvent]) -> Vec<u8> {
        let mut enc = StreamEncoder::new(&fixtures::text_request());
        let mut out = Vec::new();
        for ev in events {
            enc.event(ev, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn golden_streams_encode_and_read_back() {
        for (name, text, events) in stream_cases() {
            let bytes = encode_stream(&events);
            assert_eq!(String::from_utf8_lossy(&bytes), text, "{name}");
            assert_eq!(
                decode_in_two(&bytes, 0).unwrap(),
                coalesce(events),
                "{name} read back"
            );
        }
    }

    #[test]
    fn real_world_stream_with_crlf_and_running_usage() {
        let stream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 5}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc-_1\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 2,\"totalTokenCount\": 27,\"thoughtsTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc-_1\"}\r\n\r\n";
        let expected = vec![
            StreamEvent::Start {
                id: "abc-_1".into(),
                model: "gemini-2.5-flash".into(),
            },
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo".into()),
            StreamEvent::Finish(StopReason::EndTurn),
            StreamEvent::Usage(Usage {
                input_tokens: 5,
                output_tokens: 22,
                reasoning_tokens: 20,
                ..Usage::default()
            }),
        ];
        for cut in 0..=stream.len() {
            assert_eq!(
                decode_in_two(stream.as_bytes(), cut).unwrap(),
                expected,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn json_array_stream_without_alt_sse() {
        let stream = "[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a{\\\"}\"}],\"role\": \"model\"},\"index\": 0}],\"responseId\": \"r\"}\r\n,\r\n{\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"f\",\"args\": {\"x\": [1]}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 3,\"candidatesTokenCount\": 4,\"totalTokenCount\": 7},\"responseId\": \"r\"}\r\n]";
        let expected = vec![
            StreamEvent::Start {
                id: "r".into(),
                model: String::new(),
            },
            StreamEvent::TextDelta("a{\"}".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_r_0".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"x\":[1]}".into(),
            },
            StreamEvent::Finish(StopReason::ToolUse),
            StreamEvent::Usage(Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            }),
        ];
        for cut in 0..=stream.len() {
            assert_eq!(
                decode_in_two(stream.as_bytes(), cut).unwrap(),
                expected,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn stream_decoder_reports_cut_streams_and_errors() {
        let cut_short =
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\n\n";
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.feed(cut_short, &mut out).unwrap();
        assert!(d.end(&mut out).is_err());
        assert!(StreamDecoder::new().end(&mut Vec::new()).is_err());

        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        d.feed(b"[{\"candidates\":[]", &mut out).unwrap();
        assert!(d.end(&mut out).is_err());

        let err = b"data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n";
        let mut d = StreamDecoder::new();
        assert!(matches!(
            d.feed(err, &mut Vec::new()),
            Err(TranslateError::Upstream(_))
        ));
        let e = d.take_error().unwrap();
        assert_eq!(e.status, 503);
        assert_eq!(e.class, ErrorClass::Overloaded);
        assert_eq!(e.message, "The model is overloaded.");
    }

    #[test]
    fn stream_encoder_error_is_what_the_sdk_raises_on() {
        let mut enc = StreamEncoder::new(&fixtures::text_request());
        let mut out = Vec::new();
        enc.event(
            &StreamEvent::Start {
                id: "r".into(),
                model: "m".into(),
            },
            &mut out,
        );
        enc.event(&StreamEvent::TextDelta("Hi".into()), &mut out);
        enc.error(&ProviderError::new(429, "slow down"), &mut out);
        enc.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert_eq!(
            last,
            "data: {\"error\":{\"code\":429,\"message\":\"slow down\",\"status\":\"RESOURCE_EXHAUSTED\"}}"
        );
        assert_eq!(text.matches("data: ").count(), 2);
    }

    #[test]
    fn stream_encoder_places_signatures_and_buffers_calls() {
        let events = vec![
            StreamEvent::Start {
                id: "r".into(),
                model: "m".into(),
            },
            StreamEvent::ThinkingDelta("a".into()),
            StreamEvent::ThinkingSignature("c2ln".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "t0".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "t1".into(),
                name: "g".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::ThinkingDelta("b".into()),
            StreamEvent::ThinkingSignature("c2lnMg".into()),
            StreamEvent::Finish(StopReason::ToolUse),
        ];
        let bytes = encode_stream(&events);
        let chunks: Vec<Value> = String::from_utf8(bytes.clone())
            .unwrap()
            .split("\n\n")
            .filter(|c| !c.is_empty())
            .map(|c| native(c.strip_prefix("data: ").unwrap()))
            .collect();
        let parts = |i: usize| chunks[i]["candidates"][0]["content"]["parts"].clone();
        assert_eq!(parts(0), json!([{"text": "a", "thought": true}]));
        assert_eq!(
            parts(1),
            json!([
                {"functionCall": {"id": "t0", "name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"id": "t1", "name": "g", "args": {}}}
            ])
        );
        assert_eq!(parts(2), json!([{"text": "b", "thought": true}]));
        assert_eq!(
            parts(3),
            json!([{"text": "", "thought": true, "thoughtSignature": "c2lnMg"}])
        );
        assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
        // Read back, the stream says the same (arguments whole).
        let back = decode_in_two(&bytes, 0).unwrap();
        assert_eq!(
            back[1..4],
            [
                StreamEvent::ThinkingDelta("a".into()),
                StreamEvent::ThinkingSignature("c2ln".into()),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "t0".into(),
                    name: "f".into()
                },
            ]
        );
        assert!(back.contains(&StreamEvent::ThinkingSignature("c2lnMg".into())));
    }

    #[test]
    fn signatures_keep_their_place_through_a_round_trip() {
        let contents = json!([
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [
                {"functionCall": {"id": "a", "name": "f", "args": {}}, "thoughtSignature": "QUJD"},
                {"functionCall": {"id": "b", "name": "f", "args": {}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "a", "name": "f", "response": {"output": "1"}}},
                {"functionResponse": {"id": "b", "name": "f", "response": {"output": "2"}}}
            ]},
            {"role": "model", "parts": [
                {"text": "t", "thought": true, "thoughtSignature": "REVG"},
                {"text": "answer", "thoughtSignature": "R0hJ"},
                {"text": "", "thoughtSignature": "SktM"}
            ]}
        ]);
        let req = decode_request(&json!({ "contents": contents })).unwrap();
        assert_eq!(
            req.messages[1].parts[0],
            Part::Thinking {
                text: String::new(),
                signature: Some("QUJD".into())
            }
        );
        assert_eq!(
            req.messages[3].parts,
            vec![
                Part::Thinking {
                    text: "t".into(),
                    signature: Some("REVG".into())
                },
                Part::Thinking {
                    text: String::new(),
                    signature: Some("R0hJ".into())
                },
                Part::Text("answer".into()),
                Part::Thinking {
                    text: String::new(),
                    signature: Some("SktM".into())
                },
            ]
        );
        assert_eq!(encode_request(&req).unwrap()["contents"], contents);
    }

    #[test]
    fn streamed_history_merges_thoughts_and_signature() {
        // History kept by an SDK from a stream: one content per chunk.
        let body = json!({"contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"text": "th", "thought": true}]},
            {"role": "model", "parts": [{"text": "ink", "thought": true}]},
            {"role": "model", "parts": [{"text": "", "thought": true, "thoughtSignature": "c2ln"}]},
            {"role": "model", "parts": [{"text": "A"}]},
        ]});
        let req = decode_request(&body).unwrap();
        assert_eq!(req.messages.len(), 2);
        assert_eq!(
            req.messages[1].parts,
            vec![
                Part::Thinking {
                    text: "think".into(),
                    signature: Some("c2ln".into())
                },
                Part::Text("A".into())
            ]
        );
    }

    #[test]
    fn encode_drops_unsigned_and_foreign_thinking_and_signs_calls() {
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![Part::Text("q".into())],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "from o1".into(),
                            signature: None,
                        },
                        Part::Thinking {
                            text: "bad".into(),
                            signature: Some("not base64!".into()),
                        },
                        Part::RedactedThinking { data: "x".into() },
                        Part::Text("ok".into()),
                        Part::ToolCall(ToolCall {
                            id: "c".into(),
                            name: "f".into(),
                            arguments: String::new(),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: "c".into(),
                        name: None,
                        content: vec![Part::Text("{\"temp\":18}".into())],
                        is_error: false,
                    })],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::Text("more".into())],
                },
            ],
            ..ChatRequest::default()
        };
        let body = encode_request(&req).unwrap();
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [
                    {"text": "ok"},
                    {"functionCall": {"id": "c", "name": "f", "args": {}},
                     "thoughtSignature": "skip_thought_signature_validator"}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "c", "name": "f", "response": {"temp": 18}}},
                    {"text": "more"}
                ]}
            ])
        );
        // The placeholder is not reasoning: decoding drops it.
        let back = decode_request(&body).unwrap();
        assert!(matches!(back.messages[1].parts[1], Part::ToolCall(_)));
        assert_eq!(back.messages[1].parts.len(), 2);
    }

    #[test]
    fn function_calls_without_ids_pair_by_name_and_order() {
        let body = json!({"contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "a", "args": {"x": 1}}},
                {"functionCall": {"name": "b"}},
                {"functionCall": {"name": "a", "args": {"x": 2}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "b", "response": {"error": "boom"}}},
                {"functionResponse": {"name": "a", "response": {"v": 1}}},
                {"functionResponse": {"name": "a", "response": {"output": {"v": 2}}}}
            ]}
        ]});
        let req = decode_request(&body).unwrap();
        let calls: Vec<(String, String)> = req.messages[1]
            .parts
            .iter()
            .map(|p| match p {
                Part::ToolCall(tc) => (tc.id.clone(), tc.arguments.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                ("call_0".into(), "{\"x\":1}".into()),
                ("call_1".into(), "{}".into()),
                ("call_2".into(), "{\"x\":2}".into())
            ]
        );
        let results: Vec<(String, String, bool)> = req.messages[2]
            .parts
            .iter()
            .map(|p| match p {
                Part::ToolResult(tr) => match &tr.content[0] {
                    Part::Text(t) => (tr.call_id.clone(), t.clone(), tr.is_error),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            results,
            vec![
                ("call_1".into(), "boom".into(), true),
                ("call_0".into(), "{\"v\":1}".into(), false),
                ("call_2".into(), "{\"v\":2}".into(), false)
            ]
        );
        // Error results go back under "error".
        let back = encode_request(&req).unwrap();
        assert_eq!(
            back["contents"][2]["parts"][0]["functionResponse"]["response"],
            json!({"error": "boom"})
        );
    }

    #[test]
    fn snake_case_and_sdk_shapes_decode() {
        let body = json!({
            "contents": [{"role": "user", "parts": [{"text": "q"}, {"inline_data": {"mime_type": "image/jpeg", "data": "AAAA"}}]}],
            "system_instruction": {"role": "user", "parts": [{"text": "s1"}, {"text": "s2"}]},
            "tools": [{"function_declarations": [{"name": "f", "parameters": {
                "type": "OBJECT",
                "properties": {"n": {"type": "INTEGER", "nullable": true}, "e": {"type": "STRING", "enum": ["a"]}},
                "required": ["e"],
                "propertyOrdering": ["n", "e"]
            }}]}],
            "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
            "generation_config": {
                "top_k": 40.0, "seed": -3, "candidate_count": 1, "presence_penalty": 0.1,
                "frequency_penalty": 0.2, "response_mime_type": "application/json",
                "response_schema": {"type": "OBJECT", "title": "Out", "properties": {"a": {"type": "STRING"}}},
                "thinking_config": {"thinking_budget": -1, "include_thoughts": true}
            },
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
        });
        let req = decode_request(&body).unwrap();
        assert_eq!(req.system, vec!["s1".to_string(), "s2".to_string()]);
        assert_eq!(
            req.messages[0].parts[1],
            Part::Image(ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "AAAA".into()
            })
        );
        assert_eq!(
            req.tools[0].parameters,
            json!({
                "type": "object",
                "properties": {"n": {"type": ["integer", "null"]}, "e": {"type": "string", "enum": ["a"]}},
                "required": ["e"]
            })
        );
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert_eq!(req.top_k, Some(40));
        assert_eq!(req.seed, Some(-3));
        assert_eq!(req.presence_penalty, Some(0.1));
        assert_eq!(req.frequency_penalty, Some(0.2));
        assert_eq!(
            req.response_format,
            ResponseFormat::JsonSchema {
                name: "Out".into(),
                schema: json!({"type": "object", "title": "Out", "properties": {"a": {"type": "string"}}}),
                strict: true
            }
        );
        assert_eq!(
            req.reasoning,
            Some(Reasoning {
                effort: None,
                budget_tokens: None,
                include_thoughts: true
            })
        );
    }

    #[test]
    fn tool_choice_and_json_mode_mappings() {
        let base = json!({"contents": [{"parts": [{"text": "q"}]}],
            "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}]});
        let with = |mode: Value| {
            let mut b = base.clone();
            b["toolConfig"] = json!({ "functionCallingConfig": mode });
            decode_request(&b).unwrap()
        };
        assert_eq!(
            with(json!({"mode": "NONE"})).tool_choice,
            Some(ToolChoice::None)
        );
        assert_eq!(
            with(json!({"mode": "ANY"})).tool_choice,
            Some(ToolChoice::Required)
        );
        let some = with(json!({"mode": "ANY", "allowedFunctionNames": ["a", "c"]}));
        assert_eq!(some.tool_choice, Some(ToolChoice::Required));
        assert_eq!(
            some.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(some.tools[0].parameters, json!({"type": "object"}));

        let mut req = decode_request(&base).unwrap();
        for (choice, expected) in [
            (ToolChoice::Auto, json!({"mode": "AUTO"})),
            (ToolChoice::None, json!({"mode": "NONE"})),
            (ToolChoice::Required, json!({"mode": "ANY"})),
            (
                ToolChoice::Tool("b".into()),
                json!({"mode": "ANY", "allowedFunctionNames": ["b"]}),
            ),
        ] {
            req.tool_choice = Some(choice);
            assert_eq!(
                encode_request(&req).unwrap()["toolConfig"]["functionCallingConfig"],
                expected
            );
        }

        let mut json_mode = base.clone();
        json_mode["generationConfig"] = json!({"responseMimeType": "application/json"});
        let req = decode_request(&json_mode).unwrap();
        assert_eq!(req.response_format, ResponseFormat::JsonObject);
        assert_eq!(
            encode_request(&req).unwrap()["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
    }

    #[test]
    fn reasoning_effort_becomes_a_budget() {
        let mut req = fixtures::text_request();
        req.reasoning = Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
            include_thoughts: false,
        });
        assert_eq!(
            encode_request(&req).unwrap()["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 8192})
        );
        let body = json!({"contents": [{"parts": [{"text": "q"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}});
        assert_eq!(
            decode_request(&body)
                .unwrap()
                .reasoning
                .unwrap()
                .effort
                .as_deref(),
            Some("high")
        );
        let off = json!({"contents": [{"parts": [{"text": "q"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}});
        assert_eq!(
            decode_request(&off)
                .unwrap()
                .reasoning
                .unwrap()
                .budget_tokens,
            Some(0)
        );
    }

    #[test]
    fn images_by_url_and_data_url() {
        let mut req = fixtures::image_request();
        req.messages[0].parts = vec![
            Part::Image(ImageSource::Url("https://x.test/p/cat.WEBP?sig=1".into())),
            Part::Image(ImageSource::Url("https://x.test/render".into())),
            Part::Image(ImageSource::Url("data:image/gif;base64,R0lG".into())),
        ];
        assert_eq!(
            encode_request(&req).unwrap()["contents"][0]["parts"],
            json!([
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/p/cat.WEBP?sig=1"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/render"}},
                {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}}
            ])
        );
    }

    #[test]
    fn refusals() {
        let q = json!([{"parts": [{"text": "q"}]}]);
        for (body, what) in [
            (
                json!({"contents": q, "tools": [{"googleSearch": {}}]}),
                "googleSearch",
            ),
            (
                json!({"contents": q, "tools": [{"code_execution": {}}]}),
                "codeExecution",
            ),
            (
                json!({"contents": q, "tools": [{"urlContext": {}}]}),
                "urlContext",
            ),
            (
                json!({"contents": q, "generationConfig": {"candidateCount": 2}}),
                "candidateCount",
            ),
            (
                json!({"contents": q, "cachedContent": "cachedContents/x"}),
                "cachedContent",
            ),
            (
                json!({"contents": q, "generationConfig": {"responseModalities": ["IMAGE"]}}),
                "responseModalities",
            ),
            (
                json!({"contents": q, "generationConfig": {"responseMimeType": "text/x.enum"}}),
                "responseMimeType",
            ),
            (
                json!({"contents": q, "generationConfig": {"responseLogprobs": true}}),
                "responseLogprobs",
            ),
            (
                json!({"contents": [{"parts": [{"inlineData": {"mimeType": "audio/mp3", "data": "AA=="}}]}]}),
                "audio/mp3",
            ),
            (
                json!({"contents": [{"parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f.pdf"}}]}]}),
                "application/pdf",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"executableCode": {"code": "1"}}]}]}),
                "executableCode",
            ),
        ] {
            match decode_request(&body) {
                Err(TranslateError::Unsupported(m)) => assert!(m.contains(what), "{m} / {what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        let mut req = fixtures::text_request();
        req.stop = (0..6).map(|i| i.to_string()).collect();
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Unsupported(_))
        ));
    }

    #[test]
    fn invalid_requests_name_the_field() {
        for (body, what) in [
            (json!([]), "JSON object"),
            (json!({}), "contents"),
            (json!({"contents": {}}), "contents"),
            (json!({"contents": []}), "contents"),
            (
                json!({"contents": [{"parts": [{"text": 1}]}]}),
                "contents[0].parts[0].text",
            ),
            (
                json!({"contents": [{"role": "system", "parts": []}]}),
                "contents[0].role",
            ),
            (json!({"contents": [{"parts": "x"}]}), "contents[0].parts"),
            (
                json!({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}),
                "functionCall.name",
            ),
            (
                json!({"contents": [{"parts": [{"text": "q"}]}], "generationConfig": {"temperature": "hot"}}),
                "temperature",
            ),
            (
                json!({"contents": [{"parts": [{"text": "q"}]}], "generationConfig": {"maxOutputTokens": -1}}),
                "maxOutputTokens",
            ),
            (
                json!({"contents": [{"parts": [{"text": "q"}]}], "tools": [{"functionDeclarations": [{}]}]}),
                "name",
            ),
            (
                json!({"contents": [{"parts": [{"text": "q"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
                "mode",
            ),
        ] {
            match decode_request(&body) {
                Err(TranslateError::Invalid(m)) => assert!(m.contains(what), "{m} / {what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        // A result for a call Gemini cannot name, and arguments that are not an object.
        let mut req = fixtures::tool_request();
        req.messages.remove(1);
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Invalid(_))
        ));
        let mut req = fixtures::tool_request();
        if let Part::ToolCall(tc) = &mut req.messages[1].parts[0] {
            tc.arguments = "[1]".into();
        }
        assert!(matches!(
            encode_request(&req),
            Err(TranslateError::Invalid(_))
        ));
    }

    #[test]
    fn answers_finish_reasons_usage_and_blocks() {
        let body = json!({
            "candidates": [{"content": {"parts": [
                {"text": "hmm", "thought": true},
                {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "g", "args": {}}}
            ], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
                "toolUsePromptTokenCount": 2, "totalTokenCount": 24},
            "modelVersion": "gemini-2.5-pro", "responseId": "xyz"
        });
        let resp = decode_response(&body).unwrap();
        assert_eq!(resp.stop, StopReason::ToolUse);
        assert_eq!(
            resp.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 12,
                reasoning_tokens: 7,
                ..Usage::default()
            }
        );
        assert_eq!(
            resp.parts,
            vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("c2ln".into())
                },
                Part::ToolCall(ToolCall {
                    id: "call_xyz_0".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into()
                }),
                Part::ToolCall(ToolCall {
                    id: "call_xyz_1".into(),
                    name: "g".into(),
                    arguments: "{}".into()
                }),
            ]
        );
        let back = encode_response(&resp);
        assert_eq!(
            back["candidates"][0]["content"]["parts"],
            json!([
                {"text": "hmm", "thought": true},
                {"functionCall": {"id": "call_xyz_0", "name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"id": "call_xyz_1", "name": "g", "args": {}}}
            ])
        );
        assert_eq!(
            back["usageMetadata"],
            json!({"promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "totalTokenCount": 24})
        );

        for (reason, stop, back) in [
            ("MAX_TOKENS", StopReason::MaxTokens, "MAX_TOKENS"),
            ("SAFETY", StopReason::ContentFilter, "SAFETY"),
            ("RECITATION", StopReason::ContentFilter, "SAFETY"),
            (
                "MALFORMED_FUNCTION_CALL",
                StopReason::Other("MALFORMED_FUNCTION_CALL".into()),
                "MALFORMED_FUNCTION_CALL",
            ),
        ] {
            let b = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]});
            let r = decode_response(&b).unwrap();
            assert_eq!(r.stop, stop);
            assert_eq!(encode_response(&r)["candidates"][0]["finishReason"], back);
        }
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
        let r = decode_response(&blocked).unwrap();
        assert_eq!(r.stop, StopReason::ContentFilter);
        assert!(r.parts.is_empty());
        assert!(encode_response(&r)["candidates"][0]
            .get("content")
            .is_none());
        assert!(decode_response(&json!({"candidates": []})).is_err());
        assert!(decode_response(&json!("x")).is_err());
        let other = ChatResponse {
            stop: StopReason::Other("length_exceeded".into()),
            ..fixtures::text_response()
        };
        assert_eq!(
            encode_response(&other)["candidates"][0]["finishReason"],
            "OTHER"
        );
    }

    #[test]
    fn errors_map_both_ways() {
        let body = br#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#;
        let e = decode_error(429, body);
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(e.message, "Resource has been exhausted (e.g. check quota).");
        let arr = br#"[{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}]"#;
        assert_eq!(decode_error(404, arr).class, ErrorClass::NotFound);
        let raw = decode_error(502, b"<html>bad gateway</html>");
        assert_eq!(
            (raw.status, raw.message.as_str()),
            (502, "<html>bad gateway</html>")
        );
        assert_eq!(decode_error(500, b"").message, "Gemini returned HTTP 500");

        for (status, name) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (402, "RESOURCE_EXHAUSTED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (413, "INVALID_ARGUMENT"),
            (429, "RESOURCE_EXHAUSTED"),
            (500, "INTERNAL"),
            (503, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            let v: Value =
                serde_json::from_slice(&encode_error(&ProviderError::new(status, "m"))).unwrap();
            assert_eq!(
                v,
                json!({"error": {"code": status, "message": "m", "status": name}})
            );
            let again = decode_error(status, &encode_error(&ProviderError::new(status, "m")));
            assert_eq!(again.status, status);
        }
        let named = ProviderError {
            code: Some("FAILED_PRECONDITION".into()),
            ..ProviderError::new(400, "m")
        };
        let v: Value = serde_json::from_slice(&encode_error(&named)).unwrap();
        assert_eq!(v["error"]["status"], "FAILED_PRECONDITION");
    }

    #[test]
    fn embeddings_and_token_counts() {
        let req = EmbedRequest {
            model: "text-embedding-004".into(),
            inputs: vec!["a".into(), "b".into()],
            dimensions: Some(256),
        };
        assert_eq!(
            encode_embed_request(&req),
            json!({"requests": [
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256}
            ]})
        );
        let resp =
            decode_embed_response(&json!({"embeddings": [{"values": [0.5, -1]}, {"values": []}]}))
                .unwrap();
        assert_eq!(resp.vectors, vec![vec![0.5, -1.0], vec![]]);
        assert!(decode_embed_response(&json!({"embeddings": [{"values": ["x"]}]})).is_err());
        assert!(decode_embed_response(&json!({})).is_err());

        let mut chat = fixtures::tool_request();
        chat.stop = (0..9).map(|i| i.to_string()).collect();
        let body = encode_count_tokens_request(&chat);
        let mut expected = native(TOOL_REQ);
        expected["model"] = json!("models/test-model");
        expected.as_object_mut().unwrap().remove("generationConfig");
        assert_eq!(body, json!({ "generateContentRequest": expected }));
        let vertex = encode_count_tokens_request_vertex(&chat);
        assert_eq!(
            vertex.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["contents", "tools"]
        );
        let back = decode_count_tokens_request(&body).unwrap();
        assert_eq!(back.messages, as_decoded(fixtures::tool_request()).messages);
        assert_eq!(
            decode_count_tokens_request(&vertex).unwrap().tools,
            fixtures::tool_request().tools
        );
        assert_eq!(
            decode_count_tokens_response(&json!({"totalTokens": 31})).unwrap(),
            31
        );
        assert_eq!(decode_count_tokens_response(&json!({})).unwrap(), 0);
        assert!(decode_count_tokens_response(&json!([])).is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2023-13-14T22:13:20Z"), None);
        for secs in [0, 1_700_000_000, 1_709_208_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs));
        }
    }

    #[test]
    fn signature_check() {
        // What google-genai's parser accepts and refuses.
        for ok in [
            "sig-abc",
            "QUJD",
            "QUI=",
            "QUI",
            "QQ==",
            "QQ",
            "ab-_",
            "CiQB0e2Kb7+/",
            "c2lnLXh5eg==",
        ] {
            assert!(is_signature(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "abcde",
            "msg_01#x",
            "QQ===",
            "QQ=",
            "QR==",
            "QUJ",
            "msg_abc123",
            "sig-xyz",
            "has space",
        ] {
            assert!(!is_signature(bad), "{bad}");
        }
    }
}
