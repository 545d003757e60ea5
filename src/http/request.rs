//! Parsing of a caller's request head into spans over one frozen buffer.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::{has_token, parse_content_length, Span};
use crate::error::{ErrorKind, GatewayError};

/// Hard upper bound on header lines per request, whatever the configuration says.
pub const MAX_HEADERS_HARD: usize = 256;

/// Request methods the gateway distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// Any other token.
    Other,
}

impl Method {
    fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Limits that apply while reading a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Largest head in bytes (request line + headers + blank line).
    pub max_head_bytes: usize,
    /// Most header lines.
    pub max_headers: usize,
}

/// One parsed request head. Reused across the requests of a connection so that parsing does not
/// allocate once the header list has grown to its working size.
#[derive(Debug, Default)]
pub struct RequestHead {
    buf: Bytes,
    path: Span,
    headers: Vec<(Span, Span)>,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// The request method.
    pub method: Option<Method>,
    /// How the body is framed.
    pub framing: Option<BodyFraming>,
    /// Whether the connection may be kept open after this request.
    pub keep_alive: bool,
    /// Whether the caller sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl RequestHead {
    /// An empty head ready for `parse`.
    pub fn new() -> Self {
        RequestHead {
            headers: Vec::with_capacity(32),
            ..Default::default()
        }
    }

    /// Parses a request head at the start of `data`. Returns `Ok(None)` when more bytes are needed,
    /// `Ok(Some(n))` when the head is the first `n` bytes (call `attach` with them next).
    pub fn parse(
        &mut self,
        data: &[u8],
        limits: HeadLimits,
    ) -> Result<Option<usize>, GatewayError> {
        // Forget the previous request's method: an error before this parse completes must not be
        // answered as if it were, say, a HEAD.
        self.method = None;
        let cap = limits.max_headers.clamp(1, MAX_HEADERS_HARD);
        let mut storage = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS_HARD];
        let mut req = httparse::Request::new(&mut []);
        let status = req.parse_with_uninit_headers(data, &mut storage[..cap]);
        let head_len = match status {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if data.len() > limits.max_head_bytes {
                    return Err(too_large_head());
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(GatewayError::new(
                    ErrorKind::HeadersTooLarge,
                    format!("too many header lines (limit {cap})"),
                ))
            }
            Err(e) => {
                return Err(GatewayError::new(
                    ErrorKind::MalformedRequest,
                    format!("malformed HTTP request: {e}"),
                ))
            }
        };
        if head_len > limits.max_head_bytes {
            return Err(too_large_head());
        }
        let method = req.method.unwrap_or_default();
        let path = req.path.unwrap_or_default();
        self.method = Some(Method::from_bytes(method.as_bytes()));
        self.path = Span::of(data, path.as_bytes());
        self.minor_version = req.version.unwrap_or(1);
        self.headers.clear();
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut chunked_twice = false;
        let mut transfer_encoding = false;
        let mut host_count = 0usize;
        let mut other_coding = false;
        let mut conn_close = false;
        let mut conn_keep_alive = false;
        self.expect_continue = false;
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            self.headers
                .push((Span::of(data, name), Span::of(data, h.value)));
            if name.eq_ignore_ascii_case(b"content-length") {
                let Some(n) = parse_content_length(h.value) else {
                    return Err(malformed("invalid Content-Length"));
                };
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(malformed("conflicting Content-Length headers"));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = true;
                for coding in h.value.split(|&b| b == b',') {
                    let coding = super::trim_ows(coding);
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        chunked_twice |= chunked;
                        chunked = true;
                    } else {
                        // Empty codings included: an ambiguous header is refused, not guessed.
                        other_coding = true;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"host") {
                host_count += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                conn_close |= has_token(h.value, b"close");
                conn_keep_alive |= has_token(h.value, b"keep-alive");
            } else if name.eq_ignore_ascii_case(b"expect") {
                if super::trim_ows(h.value).eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                } else {
                    return Err(GatewayError::new(
                        ErrorKind::MalformedRequest,
                        "unsupported Expect header (only 100-continue is supported)",
                    ));
                }
            }
        }
        if other_coding {
            return Err(GatewayError::new(
                ErrorKind::UnsupportedEncoding,
                "unsupported Transfer-Encoding (only chunked is supported)",
            ));
        }
        // A message with both is a smuggling vector (RFC 9112 §6.3): refuse rather than guess.
        if transfer_encoding && content_length.is_some() {
            return Err(malformed(
                "both Content-Length and Transfer-Encoding present",
            ));
        }
        if chunked_twice {
            return Err(malformed("chunked applied twice"));
        }
        if transfer_encoding && self.minor_version == 0 {
            return Err(malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
        if self.minor_version >= 1 && host_count != 1 {
            return Err(malformed(
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        self.framing = Some(if chunked {
            BodyFraming::Chunked
        } else {
            match content_length {
                Some(0) | None => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
            }
        });
        self.keep_alive = if self.minor_version >= 1 {
            !conn_close
        } else {
            conn_keep_alive && !conn_close
        };
        Ok(Some(head_len))
    }

    /// Takes ownership of the head bytes that `parse` measured, so spans can be resolved later.
    pub fn attach(&mut self, head: Bytes) {
        self.buf = head;
    }

    /// The request target as sent (path and query).
    pub fn target(&self) -> &[u8] {
        self.path.slice(&self.buf)
    }

    /// The path without the query string.
    pub fn path(&self) -> &[u8] {
        let t = self.target();
        match memchr::memchr(b'?', t) {
            Some(q) => &t[..q],
            None => t,
        }
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All headers in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.slice(&self.buf), v.slice(&self.buf)))
    }
}

fn too_large_head() -> GatewayError {
    GatewayError::new(ErrorKind::HeadersTooLarge, "request head too large")
}

fn malformed(msg: &'static str) -> GatewayError {
    GatewayError::new(ErrorKind::MalformedRequest, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head_bytes: 8192,
        max_headers: 64,
    };

    fn parse(data: &[u8]) -> Result<Option<(RequestHead, usize)>, GatewayError> {
        let mut head = RequestHead::new();
        match head.parse(data, LIMITS)? {
            Some(n) => {
                head.attach(Bytes::copy_from_slice(&data[..n]));
                Ok(Some((head, n)))
            }
            None => Ok(None),
        }
    }

    #[test]
    fn parses_post_with_length() {
        let raw = b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nAuthorization: Bearer k\r\n\r\n{\"model\":1}";
        let (head, n) = parse(raw).unwrap().unwrap();
        assert_eq!(head.method, Some(Method::Post));
        assert_eq!(head.path(), b"/v1/chat/completions");
        assert_eq!(head.target(), b"/v1/chat/completions?x=1");
        assert_eq!(head.framing, Some(BodyFraming::Length(12)));
        assert!(head.keep_alive);
        assert_eq!(head.header(b"authorization"), Some(&b"Bearer k"[..]));
        assert_eq!(&raw[n..], b"{\"model\":1}");
    }

    #[test]
    fn partial_and_limits() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(parse(&big).unwrap_err().kind, ErrorKind::HeadersTooLarge);
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many).unwrap_err().kind, ErrorKind::HeadersTooLarge);
    }

    #[test]
    fn framing_rules() {
        let (h, _) = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Some(BodyFraming::Chunked));
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
                .unwrap_err()
                .kind,
            ErrorKind::UnsupportedEncoding
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
                .unwrap_err()
                .kind,
            ErrorKind::MalformedRequest
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                .unwrap_err()
                .kind,
            ErrorKind::MalformedRequest
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
                .unwrap_err()
                .kind,
            ErrorKind::MalformedRequest
        );
    }

    #[test]
    fn keep_alive_rules() {
        let (h, _) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let (h, _) = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            parse(b"\x00\x01garbage\r\n\r\n").unwrap_err().kind,
            ErrorKind::MalformedRequest
        );
    }

    /// Mutated requests (bit flips, truncations, splices of header lines) never panic, and
    /// whatever parses keeps its spans inside the head.
    #[test]
    fn random_mutations_never_panic() {
        let seeds: &[&[u8]] = &[
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n",
            b"GET /health HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut head = RequestHead::new();
        for _ in 0..50_000 {
            let mut data = seeds[rng.usize(..seeds.len())].to_vec();
            for _ in 0..rng.usize(1..6) {
                match rng.u8(..4) {
                    0 => {
                        let i = rng.usize(..data.len());
                        data[i] ^= 1 << rng.u8(..8);
                    }
                    1 => data.truncate(rng.usize(..=data.len())),
                    2 => {
                        let i = rng.usize(..=data.len());
                        data.insert(i, rng.u8(..));
                    }
                    _ => {
                        let i = rng.usize(..=data.len());
                        data.splice(i..i, b"\r\nX-Dup: 1".iter().copied());
                    }
                }
                if data.is_empty() {
                    break;
                }
            }
            if let Ok(Some(n)) = head.parse(&data, LIMITS) {
                head.attach(Bytes::copy_from_slice(&data[..n]));
                assert!(head.target().len() <= n);
                for (name, value) in head.headers() {
                    assert!(name.len() + value.len() <= n);
                }
            }
        }
    }
}
