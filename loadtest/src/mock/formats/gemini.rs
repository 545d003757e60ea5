//! Gemini `generateContent` / `streamGenerateContent` / `countTokens` / `embedContent` /
//! `batchEmbedContents` formats.

use serde::Deserialize;

use super::{embedding_vector, float_array, w, Call, TOOL_ARGS};
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

/// A Gemini `Content` to embed; only its parts' `text` is read.
#[derive(Deserialize, Default)]
pub struct EmbedContent {
    /// The parts.
    #[serde(default)]
    pub parts: Vec<EmbedPart>,
}

/// One part of an [`EmbedContent`].
#[derive(Deserialize, Default)]
pub struct EmbedPart {
    /// The text, if this is a text part.
    #[serde(default)]
    pub text: Option<String>,
}

impl EmbedContent {
    /// The bytes the vector is derived from: the parts' texts concatenated (a single text part
    /// gives the same vector as that string on the OpenAI and Cohere routes); `None` without any
    /// text part.
    pub fn item(&self) -> Option<Vec<u8>> {
        let mut texts = self
            .parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .peekable();
        texts.peek()?;
        Some(texts.collect::<String>().into_bytes())
    }
}

/// One `EmbedContentRequest` of `batchEmbedContents` (its `model`, `taskType` and `title` are not
/// read).
#[derive(Deserialize, Default)]
pub struct EmbedRequest {
    /// What to embed.
    #[serde(default)]
    pub content: Option<EmbedContent>,
    /// Vector dimension.
    #[serde(
        default,
        rename = "outputDimensionality",
        alias = "output_dimensionality"
    )]
    pub dims: Option<usize>,
}

/// `embedContent`: `{"embedding":{"values":[...]}}`.
pub fn embed_content(out: &mut Vec<u8>, item: &[u8], dims: usize) {
    out.extend_from_slice(br#"{"embedding":{"values":"#);
    float_array(out, &embedding_vector(item, dims));
    out.extend_from_slice(b"}}");
}

/// `batchEmbedContents`: `{"embeddings":[{"values":[...]}, ...]}`, one per `(item, dims)`.
pub fn batch_embed_contents(out: &mut Vec<u8>, items: &[(Vec<u8>, usize)]) {
    out.extend_from_slice(br#"{"embeddings":["#);
    for (i, (item, dims)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"values":"#);
        float_array(out, &embedding_vector(item, *dims));
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn embeddings() {
        let c: EmbedContent =
            serde_json::from_str(r#"{"parts":[{"text":"he"},{"inlineData":{}},{"text":"llo"}]}"#)
                .unwrap_or_default();
        assert_eq!(c.item().as_deref(), Some(&b"hello"[..]));
        assert_eq!(EmbedContent::default().item(), None);
        let mut o = Vec::new();
        embed_content(&mut o, b"hello", 3);
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        let want: Vec<Value> = embedding_vector(b"hello", 3)
            .iter()
            .map(|x| Value::from(f64::from(*x)))
            .collect();
        assert_eq!(v["embedding"]["values"].as_array().map(Vec::len), Some(3));
        let close = v["embedding"]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(&want)
            .all(|(a, b)| (a.as_f64().unwrap_or(9.0) - b.as_f64().unwrap_or(0.0)).abs() < 1e-6);
        assert!(close);
        o.clear();
        batch_embed_contents(&mut o, &[(b"a".to_vec(), 2), (b"b".to_vec(), 5)]);
        let v: Value = serde_json::from_slice(&o).unwrap_or_default();
        assert_eq!(
            v["embeddings"][1]["values"].as_array().map(Vec::len),
            Some(5)
        );
    }
}
