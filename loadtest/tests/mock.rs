//! End-to-end tests of `loadtest mock`: every route and format, streaming, each fault, pipelining,
//! chunked request bodies, and the inspection endpoint, against the built binary.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Mock};
use serde_json::Value;

const CHAT: &str = "/v1/chat/completions";
const TOOLS_OPENAI: &str =
    r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]"#;

fn text_of_chunks(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[test]
fn chat_non_streaming() {
    let m = Mock::start(&[]);
    let v = m.post_json(
        CHAT,
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(v["id"].as_str().is_some_and(|s| s.starts_with("chatcmpl-")));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().is_some());
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(
        content.starts_with("mock reply from gpt-4o-mini"),
        "{content}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(
            u["prompt_tokens"].as_u64().unwrap_or(0) + u["completion_tokens"].as_u64().unwrap_or(0)
        )
    );
    // Azure-style prefix.
    let v = m.post_json(
        "/openai/deployments/dep1/chat/completions?api-version=2024-10-21",
        r#"{"model":"gpt-4o"}"#,
    );
    assert_eq!(v["model"], "gpt-4o");
}

#[test]
fn chat_streaming() {
    let m = Mock::start(&["--stream-chunks", "5"]);
    let full = m.post_json(CHAT, r#"{"model":"m1"}"#)["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let r = m.req(
        "POST",
        CHAT,
        r#"{"model":"m1","stream":true,"stream_options":{"include_usage":true}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.complete);
    let sse = r.sse();
    assert_eq!(r.chunks.len(), sse.len(), "one HTTP chunk per event");
    assert_eq!(sse.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let ev = r.sse_json();
    // role, 5 content, finish, usage
    assert_eq!(ev.len(), 8);
    assert!(ev
        .iter()
        .all(|e| e["object"] == "chat.completion.chunk" && e["model"] == "m1"));
    assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(text_of_chunks(&ev), full);
    assert_eq!(ev[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(ev[7]["choices"].as_array().map(Vec::len), Some(0));
    assert!(ev[7]["usage"]["total_tokens"].as_u64().is_some());
    // Without include_usage: no usage chunk.
    let r = m.req("POST", CHAT, r#"{"model":"m1","stream":true}"#);
    assert_eq!(r.sse_json().len(), 7);
}

#[test]
fn chat_tool_calls() {
    let m = Mock::start(&[]);
    let v = m.post_json(CHAT, &format!(r#"{{"model":"m","tools":{TOOLS_OPENAI}}}"#));
    let msg = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["type"], "function");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        msg["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap_or(""),
    )
    .unwrap_or_default();
    assert_eq!(args["location"], "Paris");

    let r = m.req(
        "POST",
        CHAT,
        &format!(r#"{{"model":"m","stream":true,"tools":{TOOLS_OPENAI}}}"#),
    );
    let ev = r.sse_json();
    assert_eq!(
        ev[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let pieces: Vec<&str> = ev
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(pieces.len() >= 2);
    assert_eq!(pieces.concat(), r#"{"location":"Paris"}"#);
    assert_eq!(
        ev.last().map(|e| e["choices"][0]["finish_reason"].clone()),
        Some(Value::from("tool_calls"))
    );
}

#[test]
fn legacy_completions() {
    let m = Mock::start(&[]);
    let v = m.post_json("/v1/completions", r#"{"model":"davinci","prompt":"x"}"#);
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("davinci")));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let r = m.req(
        "POST",
        "/v1/completions",
        r#"{"model":"davinci","prompt":"x","stream":true}"#,
    );
    let ev = r.sse_json();
    let text: String = ev
        .iter()
        .filter_map(|e| e["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, v["choices"][0]["text"].as_str().unwrap_or("-"));
    assert_eq!(
        ev.last().map(|e| e["choices"][0]["finish_reason"].clone()),
        Some(Value::from("stop"))
    );
}

#[test]
fn embeddings() {
    let m = Mock::start(&[]);
    let v = m.post_json(
        "/v1/embeddings",
        r#"{"model":"text-embedding-3-small","input":"hello"}"#,
    );
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().map(Vec::len), Some(8));
    let v2 = m.post_json(
        "/v1/embeddings",
        r#"{"model":"e","input":["hello","world","x"],"dimensions":32}"#,
    );
    let data = v2["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 3);
    assert!(data
        .iter()
        .enumerate()
        .all(|(i, d)| d["index"] == i && d["embedding"].as_array().map(Vec::len) == Some(32)));
    // Deterministic, and distinct per input.
    let again = m.post_json(
        "/v1/embeddings",
        r#"{"model":"e","input":["hello","world","x"],"dimensions":32}"#,
    );
    assert_eq!(again["data"], v2["data"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    // Unit length.
    let norm: f64 = data[0]["embedding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|x| x * x)
        .sum();
    assert!((norm - 1.0).abs() < 1e-3);
    // base64 (the OpenAI Python SDK's default): 4 bytes per dimension.
    let b = m.post_json(
        "/v1/embeddings",
        r#"{"model":"e","input":"hello","encoding_format":"base64"}"#,
    );
    let s = b["data"][0]["embedding"].as_str().unwrap_or("");
    assert_eq!(s.len(), 44); // 32 bytes → 44 base64 chars
    assert!(v["usage"]["prompt_tokens"].as_u64().is_some());
    // Bad input.
    assert_eq!(
        m.req("POST", "/v1/embeddings", r#"{"model":"e","input":[]}"#)
            .status,
        400
    );
}

#[test]
fn models() {
    let m = Mock::start(&[]);
    let r = m.req("GET", "/v1/models", "");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert!(v["data"]
        .as_array()
        .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["object"] == "model")));
    let v = m.req("GET", "/v1/models/gpt-4o", "").json();
    assert_eq!(v["id"], "gpt-4o");
    assert_eq!(m.req("POST", "/v1/models", "{}").status, 405);
}

#[test]
fn responses_api() {
    let m = Mock::start(&["--stream-chunks", "3"]);
    let v = m.post_json("/v1/responses", r#"{"model":"gpt-4o","input":"hi"}"#);
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-4o");
    let text = v["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(text.contains("gpt-4o"));
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert!(v["usage"]["total_tokens"].as_u64().is_some());

    let r = m.req(
        "POST",
        "/v1/responses",
        r#"{"model":"gpt-4o","input":"hi","stream":true}"#,
    );
    let sse = r.sse();
    let names: Vec<&str> = sse.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let ev = r.sse_json();
    assert!(ev
        .iter()
        .enumerate()
        .all(|(i, e)| e["sequence_number"] == i && e["type"] == names[i]));
    let deltas: String = ev
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(deltas, text);
    assert_eq!(
        ev[9]["response"]["output"][0]["content"][0]["text"],
        text.as_str()
    );

    // Tool call.
    let tools = r#"[{"type":"function","name":"get_weather","parameters":{}}]"#;
    let v = m.post_json(
        "/v1/responses",
        &format!(r#"{{"model":"gpt-4o","input":"hi","tools":{tools}}}"#),
    );
    assert_eq!(v["output"][0]["type"], "function_call");
    assert_eq!(v["output"][0]["name"], "get_weather");
    assert_eq!(v["output"][0]["arguments"], r#"{"location":"Paris"}"#);
    let r = m.req(
        "POST",
        "/v1/responses",
        &format!(r#"{{"model":"gpt-4o","stream":true,"tools":{tools}}}"#),
    );
    let ev = r.sse_json();
    let args: String = ev
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(args, r#"{"location":"Paris"}"#);
    assert_eq!(
        ev.last().map(|e| e["type"].clone()),
        Some(Value::from("response.completed"))
    );
}

#[test]
fn anthropic_messages() {
    let m = Mock::start(&["--stream-chunks", "4"]);
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#;
    for path in ["/v1/messages", "/anthropic/v1/messages"] {
        let v = m.post_json(path, body);
        assert!(v["id"].as_str().is_some_and(|s| s.starts_with("msg_")));
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["model"], "claude-sonnet-4-5");
        assert_eq!(v["content"][0]["type"], "text");
        assert_eq!(v["content"][0]["text"], "mock reply from claude-sonnet-4-5");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["stop_sequence"].is_null());
        assert!(
            v["usage"]["input_tokens"].as_u64().is_some()
                && v["usage"]["output_tokens"].as_u64().is_some()
        );
    }
    let r = m.req(
        "POST",
        "/v1/messages",
        &body.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\""),
    );
    let sse = r.sse();
    let names: Vec<&str> = sse.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let ev = r.sse_json();
    assert!(ev.iter().enumerate().all(|(i, e)| e["type"] == names[i]));
    let text: String = ev
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "mock reply from claude-sonnet-4-5");
    assert_eq!(ev[7]["delta"]["stop_reason"], "end_turn");
    assert!(ev[7]["usage"]["output_tokens"].as_u64().is_some());

    // Tool use.
    let tools = r#"[{"name":"get_weather","input_schema":{"type":"object"}}]"#;
    let v = m.post_json(
        "/v1/messages",
        &format!(r#"{{"model":"claude","max_tokens":10,"messages":[],"tools":{tools}}}"#),
    );
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["name"], "get_weather");
    assert_eq!(v["content"][0]["input"]["location"], "Paris");
    let r = m.req(
        "POST",
        "/v1/messages",
        &format!(r#"{{"model":"claude","stream":true,"tools":{tools}}}"#),
    );
    let ev = r.sse_json();
    assert_eq!(ev[1]["content_block"]["type"], "tool_use");
    let json: Vec<&str> = ev
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert!(json.len() >= 2);
    assert_eq!(json.concat(), r#"{"location":"Paris"}"#);
    assert!(ev.iter().any(|e| e["delta"]["stop_reason"] == "tool_use"));

    let v = m.post_json("/anthropic/v1/messages/count_tokens", body);
    assert!(v["input_tokens"].as_u64().is_some());
}

#[test]
fn gemini() {
    let m = Mock::start(&["--stream-chunks", "3"]);
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    for path in [
        "/v1beta/models/gemini-2.0-flash:generateContent",
        "/v1/models/gemini-2.0-flash:generateContent",
        "/genai/v1beta/models/gemini-2.0-flash:generateContent?key=k",
    ] {
        let v = m.post_json(path, body);
        let c = &v["candidates"][0];
        assert_eq!(c["content"]["role"], "model");
        assert_eq!(
            c["content"]["parts"][0]["text"],
            "mock reply from gemini-2.0-flash"
        );
        assert_eq!(c["finishReason"], "STOP");
        assert_eq!(c["index"], 0);
        let u = &v["usageMetadata"];
        assert!(
            u["promptTokenCount"].as_u64().is_some()
                && u["candidatesTokenCount"].as_u64().is_some()
        );
        assert!(u["totalTokenCount"].as_u64().is_some());
        assert_eq!(v["modelVersion"], "gemini-2.0-flash");
    }
    // Model with a slash.
    let v = m.post_json(
        "/genai/v1beta/models/openai/gpt-4o-mini:generateContent",
        body,
    );
    assert_eq!(v["modelVersion"], "openai/gpt-4o-mini");

    // SSE.
    let r = m.req(
        "POST",
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        body,
    );
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let ev = r.sse_json();
    assert_eq!(ev.len(), 3);
    assert_eq!(r.chunks.len(), 3);
    let text: String = ev
        .iter()
        .filter_map(|e| e["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "mock reply from gemini-2.0-flash");
    assert_eq!(ev[2]["candidates"][0]["finishReason"], "STOP");
    assert!(ev[2]["usageMetadata"]["candidatesTokenCount"]
        .as_u64()
        .is_some());

    // Streamed JSON array.
    let r = m.req(
        "POST",
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        body,
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.chunks.len(), 3);
    let arr = r.json();
    assert_eq!(arr.as_array().map(Vec::len), Some(3));

    // Tool call.
    let tools =
        r#"[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT"}}]}]"#;
    let v = m.post_json(
        "/v1beta/models/g:generateContent",
        &format!(r#"{{"contents":[],"tools":{tools}}}"#),
    );
    let fc = &v["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(fc["name"], "get_weather");
    assert_eq!(fc["args"]["location"], "Paris");
    let r = m.req(
        "POST",
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        &format!(r#"{{"contents":[],"tools":{tools}}}"#),
    );
    let ev = r.sse_json();
    assert_eq!(
        ev.last()
            .map(|e| e["candidates"][0]["content"]["parts"][0]["functionCall"]["name"].clone()),
        Some(Value::from("get_weather"))
    );

    let v = m.post_json("/v1beta/models/g:countTokens", body);
    assert!(v["totalTokens"].as_u64().is_some());
}

#[test]
fn fault_status_codes() {
    let m = Mock::start(&[]);
    let r = m.req("POST", CHAT, r#"{"model":"gpt-fail429"}"#);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert!(r.json()["error"]["message"].is_string());
    let r = m.req("POST", "/v1/messages", r#"{"model":"claude-fail429"}"#);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let r = m.req(
        "POST",
        "/v1beta/models/gemini-fail429:generateContent",
        "{}",
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(r.json()["error"]["code"], 429);

    for (model, status) in [("x-fail500", 500), ("x-fail503", 503)] {
        let r = m.req(
            "POST",
            CHAT,
            &format!(r#"{{"model":"{model}","stream":true}}"#),
        );
        assert_eq!(r.status, status);
        assert!(r.json()["error"]["message"].is_string());
        let r = m.req("POST", "/v1/messages", &format!(r#"{{"model":"{model}"}}"#));
        assert_eq!(r.status, status);
        assert_eq!(r.json()["type"], "error");
    }
    // A fault response keeps the connection usable.
    let mut c = m.connect();
    assert_eq!(
        c.req("POST", CHAT, &[], r#"{"model":"fail500"}"#).status,
        500
    );
    assert_eq!(c.req("POST", CHAT, &[], r#"{"model":"ok"}"#).status, 200);
}

#[test]
fn fault_reset() {
    let m = Mock::start(&[]);
    let mut c = m.connect();
    assert!(c.req("POST", CHAT, &[], r#"{"model":"x"}"#).status == 200);
    c.send_raw(&Conn::format("POST", CHAT, &[], r#"{"model":"reset-me"}"#));
    assert!(
        c.read_response().is_none(),
        "reset must close without a reply"
    );
    // Pipelined: the earlier reply is delivered, then the connection closes.
    let mut c = m.connect();
    let mut batch = Conn::format("POST", CHAT, &[], r#"{"model":"first"}"#);
    batch.extend(Conn::format("POST", CHAT, &[], r#"{"model":"reset"}"#));
    c.send_raw(&batch);
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("first"))
    );
    assert!(c.read_response().is_none());
}

#[test]
fn fault_slow_and_latency() {
    let m = Mock::start(&["--slow-ms", "300", "--latency-ms", "100"]);
    let t = Instant::now();
    assert_eq!(m.req("POST", CHAT, r#"{"model":"fast"}"#).status, 200);
    let fast = t.elapsed();
    assert!(fast >= Duration::from_millis(100), "{fast:?}");
    let t = Instant::now();
    assert_eq!(m.req("POST", CHAT, r#"{"model":"slow-model"}"#).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    // Inspection is not delayed.
    let t = Instant::now();
    assert_eq!(m.req("GET", "/_mock/requests", "").status, 200);
    assert!(t.elapsed() < Duration::from_millis(100));
}

#[test]
fn chunk_delay() {
    let m = Mock::start(&["--stream-chunks", "4", "--chunk-delay-ms", "50"]);
    let t = Instant::now();
    let r = m.req("POST", CHAT, r#"{"model":"m","stream":true}"#);
    assert!(r.complete);
    // 7 events → 6 gaps of 50 ms.
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn fault_cut() {
    let m = Mock::start(&[]);
    let mut c = m.connect();
    let r = c.req("POST", CHAT, &[], r#"{"model":"cut-me","stream":true}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete, "stream must end without the last chunk");
    assert_eq!(r.chunks.len(), 2);
    assert!(c.at_eof());
    for path in [
        "/v1/messages",
        "/v1beta/models/cut:streamGenerateContent?alt=sse",
    ] {
        let body = if path.contains("messages") {
            r#"{"model":"cut","stream":true}"#
        } else {
            "{}"
        };
        let r = m.req("POST", path, body);
        assert!(!r.complete && r.chunks.len() == 2, "{path}");
    }
    // Non-streaming: head and half the body.
    let mut c = m.connect();
    let r = c.req("POST", CHAT, &[], r#"{"model":"cut-me"}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(!r.body.is_empty());
    assert!(c.at_eof());
}

#[test]
fn pipelining_in_order() {
    let m = Mock::start(&["--latency-ms", "0"]);
    let mut c = m.connect();
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend(Conn::format(
            "POST",
            CHAT,
            &[],
            &format!(r#"{{"model":"m{i}"}}"#),
        ));
    }
    batch.extend(Conn::format("GET", "/v1/models", &[], ""));
    batch.extend(Conn::format(
        "POST",
        CHAT,
        &[],
        r#"{"model":"s","stream":true}"#,
    ));
    batch.extend(Conn::format("POST", CHAT, &[], r#"{"model":"last"}"#));
    c.send_raw(&batch);
    for i in 0..20 {
        let r = c.read_response().expect("response");
        assert_eq!(r.json()["model"], format!("m{i}").as_str());
    }
    assert_eq!(
        c.read_response().map(|r| r.json()["object"].clone()),
        Some(Value::from("list"))
    );
    let r = c.read_response().expect("stream");
    assert!(r.complete && r.sse().len() > 3);
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("last"))
    );
    // Byte-at-a-time delivery also works.
    let req = Conn::format("POST", CHAT, &[], r#"{"model":"slowly"}"#);
    for b in &req {
        c.send_raw(std::slice::from_ref(b));
    }
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("slowly"))
    );
}

#[test]
fn chunked_request_body_and_expect_continue() {
    let m = Mock::start(&[]);
    let mut c = m.connect();
    let body = r#"{"model":"chunky","messages":[]}"#;
    let (a, b) = body.split_at(10);
    c.send_raw(
        format!(
            "POST {CHAT} HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n",
            a.len()
        )
        .as_bytes(),
    );
    std::thread::sleep(Duration::from_millis(20));
    c.send_raw(format!("{:x};ext=1\r\n{b}\r\n0\r\n\r\n", b.len()).as_bytes());
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model"], "chunky");
    let rec = m.req("GET", "/_mock/requests", "").json();
    assert_eq!(rec["requests"][0]["body"], body);

    // Expect: 100-continue.
    let body = r#"{"model":"expect"}"#;
    c.send_raw(
        format!(
            "POST {CHAT} HTTP/1.1\r\nHost: m\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().map(|r| r.status), Some(100));
    c.send_raw(body.as_bytes());
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("expect"))
    );
}

#[test]
fn errors_and_not_found() {
    let m = Mock::start(&[]);
    let r = m.req("GET", "/nope", "");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"].is_string());
    let r = m.req("POST", "/anthropic/v1/nope", "{}");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["type"], "error");
    let r = m.req("POST", CHAT, "{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(m.req("POST", CHAT, r#"{"messages":[]}"#).status, 400);
    assert_eq!(m.req("GET", CHAT, "").status, 405);
    // Malformed HTTP: 400, then closed.
    let mut c = m.connect();
    c.send_raw(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_response().map(|r| r.status), Some(400));
    assert!(c.at_eof());
    let mut c = m.connect();
    c.send_raw(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
    assert_eq!(c.read_response().map(|r| r.status), Some(400));
    // Connection: close is honoured.
    let mut c = m.connect();
    let r = c.req("POST", CHAT, &[("Connection", "close")], r#"{"model":"x"}"#);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.at_eof());
}

#[test]
fn inspection() {
    let m = Mock::start(&[]);
    let mut c = m.connect();
    c.req(
        "POST",
        CHAT,
        &[("X-Test", "one"), ("Authorization", "Bearer sk-x")],
        r#"{"model":"a"}"#,
    );
    c.req("POST", "/v1/messages?beta=true", &[], r#"{"model":"b"}"#);
    c.req("GET", "/v1/models", &[], "");
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    let reqs = v["requests"].as_array().cloned().unwrap_or_default();
    assert_eq!(reqs.len(), 3, "{v}");
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["path"], CHAT);
    assert_eq!(reqs[0]["body"], r#"{"model":"a"}"#);
    let hdrs = reqs[0]["headers"].as_array().cloned().unwrap_or_default();
    assert!(hdrs.iter().any(|h| h[0] == "X-Test" && h[1] == "one"));
    assert!(hdrs
        .iter()
        .any(|h| h[0] == "Authorization" && h[1] == "Bearer sk-x"));
    assert_eq!(reqs[1]["path"], "/v1/messages?beta=true");
    assert_eq!(reqs[2]["method"], "GET");
    assert_eq!(v["connections"], 1);

    // A second connection is counted.
    m.req("POST", CHAT, r#"{"model":"c"}"#);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(v["connections"], 2);
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(4));

    // DELETE clears both; POST /_mock/reset too.
    assert_eq!(c.req("DELETE", "/_mock/requests", &[], "").status, 200);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["connections"], 0);
    m.req("POST", CHAT, r#"{"model":"d"}"#);
    assert_eq!(c.req("POST", "/_mock/reset", &[], "").status, 200);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(0));
}

#[test]
fn no_record_and_cap() {
    let m = Mock::start(&["--no-record"]);
    m.req("POST", CHAT, r#"{"model":"a"}"#);
    let v = m.req("GET", "/_mock/requests", "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["connections"], 2);
    let m = Mock::start(&["--record-cap", "3"]);
    let mut c = m.connect();
    for i in 0..5 {
        c.req("POST", CHAT, &[], &format!(r#"{{"model":"m{i}"}}"#));
    }
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    let bodies: Vec<String> = v["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["body"].as_str().map(String::from))
        .collect();
    assert_eq!(
        bodies,
        [
            r#"{"model":"m2"}"#,
            r#"{"model":"m3"}"#,
            r#"{"model":"m4"}"#
        ]
    );
}

#[test]
fn several_threads() {
    let m = Mock::start(&["--threads", "3"]);
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let addr = m.addr.clone();
            std::thread::spawn(move || {
                let mut c = Conn::new(&addr);
                for j in 0..5 {
                    let r = c.req("POST", CHAT, &[], &format!(r#"{{"model":"t{i}-{j}"}}"#));
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().is_ok());
    }
    let v = m.req("GET", "/_mock/requests", "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(60));
    assert_eq!(v["connections"], 13);
    // Ids are unique across threads.
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let v = m.post_json(CHAT, r#"{"model":"u"}"#);
        assert!(ids.insert(v["id"].as_str().unwrap_or("").to_string()));
    }
}
