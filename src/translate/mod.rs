//! Translation between wire formats through one canonical model (`model.rs`).
//!
//! Each format has one module with the same set of functions:
//! - `decode_request(&Value) -> Result<ChatRequest, TranslateError>`: a caller's request;
//! - `encode_request(&ChatRequest) -> Result<Value, TranslateError>`: the provider's request;
//! - `decode_response(&Value) -> Result<ChatResponse, TranslateError>`: the provider's answer;
//! - `encode_response(&ChatResponse) -> Value`: the caller's answer;
//! - a `StreamDecoder` (provider stream bytes → `StreamEvent`s) and a `StreamEncoder`
//!   (`StreamEvent`s → caller stream bytes);
//! - `decode_error(status, body) -> ProviderError` and `encode_error(&ProviderError) -> Vec<u8>`.
//!
//! None of this runs when the caller's format is the provider's (passthrough splices bytes).

pub mod anthropic;
pub mod bedrock;
pub mod cloud_embeddings;
pub mod codec;
pub mod cohere;
pub mod eventstream;
pub mod gemini;
pub mod model;
pub mod openai;
pub mod openai_completions;
pub mod openai_embeddings;
pub mod openai_responses;
pub mod sse;

use serde_json::Value;

pub use model::*;

/// Why a request or response could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// The caller's request is malformed (wrong type, missing field): a 400.
    Invalid(String),
    /// The request uses a feature the target cannot honour and that would change the answer
    /// (SPEC §5): a 400 naming the feature.
    Unsupported(String),
    /// The provider's answer could not be understood: a 502.
    Upstream(String),
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranslateError::Invalid(m) => write!(f, "{m}"),
            TranslateError::Unsupported(m) => {
                write!(f, "not supported by the target provider: {m}")
            }
            TranslateError::Upstream(m) => {
                write!(f, "could not understand the provider's answer: {m}")
            }
        }
    }
}

impl std::error::Error for TranslateError {}

/// Shorthand for a malformed-request error.
pub fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// Shorthand for an unintelligible-provider-answer error.
pub fn upstream(msg: impl Into<String>) -> TranslateError {
    TranslateError::Upstream(msg.into())
}

/// Shorthand for a feature the target cannot honour.
pub fn unsupported(msg: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported(msg.into())
}

/// Parses a JSON body (with `simd-json`'s serde bridge would need a mutable copy; serde_json
/// reads the borrowed bytes directly, and translation is off the passthrough path).
pub fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// What kind of failure an error is, in terms every format can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 400: the request is wrong.
    InvalidRequest,
    /// 401: bad credentials.
    Authentication,
    /// 403: not allowed.
    PermissionDenied,
    /// 404: no such model or route.
    NotFound,
    /// 413: too large.
    TooLarge,
    /// 429: rate limited (or quota exhausted).
    RateLimited,
    /// 503/529: overloaded or unavailable.
    Overloaded,
    /// 504: timed out.
    Timeout,
    /// 500/502 and anything else.
    Server,
}

impl ErrorClass {
    /// The class a status code belongs to.
    pub fn from_status(status: u16) -> ErrorClass {
        match status {
            401 => ErrorClass::Authentication,
            403 => ErrorClass::PermissionDenied,
            404 => ErrorClass::NotFound,
            413 => ErrorClass::TooLarge,
            429 => ErrorClass::RateLimited,
            503 | 529 => ErrorClass::Overloaded,
            504 | 408 => ErrorClass::Timeout,
            400..=499 => ErrorClass::InvalidRequest,
            _ => ErrorClass::Server,
        }
    }
}

/// An error in format-neutral terms: what a provider said, or what the gateway says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// HTTP status to give the caller.
    pub status: u16,
    /// Its class.
    pub class: ErrorClass,
    /// Human-readable message.
    pub message: String,
    /// A machine-readable code when the source had one (OpenAI `code`, Gemini `status`).
    pub code: Option<String>,
}

impl ProviderError {
    /// An error with the class its status implies.
    pub fn new(status: u16, message: impl Into<String>) -> ProviderError {
        ProviderError {
            status,
            class: ErrorClass::from_status(status),
            message: message.into(),
            code: None,
        }
    }
}

/// Turns a provider's stream into canonical events. `feed` receives the decoded body bytes as
/// they arrive, cut anywhere; the decoder keeps partial frames itself.
pub trait StreamDecode {
    /// Consumes `bytes`, appending the events they complete.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError>;
    /// The body ended: flush anything pending. An error means the stream was cut short.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError>;
    /// After `feed` failed because the provider sent an error inside the stream: that error, so
    /// it reaches the caller with its own status and class rather than as a generic 502.
    fn take_error(&mut self) -> Option<ProviderError> {
        None
    }
}

/// Turns canonical events into the caller's stream bytes.
pub trait StreamEncode {
    /// Appends the bytes for `event` (possibly none yet).
    fn event(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
    /// The stream ended normally: appends the closing events.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The stream failed after it began: appends a well-formed error event (and whatever the
    /// format needs to end the stream).
    fn error(&mut self, err: &ProviderError, out: &mut Vec<u8>);
}

/// A rough count of a request's input tokens (about four characters of text per token, plus a
/// few per message), for providers that cannot count: answered with
/// `x-shardgate-token-count: estimated`.
pub fn estimate_input_tokens(req: &ChatRequest) -> u64 {
    fn part_chars(p: &Part) -> usize {
        match p {
            Part::Text(t) => t.len(),
            Part::Image(_) => 1000,
            Part::ToolCall(c) => c.name.len() + c.arguments.len(),
            Part::ToolResult(r) => r.content.iter().map(part_chars).sum(),
            Part::Thinking { text, .. } => text.len(),
            Part::RedactedThinking { data } => data.len() / 2,
        }
    }
    let mut chars: usize = req.system.iter().map(String::len).sum();
    for m in &req.messages {
        chars += m.parts.iter().map(part_chars).sum::<usize>();
    }
    for t in &req.tools {
        chars += t.name.len()
            + t.description.as_deref().map_or(0, str::len)
            + t.parameters.to_string().len();
    }
    (chars as u64).div_ceil(4) + 3 * req.messages.len() as u64 + 3
}

/// Reads a JSON value as a string field of an object, or `None`.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
pub mod fixtures;
#[cfg(test)]
mod fuzz;
