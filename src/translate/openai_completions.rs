//! The legacy OpenAI Completions API (`POST /v1/completions`) as a caller's format, for requests
//! whose model belongs to a chat provider (a request for a model of an OpenAI-compatible provider
//! is passed through and never comes here). Caller side only: `decode_request`,
//! `encode_response`, `StreamEncoder`, and `encode_error` (OpenAI's error shape, shared with Chat
//! Completions).
//!
//! - The prompt (a string, or an array of exactly one string) becomes one user text message: the
//!   chat model answers it as a chat turn, which is the point of routing it to a chat model.
//! - `max_tokens` defaults to 16, as on api.openai.com (and vLLM) for this endpoint.
//! - Refused (`TranslateError::Unsupported`, naming the field): several prompts, prompts as token
//!   ids, `suffix`, `echo: true`, `logprobs`, `best_of` > 1, `n` > 1, a non-empty `logit_bias`.
//! - Ignored: `user` is kept as the end-user id; `stream_options.include_obfuscation` and other
//!   fields without effect on the answer.
//! - Answers carry only the text: thinking and tool calls have no place in a text completion
//!   (tool calls cannot happen: the request has no tools). `finish_reason` is `stop`, `length`
//!   or `content_filter`.
//! - The stream is `text_completion` chunks (`choices[{text, index, logprobs: null,
//!   finish_reason: null}]`), a last chunk with empty text and the `finish_reason`, then with
//!   `stream_options.include_usage` a chunk with `choices: []` and the usage (every other chunk
//!   then has `usage: null`), then `data: [DONE]`. A failure is one `data: {"error": {...}}`.

use serde_json::{json, Map, Value};

use crate::translate::openai;
use crate::translate::sse::write_data;
use crate::translate::{
    invalid, model::*, now_secs, unsupported, ProviderError, StreamEncode, TranslateError,
};

/// `max_tokens` of a completion request that names none (the API's documented default).
pub const DEFAULT_MAX_TOKENS: u64 = 16;

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a number"))),
    }
}

fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a non-negative integer"))),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, TranslateError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("{key} must be a boolean"))),
    }
}

/// Decodes a caller's `POST /v1/completions` body into a one-turn chat request.
pub fn decode_request(body: &Value) -> Result<ChatRequest, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(invalid("model must be a string")),
        None => return Err(invalid("model: field required")),
    };
    let prompt = match field(obj, "prompt") {
        Some(Value::String(p)) => p.clone(),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(p)] => p.clone(),
            [] => return Err(invalid("prompt must not be empty")),
            [Value::Number(_), ..] | [Value::Array(_), ..] => {
                return Err(unsupported("prompt as token ids"))
            }
            [Value::String(_), ..] => return Err(unsupported("several prompts in one request")),
            _ => return Err(invalid("prompt must be a string or an array of strings")),
        },
        Some(_) => return Err(invalid("prompt must be a string or an array of strings")),
        None => return Err(invalid("prompt: field required")),
    };
    if field(obj, "suffix").is_some_and(|s| s.as_str() != Some("")) {
        return Err(unsupported("suffix"));
    }
    if opt_bool(obj, "echo")? == Some(true) {
        return Err(unsupported("echo"));
    }
    if field(obj, "logprobs").is_some() {
        return Err(unsupported("logprobs"));
    }
    if opt_u64(obj, "best_of")?.is_some_and(|n| n > 1) {
        return Err(unsupported("best_of > 1"));
    }
    match opt_u64(obj, "n")? {
        Some(0) => return Err(invalid("n must be a positive integer")),
        Some(n) if n > 1 => return Err(unsupported("n > 1 (several choices)")),
        _ => {}
    }
    if let Some(bias) = field(obj, "logit_bias") {
        if bias.as_object().is_none_or(|m| !m.is_empty()) {
            return Err(unsupported("logit_bias"));
        }
    }
    let stop = match field(obj, "stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("stop must be a string or an array of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("stop must be a string or an array of strings")),
    };
    let stream = opt_bool(obj, "stream")?.unwrap_or(false);
    let include_usage = match field(obj, "stream_options") {
        Some(Value::Object(o)) => opt_bool(o, "include_usage")?.unwrap_or(false),
        Some(_) => return Err(invalid("stream_options must be an object")),
        None => false,
    };
    Ok(ChatRequest {
        model,
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Text(prompt)],
        }],
        max_tokens: Some(opt_u64(obj, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS)),
        temperature: opt_f64(obj, "temperature")?,
        top_p: opt_f64(obj, "top_p")?,
        stop,
        presence_penalty: opt_f64(obj, "presence_penalty")?,
        frequency_penalty: opt_f64(obj, "frequency_penalty")?,
        seed: match field(obj, "seed") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| invalid("seed must be an integer"))?,
            ),
        },
        stream,
        stream_include_usage: stream && include_usage,
        user: match field(obj, "user") {
            None => None,
            Some(Value::String(u)) => Some(u.clone()),
            Some(_) => return Err(invalid("user must be a string")),
        },
        ..ChatRequest::default()
    })
}

fn finish_reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
        _ => "stop",
    }
}

fn completion_id(id: &str) -> String {
    if id.is_empty() {
        format!("cmpl-{:x}", now_secs())
    } else {
        id.to_string()
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

/// Encodes a canonical answer as a `text_completion` object (its text parts, concatenated).
pub fn encode_response(resp: &ChatResponse) -> Value {
    let text: String = resp
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    json!({
        "id": completion_id(&resp.id),
        "object": "text_completion",
        "created": if resp.created == 0 { now_secs() } else { resp.created },
        "model": resp.model,
        "choices": [{
            "text": text,
            "index": 0,
            "logprobs": null,
            "finish_reason": finish_reason(&resp.stop),
        }],
        "usage": usage_json(&resp.usage),
    })
}

/// Encodes an error body for `/v1/completions` callers: OpenAI's error shape.
pub fn encode_error(err: &ProviderError) -> Vec<u8> {
    openai::encode_error(err)
}

/// Writes `text_completion` stream chunks (see the module notes).
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    ended: bool,
    usage: Usage,
    stop: Option<StopReason>,
}

impl StreamEncoder {
    /// An encoder for the answer to `req` (its model names the answer until `Start` does).
    pub fn new(req: &ChatRequest) -> Self {
        StreamEncoder {
            id: String::new(),
            model: req.model.clone(),
            created: 0,
            include_usage: req.stream_include_usage,
            started: false,
            ended: false,
            usage: Usage::default(),
            stop: None,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.id = completion_id(&self.id);
            self.created = now_secs();
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut c = Map::new();
        c.insert("id".into(), json!(self.id));
        c.insert("object".into(), json!("text_completion"));
        c.insert("created".into(), json!(self.created));
        c.insert("model".into(), json!(self.model));
        c.insert("choices".into(), choices);
        if self.include_usage {
            c.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        let bytes = serde_json::to_vec(&Value::Object(c)).unwrap_or_default();
        write_data(&bytes, out);
    }

    fn text(&self, text: &str, finish: Option<&str>, out: &mut Vec<u8>) {
        let choices = json!([{
            "text": text,
            "index": 0,
            "logprobs": null,
            "finish_reason": finish,
        }]);
        self.chunk(choices, None, out);
    }
}

impl StreamEncode for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, model } if !self.started => {
                self.id.clone_from(id);
                if !model.is_empty() {
                    self.model.clone_from(model);
                }
                self.start();
            }
            StreamEvent::TextDelta(t) => {
                self.start();
                if !t.is_empty() {
                    self.text(t, None, out);
                }
            }
            StreamEvent::Usage(u) => {
                let keep = |old: &mut u64, new: u64| {
                    if new != 0 {
                        *old = new;
                    }
                };
                keep(&mut self.usage.input_tokens, u.input_tokens);
                keep(&mut self.usage.output_tokens, u.output_tokens);
            }
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
            // A text completion carries neither reasoning nor tool calls.
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start();
        self.ended = true;
        let stop = self.stop.clone().unwrap_or_default();
        self.text("", Some(finish_reason(&stop)), out);
        if self.include_usage {
            self.chunk(json!([]), Some(usage_json(&self.usage)), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        write_data(&openai::encode_error(err), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::sse::SseParser;
    use crate::translate::ErrorClass;

    const REQ: &str =
        include_str!("../../tests/fixtures/translate/openai/completions.request.json");
    const RESP: &str =
        include_str!("../../tests/fixtures/translate/openai/completions.response.json");
    const SSE: &str = include_str!("../../tests/fixtures/translate/openai/completions.sse");

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn canonical_request() -> ChatRequest {
        ChatRequest {
            model: "test-model".into(),
            messages: vec![Message {
                role: Role::User,
                parts: vec![Part::Text("Say hi".into())],
            }],
            max_tokens: Some(20),
            temperature: Some(0.2),
            stop: vec!["\n".into()],
            stream: true,
            stream_include_usage: true,
            ..ChatRequest::default()
        }
    }

    fn canonical_response() -> ChatResponse {
        ChatResponse {
            id: "cmpl-1".into(),
            model: "test-model".into(),
            created: 1_700_000_000,
            parts: vec![Part::Text("Hi there.".into())],
            stop: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 5,
                output_tokens: 3,
                ..Usage::default()
            },
        }
    }

    #[test]
    fn golden_request_and_response() {
        assert_eq!(decode_request(&parse(REQ)).unwrap(), canonical_request());
        assert_eq!(encode_response(&canonical_response()), parse(RESP));
    }

    #[test]
    fn request_defaults_and_prompt_shapes() {
        let req =
            decode_request(&json!({"model": "m", "prompt": ["only one"], "user": "u"})).unwrap();
        assert_eq!(req.max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!(req.messages[0].parts, vec![Part::Text("only one".into())]);
        assert_eq!(req.user.as_deref(), Some("u"));
        assert!(!req.stream && !req.stream_include_usage);
        let req = decode_request(&json!({"model": "m", "prompt": "p", "stop": "x", "n": 1,
            "best_of": 1, "echo": false, "suffix": null, "logprobs": null, "logit_bias": {}}))
        .unwrap();
        assert_eq!(req.stop, vec!["x"]);
    }

    #[test]
    fn request_refusals_and_errors() {
        for (body, named) in [
            (
                json!({"model": "m", "prompt": ["a", "b"]}),
                "several prompts",
            ),
            (json!({"model": "m", "prompt": [1, 2, 3]}), "token ids"),
            (json!({"model": "m", "prompt": [[1, 2]]}), "token ids"),
            (
                json!({"model": "m", "prompt": "p", "suffix": "end"}),
                "suffix",
            ),
            (json!({"model": "m", "prompt": "p", "echo": true}), "echo"),
            (
                json!({"model": "m", "prompt": "p", "logprobs": 2}),
                "logprobs",
            ),
            (
                json!({"model": "m", "prompt": "p", "best_of": 3}),
                "best_of",
            ),
            (json!({"model": "m", "prompt": "p", "n": 2}), "n > 1"),
            (
                json!({"model": "m", "prompt": "p", "logit_bias": {"1": 2}}),
                "logit_bias",
            ),
        ] {
            match decode_request(&body) {
                Err(TranslateError::Unsupported(m)) => assert!(m.contains(named), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        for (body, named) in [
            (json!("prompt"), "object"),
            (json!({"prompt": "p"}), "model"),
            (json!({"model": "m"}), "prompt"),
            (json!({"model": "m", "prompt": []}), "prompt"),
            (json!({"model": "m", "prompt": {}}), "prompt"),
            (
                json!({"model": "m", "prompt": "p", "max_tokens": "many"}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "prompt": "p", "stream": "yes"}),
                "stream",
            ),
            (json!({"model": "m", "prompt": "p", "stop": [1]}), "stop"),
        ] {
            match decode_request(&body) {
                Err(TranslateError::Invalid(m)) => assert!(m.contains(named), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    fn payloads(stream: &[u8]) -> Vec<Value> {
        let mut p = SseParser::new();
        let mut events = Vec::new();
        p.feed(stream, &mut events).unwrap();
        p.end(&mut events);
        events
            .into_iter()
            .map(|e| {
                if e.data == "[DONE]" {
                    return json!("[DONE]");
                }
                let mut v = parse(&e.data);
                v["created"] = json!(0);
                v
            })
            .collect()
    }

    #[test]
    fn golden_stream() {
        let mut e = StreamEncoder::new(&canonical_request());
        let mut out = Vec::new();
        for ev in [
            StreamEvent::Start {
                id: "cmpl-1".into(),
                model: "test-model".into(),
            },
            StreamEvent::ThinkingDelta("not shown".into()),
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::TextDelta(" there.".into()),
            StreamEvent::Finish(StopReason::EndTurn),
            StreamEvent::Usage(Usage {
                input_tokens: 5,
                output_tokens: 3,
                ..Usage::default()
            }),
        ] {
            e.event(&ev, &mut out);
        }
        e.finish(&mut out);
        e.finish(&mut out);
        assert_eq!(payloads(&out), payloads(SSE.as_bytes()));
        assert!(out.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn stream_without_usage_and_with_error() {
        let req = ChatRequest {
            model: "m".into(),
            ..ChatRequest::default()
        };
        let mut e = StreamEncoder::new(&req);
        let mut out = Vec::new();
        e.event(&StreamEvent::TextDelta("x".into()), &mut out);
        e.event(&StreamEvent::Finish(StopReason::MaxTokens), &mut out);
        e.finish(&mut out);
        let chunks = payloads(&out);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].get("usage").is_none());
        assert!(chunks[0]["id"].as_str().unwrap().starts_with("cmpl-"));
        assert_eq!(chunks[0]["model"], "m");
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "length");

        let mut e = StreamEncoder::new(&req);
        let mut out = Vec::new();
        e.event(&StreamEvent::TextDelta("x".into()), &mut out);
        e.error(&ProviderError::new(429, "slow down"), &mut out);
        e.finish(&mut out);
        let chunks = payloads(&out);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1]["error"]["type"], "rate_limit_error");
        assert_eq!(chunks[1]["error"]["message"], "slow down");
    }

    #[test]
    fn response_keeps_only_text_and_errors_are_openai_shaped() {
        let resp = ChatResponse {
            parts: vec![
                Part::Thinking {
                    text: "t".into(),
                    signature: None,
                },
                Part::Text("a".into()),
                Part::Text("b".into()),
            ],
            stop: StopReason::ContentFilter,
            ..ChatResponse::default()
        };
        let v = encode_response(&resp);
        assert_eq!(v["choices"][0]["text"], "ab");
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
        assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
        let err = ProviderError {
            status: 404,
            class: ErrorClass::NotFound,
            message: "no such model".into(),
            code: Some("model_not_found".into()),
        };
        assert_eq!(
            parse(std::str::from_utf8(&encode_error(&err)).unwrap()),
            json!({"error": {"message": "no such model", "type": "not_found_error",
                             "param": null, "code": "model_not_found"}})
        );
    }
}
