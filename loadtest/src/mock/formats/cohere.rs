//! Cohere v2 formats: `POST /v2/chat` (a `ChatResponse`, or with `"stream": true` SSE events
//! carrying both an `event:` name and the same `type`), and `POST /v2/embed`.

use super::{
    embedding_vector, float_array, sse_end, sse_start, w, Call, TOOL_ARGS, TOOL_ARG_PIECES,
};
use crate::mock::text::{reply_pieces, Js, ReplyJs};

/// `finish_reason` of this answer.
fn finish_reason(c: &Call) -> &'static str {
    if c.tool.is_some() {
        "TOOL_CALL"
    } else {
        "COMPLETE"
    }
}

/// The `tool_plan` written before a call to `name` (Cohere's "what I am about to do" text).
pub fn tool_plan(name: &str) -> String {
    format!("I will call {name}.")
}

/// `usage`: `billed_units` and `tokens`, both with the mock's prompt and completion counts.
fn usage(out: &mut Vec<u8>, c: &Call) {
    let (i, o) = (c.prompt_tokens, c.completion_tokens());
    w!(
        out,
        r#"{{"billed_units":{{"input_tokens":{i},"output_tokens":{o}}},"tokens":{{"input_tokens":{i},"output_tokens":{o}}}}}"#
    );
}

/// Non-streaming chat: `{id, message, finish_reason, usage}`; the message has `content: [{type:
/// text, text}]`, or for a tool call `tool_plan` and `tool_calls`.
pub fn chat(out: &mut Vec<u8>, c: &Call) {
    w!(
        out,
        r#"{{"id":"mock-{}","message":{{"role":"assistant","#,
        c.id
    );
    match c.tool {
        Some(name) => w!(
            out,
            r#""tool_plan":{},"tool_calls":[{{"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":{}}}}}]"#,
            Js(&tool_plan(name)),
            c.id,
            Js(name),
            Js(TOOL_ARGS)
        ),
        None => w!(
            out,
            r#""content":[{{"type":"text","text":{}}}]"#,
            ReplyJs {
                model: c.model,
                chunks: c.chunks
            }
        ),
    }
    w!(out, r#"}},"finish_reason":"{}","usage":"#, finish_reason(c));
    usage(out, c);
    out.push(b'}');
}

/// Streaming chat: `message-start`, then `content-start`, `content-delta` ×N, `content-end` (or
/// `tool-plan-delta`, `tool-call-start`, `tool-call-delta` ×2, `tool-call-end`), then
/// `message-end` with `finish_reason` and `usage`. Every event is `event: NAME` plus
/// `data: {"type":"NAME",...}`.
pub fn chat_events(c: &Call) -> Vec<Vec<u8>> {
    let mut evs = Vec::with_capacity(c.chunks + 5);
    let event = |name: &str, body: &dyn Fn(&mut Vec<u8>)| {
        let mut ev = Vec::with_capacity(256);
        sse_start(&mut ev, Some(name));
        w!(ev, r#"{{"type":"{name}""#);
        body(&mut ev);
        ev.push(b'}');
        sse_end(&mut ev);
        ev
    };
    evs.push(event("message-start", &|ev| {
        w!(
            ev,
            r#","id":"mock-{}","delta":{{"message":{{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}}"#,
            c.id
        );
    }));
    match c.tool {
        Some(name) => {
            evs.push(event("tool-plan-delta", &|ev| {
                w!(
                    ev,
                    r#","delta":{{"message":{{"tool_plan":{}}}}}"#,
                    Js(&tool_plan(name))
                );
            }));
            evs.push(event("tool-call-start", &|ev| {
                w!(
                    ev,
                    r#","index":0,"delta":{{"message":{{"tool_calls":{{"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":""}}}}}}}}"#,
                    c.id,
                    Js(name)
                );
            }));
            for piece in TOOL_ARG_PIECES {
                evs.push(event("tool-call-delta", &|ev| {
                    w!(
                        ev,
                        r#","index":0,"delta":{{"message":{{"tool_calls":{{"function":{{"arguments":{}}}}}}}}}"#,
                        Js(piece)
                    );
                }));
            }
            evs.push(event("tool-call-end", &|ev| {
                ev.extend_from_slice(br#","index":0"#);
            }));
        }
        None => {
            evs.push(event("content-start", &|ev| {
                ev.extend_from_slice(
                    br#","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}"#,
                );
            }));
            for piece in reply_pieces(c.model, c.chunks) {
                evs.push(event("content-delta", &|ev| {
                    w!(
                        ev,
                        r#","index":0,"delta":{{"message":{{"content":{{"text":{}}}}}}}"#,
                        Js(&piece)
                    );
                }));
            }
            evs.push(event("content-end", &|ev| {
                ev.extend_from_slice(br#","index":0"#);
            }));
        }
    }
    evs.push(event("message-end", &|ev| {
        w!(
            ev,
            r#","delta":{{"finish_reason":"{}","usage":"#,
            finish_reason(c)
        );
        usage(ev, c);
        ev.push(b'}');
    }));
    evs
}

/// `POST /v2/embed`: `{id, embeddings: {float: [[...], ...]}, texts, meta: {api_version,
/// billed_units: {input_tokens}}, response_type: "embeddings_by_type"}`, one vector per text.
pub fn embed(out: &mut Vec<u8>, id: &str, texts: &[String], dims: usize, input_tokens: u64) {
    w!(out, r#"{{"id":"mock-{id}","embeddings":{{"float":["#);
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        float_array(out, &embedding_vector(t.as_bytes(), dims));
    }
    out.extend_from_slice(br#"]},"texts":["#);
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        w!(out, "{}", Js(t));
    }
    w!(
        out,
        r#"],"meta":{{"api_version":{{"version":"2"}},"billed_units":{{"input_tokens":{input_tokens}}}}},"response_type":"embeddings_by_type"}}"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn call(tool: Option<&str>) -> Call<'_> {
        Call {
            model: "command-r",
            tool,
            include_usage: false,
            prompt_tokens: 7,
            chunks: 4,
            id: "0-1",
            created: 1,
        }
    }

    fn data(ev: &[u8]) -> (String, Value) {
        let s = std::str::from_utf8(ev).unwrap_or("");
        let mut lines = s.lines();
        let name = lines.next().and_then(|l| l.strip_prefix("event: "));
        let data = lines.next().and_then(|l| l.strip_prefix("data: "));
        (
            name.unwrap_or("").to_string(),
            serde_json::from_str(data.unwrap_or("")).unwrap_or_default(),
        )
    }

    #[test]
    fn chat_text_and_tool() {
        let mut o = Vec::new();
        chat(&mut o, &call(None));
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(v["finish_reason"], "COMPLETE");
        assert_eq!(
            v["message"]["content"][0]["text"],
            "mock reply from command-r"
        );
        assert_eq!(v["usage"]["tokens"]["input_tokens"], 7);
        assert_eq!(v["usage"]["billed_units"]["output_tokens"], 4);
        o.clear();
        chat(&mut o, &call(Some("get_weather")));
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(v["finish_reason"], "TOOL_CALL");
        let tc = &v["message"]["tool_calls"][0];
        assert_eq!(tc["function"]["name"], "get_weather");
        assert_eq!(tc["function"]["arguments"], TOOL_ARGS);
        assert!(v["message"]["tool_plan"].is_string());
    }

    #[test]
    fn stream_events_are_named_and_typed() {
        for tool in [None, Some("f")] {
            let evs: Vec<(String, Value)> =
                chat_events(&call(tool)).iter().map(|e| data(e)).collect();
            assert!(evs.iter().all(|(n, v)| v["type"] == n.as_str()), "{evs:?}");
            assert_eq!(evs[0].0, "message-start");
            let last = &evs[evs.len() - 1];
            assert_eq!(last.0, "message-end");
            assert_eq!(last.1["delta"]["usage"]["tokens"]["input_tokens"], 7);
            let text: String = evs
                .iter()
                .filter_map(|(_, v)| v["delta"]["message"]["content"]["text"].as_str())
                .collect();
            let args: String = evs
                .iter()
                .filter_map(|(_, v)| {
                    v["delta"]["message"]["tool_calls"]["function"]["arguments"].as_str()
                })
                .collect();
            match tool {
                None => assert_eq!(text, "mock reply from command-r"),
                Some(_) => assert_eq!(args, TOOL_ARGS),
            }
        }
    }

    #[test]
    fn embed_shape() {
        let mut o = Vec::new();
        embed(&mut o, "0-1", &["a\"b".to_string(), "c".to_string()], 4, 3);
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(
            v["embeddings"]["float"][1].as_array().map(Vec::len),
            Some(4)
        );
        assert_eq!(v["texts"][0], "a\"b");
        assert_eq!(v["meta"]["billed_units"]["input_tokens"], 3);
    }
}
