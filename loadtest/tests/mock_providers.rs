//! End-to-end tests of `loadtest mock`'s Gemini embeddings, Cohere v2 (chat, streaming chat, embed)
//! and AWS Bedrock Converse (JSON and binary event stream) routes, with their faults and error
//! shapes, against the built binary. The event stream is decoded here independently of the mock's
//! code, with a bitwise CRC-32.

mod common;

use std::time::{Duration, Instant};

use common::{Mock, Resp};
use serde_json::Value;

const TOOLS_OPENAI: &str =
    r#"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]"#;
const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const BEDROCK_PATH_MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";
const BEDROCK_BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":100}}"#;
const BEDROCK_TOOLS: &str = r#"{"messages":[{"role":"user","content":[{"text":"weather?"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]}}"#;

/// CRC-32/ISO-HDLC, bit by bit (the reference the mock's table-driven one is checked against).
fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// One decoded event-stream message.
#[derive(Debug)]
struct Message {
    headers: Vec<(String, String)>,
    payload: Value,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn event_type(&self) -> &str {
        self.header(":event-type").unwrap_or("")
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes a byte stream of event-stream messages, checking both CRCs of each; panics on any
/// framing error. Returns the messages and the bytes left over (an incomplete message).
fn decode_stream(mut buf: &[u8]) -> (Vec<Message>, usize) {
    let mut out = Vec::new();
    while buf.len() >= 12 {
        let total = be32(&buf[0..]) as usize;
        let hlen = be32(&buf[4..]) as usize;
        assert_eq!(be32(&buf[8..]), crc32_bitwise(&buf[..8]), "prelude CRC");
        assert!(total >= 16 + hlen, "lengths {total} {hlen}");
        if buf.len() < total {
            break;
        }
        let msg = &buf[..total];
        assert_eq!(
            be32(&msg[total - 4..]),
            crc32_bitwise(&msg[..total - 4]),
            "message CRC"
        );
        let mut h = &msg[12..12 + hlen];
        let mut headers = Vec::new();
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = String::from_utf8(h[1..1 + n].to_vec()).expect("header name");
            assert_eq!(h[1 + n], 7, "string header");
            let vl = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
            let value = String::from_utf8(h[4 + n..4 + n + vl].to_vec()).expect("header value");
            headers.push((name, value));
            h = &h[4 + n + vl..];
        }
        let payload = serde_json::from_slice(&msg[12 + hlen..total - 4])
            .unwrap_or_else(|e| panic!("payload not JSON: {e}"));
        out.push(Message { headers, payload });
        buf = &buf[total..];
    }
    (out, buf.len())
}

/// The messages of a complete event-stream response, one per HTTP chunk.
fn event_stream(r: &Resp) -> Vec<Message> {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    let (msgs, rest) = decode_stream(&r.body);
    assert_eq!(rest, 0);
    assert_eq!(msgs.len(), r.chunks.len(), "one HTTP chunk per message");
    for (m, c) in msgs.iter().zip(&r.chunks) {
        assert_eq!(decode_stream(c).0.len(), 1);
        assert_eq!(m.header(":content-type"), Some("application/json"));
        assert_eq!(m.header(":message-type"), Some("event"));
    }
    msgs
}

#[test]
fn crc_reference_is_right() {
    assert_eq!(crc32_bitwise(b"123456789"), 0xCBF4_3926);
}

#[test]
fn gemini_embeddings() {
    let m = Mock::start(&[]);
    let v = m.post_json(
        "/v1beta/models/text-embedding-004:embedContent",
        r#"{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello"}]}}"#,
    );
    let values = v["embedding"]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(values.len(), 8);
    // The same text gives the same vector as the OpenAI route.
    let o = m.post_json("/v1/embeddings", r#"{"model":"e","input":"hello"}"#);
    assert_eq!(v["embedding"]["values"], o["data"][0]["embedding"]);

    let body = r#"{"requests":[
        {"model":"models/text-embedding-004","content":{"parts":[{"text":"hello"}]}},
        {"model":"models/text-embedding-004","content":{"parts":[{"text":"world"}]},"outputDimensionality":32,"taskType":"RETRIEVAL_DOCUMENT"}
    ]}"#;
    let path = "/genai/v1beta/models/text-embedding-004:batchEmbedContents?key=k";
    let b = m.post_json(path, body);
    let embs = b["embeddings"].as_array().cloned().unwrap_or_default();
    assert_eq!(embs.len(), 2);
    assert_eq!(embs[0]["values"], v["embedding"]["values"]);
    assert_eq!(embs[1]["values"].as_array().map(Vec::len), Some(32));
    assert_eq!(m.post_json(path, body), b, "deterministic");
    let norm: f64 = embs[1]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|x| x * x)
        .sum();
    assert!((norm - 1.0).abs() < 1e-3);
    let v = m.post_json(
        "/v1beta/models/e:embedContent",
        r#"{"content":{"parts":[{"text":"x"}]},"outputDimensionality":3}"#,
    );
    assert_eq!(v["embedding"]["values"].as_array().map(Vec::len), Some(3));

    // Errors in Gemini's shape.
    for (path, body) in [
        ("/v1beta/models/e:batchEmbedContents", "{}"),
        ("/v1beta/models/e:batchEmbedContents", r#"{"requests":[]}"#),
        (
            "/v1beta/models/e:embedContent",
            r#"{"content":{"parts":[]}}"#,
        ),
        (
            "/v1beta/models/e:embedContent",
            r#"{"content":{"parts":[{"text":"x"}]},"outputDimensionality":0}"#,
        ),
    ] {
        let r = m.req("POST", path, body);
        assert_eq!(r.status, 400, "{path} {body}");
        assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    }
    let r = m.req(
        "POST",
        "/v1beta/models/emb-fail429:batchEmbedContents",
        body,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[test]
fn cohere_chat() {
    let m = Mock::start(&["--stream-chunks", "4"]);
    let body = r#"{"model":"command-r-plus","messages":[{"role":"user","content":"hi"}]}"#;
    for path in ["/v2/chat", "/cohere/v2/chat"] {
        let v = m.post_json(path, body);
        assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(v["finish_reason"], "COMPLETE");
        assert_eq!(v["message"]["role"], "assistant");
        assert_eq!(v["message"]["content"][0]["type"], "text");
        assert_eq!(
            v["message"]["content"][0]["text"],
            "mock reply from command-r-plus"
        );
        for k in ["billed_units", "tokens"] {
            assert!(v["usage"][k]["input_tokens"]
                .as_u64()
                .is_some_and(|n| n > 0));
            assert_eq!(v["usage"][k]["output_tokens"], 4);
        }
    }

    // Streaming text.
    let r = m.req(
        "POST",
        "/v2/chat",
        &body.replace("\"messages\"", "\"stream\":true,\"messages\""),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let sse = r.sse();
    assert_eq!(r.chunks.len(), sse.len(), "one HTTP chunk per event");
    let names: Vec<&str> = sse.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end"
        ]
    );
    let ev = r.sse_json();
    assert!(ev.iter().enumerate().all(|(i, e)| e["type"] == names[i]));
    assert!(ev[0]["id"].is_string());
    assert_eq!(ev[0]["delta"]["message"]["role"], "assistant");
    assert_eq!(ev[1]["delta"]["message"]["content"]["type"], "text");
    let text: String = ev
        .iter()
        .filter(|e| e["type"] == "content-delta")
        .filter_map(|e| e["delta"]["message"]["content"]["text"].as_str())
        .collect();
    assert_eq!(text, "mock reply from command-r-plus");
    assert_eq!(ev[7]["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(ev[7]["delta"]["usage"]["tokens"]["output_tokens"], 4);
    assert!(ev[7]["delta"]["usage"]["billed_units"]["input_tokens"]
        .as_u64()
        .is_some());

    // Tool calls (OpenAI-shaped tools).
    let tool_body = format!(r#"{{"model":"command-r","messages":[],"tools":{TOOLS_OPENAI}}}"#);
    let v = m.post_json("/v2/chat", &tool_body);
    assert_eq!(v["finish_reason"], "TOOL_CALL");
    assert!(v["message"]["tool_plan"].is_string());
    let tc = &v["message"]["tool_calls"][0];
    assert!(tc["id"].is_string());
    assert_eq!(tc["type"], "function");
    assert_eq!(tc["function"]["name"], "get_weather");
    assert_eq!(tc["function"]["arguments"], r#"{"location":"Paris"}"#);
    assert!(v["usage"]["tokens"]["output_tokens"].as_u64().is_some());

    let r = m.req(
        "POST",
        "/v2/chat",
        &tool_body.replace("\"messages\"", "\"stream\":true,\"messages\""),
    );
    let sse = r.sse();
    let names: Vec<&str> = sse.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message-start",
            "tool-plan-delta",
            "tool-call-start",
            "tool-call-delta",
            "tool-call-delta",
            "tool-call-end",
            "message-end"
        ]
    );
    let ev = r.sse_json();
    assert!(ev.iter().enumerate().all(|(i, e)| e["type"] == names[i]));
    assert_eq!(
        ev[1]["delta"]["message"]["tool_plan"],
        v["message"]["tool_plan"]
    );
    let start = &ev[2]["delta"]["message"]["tool_calls"];
    assert_eq!(start["type"], "function");
    assert_eq!(start["function"]["name"], "get_weather");
    assert_eq!(start["function"]["arguments"], "");
    assert!(start["id"].is_string());
    let args: String = ev[3..5]
        .iter()
        .filter_map(|e| e["delta"]["message"]["tool_calls"]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"location":"Paris"}"#);
    assert_eq!(ev[6]["delta"]["finish_reason"], "TOOL_CALL");

    // tool_choice NONE: text.
    let v = m.post_json(
        "/v2/chat",
        &format!(r#"{{"model":"c","messages":[],"tools":{TOOLS_OPENAI},"tool_choice":"NONE"}}"#),
    );
    assert_eq!(v["finish_reason"], "COMPLETE");
}

#[test]
fn cohere_embed() {
    let m = Mock::start(&[]);
    let v = m.post_json(
        "/v2/embed",
        r#"{"model":"embed-english-v3.0","texts":["hello","wor\"ld"],"input_type":"search_document","embedding_types":["float"]}"#,
    );
    assert!(v["id"].is_string());
    let vecs = v["embeddings"]["float"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(vecs.len(), 2);
    assert!(vecs.iter().all(|x| x.as_array().map(Vec::len) == Some(8)));
    assert_eq!(v["texts"][1], "wor\"ld");
    assert!(v["meta"]["billed_units"]["input_tokens"]
        .as_u64()
        .is_some_and(|n| n > 0));
    let o = m.post_json("/v1/embeddings", r#"{"model":"e","input":"hello"}"#);
    assert_eq!(vecs[0], o["data"][0]["embedding"]);
    // output_dimension; embedding_types may be left out.
    let v = m.post_json(
        "/cohere/v2/embed",
        r#"{"model":"embed-v4.0","texts":["a"],"input_type":"search_query","output_dimension":256}"#,
    );
    assert_eq!(
        v["embeddings"]["float"][0].as_array().map(Vec::len),
        Some(256)
    );

    // Errors are {"message": ...}.
    for body in [
        r#"{"model":"e","texts":["a"]}"#,
        r#"{"model":"e","texts":[],"input_type":"search_query"}"#,
        r#"{"model":"e","input_type":"search_query"}"#,
        r#"{"model":"e","texts":["a"],"input_type":"search_query","embedding_types":["int8"]}"#,
        r#"{"model":"e","texts":["a"],"input_type":"search_query","output_dimension":0}"#,
        r#"{"texts":["a"],"input_type":"search_query"}"#,
    ] {
        let r = m.req("POST", "/v2/embed", body);
        assert_eq!(r.status, 400, "{body}");
        let e = r.json();
        assert!(e["message"].is_string(), "{e}");
        assert!(e.get("error").is_none());
    }
}

#[test]
fn cohere_faults() {
    let m = Mock::start(&[]);
    let r = m.req(
        "POST",
        "/v2/chat",
        r#"{"model":"command-fail429","messages":[]}"#,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["message"].is_string());
    for (model, status) in [("fail500", 500), ("fail503", 503)] {
        let r = m.req(
            "POST",
            "/v2/chat",
            &format!(r#"{{"model":"{model}","stream":true,"messages":[]}}"#),
        );
        assert_eq!(r.status, status);
        assert!(r.json()["message"].is_string());
        let r = m.req(
            "POST",
            "/v2/embed",
            &format!(r#"{{"model":"{model}","texts":["a"],"input_type":"search_query"}}"#),
        );
        assert_eq!(r.status, status);
    }
    let r = m.req("POST", "/v2/chat", r#"{"model":"cut","stream":true}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete && r.chunks.len() == 2);
    let mut c = m.connect();
    c.send_raw(&common::Conn::format(
        "POST",
        "/v2/chat",
        &[],
        r#"{"model":"reset"}"#,
    ));
    assert!(c.read_response().is_none());
    let r = m.req("POST", "/v2/nope", "{}");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    assert_eq!(m.req("GET", "/v2/chat", "").status, 405);
}

#[test]
fn bedrock_converse() {
    let m = Mock::start(&["--stream-chunks", "3", "--latency-ms", "20"]);
    let path = format!("/model/{BEDROCK_PATH_MODEL}/converse");
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=deadbeef";
    let mut c = m.connect();
    let r = c.req(
        "POST",
        &path,
        &[("Authorization", sigv4), ("X-Amz-Date", "20250101T000000Z")],
        BEDROCK_BODY,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let msg = &v["output"]["message"];
    assert_eq!(msg["role"], "assistant");
    let text = msg["content"][0]["text"].as_str().unwrap_or("").to_string();
    assert_eq!(text, format!("mock reply from {BEDROCK_MODEL}"));
    assert_eq!(v["stopReason"], "end_turn");
    let u = &v["usage"];
    assert_eq!(u["outputTokens"], 4);
    assert_eq!(
        u["totalTokens"].as_u64(),
        Some(u["inputTokens"].as_u64().unwrap_or(0) + 4)
    );
    assert_eq!(v["metrics"]["latencyMs"], 20);

    // Recorded as sent: encoded path, SigV4 headers (not checked by the mock).
    let rec = m.req("GET", "/_mock/requests", "").json();
    let req0 = &rec["requests"][0];
    assert_eq!(req0["path"], path.as_str());
    let hdrs = req0["headers"].as_array().cloned().unwrap_or_default();
    let get = |name: &str| {
        hdrs.iter()
            .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|h| h[1].as_str().map(String::from))
    };
    assert!(get("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=")));
    assert!(get("x-amz-date").is_some());

    // Tool use from toolConfig.
    let v = m.post_json(
        &format!("/bedrock/model/{BEDROCK_PATH_MODEL}/converse"),
        BEDROCK_TOOLS,
    );
    assert_eq!(v["stopReason"], "tool_use");
    let tu = &v["output"]["message"]["content"][0]["toolUse"];
    assert!(tu["toolUseId"].is_string());
    assert_eq!(tu["name"], "get_weather");
    assert_eq!(tu["input"], serde_json::json!({"location": "Paris"}));
    assert!(v["usage"]["outputTokens"].as_u64().is_some());

    // An unencoded ARN works too.
    let v = m.post_json(
        "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.m-v1:0/converse",
        BEDROCK_BODY,
    );
    assert_eq!(
        v["output"]["message"]["content"][0]["text"],
        "mock reply from arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.m-v1:0"
    );
}

#[test]
fn bedrock_converse_stream() {
    let m = Mock::start(&["--stream-chunks", "3"]);
    let path = format!("/model/{BEDROCK_PATH_MODEL}/converse-stream");
    let full = m.post_json(
        &format!("/model/{BEDROCK_PATH_MODEL}/converse"),
        BEDROCK_BODY,
    );
    let r = m.req("POST", &path, BEDROCK_BODY);
    assert!(r.complete);
    let msgs = event_stream(&r);
    let names: Vec<&str> = msgs.iter().map(Message::event_type).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(msgs[0].payload["role"], "assistant");
    let text: String = msgs
        .iter()
        .filter(|m| m.event_type() == "contentBlockDelta")
        .map(|m| {
            assert_eq!(m.payload["contentBlockIndex"], 0);
            m.payload["delta"]["text"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        text,
        full["output"]["message"]["content"][0]["text"]
            .as_str()
            .unwrap_or("-")
    );
    assert_eq!(msgs[4].payload["contentBlockIndex"], 0);
    assert_eq!(msgs[5].payload["stopReason"], "end_turn");
    let meta = &msgs[6].payload;
    assert_eq!(meta["usage"], full["usage"]);
    assert!(meta["metrics"]["latencyMs"].as_u64().is_some());

    // Tool use.
    let r = m.req("POST", &path, BEDROCK_TOOLS);
    let msgs = event_stream(&r);
    let names: Vec<&str> = msgs.iter().map(Message::event_type).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    let start = &msgs[1].payload;
    assert_eq!(start["contentBlockIndex"], 0);
    assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
    assert!(start["start"]["toolUse"]["toolUseId"].is_string());
    let input: String = msgs[2..4]
        .iter()
        .filter_map(|m| m.payload["delta"]["toolUse"]["input"].as_str())
        .collect();
    assert_eq!(input, r#"{"location":"Paris"}"#);
    assert_eq!(msgs[5].payload["stopReason"], "tool_use");
    assert!(msgs[6].payload["usage"]["totalTokens"].as_u64().is_some());
}

#[test]
fn bedrock_faults() {
    let m = Mock::start(&["--slow-ms", "200"]);
    for (status, ty) in [
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
    ] {
        for op in ["converse", "converse-stream"] {
            let r = m.req(
                "POST",
                &format!("/model/m-fail{status}%3A0/{op}"),
                BEDROCK_BODY,
            );
            assert_eq!(r.status, status, "{op}");
            assert_eq!(r.header("x-amzn-errortype"), Some(ty));
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(
                r.header("retry-after"),
                (status == 429).then_some("1"),
                "{op}"
            );
            let e = r.json();
            assert!(e["message"].is_string(), "{e}");
        }
    }

    // cut: the stream ends after 2 messages, without the terminating chunk.
    let mut c = m.connect();
    let r = c.req("POST", "/model/m-cut/converse-stream", &[], BEDROCK_BODY);
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert_eq!(r.chunks.len(), 2);
    let (msgs, rest) = decode_stream(&r.body);
    assert_eq!(rest, 0);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| m.event_type() != "messageStop"));
    assert!(c.at_eof());

    // reset.
    let mut c = m.connect();
    c.send_raw(&common::Conn::format(
        "POST",
        "/model/reset/converse",
        &[],
        BEDROCK_BODY,
    ));
    assert!(c.read_response().is_none());

    // slow: the delay, reported as latencyMs.
    let t = Instant::now();
    let v = m.post_json("/model/slow%3A1/converse", BEDROCK_BODY);
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(v["metrics"]["latencyMs"], 200);

    // Other errors in Bedrock's shape.
    let r = m.req("POST", "/model/m/unknown", "{}");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    assert!(r.json()["message"].is_string());
    // InvokeModel embeddings: a Titan body without `inputText` is refused in Bedrock's shape.
    let r = m.req("POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", "{}");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    let r = m.req("POST", "/model/m/converse", "not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("ValidationException"));
    assert!(r.json()["message"].is_string());
    assert_eq!(m.req("GET", "/model/m/converse", "").status, 405);
}
