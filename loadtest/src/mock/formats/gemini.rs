//! Gemini `generateContent` / `streamGenerateContent` / `countTokens` formats.

use super::{w, Call, TOOL_ARGS};
use crate::mock::text::{reply_pieces, Js, ReplyJs};

/// The parts of a candidate: `Text` writes a JSON string value.
enum Part<'a> {
    /// The whole reply.
    Reply,
    /// One streamed piece.
    Text(&'a str),
    /// A function call to the named tool.
    Call(&'a str),
}

/// One `GenerateContentResponse`; `last` adds `finishReason` and the full usage.
fn response(out: &mut Vec<u8>, c: &Call, part: Part<'_>, last: bool) {
    out.extend_from_slice(br#"{"candidates":[{"content":{"parts":["#);
    match part {
        Part::Reply => w!(
            out,
            r#"{{"text":{}}}"#,
            ReplyJs {
                model: c.model,
                chunks: c.chunks
            }
        ),
        Part::Text(t) => w!(out, r#"{{"text":{}}}"#, Js(t)),
        Part::Call(name) => w!(
            out,
            r#"{{"functionCall":{{"name":{},"args":{TOOL_ARGS}}}}}"#,
            Js(name)
        ),
    }
    out.extend_from_slice(br#"],"role":"model"}"#);
    if last {
        out.extend_from_slice(br#","finishReason":"STOP""#);
    }
    out.extend_from_slice(br#","index":0}],"usageMetadata":{"promptTokenCount":"#);
    if last {
        w!(
            out,
            r#"{},"candidatesTokenCount":{},"totalTokenCount":{}"#,
            c.prompt_tokens,
            c.completion_tokens(),
            c.total_tokens()
        );
    } else {
        w!(out, r#"{0},"totalTokenCount":{0}"#, c.prompt_tokens);
    }
    w!(
        out,
        r#"}},"modelVersion":{},"responseId":"mock-{}"}}"#,
        Js(c.model),
        c.id
    );
}

/// Non-streaming `generateContent`.
pub fn generate(out: &mut Vec<u8>, c: &Call) {
    match c.tool {
        Some(name) => response(out, c, Part::Call(name), true),
        None => response(out, c, Part::Reply, true),
    }
}

/// `streamGenerateContent`: one response per piece (a tool call comes whole, as Gemini sends it),
/// the last with `finishReason` and full usage. `sse` gives `data: {...}\r\n\r\n` events, otherwise
/// the pieces of one JSON array (`[` first, `,\r\n` between, `]` after the last).
pub fn stream_events(c: &Call, sse: bool) -> Vec<Vec<u8>> {
    let pieces = match c.tool {
        Some(_) => Vec::new(),
        None => reply_pieces(c.model, c.chunks),
    };
    let n = pieces.len().max(1);
    let mut evs = Vec::with_capacity(n);
    for i in 0..n {
        let mut ev = Vec::with_capacity(320);
        let last = i + 1 == n;
        if sse {
            ev.extend_from_slice(b"data: ");
        } else if i == 0 {
            ev.push(b'[');
        } else {
            ev.extend_from_slice(b",\r\n");
        }
        let part = match (c.tool, pieces.get(i)) {
            (Some(name), _) => Part::Call(name),
            (None, Some(p)) => Part::Text(p),
            (None, None) => Part::Reply,
        };
        response(&mut ev, c, part, last);
        if sse {
            ev.extend_from_slice(b"\r\n\r\n");
        } else if last {
            ev.push(b']');
        }
        evs.push(ev);
    }
    evs
}

/// `countTokens`.
pub fn count_tokens(out: &mut Vec<u8>, prompt_tokens: u64) {
    w!(out, r#"{{"totalTokens":{prompt_tokens}}}"#);
}
