//! HTTP/1.1 codec shared by the caller-facing server and the upstream client.
//!
//! Hand-rolled on `httparse` (see docs/architecture.md for why): heads are parsed in place and
//! remembered as byte spans into a frozen `Bytes`, bodies are sliced out of the read buffer, and
//! response heads are written into reusable `BytesMut` buffers. Nothing here does I/O.

pub mod chunked;
pub mod request;
pub mod response;
pub mod write;

/// A byte range `[start, end)` into a head buffer; compact and `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span of `part`, which must be a sub-slice of `whole`.
    pub(crate) fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    /// The bytes of this span in `buf` (empty if out of range, which parsing never produces).
    pub fn slice<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A view of `buf`'s unused capacity for a monoio read. monoio writes at a buffer's start (it
/// would overwrite what `buf` already holds); reading into this slice appends instead, and
/// `into_inner()` gives the buffer back with its length grown by what was read.
pub fn spare_capacity(buf: bytes::BytesMut) -> monoio::buf::SliceMut<bytes::BytesMut> {
    use monoio::buf::IoBufMut;
    let (len, cap) = (buf.len(), buf.capacity());
    buf.slice_mut(len..cap)
}

/// Parses a `Content-Length` value: digits only, no sign, no overflow.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    let value = trim_ows(value);
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Strips optional whitespace (SP / HTAB) around a header value.
pub fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether a comma-separated header value (like `Connection`) contains `token`, case-insensitively.
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_parsing() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b" 42 "), Some(42));
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"1,1"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"99999999999999999999"), None);
    }

    #[test]
    fn tokens() {
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(has_token(b"close", b"close"));
        assert!(!has_token(b"closed", b"close"));
    }
}
