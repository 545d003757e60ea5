//! OpenAI formats: chat completions, legacy completions, the Responses API, embeddings, models.

use super::{
    embedding_vector, float_array, sse_end, sse_start, w, Call, TOOL_ARGS, TOOL_ARG_PIECES,
};
use crate::mock::text::{base64_into, reply_pieces, reply_text, Js, ReplyJs};

/// Models listed by `GET /v1/models`.
const MODELS: [&str; 6] = [
    "mock-model",
    "gpt-4o-mini",
    "gpt-4o",
    "text-embedding-3-small",
    "claude-sonnet-4-5",
    "gemini-2.0-flash",
];

fn usage(out: &mut Vec<u8>, c: &Call) {
    w!(
        out,
        r#"{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        c.prompt_tokens,
        c.completion_tokens(),
        c.total_tokens()
    );
}

/// Non-streaming `chat.completion`.
pub fn chat(out: &mut Vec<u8>, c: &Call) {
    w!(
        out,
        r#"{{"id":"chatcmpl-mock-{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","#,
        c.id,
        c.created,
        Js(c.model)
    );
    let finish = match c.tool {
        Some(name) => {
            w!(
                out,
                r#""content":null,"tool_calls":[{{"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":{}}}}}],"#,
                c.id,
                Js(name),
                Js(TOOL_ARGS)
            );
            "tool_calls"
        }
        None => {
            w!(
                out,
                r#""content":{},"#,
                ReplyJs {
                    model: c.model,
                    chunks: c.chunks
                }
            );
            "stop"
        }
    };
    w!(
        out,
        r#""refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"{finish}"}}],"usage":"#
    );
    usage(out, c);
    out.extend_from_slice(br#","service_tier":"default","system_fingerprint":"fp_mock"}"#);
}

/// Starts one `chat.completion.chunk` event up to the inside of `choices`.
fn chunk_start(ev: &mut Vec<u8>, c: &Call) {
    sse_start(ev, None);
    w!(
        ev,
        r#"{{"id":"chatcmpl-mock-{}","object":"chat.completion.chunk","created":{},"model":{},"service_tier":"default","system_fingerprint":"fp_mock","choices":["#,
        c.id,
        c.created,
        Js(c.model)
    );
}

/// Ends a chunk event begun by [`chunk_start`].
fn chunk_end(ev: &mut Vec<u8>, c: &Call) {
    ev.push(b']');
    if c.include_usage {
        ev.extend_from_slice(br#","usage":null"#);
    }
    ev.push(b'}');
    sse_end(ev);
}

/// A chunk whose only choice has `delta` (raw JSON) and `finish` (raw JSON).
fn delta_chunk(c: &Call, delta: &str, finish: &str) -> Vec<u8> {
    let mut ev = Vec::with_capacity(320);
    chunk_start(&mut ev, c);
    w!(
        ev,
        r#"{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}"#
    );
    chunk_end(&mut ev, c);
    ev
}

/// Streaming chat: role chunk, content (or tool-argument) chunks, finish chunk, optional usage
/// chunk, `[DONE]`.
pub fn chat_events(c: &Call) -> Vec<Vec<u8>> {
    let mut evs = Vec::with_capacity(c.chunks + 4);
    let finish = match c.tool {
        Some(name) => {
            let mut d = Vec::new();
            w!(
                d,
                r#"{{"role":"assistant","content":null,"tool_calls":[{{"index":0,"id":"call_mock_{}","type":"function","function":{{"name":{},"arguments":""}}}}],"refusal":null}}"#,
                c.id,
                Js(name)
            );
            evs.push(delta_chunk(c, &String::from_utf8_lossy(&d), "null"));
            for piece in TOOL_ARG_PIECES {
                let d = format!(
                    r#"{{"tool_calls":[{{"index":0,"function":{{"arguments":{}}}}}]}}"#,
                    Js(piece)
                );
                evs.push(delta_chunk(c, &d, "null"));
            }
            r#""tool_calls""#
        }
        None => {
            evs.push(delta_chunk(
                c,
                r#"{"role":"assistant","content":"","refusal":null}"#,
                "null",
            ));
            for piece in reply_pieces(c.model, c.chunks) {
                let d = format!(r#"{{"content":{}}}"#, Js(&piece));
                evs.push(delta_chunk(c, &d, "null"));
            }
            r#""stop""#
        }
    };
    evs.push(delta_chunk(c, "{}", finish));
    if c.include_usage {
        let mut ev = Vec::with_capacity(400);
        chunk_start(&mut ev, c);
        ev.extend_from_slice(b"],\"usage\":");
        usage(&mut ev, c);
        ev.push(b'}');
        sse_end(&mut ev);
        evs.push(ev);
    }
    evs.push(b"data: [DONE]\n\n".to_vec());
    evs
}

/// Non-streaming legacy `text_completion`.
pub fn completion(out: &mut Vec<u8>, c: &Call) {
    w!(
        out,
        r#"{{"id":"cmpl-mock-{}","object":"text_completion","created":{},"model":{},"choices":[{{"text":{},"index":0,"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}},"system_fingerprint":"fp_mock"}}"#,
        c.id,
        c.created,
        Js(c.model),
        ReplyJs {
            model: c.model,
            chunks: c.chunks
        },
        c.prompt_tokens,
        c.completion_tokens(),
        c.total_tokens()
    );
}

/// Streaming legacy completion: text chunks, a finish chunk, optional usage chunk, `[DONE]`.
pub fn completion_events(c: &Call) -> Vec<Vec<u8>> {
    let mut evs = Vec::with_capacity(c.chunks + 3);
    let one = |text: &str, finish: &str| {
        let mut ev = Vec::with_capacity(256);
        sse_start(&mut ev, None);
        w!(
            ev,
            r#"{{"id":"cmpl-mock-{}","object":"text_completion","created":{},"model":{},"choices":[{{"text":{},"index":0,"logprobs":null,"finish_reason":{finish}}}],"system_fingerprint":"fp_mock"}}"#,
            c.id,
            c.created,
            Js(c.model),
            Js(text)
        );
        sse_end(&mut ev);
        ev
    };
    for piece in reply_pieces(c.model, c.chunks) {
        evs.push(one(&piece, "null"));
    }
    evs.push(one("", r#""stop""#));
    if c.include_usage {
        let mut ev = Vec::with_capacity(256);
        sse_start(&mut ev, None);
        w!(
            ev,
            r#"{{"id":"cmpl-mock-{}","object":"text_completion","created":{},"model":{},"choices":[],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}}}}"#,
            c.id,
            c.created,
            Js(c.model),
            c.prompt_tokens,
            c.completion_tokens(),
            c.total_tokens()
        );
        sse_end(&mut ev);
        evs.push(ev);
    }
    evs.push(b"data: [DONE]\n\n".to_vec());
    evs
}

/// The Responses-API output item (message or function call), `done` selecting its final state.
fn response_item(out: &mut Vec<u8>, c: &Call, done: bool) {
    let status = if done { "completed" } else { "in_progress" };
    match c.tool {
        Some(name) => w!(
            out,
            r#"{{"id":"fc_mock_{}","type":"function_call","status":"{status}","call_id":"call_mock_{}","name":{},"arguments":{}}}"#,
            c.id,
            c.id,
            Js(name),
            Js(if done { TOOL_ARGS } else { "" })
        ),
        None => {
            w!(
                out,
                r#"{{"id":"msg_mock_{}","type":"message","status":"{status}","role":"assistant","content":["#,
                c.id
            );
            if done {
                output_text_part(out, c, true);
            }
            out.extend_from_slice(b"]}");
        }
    }
}

/// An `output_text` content part, empty or complete.
fn output_text_part(out: &mut Vec<u8>, c: &Call, full: bool) {
    out.extend_from_slice(br#"{"type":"output_text","text":"#);
    if full {
        w!(
            out,
            "{}",
            ReplyJs {
                model: c.model,
                chunks: c.chunks
            }
        );
    } else {
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(br#","annotations":[],"logprobs":[]}"#);
}

/// The Responses-API `response` object; `done` gives the completed one with output and usage.
fn response_obj(out: &mut Vec<u8>, c: &Call, done: bool) {
    let status = if done { "completed" } else { "in_progress" };
    w!(
        out,
        r#"{{"id":"resp_mock_{}","object":"response","created_at":{},"status":"{status}","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":{},"output":["#,
        c.id,
        c.created,
        Js(c.model)
    );
    if done {
        response_item(out, c, true);
    }
    out.extend_from_slice(br#"],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":"#);
    if done {
        w!(
            out,
            r#"{{"input_tokens":{},"input_tokens_details":{{"cached_tokens":0}},"output_tokens":{},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{}}}"#,
            c.prompt_tokens,
            c.completion_tokens(),
            c.total_tokens()
        );
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(br#","user":null,"metadata":{}}"#);
}

/// Non-streaming Responses-API `response`.
pub fn responses(out: &mut Vec<u8>, c: &Call) {
    response_obj(out, c, true);
}

/// Streaming Responses API: `response.created`, `response.output_item.added`, then for text
/// `response.content_part.added`, `response.output_text.delta` ×N, `response.output_text.done`,
/// `response.content_part.done` (for a tool call `response.function_call_arguments.delta` ×2 and
/// `.done`), `response.output_item.done`, `response.completed`.
pub fn responses_events(c: &Call) -> Vec<Vec<u8>> {
    let mut evs: Vec<Vec<u8>> = Vec::with_capacity(c.chunks + 8);
    let mut seq = 0u64;
    let mut event = |name: &str, body: &dyn Fn(&mut Vec<u8>)| {
        let mut ev = Vec::with_capacity(384);
        sse_start(&mut ev, Some(name));
        w!(ev, r#"{{"type":"{name}","sequence_number":{seq},"#);
        body(&mut ev);
        ev.push(b'}');
        sse_end(&mut ev);
        seq += 1;
        evs.push(ev);
    };
    let item_id = match c.tool {
        Some(_) => format!("fc_mock_{}", c.id),
        None => format!("msg_mock_{}", c.id),
    };
    let loc = format!(r#""item_id":"{item_id}","output_index":0"#);
    event("response.created", &|ev| {
        ev.extend_from_slice(br#""response":"#);
        response_obj(ev, c, false);
    });
    event("response.output_item.added", &|ev| {
        ev.extend_from_slice(br#""output_index":0,"item":"#);
        response_item(ev, c, false);
    });
    match c.tool {
        Some(_) => {
            for piece in TOOL_ARG_PIECES {
                event("response.function_call_arguments.delta", &|ev| {
                    w!(ev, r#"{loc},"delta":{}"#, Js(piece));
                });
            }
            event("response.function_call_arguments.done", &|ev| {
                w!(ev, r#"{loc},"arguments":{}"#, Js(TOOL_ARGS));
            });
        }
        None => {
            event("response.content_part.added", &|ev| {
                w!(ev, r#"{loc},"content_index":0,"part":"#);
                output_text_part(ev, c, false);
            });
            for piece in reply_pieces(c.model, c.chunks) {
                event("response.output_text.delta", &|ev| {
                    w!(
                        ev,
                        r#"{loc},"content_index":0,"delta":{},"logprobs":[]"#,
                        Js(&piece)
                    );
                });
            }
            let text = reply_text(c.model, c.chunks);
            event("response.output_text.done", &|ev| {
                w!(
                    ev,
                    r#"{loc},"content_index":0,"text":{},"logprobs":[]"#,
                    Js(&text)
                );
            });
            event("response.content_part.done", &|ev| {
                w!(ev, r#"{loc},"content_index":0,"part":"#);
                output_text_part(ev, c, true);
            });
        }
    }
    event("response.output_item.done", &|ev| {
        ev.extend_from_slice(br#""output_index":0,"item":"#);
        response_item(ev, c, true);
    });
    event("response.completed", &|ev| {
        ev.extend_from_slice(br#""response":"#);
        response_obj(ev, c, true);
    });
    evs
}

/// The `embedding` list response: one vector per input item (`items` are the items' raw bytes).
pub fn embeddings(
    out: &mut Vec<u8>,
    model: &str,
    items: &[Vec<u8>],
    dims: usize,
    base64: bool,
    prompt_tokens: u64,
) {
    out.extend_from_slice(br#"{"object":"list","data":["#);
    let mut raw = Vec::with_capacity(dims * 4);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        w!(out, r#"{{"object":"embedding","index":{i},"embedding":"#);
        let v = embedding_vector(item, dims);
        if base64 {
            raw.clear();
            v.iter()
                .for_each(|x| raw.extend_from_slice(&x.to_le_bytes()));
            out.push(b'"');
            base64_into(out, &raw);
            out.push(b'"');
        } else {
            float_array(out, &v);
        }
        out.push(b'}');
    }
    w!(
        out,
        r#"],"model":{},"usage":{{"prompt_tokens":{prompt_tokens},"total_tokens":{prompt_tokens}}}}}"#,
        Js(model)
    );
}

/// `GET /v1/models`.
pub fn models(out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, m) in MODELS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        model(out, m);
    }
    out.extend_from_slice(b"]}");
}

/// `GET /v1/models/{id}` (any id exists).
pub fn model(out: &mut Vec<u8>, id: &str) {
    w!(
        out,
        r#"{{"id":{},"object":"model","created":1700000000,"owned_by":"mock"}}"#,
        Js(id)
    );
}
