//! AWS Bedrock runtime Converse formats: `POST /model/{modelId}/converse` (JSON) and
//! `/converse-stream` (binary event stream, see [`crate::mock::eventstream`]).

use super::{w, Call, TOOL_ARGS, TOOL_ARG_PIECES};
use crate::mock::eventstream::event;
use crate::mock::text::{reply_pieces, Js, ReplyJs};

/// Content type of `converse-stream` answers.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The padding field Bedrock adds to every stream event (a letter run of varying length that
/// hides the payload size); the mock sends a fixed one so clients learn to ignore it.
const PAD: &str = r#""p":"abcdefghijklmnopqrstuvwxyzABCDEFGH""#;

/// `stopReason` of this answer.
fn stop_reason(c: &Call) -> &'static str {
    if c.tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

/// `"usage":{...},"metrics":{...}` (no braces around).
fn usage_metrics(out: &mut Vec<u8>, c: &Call, latency_ms: u64) {
    w!(
        out,
        r#""usage":{{"inputTokens":{},"outputTokens":{},"totalTokens":{}}},"metrics":{{"latencyMs":{latency_ms}}}"#,
        c.prompt_tokens,
        c.completion_tokens(),
        c.total_tokens()
    );
}

/// Non-streaming Converse: `{output: {message: {role, content: [{text}] | [{toolUse: {toolUseId,
/// name, input}}]}}, stopReason, usage: {inputTokens, outputTokens, totalTokens}, metrics:
/// {latencyMs}}`; `latency_ms` is the mock's configured delay for the request.
pub fn converse(out: &mut Vec<u8>, c: &Call, latency_ms: u64) {
    out.extend_from_slice(br#"{"output":{"message":{"role":"assistant","content":["#);
    match c.tool {
        Some(name) => w!(
            out,
            r#"{{"toolUse":{{"toolUseId":"tooluse_mock_{}","name":{},"input":{TOOL_ARGS}}}}}"#,
            c.id,
            Js(name)
        ),
        None => w!(
            out,
            r#"{{"text":{}}}"#,
            ReplyJs {
                model: c.model,
                chunks: c.chunks
            }
        ),
    }
    w!(out, r#"]}}}},"stopReason":"{}","#, stop_reason(c));
    usage_metrics(out, c, latency_ms);
    out.push(b'}');
}

/// ConverseStream, one event-stream message per event: `messageStart`, then `contentBlockDelta`
/// ×N (`delta.text`) and `contentBlockStop` (for a tool call `contentBlockStart` with
/// `start.toolUse`, `contentBlockDelta` ×2 with `delta.toolUse.input` pieces, `contentBlockStop`),
/// `messageStop`, `metadata`.
pub fn converse_events(c: &Call, latency_ms: u64) -> Vec<Vec<u8>> {
    let mut evs = Vec::with_capacity(c.chunks + 5);
    evs.push(event("messageStart", |o| {
        w!(o, r#"{{{PAD},"role":"assistant"}}"#);
    }));
    match c.tool {
        Some(name) => {
            evs.push(event("contentBlockStart", |o| {
                w!(
                    o,
                    r#"{{"contentBlockIndex":0,{PAD},"start":{{"toolUse":{{"toolUseId":"tooluse_mock_{}","name":{}}}}}}}"#,
                    c.id,
                    Js(name)
                );
            }));
            for piece in TOOL_ARG_PIECES {
                evs.push(event("contentBlockDelta", |o| {
                    w!(
                        o,
                        r#"{{"contentBlockIndex":0,"delta":{{"toolUse":{{"input":{}}}}},{PAD}}}"#,
                        Js(piece)
                    );
                }));
            }
        }
        None => {
            for piece in reply_pieces(c.model, c.chunks) {
                evs.push(event("contentBlockDelta", |o| {
                    w!(
                        o,
                        r#"{{"contentBlockIndex":0,"delta":{{"text":{}}},{PAD}}}"#,
                        Js(&piece)
                    );
                }));
            }
        }
    }
    evs.push(event("contentBlockStop", |o| {
        w!(o, r#"{{"contentBlockIndex":0,{PAD}}}"#);
    }));
    evs.push(event("messageStop", |o| {
        w!(o, r#"{{{PAD},"stopReason":"{}"}}"#, stop_reason(c));
    }));
    evs.push(event("metadata", |o| {
        o.push(b'{');
        usage_metrics(o, c, latency_ms);
        w!(o, r#",{PAD}}}"#);
    }));
    evs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::eventstream::crc32;
    use serde_json::Value;

    fn call(tool: Option<&str>) -> Call<'_> {
        Call {
            model: "anthropic.claude-3-5-sonnet-20240620-v1:0",
            tool,
            include_usage: false,
            prompt_tokens: 9,
            chunks: 5,
            id: "0-2",
            created: 1,
        }
    }

    /// Splits one message into (`:event-type`, payload JSON), checking lengths and CRCs.
    fn decode(m: &[u8]) -> (String, Value) {
        let be = |i: usize| u32::from_be_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
        let (total, hlen) = (be(0) as usize, be(4) as usize);
        assert_eq!(total, m.len());
        assert_eq!(be(8), crc32(&m[..8]));
        assert_eq!(be(total - 4), crc32(&m[..total - 4]));
        let mut h = &m[12..12 + hlen];
        let mut ty = String::new();
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = &h[1..1 + n];
            assert_eq!(h[1 + n], 7);
            let vl = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
            let value = &h[4 + n..4 + n + vl];
            if name == b":event-type" {
                ty = String::from_utf8_lossy(value).into_owned();
            }
            h = &h[4 + n + vl..];
        }
        let payload = serde_json::from_slice(&m[12 + hlen..total - 4]).unwrap_or_default();
        (ty, payload)
    }

    #[test]
    fn converse_text_and_tool() {
        let mut o = Vec::new();
        converse(&mut o, &call(None), 12);
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(v["stopReason"], "end_turn");
        assert_eq!(v["output"]["message"]["role"], "assistant");
        let text = v["output"]["message"]["content"][0]["text"].as_str();
        assert!(text.is_some_and(|t| t.starts_with("mock reply from anthropic.claude")));
        assert_eq!(v["usage"]["totalTokens"], 9 + 5);
        assert_eq!(v["metrics"]["latencyMs"], 12);
        o.clear();
        converse(&mut o, &call(Some("get_weather")), 0);
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(v["stopReason"], "tool_use");
        let tu = &v["output"]["message"]["content"][0]["toolUse"];
        assert_eq!(tu["name"], "get_weather");
        assert_eq!(tu["input"]["location"], "Paris");
    }

    #[test]
    fn stream_events() {
        let evs: Vec<(String, Value)> = converse_events(&call(None), 0)
            .iter()
            .map(|m| decode(m))
            .collect();
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 5 + 4);
        assert_eq!(names[0], "messageStart");
        assert_eq!(&names[6..], ["contentBlockStop", "messageStop", "metadata"]);
        let text: String = evs
            .iter()
            .filter_map(|(_, v)| v["delta"]["text"].as_str())
            .collect();
        assert!(text.starts_with("mock reply from anthropic.claude-3-5-sonnet-20240620-v1:0"));
        assert_eq!(evs[8].1["usage"]["inputTokens"], 9);

        let evs: Vec<(String, Value)> = converse_events(&call(Some("f")), 0)
            .iter()
            .map(|m| decode(m))
            .collect();
        assert_eq!(evs[1].0, "contentBlockStart");
        assert_eq!(evs[1].1["start"]["toolUse"]["name"], "f");
        let input: String = evs
            .iter()
            .filter_map(|(_, v)| v["delta"]["toolUse"]["input"].as_str())
            .collect();
        assert_eq!(input, TOOL_ARGS);
        assert_eq!(evs[5].1["stopReason"], "tool_use");
    }
}
