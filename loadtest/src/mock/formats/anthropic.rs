//! Anthropic Messages API formats.

use super::{sse_end, sse_start, w, Call, TOOL_ARGS, TOOL_ARG_PIECES};
use crate::mock::text::{reply_pieces, Js, ReplyJs};

/// The stop reason for this answer.
fn stop_reason(c: &Call) -> &'static str {
    if c.tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

/// Non-streaming `message`.
pub fn message(out: &mut Vec<u8>, c: &Call) {
    w!(
        out,
        r#"{{"id":"msg_mock_{}","type":"message","role":"assistant","model":{},"content":["#,
        c.id,
        Js(c.model)
    );
    match c.tool {
        Some(name) => w!(
            out,
            r#"{{"type":"tool_use","id":"toolu_mock_{}","name":{},"input":{TOOL_ARGS}}}"#,
            c.id,
            Js(name)
        ),
        None => w!(
            out,
            r#"{{"type":"text","text":{}}}"#,
            ReplyJs {
                model: c.model,
                chunks: c.chunks
            }
        ),
    }
    w!(
        out,
        r#"],"stop_reason":"{}","stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{},"service_tier":"standard"}}}}"#,
        stop_reason(c),
        c.prompt_tokens,
        c.completion_tokens()
    );
}

/// Streaming: `message_start`, `content_block_start`, `content_block_delta` ×N (`text_delta`, or
/// `input_json_delta` ×2 for a tool call), `content_block_stop`, `message_delta`, `message_stop`.
pub fn message_events(c: &Call) -> Vec<Vec<u8>> {
    let mut evs = Vec::with_capacity(c.chunks + 6);
    let event = |name: &str, body: &dyn Fn(&mut Vec<u8>)| {
        let mut ev = Vec::with_capacity(256);
        sse_start(&mut ev, Some(name));
        body(&mut ev);
        sse_end(&mut ev);
        ev
    };
    evs.push(event("message_start", &|ev| {
        w!(
            ev,
            r#"{{"type":"message_start","message":{{"id":"msg_mock_{}","type":"message","role":"assistant","model":{},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}}}}"#,
            c.id,
            Js(c.model),
            c.prompt_tokens
        );
    }));
    match c.tool {
        Some(name) => {
            evs.push(event("content_block_start", &|ev| {
                w!(
                    ev,
                    r#"{{"type":"content_block_start","index":0,"content_block":{{"type":"tool_use","id":"toolu_mock_{}","name":{},"input":{{}}}}}}"#,
                    c.id,
                    Js(name)
                );
            }));
            for piece in TOOL_ARG_PIECES {
                evs.push(event("content_block_delta", &|ev| {
                    w!(
                        ev,
                        r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"input_json_delta","partial_json":{}}}}}"#,
                        Js(piece)
                    );
                }));
            }
        }
        None => {
            evs.push(event("content_block_start", &|ev| {
                ev.extend_from_slice(
                    br#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                );
            }));
            for piece in reply_pieces(c.model, c.chunks) {
                evs.push(event("content_block_delta", &|ev| {
                    w!(
                        ev,
                        r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
                        Js(&piece)
                    );
                }));
            }
        }
    }
    evs.push(event("content_block_stop", &|ev| {
        ev.extend_from_slice(br#"{"type":"content_block_stop","index":0}"#);
    }));
    evs.push(event("message_delta", &|ev| {
        w!(
            ev,
            r#"{{"type":"message_delta","delta":{{"stop_reason":"{}","stop_sequence":null}},"usage":{{"output_tokens":{}}}}}"#,
            stop_reason(c),
            c.completion_tokens()
        );
    }));
    evs.push(event("message_stop", &|ev| {
        ev.extend_from_slice(br#"{"type":"message_stop"}"#);
    }));
    evs
}

/// `POST /v1/messages/count_tokens`.
pub fn count_tokens(out: &mut Vec<u8>, prompt_tokens: u64) {
    w!(out, r#"{{"input_tokens":{prompt_tokens}}}"#);
}
