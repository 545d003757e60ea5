//! Randomised never-panic tests for every codec (SPEC §6: never a panic on input). Requests and
//! answers are random JSON shaped like the real thing (so that decoders get past their first
//! checks), and streams are random bytes and mangled real streams fed in random pieces.

use serde_json::{json, Map, Value};

use super::codec::{self, CallerFormat};
use super::*;
use crate::providers::WireFormat;

const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "id",
    "tools",
    "tool_choice",
    "system",
    "max_tokens",
    "stream",
    "input",
    "contents",
    "parts",
    "functionCall",
    "functionResponse",
    "args",
    "response",
    "candidates",
    "choices",
    "delta",
    "message",
    "usage",
    "stop_reason",
    "finish_reason",
    "finishReason",
    "tool_use",
    "tool_result",
    "tool_use_id",
    "image_url",
    "url",
    "source",
    "data",
    "inlineData",
    "mimeType",
    "thinking",
    "signature",
    "thought",
    "thoughtSignature",
    "generationConfig",
    "systemInstruction",
    "response_format",
    "json_schema",
    "schema",
    "output",
    "call_id",
    "instructions",
    "reasoning",
    "prompt",
    "toolUse",
    "toolUseId",
    "stopReason",
    "contentBlockDelta",
    "index",
    "error",
    "status",
    "code",
    "input_schema",
];

fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.u8(..4) == 0;
    match rng.u8(..if leaf { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => json!(rng.i64(-5..100_000)),
        3 => json!(rng.f64() * 10.0 - 2.0),
        4 => {
            let words = [
                "",
                "user",
                "assistant",
                "tool",
                "text",
                "function",
                "{\"a\":1}",
                "{",
                "data:image/png;base64,AAAA",
                "https://x/y.png",
                "call_1",
                "auto",
                "none",
                "required",
                "high",
                "é\u{0}\"",
            ];
            json!(words[rng.usize(..words.len())])
        }
        5 => Value::Array(
            (0..rng.usize(..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.usize(..6) {
                let k = KEYS[rng.usize(..KEYS.len())];
                m.insert(k.to_string(), random_value(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

const CALLERS: [CallerFormat; 5] = [
    CallerFormat::OpenAiChat,
    CallerFormat::OpenAiCompletions,
    CallerFormat::OpenAiResponses,
    CallerFormat::Anthropic,
    CallerFormat::Gemini,
];
const WIRES: [WireFormat; 5] = [
    WireFormat::OpenAi,
    WireFormat::Anthropic,
    WireFormat::Gemini,
    WireFormat::Bedrock,
    WireFormat::Cohere,
];

#[test]
fn random_requests_and_answers_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..4_000 {
        let v = random_value(&mut rng, 5);
        for caller in CALLERS {
            if let Ok(mut req) = caller.decode_request(&v) {
                req.model = "m".into();
                for wire in WIRES {
                    let _ = codec::encode_request(wire, &req);
                }
                let mut enc = caller.stream_encoder(&req);
                let mut out = Vec::new();
                enc.finish(&mut out);
            }
        }
        for wire in WIRES {
            if let Ok(resp) = codec::decode_response(wire, &v) {
                for caller in CALLERS {
                    let _ = caller.encode_response(&resp, &ChatRequest::default());
                }
            }
            let _ = codec::decode_error(wire, 500, v.to_string().as_bytes());
        }
        let _ = openai_embeddings::decode_embed_request(&v);
        let _ = gemini::decode_embed_response(&v);
        let _ = cohere::decode_embed_response(&v);
        let _ = anthropic::decode_count_tokens_request(&v);
        let _ = gemini::decode_count_tokens_request(&v);
    }
}

#[test]
fn random_streams_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0xfeed);
    let prefixes: [&[u8]; 4] = [b"data: ", b"event: message_start\ndata: ", b"\n\n", b""];
    for round in 0..3_000 {
        // SSE-ish text whose data lines are random JSON, or plain random bytes.
        let mut stream = Vec::new();
        for _ in 0..rng.usize(1..6) {
            stream.extend_from_slice(prefixes[rng.usize(..prefixes.len())]);
            if round % 3 == 0 {
                let n = rng.usize(..64);
                stream.extend((0..n).map(|_| rng.u8(..)));
            } else {
                stream.extend_from_slice(random_value(&mut rng, 4).to_string().as_bytes());
            }
            stream.extend_from_slice(b"\n\n");
        }
        for wire in WIRES {
            let mut dec = codec::stream_decoder(wire, "m");
            let mut events = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let cut = rng.usize(1..=rest.len());
                if dec.feed(&rest[..cut], &mut events).is_err() {
                    break;
                }
                rest = &rest[cut..];
            }
            let _ = dec.end(&mut events);
            let _ = dec.take_error();
            // Whatever a decoder produced, every caller's encoder must take it.
            for caller in CALLERS {
                let mut enc = caller.stream_encoder(&ChatRequest::default());
                let mut out = Vec::new();
                for e in &events {
                    enc.event(e, &mut out);
                }
                if round % 2 == 0 {
                    enc.finish(&mut out);
                } else {
                    enc.error(&ProviderError::new(502, "x"), &mut out);
                }
            }
        }
    }
}

#[test]
fn random_event_sequences_never_panic_the_encoders() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..5_000 {
        let mut events = Vec::new();
        for _ in 0..rng.usize(..12) {
            events.push(match rng.u8(..9) {
                0 => StreamEvent::Start {
                    id: "i".into(),
                    model: "m".into(),
                },
                1 => StreamEvent::TextDelta("t".into()),
                2 => StreamEvent::ThinkingDelta("th".into()),
                3 => StreamEvent::ThinkingSignature("c2ln".into()),
                4 => StreamEvent::RedactedThinking("r".into()),
                5 => StreamEvent::ToolCallStart {
                    index: rng.u32(..3),
                    id: "c".into(),
                    name: "f".into(),
                },
                6 => StreamEvent::ToolCallDelta {
                    index: rng.u32(..3),
                    arguments: "{\"a".into(),
                },
                7 => StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 2,
                    ..Usage::default()
                }),
                _ => StreamEvent::Finish(StopReason::ToolUse),
            });
        }
        for caller in CALLERS {
            let mut enc = caller.stream_encoder(&ChatRequest::default());
            let mut out = Vec::new();
            for e in &events {
                enc.event(e, &mut out);
            }
            enc.finish(&mut out);
        }
    }
}
