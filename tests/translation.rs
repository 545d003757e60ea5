//! Any inbound format to any provider, through the real binary against the mock, which records
//! the native upstream request it got. (The official SDKs are exercised by tests/python.)

mod common;

use common::*;
use serde_json::{json, Value};

/// A gateway with three providers of three formats, all served by one mock.
fn setup() -> (Proc, Proc) {
    let mock = mock(&["--stream-chunks", "3"]);
    let config = format!(
        r#"[server]
shards = 1

[[providers]]
name = "openai"
base_url = "http://{m}/v1"
api_key = "sk-openai-provider"

[[providers]]
name = "anthropic"
base_url = "http://{m}/v1"
api_key = "sk-ant-provider"

[[providers]]
name = "gemini"
base_url = "http://{m}/v1beta"
api_key = "gem-provider"
"#,
        m = mock.addr
    );
    let gw = gateway(&config);
    (mock, gw)
}

fn post(gw: &Proc, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    Client::connect(gw.addr).request("POST", path, &h, body.to_string().as_bytes())
}

fn only_request(mock: &Proc) -> Value {
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    reqs[0].clone()
}

fn recorded_body(req: &Value) -> Value {
    let text = req["body"].as_str().unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| req["body"].clone())
}

/// The data payloads of an SSE body, with their event names.
fn sse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if !data.is_empty() {
            out.push((event, data));
        }
    }
    out
}

fn anthropic_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "system": "Be brief.",
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]
    })
}

#[test]
fn anthropic_caller_to_openai_provider() {
    let (mock, gw) = setup();
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[("x-api-key", "caller-key"), ("anthropic-version", "2023-06-01")],
        &anthropic_body("openai/gpt-4o-mini", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["type"], "text");
    assert!(v["content"][0]["text"].as_str().unwrap().contains("mock reply from gpt-4o-mini"));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r.header("x-shardgate-provider"), Some("openai"));
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));

    let up = only_request(&mock);
    assert_eq!(up["path"], "/v1/chat/completions");
    assert_eq!(
        recorded_header(&up, "authorization").as_deref(),
        Some("Bearer sk-openai-provider")
    );
    assert_eq!(recorded_header(&up, "x-api-key"), None);
    let b = recorded_body(&up);
    assert_eq!(b["model"], "gpt-4o-mini");
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][0]["content"], "Be brief.");
    assert_eq!(b["messages"][1]["role"], "user");
}

#[test]
fn anthropic_caller_to_anthropic_provider_passes_through() {
    let (mock, gw) = setup();
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[
            ("x-api-key", "caller-key"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "tools-2024-05-16"),
        ],
        &anthropic_body("anthropic/claude-sonnet-4-5", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "message");
    let up = only_request(&mock);
    assert_eq!(up["path"], "/v1/messages");
    assert_eq!(
        recorded_header(&up, "x-api-key").as_deref(),
        Some("sk-ant-provider")
    );
    assert_eq!(
        recorded_header(&up, "anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(
        recorded_header(&up, "anthropic-beta").as_deref(),
        Some("tools-2024-05-16")
    );
    let b = recorded_body(&up);
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["system"], "Be brief.");
}

#[test]
fn anthropic_caller_streams_from_openai_provider() {
    let (mock, gw) = setup();
    let r = post(
        &gw,
        "/v1/messages",
        &[],
        &anthropic_body("openai/gpt-4o-mini", true),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = sse(&r.text());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(names.contains(&"content_block_start"));
    assert!(names.contains(&"content_block_stop"));
    assert!(names.contains(&"message_delta"));
    let text: String = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .filter_map(|(_, d)| {
            let v: Value = serde_json::from_str(d).ok()?;
            v["delta"]["text"].as_str().map(str::to_string)
        })
        .collect();
    assert!(text.contains("mock reply from gpt-4o-mini"), "{text}");
    let up = only_request(&mock);
    let b = recorded_body(&up);
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"]["include_usage"], true);
}

#[test]
fn openai_caller_streams_tool_calls_from_anthropic_provider() {
    let (mock, gw) = setup();
    let body = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "stream": true,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}
        }}]
    });
    let r = post(&gw, "/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse(&r.text());
    assert_eq!(events.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let mut args = String::new();
    let mut name = String::new();
    let mut finish = String::new();
    for (_, d) in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(d).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(tc) = v["choices"][0]["delta"]["tool_calls"][0].as_object() {
            if let Some(n) = tc["function"].get("name").and_then(Value::as_str) {
                name = n.to_string();
            }
            args.push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
        }
        if let Some(f) = v["choices"][0]["finish_reason"].as_str() {
            finish = f.to_string();
        }
    }
    assert_eq!(name, "get_weather");
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"location": "Paris"}));
    assert_eq!(finish, "tool_calls");
    let up = only_request(&mock);
    assert_eq!(up["path"], "/v1/messages");
    let b = recorded_body(&up);
    assert_eq!(b["tools"][0]["name"], "get_weather");
    assert!(b["tools"][0]["input_schema"].is_object());
    assert!(b["max_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn gemini_caller_to_openai_provider_and_back() {
    let (mock, gw) = setup();
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "generationConfig": {"maxOutputTokens": 50}
    });
    let r = post(
        &gw,
        "/genai/v1beta/models/openai/gpt-4o-mini:generateContent",
        &[("x-goog-api-key", "caller")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let text = v["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("mock reply from gpt-4o-mini"), "{v}");
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    let up = only_request(&mock);
    assert_eq!(up["path"], "/v1/chat/completions");
    assert_eq!(recorded_body(&up)["max_tokens"], 50);

    mock_reset(mock.addr);
    let r = post(
        &gw,
        "/genai/v1/models/openai%2Fgpt-4o-mini:streamGenerateContent?alt=sse",
        &[],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text: String = sse(&r.text())
        .iter()
        .filter_map(|(_, d)| {
            let v: Value = serde_json::from_str(d).ok()?;
            v["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(text.contains("mock reply from gpt-4o-mini"), "{text}");
}

#[test]
fn gemini_caller_to_gemini_provider_passes_through() {
    let (mock, gw) = setup();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = post(
        &gw,
        "/genai/v1beta/models/gemini/gemini-2.5-flash:streamGenerateContent?alt=sse&key=CALLER",
        &[],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let up = only_request(&mock);
    assert_eq!(
        up["path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        recorded_header(&up, "x-goog-api-key").as_deref(),
        Some("gem-provider")
    );
    assert_eq!(recorded_body(&up), body);
}

#[test]
fn provider_errors_reach_the_caller_in_its_format() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body("openai/gpt-fail429", false),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("429"));

    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let r = post(
        &gw,
        "/genai/v1beta/models/anthropic/claude-fail500:generateContent",
        &[],
        &body,
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.json()["error"]["status"], "INTERNAL");

    // Gateway errors use the caller's format too.
    let r = post(&gw, "/anthropic/v1/messages", &[], &anthropic_body("nope/x", false));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
}

#[test]
fn a_stream_cut_mid_way_ends_with_an_error_event() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body("openai/gpt-cut", true),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse(&r.text());
    let (last_event, last_data) = events.last().cloned().unwrap();
    assert_eq!(last_event, "error", "{events:?}");
    let v: Value = serde_json::from_str(&last_data).unwrap();
    assert_eq!(v["type"], "error");
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let (mock, gw) = setup();
    let body = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "n": 2,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let r = post(&gw, "/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains('n'), "{msg}");
    let (reqs, _) = mock_requests(mock.addr);
    assert!(reqs.is_empty(), "nothing may reach the provider");
}

#[test]
fn count_tokens_is_asked_or_estimated() {
    let (mock, gw) = setup();
    let body = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hello there"}]
    });
    let r = post(&gw, "/anthropic/v1/messages/count_tokens", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(only_request(&mock)["path"], "/v1/messages/count_tokens");

    mock_reset(mock.addr);
    let body = json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello there"}]
    });
    let r = post(&gw, "/anthropic/v1/messages/count_tokens", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r.header("x-shardgate-token-count"), Some("estimated"));
    let (reqs, _) = mock_requests(mock.addr);
    assert!(reqs.is_empty());
}

#[test]
fn openai_responses_and_completions_reach_anthropic() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        "/v1/responses",
        &[],
        &json!({"model": "anthropic/claude-sonnet-4-5", "input": "hello"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["output"][0]["type"], "message");
    let r = post(
        &gw,
        "/v1/completions",
        &[],
        &json!({"model": "anthropic/claude-sonnet-4-5", "prompt": "hello", "max_tokens": 10}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("mock reply"));
}
