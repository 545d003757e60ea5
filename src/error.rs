//! The gateway's one error type.
//!
//! Every failure knows where it came from (the caller, the upstream provider, or the gateway itself),
//! whether another attempt (a retry, another key, a fallback) could help, and how to present itself
//! to the caller in the caller's own API format.

use std::borrow::Cow;

use bytes::BytesMut;

use crate::json_scan::write_json_string;

/// Who caused an error: decides logging level and whether a retry or fallback may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The request was wrong; retrying it unchanged cannot help.
    Caller,
    /// The provider failed or could not be reached; another key, target or provider may help.
    Upstream,
    /// The gateway itself failed or is shutting down.
    Internal,
}

/// What went wrong, which fixes the HTTP status and the machine-readable `type`/`code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed HTTP request line, header or framing.
    MalformedRequest,
    /// The body is not valid JSON (or not a JSON object).
    InvalidJson,
    /// A field has the wrong type or an invalid value.
    InvalidField,
    /// No or wrong credentials for a protected route.
    Unauthorized,
    /// The route is disabled by configuration.
    Forbidden,
    /// A reload was asked for and the new configuration was refused.
    InvalidConfig,
    /// The request names no model.
    MissingModel,
    /// The model (or its provider prefix) is not known to this gateway.
    UnknownModel,
    /// No route at this path.
    RouteNotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The body exceeds `server.max_request_bytes`.
    PayloadTooLarge,
    /// The request head exceeds `server.max_header_bytes` or `server.max_headers`.
    HeadersTooLarge,
    /// The caller took longer than the head or body read timeout.
    RequestTimeout,
    /// A transfer-coding other than chunked.
    UnsupportedEncoding,
    /// No provider key may serve this model.
    NoUsableKey,
    /// The provider could not be connected to (refused, DNS, TLS).
    UpstreamConnect,
    /// The provider did not answer within its timeout.
    UpstreamTimeout,
    /// The provider answered with something that is not valid HTTP, or hung up before answering.
    UpstreamProtocol,
    /// The gateway is draining for shutdown.
    ShuttingDown,
    /// The metrics scrape or another internal step failed.
    Internal,
}

impl ErrorKind {
    /// HTTP status code a caller's SDK expects for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::MalformedRequest
            | ErrorKind::InvalidJson
            | ErrorKind::InvalidField
            | ErrorKind::MissingModel
            | ErrorKind::InvalidConfig => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::UnknownModel | ErrorKind::RouteNotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::UnsupportedEncoding => 501,
            ErrorKind::NoUsableKey => 503,
            ErrorKind::UpstreamConnect | ErrorKind::UpstreamProtocol => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::ShuttingDown => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// OpenAI-style `error.type`.
    pub fn openai_type(self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            400 | 404 | 405 | 408 | 413 | 431 | 501 => "invalid_request_error",
            500 => "internal_error",
            _ => "upstream_error",
        }
    }

    /// Machine-readable `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::MalformedRequest => "malformed_request",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::MissingModel => "missing_model",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::UnknownModel => "model_not_found",
            ErrorKind::RouteNotFound => "route_not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::UnsupportedEncoding => "unsupported_transfer_encoding",
            ErrorKind::NoUsableKey => "no_usable_key",
            ErrorKind::UpstreamConnect => "upstream_connect_failed",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamProtocol => "upstream_protocol_error",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::Internal => "internal_error",
        }
    }

    /// Who is responsible for this kind of failure.
    pub fn source(self) -> ErrorSource {
        match self {
            ErrorKind::NoUsableKey
            | ErrorKind::UpstreamConnect
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamProtocol => ErrorSource::Upstream,
            ErrorKind::ShuttingDown | ErrorKind::Internal => ErrorSource::Internal,
            _ => ErrorSource::Caller,
        }
    }
}

/// A failure on the request path, ready to be shown to the caller.
#[derive(Debug, Clone)]
pub struct GatewayError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable explanation, shown to the caller.
    pub message: Cow<'static, str>,
    /// Whether another attempt (same or other key/target) may succeed.
    pub retryable: bool,
}

impl GatewayError {
    /// An error of `kind`; retryable when it came from upstream.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        GatewayError {
            kind,
            message: message.into(),
            retryable: kind.source() == ErrorSource::Upstream,
        }
    }

    /// Who caused it.
    pub fn source(&self) -> ErrorSource {
        self.kind.source()
    }

    /// HTTP status for the caller.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Appends the body of this error in the caller's format to `out`.
    pub fn write_body(&self, format: ApiFormat, out: &mut BytesMut) {
        match format {
            ApiFormat::OpenAi => {
                out.extend_from_slice(b"{\"error\":{\"message\":");
                write_json_string(&self.message, out);
                out.extend_from_slice(b",\"type\":\"");
                out.extend_from_slice(self.kind.openai_type().as_bytes());
                out.extend_from_slice(b"\",\"param\":null,\"code\":\"");
                out.extend_from_slice(self.kind.code().as_bytes());
                out.extend_from_slice(b"\"}}");
            }
            ApiFormat::Anthropic => {
                out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
                out.extend_from_slice(anthropic_type(self.status()).as_bytes());
                out.extend_from_slice(b"\",\"message\":");
                write_json_string(&self.message, out);
                out.extend_from_slice(b"}}");
            }
            ApiFormat::Gemini => {
                out.extend_from_slice(b"{\"error\":{\"code\":");
                out.extend_from_slice(itoa::Buffer::new().format(self.status()).as_bytes());
                out.extend_from_slice(b",\"message\":");
                write_json_string(&self.message, out);
                out.extend_from_slice(b",\"status\":\"");
                out.extend_from_slice(google_status(self.status()).as_bytes());
                out.extend_from_slice(b"\"}}");
            }
        }
    }
}

/// Anthropic's `error.type` for a status.
pub fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Google's canonical status name for an HTTP status.
pub fn google_status(status: u16) -> &'static str {
    match status {
        400 | 405 | 413 | 431 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 | 429 => "RESOURCE_EXHAUSTED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ABORTED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        400..=499 => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.code(),
            self.status(),
            self.message
        )
    }
}

impl std::error::Error for GatewayError {}

/// The API dialect a caller speaks; errors and translated responses use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    /// OpenAI chat/completions/embeddings/responses.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_error_body_is_valid_json_with_escapes() {
        let err = GatewayError::new(ErrorKind::UnknownModel, "model \"x\"\nnot\u{1} found");
        let mut out = BytesMut::new();
        err.write_body(ApiFormat::OpenAi, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(v["error"]["message"], "model \"x\"\nnot\u{1} found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(err.status(), 404);
        assert!(!err.retryable);
    }

    #[test]
    fn anthropic_and_gemini_error_bodies() {
        let err = GatewayError::new(ErrorKind::UnknownModel, "no \"m\"");
        let mut out = BytesMut::new();
        err.write_body(ApiFormat::Anthropic, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "not_found_error");
        assert_eq!(v["error"]["message"], "no \"m\"");
        out.clear();
        err.write_body(ApiFormat::Gemini, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(v["error"]["code"], 404);
        assert_eq!(v["error"]["status"], "NOT_FOUND");
    }

    #[test]
    fn upstream_errors_are_retryable() {
        let err = GatewayError::new(ErrorKind::UpstreamConnect, "refused");
        assert!(err.retryable);
        assert_eq!(err.source(), ErrorSource::Upstream);
        assert_eq!(err.status(), 502);
    }
}
