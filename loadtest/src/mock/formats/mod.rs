//! Response formats of the three provider dialects, written by hand into reusable buffers (no JSON
//! tree on the fast path), plus the request fields the mock reads.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// `write!` into a `Vec<u8>`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($out, $($arg)*);
    }};
}
pub(crate) use w;

/// The tool-call arguments the mock always answers with.
pub const TOOL_ARGS: &str = r#"{"location":"Paris"}"#;
/// [`TOOL_ARGS`] in two pieces, for streamed tool calls.
pub const TOOL_ARG_PIECES: [&str; 2] = [r#"{"location":"#, r#""Paris"}"#];
/// Completion tokens reported for a tool-call answer.
pub const TOOL_TOKENS: u64 = 12;

/// The error dialect (and body shape) of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"message","type","param","code"}}`.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// `{"error":{"code","message","status"}}`.
    Gemini,
}

/// The request fields the mock looks at; everything else is skipped.
#[derive(Deserialize, Default)]
pub struct ReqBody<'a> {
    /// Requested model (absent on Gemini, where it is in the path).
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    /// Streaming asked for (OpenAI, Anthropic).
    #[serde(default)]
    pub stream: Option<bool>,
    /// OpenAI `stream_options`.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Tools offered (any dialect).
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    /// Tool choice; only `"none"` / `{"type":"none"}` matters.
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    /// Embeddings input (string, strings, tokens, or token arrays).
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    /// Embedding dimensions.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Embedding encoding: `float` (default) or `base64`.
    #[serde(borrow, default)]
    pub encoding_format: Option<Cow<'a, str>>,
}

/// OpenAI `stream_options`.
#[derive(Deserialize, Default)]
pub struct StreamOptions {
    /// Send a final usage chunk.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// One entry of a `tools` array in any dialect.
#[derive(Deserialize)]
pub struct Tool<'a> {
    /// Anthropic and Responses-API tools name themselves at the top level.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// OpenAI chat tools: `{"type":"function","function":{"name"}}`.
    #[serde(borrow, default)]
    pub function: Option<Named<'a>>,
    /// Gemini tools: `{"functionDeclarations":[{"name"}]}`.
    #[serde(
        borrow,
        default,
        rename = "functionDeclarations",
        alias = "function_declarations"
    )]
    pub declarations: Option<Vec<Named<'a>>>,
}

/// Something with a `name`.
#[derive(Deserialize)]
pub struct Named<'a> {
    /// The name.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
}

impl<'a> ReqBody<'a> {
    /// Parses the fields of interest from a JSON object body.
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The first tool's name, unless no tools were offered or tool choice is "none".
    pub fn first_tool(&self) -> Option<&str> {
        let none = match &self.tool_choice {
            Some(serde_json::Value::String(s)) => s == "none",
            Some(serde_json::Value::Object(o)) => {
                o.get("type").and_then(|t| t.as_str()) == Some("none")
            }
            _ => false,
        };
        if none {
            return None;
        }
        self.tools.as_deref()?.iter().find_map(|t| {
            t.function
                .as_ref()
                .and_then(|f| f.name.as_deref())
                .or(t.name.as_deref())
                .or_else(|| {
                    t.declarations
                        .as_deref()?
                        .iter()
                        .find_map(|d| d.name.as_deref())
                })
        })
    }
}

/// Everything a format needs to write one answer.
pub struct Call<'a> {
    /// Model named in the request (echoed back).
    pub model: &'a str,
    /// First offered tool; when set the answer is a call to it.
    pub tool: Option<&'a str>,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// Prompt tokens reported.
    pub prompt_tokens: u64,
    /// Number of content chunks when streaming (the reply is sized for it either way).
    pub chunks: usize,
    /// Unique id suffix (thread and per-thread sequence), e.g. `0-17`.
    pub id: &'a str,
    /// Unix seconds.
    pub created: u64,
}

impl Call<'_> {
    /// Completion tokens reported.
    pub fn completion_tokens(&self) -> u64 {
        if self.tool.is_some() {
            TOOL_TOKENS
        } else {
            crate::mock::text::word_count(self.chunks) as u64
        }
    }

    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens()
    }
}

/// Writes an error body in `dialect` for `status`.
pub fn error_body(out: &mut Vec<u8>, dialect: Dialect, status: u16, message: &str) {
    use crate::mock::text::Js;
    match dialect {
        Dialect::OpenAi => {
            let (ty, code) = match status {
                429 => ("requests", "\"rate_limit_exceeded\""),
                404 => ("invalid_request_error", "\"unknown_url\""),
                500 => ("server_error", "null"),
                503 => ("server_error", "\"service_unavailable\""),
                _ => ("invalid_request_error", "null"),
            };
            w!(
                out,
                r#"{{"error":{{"message":{},"type":"{ty}","param":null,"code":{code}}}}}"#,
                Js(message)
            );
        }
        Dialect::Anthropic => {
            let ty = match status {
                400 | 405 | 413 | 431 => "invalid_request_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                503 => "overloaded_error",
                _ => "api_error",
            };
            w!(
                out,
                r#"{{"type":"error","error":{{"type":"{ty}","message":{}}}}}"#,
                Js(message)
            );
        }
        Dialect::Gemini => {
            let st = match status {
                400 | 405 | 413 | 431 => "INVALID_ARGUMENT",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            w!(
                out,
                r#"{{"error":{{"code":{status},"message":{},"status":"{st}"}}}}"#,
                Js(message)
            );
        }
    }
}

/// Starts an SSE event: `event: NAME\n` (if named) and `data: `.
pub fn sse_start(ev: &mut Vec<u8>, name: Option<&str>) {
    if let Some(n) = name {
        ev.extend_from_slice(b"event: ");
        ev.extend_from_slice(n.as_bytes());
        ev.push(b'\n');
    }
    ev.extend_from_slice(b"data: ");
}

/// Ends an SSE event.
pub fn sse_end(ev: &mut Vec<u8>) {
    ev.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_any_dialect() {
        let b = br#"{"model":"m","tools":[{"type":"function","function":{"name":"a"}}]}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            Some("a")
        );
        let b = br#"{"model":"m","tools":[{"name":"b","input_schema":{}}]}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            Some("b")
        );
        let b = br#"{"tools":[{"googleSearch":{}},{"functionDeclarations":[{"name":"c"}]}]}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            Some("c")
        );
        let b = br#"{"tools":[{"name":"b"}],"tool_choice":"none"}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            None
        );
    }

    #[test]
    fn errors_are_json() {
        for d in [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini] {
            for s in [400, 404, 429, 500, 503] {
                let mut o = Vec::new();
                error_body(&mut o, d, s, "x\"y");
                assert!(serde_json::from_slice::<serde_json::Value>(&o).is_ok());
            }
        }
    }
}
