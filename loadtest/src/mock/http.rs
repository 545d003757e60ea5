//! The mock's own small HTTP/1.1 codec on `httparse`: request parsing (Content-Length and chunked
//! bodies, keep-alive, `Expect: 100-continue`) and response head / chunk framing writers.
//!
//! Parsing borrows from the connection's read buffer; nothing is allocated for a Content-Length body.
//! A chunked body is decoded into a caller-provided scratch buffer that is reused.

use std::io::Write;

/// Largest request head accepted (larger → 431).
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (larger → 413).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Header slots offered to httparse (more headers → 431).
pub const MAX_HEADERS: usize = 96;

/// One parsed request, borrowing from the read buffer (and the dechunk scratch buffer).
pub struct Request<'b> {
    /// Method, e.g. `POST`.
    pub method: &'b str,
    /// Path without the query string.
    pub path: &'b str,
    /// Query string without the `?` (empty if none).
    pub query: &'b str,
    /// The request target as sent (path and query).
    pub target: &'b str,
    /// Header fields in order.
    pub headers: &'b [httparse::Header<'b>],
    /// The body (decoded if it was chunked).
    pub body: &'b [u8],
    /// Whether the connection stays open after this request.
    pub keep_alive: bool,
    /// Bytes of the read buffer this request used (head and body as sent).
    pub len: usize,
}

/// Outcome of trying to parse one request from the front of a buffer.
pub enum Parsed<'b> {
    /// A whole request.
    Complete(Request<'b>),
    /// More bytes are needed; `expect_continue` is set when the head is complete, asks for
    /// `100-continue`, and the body has not fully arrived.
    Partial {
        /// Whether the client waits for `100 Continue` before sending its body.
        expect_continue: bool,
    },
}

/// A request the codec refuses; answered with `status` and the connection closed.
#[derive(Debug, Clone, Copy)]
pub struct HttpError {
    /// Status code to answer with (400, 413, 431, 501).
    pub status: u16,
    /// Human-readable reason, put in the error body.
    pub message: &'static str,
}

const fn err(status: u16, message: &'static str) -> HttpError {
    HttpError { status, message }
}

/// Parses one request from the front of `buf`. `headers` must have [`MAX_HEADERS`] slots; `scratch`
/// receives a chunked body.
pub fn parse<'b>(
    buf: &'b [u8],
    headers: &'b mut [httparse::Header<'b>],
    scratch: &'b mut Vec<u8>,
) -> Result<Parsed<'b>, HttpError> {
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(err(431, "request head too large"));
            }
            return Ok(Parsed::Partial {
                expect_continue: false,
            });
        }
        Err(httparse::Error::TooManyHeaders) => return Err(err(431, "too many header fields")),
        Err(_) => return Err(err(400, "malformed HTTP request")),
    };
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("/");
    let version = req.version.unwrap_or(1);
    let headers: &'b [httparse::Header<'b>] = req.headers;

    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut conn_close = version == 0;
    let mut expect_continue = false;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .and_then(|s| {
                    if s.bytes().all(|b| b.is_ascii_digit()) {
                        s.parse::<usize>().ok()
                    } else {
                        None
                    }
                })
                .ok_or(err(400, "invalid content-length"))?;
            if content_length.is_some_and(|c| c != v) {
                return Err(err(400, "conflicting content-length"));
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = h.value.trim_ascii();
            if v.eq_ignore_ascii_case(b"chunked") {
                chunked = true;
            } else if !v.eq_ignore_ascii_case(b"identity") {
                return Err(err(501, "unsupported transfer-encoding"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for tok in h.value.split(|&b| b == b',') {
                let tok = tok.trim_ascii();
                if tok.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if tok.eq_ignore_ascii_case(b"keep-alive") {
                    conn_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    if chunked && content_length.is_some() {
        return Err(err(400, "both content-length and chunked"));
    }

    let (body, len): (&'b [u8], usize) = if chunked {
        scratch.clear();
        match dechunk(&buf[head_len..], scratch)? {
            Some(n) => (&scratch[..], head_len + n),
            None => return Ok(Parsed::Partial { expect_continue }),
        }
    } else {
        let cl = content_length.unwrap_or(0);
        if cl > MAX_BODY {
            return Err(err(413, "request body too large"));
        }
        if buf.len() - head_len < cl {
            return Ok(Parsed::Partial { expect_continue });
        }
        (&buf[head_len..head_len + cl], head_len + cl)
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    Ok(Parsed::Complete(Request {
        method,
        path,
        query,
        target,
        headers,
        body,
        keep_alive: !conn_close,
        len,
    }))
}

/// Decodes a chunked body from `buf` into `out`. Returns the bytes of `buf` used (through the
/// trailer section) once complete, `None` if more input is needed.
fn dechunk(buf: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, HttpError> {
    let mut pos = 0;
    loop {
        let (consumed, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(x)) => x,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(err(400, "invalid chunk size")),
        };
        pos += consumed;
        let size = usize::try_from(size).map_err(|_| err(413, "request body too large"))?;
        if size == 0 {
            // Trailer section: header lines until an empty line.
            loop {
                let rest = &buf[pos..];
                let Some(nl) = memchr::memchr(b'\n', rest) else {
                    return Ok(None);
                };
                let line = &rest[..nl];
                pos += nl + 1;
                if line.is_empty() || line == b"\r" {
                    return Ok(Some(pos));
                }
            }
        }
        if out.len() + size > MAX_BODY {
            return Err(err(413, "request body too large"));
        }
        if buf.len() - pos < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(err(400, "invalid chunk terminator"));
        }
        pos += 2;
    }
}

/// The reason phrase for the status codes the mock sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Appends a response head with a Content-Length. `extra` header lines are written as given.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    content_length: usize,
    extra: &[(&str, &str)],
    close: bool,
) {
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {content_length}\r\n",
        reason(status)
    );
    finish_head(out, extra, close);
}

/// Appends a chunked (streaming) 200 response head.
pub fn write_stream_head(out: &mut Vec<u8>, content_type: &str, close: bool) {
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
    );
    finish_head(out, &[], close);
}

fn finish_head(out: &mut Vec<u8>, extra: &[(&str, &str)], close: bool) {
    for (n, v) in extra {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` framed as one HTTP chunk (nothing for empty data: that would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last-chunk marker that ends a chunked body.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Target, body, length used, keep-alive.
    type One = (String, Vec<u8>, usize, bool);

    fn parse_one(buf: &[u8]) -> Result<Option<One>, HttpError> {
        let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut s = Vec::new();
        Ok(match parse(buf, &mut h, &mut s)? {
            Parsed::Complete(r) => {
                Some((r.target.to_string(), r.body.to_vec(), r.len, r.keep_alive))
            }
            Parsed::Partial { .. } => None,
        })
    }

    #[test]
    fn content_length_and_partial() {
        let req = b"POST /a?b=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
        let (t, b, n, ka) = parse_one(req).ok().flatten().unwrap_or_default();
        assert_eq!(
            (t.as_str(), b.as_slice(), n, ka),
            ("/a?b=1", &b"abc"[..], req.len() - 3, true)
        );
        assert!(matches!(parse_one(&req[..req.len() - 4]), Ok(None)));
    }

    #[test]
    fn chunked() {
        let req = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        let (_, b, n, _) = parse_one(req).ok().flatten().unwrap_or_default();
        assert_eq!((b.as_slice(), n), (&b"abcde"[..], req.len()));
        for cut in 1..req.len() {
            assert!(matches!(parse_one(&req[..cut]), Ok(None)), "cut {cut}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_one(b"BAD\x01 / HTTP/1.1\r\n\r\n")
                .err()
                .map(|e| e.status),
            Some(400)
        );
        assert_eq!(
            parse_one(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n")
                .err()
                .map(|e| e.status),
            Some(400)
        );
        let (_, _, _, ka) = parse_one(b"GET / HTTP/1.0\r\n\r\n")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(!ka);
    }
}
