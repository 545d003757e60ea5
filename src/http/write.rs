//! Writing response and request heads into reusable buffers.

use bytes::BytesMut;

/// The standard reason phrase for a status code (empty when unknown, which HTTP allows).
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Site Overloaded",
        _ => "",
    }
}

/// Appends `HTTP/1.1 CODE REASON\r\n`.
pub fn status_line(out: &mut BytesMut, code: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(code).as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason(code).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value\r\n`. Callers pass only validated values (no CR or LF).
pub fn header(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    debug_assert!(
        !value.iter().any(|&b| b == b'\r' || b == b'\n'),
        "header value with CR/LF"
    );
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: N\r\n` for a number.
pub fn header_u64(out: &mut BytesMut, name: &[u8], n: u64) {
    let mut b = itoa::Buffer::new();
    header(out, name, b.format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_parseable_response() {
        let mut out = BytesMut::new();
        status_line(&mut out, 404);
        header(&mut out, b"content-type", b"application/json");
        header_u64(&mut out, b"content-length", 2);
        header(&mut out, b"x-a", b"1");
        assert_eq!(
            &out[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nx-a: 1\r\n"
        );
    }
}
