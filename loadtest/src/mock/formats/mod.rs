//! Response formats of the provider dialects (OpenAI, Anthropic, Gemini, Cohere v2, Bedrock
//! Converse), written by hand into reusable buffers (no JSON tree on the fast path), plus the
//! request fields the mock reads and the deterministic embedding vectors.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
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
    /// Cohere: `{"message"}`.
    Cohere,
    /// AWS Bedrock: `{"message"}`, the error name in the `x-amzn-errortype` header
    /// ([`amz_error_type`]).
    Bedrock,
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
    /// Tool choice; only `"none"` / `{"type":"none"}` matters (any case: Cohere says `"NONE"`).
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    /// Bedrock `toolConfig` (its `tools`), or Gemini `toolConfig` (its `functionCallingConfig`).
    #[serde(borrow, default, rename = "toolConfig", alias = "tool_config")]
    pub tool_config: Option<ToolConfig<'a>>,
    /// Embeddings input (string, strings, tokens, or token arrays).
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    /// Embedding dimensions.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Embedding encoding: `float` (default) or `base64`.
    #[serde(borrow, default)]
    pub encoding_format: Option<Cow<'a, str>>,
    /// Gemini `embedContent`: the `Content` to embed (parsed by the route).
    #[serde(borrow, default)]
    pub content: Option<&'a RawValue>,
    /// Gemini `batchEmbedContents`: the `EmbedContentRequest`s (parsed by the route).
    #[serde(borrow, default)]
    pub requests: Option<&'a RawValue>,
    /// Gemini `embedContent` dimension.
    #[serde(
        default,
        rename = "outputDimensionality",
        alias = "output_dimensionality"
    )]
    pub output_dimensionality: Option<usize>,
    /// Cohere embed: the texts (parsed by the route).
    #[serde(borrow, default)]
    pub texts: Option<&'a RawValue>,
    /// Cohere embed: `search_document`, `search_query`, ... (required).
    #[serde(borrow, default)]
    pub input_type: Option<Cow<'a, str>>,
    /// Cohere embed: the wanted types; only `float` is served (parsed by the route).
    #[serde(borrow, default)]
    pub embedding_types: Option<&'a RawValue>,
    /// Cohere embed dimension.
    #[serde(default)]
    pub output_dimension: Option<usize>,
}

/// A `toolConfig` object: Bedrock's carries the tools, Gemini's the calling mode.
#[derive(Deserialize, Default)]
pub struct ToolConfig<'a> {
    /// Bedrock: `[{"toolSpec":{"name",...}}, {"cachePoint":{...}}, ...]`.
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    /// Gemini: `{"mode":"AUTO"|"ANY"|"NONE"}`.
    #[serde(
        borrow,
        default,
        rename = "functionCallingConfig",
        alias = "function_calling_config"
    )]
    pub function_calling: Option<CallingConfig<'a>>,
}

/// Gemini `functionCallingConfig`.
#[derive(Deserialize, Default)]
pub struct CallingConfig<'a> {
    /// `AUTO`, `ANY`, `NONE`, `VALIDATED`.
    #[serde(borrow, default)]
    pub mode: Option<Cow<'a, str>>,
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
    /// OpenAI chat and Cohere v2 tools: `{"type":"function","function":{"name"}}`.
    #[serde(borrow, default)]
    pub function: Option<Named<'a>>,
    /// Bedrock tools: `{"toolSpec":{"name","inputSchema"}}`.
    #[serde(borrow, default, rename = "toolSpec")]
    pub spec: Option<Named<'a>>,
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

    /// The first tool's name, unless no tools were offered or tool choice is "none" (OpenAI,
    /// Anthropic, Cohere `"NONE"`, Gemini `toolConfig.functionCallingConfig.mode: "NONE"`).
    pub fn first_tool(&self) -> Option<&str> {
        let is_none = |s: &str| s.eq_ignore_ascii_case("none");
        let none = match &self.tool_choice {
            Some(serde_json::Value::String(s)) => is_none(s),
            Some(serde_json::Value::Object(o)) => {
                o.get("type").and_then(|t| t.as_str()).is_some_and(is_none)
            }
            _ => false,
        } || self
            .tool_config
            .as_ref()
            .and_then(|c| c.function_calling.as_ref()?.mode.as_deref())
            .is_some_and(is_none);
        if none {
            return None;
        }
        let bedrock = self.tool_config.as_ref().and_then(|c| c.tools.as_deref());
        let mut tools = self.tools.as_deref().into_iter().chain(bedrock).flatten();
        tools.find_map(|t| {
            t.function
                .as_ref()
                .and_then(|f| f.name.as_deref())
                .or(t.name.as_deref())
                .or_else(|| t.spec.as_ref()?.name.as_deref())
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
        Dialect::Cohere | Dialect::Bedrock => {
            w!(out, r#"{{"message":{}}}"#, Js(message));
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

/// The AWS error name Bedrock puts in `x-amzn-errortype` for `status`.
pub fn amz_error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 413 | 431 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// FNV-1a, to derive an embedding from its input.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64 step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The deterministic unit vector of dimension `dims` for an input item (the same item gives the
/// same vector on every embeddings route: OpenAI, Gemini, Cohere).
pub fn embedding_vector(item: &[u8], dims: usize) -> Vec<f32> {
    let seed = fnv(item);
    let mut v: Vec<f32> = (0..dims as u64)
        .map(|j| (mix(seed ^ mix(j)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Appends `v` as a JSON array of numbers.
pub fn float_array(out: &mut Vec<u8>, v: &[f32]) {
    out.push(b'[');
    for (j, x) in v.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        w!(out, "{x:?}");
    }
    out.push(b']');
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
        // Bedrock: tools inside toolConfig, cache points skipped.
        let b = br#"{"toolConfig":{"tools":[{"cachePoint":{"type":"default"}},{"toolSpec":{"name":"d","inputSchema":{"json":{}}}}],"toolChoice":{"auto":{}}}}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            Some("d")
        );
        // Cohere says NONE.
        let b = br#"{"model":"m","tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"NONE"}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            None
        );
        // Gemini's toolConfig: mode NONE turns calls off, other modes keep them.
        let b = br#"{"tools":[{"functionDeclarations":[{"name":"c"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            None
        );
        let b = br#"{"tools":[{"functionDeclarations":[{"name":"c"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}"#;
        assert_eq!(
            ReqBody::parse(b).ok().as_ref().and_then(|r| r.first_tool()),
            Some("c")
        );
    }

    #[test]
    fn errors_are_json() {
        for d in [
            Dialect::OpenAi,
            Dialect::Anthropic,
            Dialect::Gemini,
            Dialect::Cohere,
            Dialect::Bedrock,
        ] {
            for s in [400, 404, 429, 500, 503] {
                let mut o = Vec::new();
                error_body(&mut o, d, s, "x\"y");
                assert!(serde_json::from_slice::<serde_json::Value>(&o).is_ok());
            }
        }
        let mut o = Vec::new();
        error_body(&mut o, Dialect::Bedrock, 429, "slow down");
        assert_eq!(o, br#"{"message":"slow down"}"#);
        assert_eq!(amz_error_type(429), "ThrottlingException");
        assert_eq!(amz_error_type(500), "InternalServerException");
        assert_eq!(amz_error_type(503), "ServiceUnavailableException");
    }

    #[test]
    fn embedding_vectors() {
        let v = embedding_vector(b"hello", 16);
        assert_eq!(v, embedding_vector(b"hello", 16));
        assert_ne!(v, embedding_vector(b"hellp", 16));
        let norm: f32 = v.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let mut o = Vec::new();
        float_array(&mut o, &[0.5, -1.0]);
        assert_eq!(o, b"[0.5,-1.0]");
    }
}
