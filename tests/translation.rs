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
        &[
            ("x-api-key", "caller-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        &anthropic_body("openai/gpt-4o-mini", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["type"], "text");
    assert!(v["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("mock reply from gpt-4o-mini"));
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
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "Paris"})
    );
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
    let text = v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
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
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body("nope/x", false),
    );
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
    assert!(v["choices"][0]["text"]
        .as_str()
        .unwrap()
        .contains("mock reply"));
}

/// A gateway with Cohere, Bedrock and Vertex (static token) providers on the mock.
fn setup_more() -> (Proc, Proc) {
    let mock = mock(&["--stream-chunks", "3"]);
    let config = format!(
        r#"[server]
shards = 1

[[providers]]
name = "cohere"
base_url = "http://{m}"
api_key = "co-provider"

[[providers]]
name = "bedrock"
base_url = "http://{m}"
region = "us-east-1"
api_key = "AKIDEXAMPLE:secret-example:session-token"

[[providers]]
name = "vertex"
base_url = "http://{m}/v1"
region = "us-central1"
project = "proj-1"
api_key = "ya29.static-token"

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

fn tool_chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}
        }}]
    })
}

/// The tool call name and parsed arguments of an OpenAI chat stream.
fn streamed_tool_call(text: &str) -> (String, Value, String) {
    let mut name = String::new();
    let mut args = String::new();
    let mut finish = String::new();
    for (_, d) in sse(text) {
        let Ok(v) = serde_json::from_str::<Value>(&d) else {
            continue;
        };
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
    (
        name,
        serde_json::from_str(&args).unwrap_or(Value::Null),
        finish,
    )
}

#[test]
fn openai_caller_to_cohere() {
    let (mock, gw) = setup_more();
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[],
        &json!({"model": "cohere/command-r", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("mock reply from command-r"));
    assert_eq!(v["model"], "command-r");
    let up = only_request(&mock);
    assert_eq!(up["path"], "/v2/chat");
    assert_eq!(
        recorded_header(&up, "authorization").as_deref(),
        Some("Bearer co-provider")
    );

    mock_reset(mock.addr);
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[],
        &tool_chat("cohere/command-r", true),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (name, args, finish) = streamed_tool_call(&r.text());
    assert_eq!(name, "get_weather");
    assert_eq!(args, json!({"location": "Paris"}));
    assert_eq!(finish, "tool_calls");
}

#[test]
fn anthropic_caller_to_bedrock_signed_and_streamed() {
    let (mock, gw) = setup_more();
    let model = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0";
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body(model, true),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse(&r.text());
    assert_eq!(events.last().map(|(e, _)| e.as_str()), Some("message_stop"));
    let text: String = events
        .iter()
        .filter_map(|(_, d)| {
            let v: Value = serde_json::from_str(d).ok()?;
            v["delta"]["text"].as_str().map(str::to_string)
        })
        .collect();
    assert!(
        text.contains("mock reply from anthropic.claude-3-5-sonnet-20240620-v1:0"),
        "{text}"
    );
    let up = only_request(&mock);
    assert_eq!(
        up["path"],
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    );
    let auth = recorded_header(&up, "authorization").unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-east-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert!(recorded_header(&up, "x-amz-date").is_some());
    assert_eq!(
        recorded_header(&up, "x-amz-security-token").as_deref(),
        Some("session-token")
    );
    let b = recorded_body(&up);
    assert_eq!(b["messages"][0]["content"][0]["text"], "hello");
    assert_eq!(b["system"][0]["text"], "Be brief.");

    // Non-streamed, with a tool call, and an error mapped to the caller's format.
    mock_reset(mock.addr);
    let r = post(&gw, "/v1/chat/completions", &[], &tool_chat(model, false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body("bedrock/model-fail429", false),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}

#[test]
fn vertex_gemini_models_by_static_token() {
    let (mock, gw) = setup_more();
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[],
        &json!({"model": "vertex/gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("mock reply"));
    let up = only_request(&mock);
    assert_eq!(
        up["path"],
        "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        recorded_header(&up, "authorization").as_deref(),
        Some("Bearer ya29.static-token")
    );
}

#[test]
fn openai_embeddings_to_gemini_and_cohere() {
    let (mock, gw) = setup_more();
    for (model, path) in [
        (
            "gemini/text-embedding-004",
            "/v1beta/models/text-embedding-004:batchEmbedContents",
        ),
        ("cohere/embed-english-v3.0", "/v2/embed"),
    ] {
        mock_reset(mock.addr);
        let r = post(
            &gw,
            "/v1/embeddings",
            &[],
            &json!({"model": model, "input": ["one", "two"], "dimensions": 8}),
        );
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let v = r.json();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
        assert_eq!(only_request(&mock)["path"], path);
    }
    // The same text gives the same vector whichever API served it (the mock derives it).
    let a = post(
        &gw,
        "/v1/embeddings",
        &[],
        &json!({"model": "gemini/text-embedding-004", "input": "same"}),
    );
    let b = post(
        &gw,
        "/v1/embeddings",
        &[],
        &json!({"model": "cohere/embed-english-v3.0", "input": "same"}),
    );
    assert_eq!(
        a.json()["data"][0]["embedding"],
        b.json()["data"][0]["embedding"]
    );
}

#[test]
fn vertex_claude_models_get_anthropic_bodies_with_the_model_in_the_url() {
    let (mock, gw) = setup_more();
    let r = post(
        &gw,
        "/anthropic/v1/messages",
        &[],
        &anthropic_body("vertex/claude-sonnet-4-5", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "message");
    let up = only_request(&mock);
    assert_eq!(
        up["path"],
        "/v1/projects/proj-1/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5:rawPredict"
    );
    let b = recorded_body(&up);
    assert!(b.get("model").is_none(), "{b}");
    assert_eq!(b["anthropic_version"], "vertex-2023-10-16");
    assert_eq!(b["system"], "Be brief.");

    mock_reset(mock.addr);
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[],
        &tool_chat("vertex/claude-sonnet-4-5", true),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (name, args, finish) = streamed_tool_call(&r.text());
    assert_eq!(
        (name.as_str(), finish.as_str()),
        ("get_weather", "tool_calls")
    );
    assert_eq!(args, json!({"location": "Paris"}));
    let up = only_request(&mock);
    assert!(up["path"]
        .as_str()
        .unwrap()
        .ends_with("claude-sonnet-4-5:streamRawPredict"));
    assert_eq!(recorded_body(&up)["anthropic_version"], "vertex-2023-10-16");
}

#[test]
fn openai_embeddings_to_vertex_and_bedrock() {
    let (mock, gw) = setup_more();
    let reference = post(
        &gw,
        "/v1/embeddings",
        &[],
        &json!({"model": "gemini/text-embedding-004", "input": "same"}),
    )
    .json()["data"][0]["embedding"]
        .clone();
    for (model, path) in [
        (
            "vertex/text-embedding-005",
            "/v1/projects/proj-1/locations/us-central1/publishers/google/models/text-embedding-005:predict",
        ),
        (
            "bedrock/cohere.embed-english-v3",
            "/model/cohere.embed-english-v3/invoke",
        ),
        (
            "bedrock/amazon.titan-embed-text-v2:0",
            "/model/amazon.titan-embed-text-v2%3A0/invoke",
        ),
    ] {
        mock_reset(mock.addr);
        let r = post(&gw, "/v1/embeddings", &[], &json!({"model": model, "input": "same"}));
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let v = r.json();
        assert_eq!(v["data"][0]["embedding"], reference, "{model}");
        let up = only_request(&mock);
        assert_eq!(up["path"], path);
    }
    // Titan takes one text per call: several are refused by name, before any upstream call.
    mock_reset(mock.addr);
    let r = post(
        &gw,
        "/v1/embeddings",
        &[],
        &json!({"model": "bedrock/amazon.titan-embed-text-v2:0", "input": ["a", "b"]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("one text per call"));
    assert!(mock_requests(mock.addr).0.is_empty());
}
