//! Parsing of a provider's response head.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::{has_token, parse_content_length, Span};

/// Most header lines accepted from a provider.
const MAX_RESPONSE_HEADERS: usize = 128;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the provider closes the connection.
    UntilClose,
}

/// Why a provider's response head could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseHeadError {
    /// Not valid HTTP/1.x.
    Malformed(String),
    /// Larger than the head limit.
    TooLarge,
}

/// A parsed response head; reused across responses on one upstream connection.
#[derive(Debug, Default)]
pub struct ResponseHead {
    buf: Bytes,
    headers: Vec<(Span, Span)>,
    /// Status code.
    pub status: u16,
    /// How the body is framed.
    pub framing: Option<ResponseFraming>,
    /// Whether the provider allows reusing the connection afterwards.
    pub keep_alive: bool,
    /// Whether `Content-Type` is `text/event-stream`.
    pub is_event_stream: bool,
}

impl ResponseHead {
    /// An empty head ready for `parse`.
    pub fn new() -> Self {
        ResponseHead {
            headers: Vec::with_capacity(24),
            ..Default::default()
        }
    }

    /// Parses a response head at the start of `data`: `Ok(None)` means more bytes are needed,
    /// `Ok(Some(n))` that the head is the first `n` bytes (call `attach` with them next).
    /// Interim 1xx responses are reported like any other; callers skip them.
    pub fn parse(
        &mut self,
        data: &[u8],
        request_was_head: bool,
        max_head_bytes: usize,
    ) -> Result<Option<usize>, ResponseHeadError> {
        let mut storage = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_RESPONSE_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            data,
            &mut storage,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return if data.len() > max_head_bytes {
                    Err(ResponseHeadError::TooLarge)
                } else {
                    Ok(None)
                };
            }
            Err(e) => return Err(ResponseHeadError::Malformed(e.to_string())),
        };
        if n > max_head_bytes {
            return Err(ResponseHeadError::TooLarge);
        }
        self.status = resp.code.unwrap_or(0);
        let minor = resp.version.unwrap_or(1);
        self.headers.clear();
        let mut content_length = None;
        let mut chunked = false;
        let mut transfer_encoding = false;
        let mut close = false;
        let mut keep_alive_token = false;
        self.is_event_stream = false;
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            self.headers
                .push((Span::of(data, name), Span::of(data, h.value)));
            if name.eq_ignore_ascii_case(b"content-length") {
                let Some(n) = parse_content_length(h.value) else {
                    return Err(ResponseHeadError::Malformed(
                        "invalid Content-Length".to_string(),
                    ));
                };
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(ResponseHeadError::Malformed(
                        "conflicting Content-Length headers".to_string(),
                    ));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = true;
                // Chunked framing only when chunked is the final coding (RFC 9112 §6.3).
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| super::trim_ows(last).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                close |= has_token(h.value, b"close");
                keep_alive_token |= has_token(h.value, b"keep-alive");
            } else if name.eq_ignore_ascii_case(b"content-type") {
                self.is_event_stream =
                    h.value.len() >= 17 && h.value[..17].eq_ignore_ascii_case(b"text/event-stream");
            }
        }
        let no_body = request_was_head
            || (100..200).contains(&self.status)
            || self.status == 204
            || self.status == 304;
        let framing = if no_body {
            ResponseFraming::Empty
        } else if chunked {
            ResponseFraming::Chunked
        } else if transfer_encoding {
            // A coding we do not decode as the last one: the body ends when the connection does.
            ResponseFraming::UntilClose
        } else if let Some(len) = content_length {
            ResponseFraming::Length(len)
        } else {
            ResponseFraming::UntilClose
        };
        self.framing = Some(framing);
        // Both framings at once is how responses get smuggled: never reuse such a connection.
        self.keep_alive = framing != ResponseFraming::UntilClose
            && !(transfer_encoding && content_length.is_some())
            && !close
            && (minor >= 1 || keep_alive_token);
        Ok(Some(n))
    }

    /// Takes ownership of the head bytes that `parse` measured.
    pub fn attach(&mut self, head: Bytes) {
        self.buf = head;
    }

    /// All headers in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.slice(&self.buf), v.slice(&self.buf)))
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &[u8], head_req: bool) -> (ResponseHead, usize) {
        let mut h = ResponseHead::new();
        let n = h.parse(data, head_req, 8192).unwrap().unwrap();
        h.attach(Bytes::copy_from_slice(&data[..n]));
        (h, n)
    }

    #[test]
    fn framings() {
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false);
        assert_eq!(h.framing, Some(ResponseFraming::Length(5)));
        assert!(h.keep_alive);
        let (h, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Some(ResponseFraming::Chunked));
        assert!(h.is_event_stream);
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(h.framing, Some(ResponseFraming::UntilClose));
        assert!(!h.keep_alive);
        let (h, _) = parse(b"HTTP/1.1 204 No Content\r\n\r\n", false);
        assert_eq!(h.framing, Some(ResponseFraming::Empty));
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!(h.framing, Some(ResponseFraming::Empty));
        let (h, _) = parse(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(h.status, 429);
        assert!(!h.keep_alive);
        assert_eq!(h.header(b"retry-after"), Some(&b"1"[..]));
    }

    #[test]
    fn conflicting_framing() {
        let mut h = ResponseHead::new();
        assert!(matches!(
            h.parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                false,
                8192
            ),
            Err(ResponseHeadError::Malformed(_))
        ));
        let (h, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Some(ResponseFraming::UntilClose));
        let (h, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Some(ResponseFraming::Chunked));
        assert!(!h.keep_alive);
    }

    #[test]
    fn partial_and_errors() {
        let mut h = ResponseHead::new();
        assert_eq!(h.parse(b"HTTP/1.1 200 OK\r\n", false, 8192), Ok(None));
        assert!(matches!(
            h.parse(b"SMTP ready\r\n\r\n", false, 8192),
            Err(ResponseHeadError::Malformed(_))
        ));
        assert_eq!(
            h.parse(
                b"HTTP/1.1 200 OK\r\nx-long: aaaaaaaaaaaaaaaaaaaa",
                false,
                10
            ),
            Err(ResponseHeadError::TooLarge)
        );
    }
}
