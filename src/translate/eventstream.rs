//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), which Bedrock's
//! streaming APIs (ConverseStream, InvokeModelWithResponseStream) use instead of SSE.
//!
//! Every message is
//! `[total length u32 BE][headers length u32 BE][prelude CRC32][headers][payload][message CRC32]`,
//! where the prelude CRC covers the first 8 bytes and the message CRC everything before it. The
//! CRC is CRC-32/ISO-HDLC (zlib's). A header is `[name length u8][name][type u8][value]`, with the
//! value's size fixed by its type except for byte arrays and strings (u16 BE length prefix).
//!
//! The decoder checks the prelude CRC before waiting for the rest of a message, so a corrupt or
//! hostile length field is rejected at once instead of making the gateway buffer up to it.

use std::fmt;

/// Largest message accepted, headers and framing included. Bedrock's events are a few hundred
/// bytes; the bound only stops a broken upstream from making the gateway buffer without limit.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// Largest headers section the format allows (128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// Prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the size of a message with no headers or payload.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;

/// A header value. The wire type tags are 0 (true) and 1 (false) for `Bool`, then 2 `Byte`,
/// 3 `Short`, 4 `Int`, 5 `Long`, 6 `Bytes`, 7 `String`, 8 `Timestamp`, 9 `Uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 and 1: the value is the type itself, no bytes follow.
    Bool(bool),
    /// Type 2: one signed byte.
    Byte(i8),
    /// Type 3: i16 big-endian.
    Short(i16),
    /// Type 4: i32 big-endian.
    Int(i32),
    /// Type 5: i64 big-endian.
    Long(i64),
    /// Type 6: u16 length, then the bytes.
    Bytes(Vec<u8>),
    /// Type 7: u16 length, then UTF-8 text.
    String(String),
    /// Type 8: milliseconds since the Unix epoch, i64 big-endian.
    Timestamp(i64),
    /// Type 9: 16 raw bytes.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The text of a `String` value, else `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for HeaderValue {
    fn from(s: &str) -> Self {
        HeaderValue::String(s.to_owned())
    }
}

/// One decoded message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Headers in wire order (Bedrock sends three or four, so a Vec beats a map).
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload (JSON for Bedrock).
    pub payload: Vec<u8>,
}

impl Message {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first header called `name`, when it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }
}

/// Why bytes are not a valid event stream. Every error is final: the stream cannot be
/// resynchronised because the framing has no markers to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStreamError {
    /// The CRC of the 8-byte prelude does not match.
    PreludeChecksum {
        /// The CRC the message carries.
        expected: u32,
        /// The CRC of the bytes received.
        actual: u32,
    },
    /// The CRC of the whole message does not match.
    MessageChecksum {
        /// The CRC the message carries.
        expected: u32,
        /// The CRC of the bytes received.
        actual: u32,
    },
    /// The prelude announces a message larger than [`MAX_MESSAGE_LEN`] (or headers larger than
    /// [`MAX_HEADERS_LEN`]).
    TooLarge(usize),
    /// Inconsistent lengths or a malformed header.
    Malformed(String),
}

impl fmt::Display for EventStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventStreamError::PreludeChecksum { expected, actual } => write!(
                f,
                "event-stream prelude checksum mismatch (carried {expected:#010x}, computed {actual:#010x})"
            ),
            EventStreamError::MessageChecksum { expected, actual } => write!(
                f,
                "event-stream message checksum mismatch (carried {expected:#010x}, computed {actual:#010x})"
            ),
            EventStreamError::TooLarge(n) => write!(f, "event-stream message of {n} bytes is too large"),
            EventStreamError::Malformed(m) => write!(f, "malformed event-stream message: {m}"),
        }
    }
}

impl std::error::Error for EventStreamError {}

/// Incremental decoder: feed it body bytes cut anywhere, get whole messages back.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    /// Bytes of the message being assembled (never more than one message once `feed` returns).
    buf: Vec<u8>,
    /// Set by the first error; later calls return it again.
    failed: Option<EventStreamError>,
}

impl EventStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes`, appending every message they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // Decode straight from the input while nothing is pending: the common case of whole
        // messages per read then never copies the bytes into the buffer.
        let result = if self.buf.is_empty() {
            let used = decode_all(bytes, out);
            match used {
                Ok(n) => {
                    self.buf.extend_from_slice(&bytes[n..]);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            self.buf.extend_from_slice(bytes);
            match decode_all(&self.buf, out) {
                Ok(n) => {
                    self.buf.drain(..n);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf = Vec::new();
        }
        result
    }

    /// Whether no partial message is pending: the stream may end here cleanly.
    pub fn is_idle(&self) -> bool {
        self.buf.is_empty() && self.failed.is_none()
    }
}

/// Decodes every complete message at the start of `bytes`; returns how many bytes they took.
fn decode_all(bytes: &[u8], out: &mut Vec<Message>) -> Result<usize, EventStreamError> {
    let mut at = 0;
    while let Some(len) = message_len(&bytes[at..])? {
        if bytes.len() - at < len {
            break;
        }
        out.push(decode_message(&bytes[at..at + len])?);
        at += len;
    }
    Ok(at)
}

/// The total length of the message `bytes` starts with, once its prelude is complete and valid.
fn message_len(bytes: &[u8]) -> Result<Option<usize>, EventStreamError> {
    if bytes.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let total = be_u32(&bytes[0..4]) as usize;
    let headers = be_u32(&bytes[4..8]) as usize;
    let expected = be_u32(&bytes[8..12]);
    let actual = crc32(&bytes[0..8]);
    if expected != actual {
        return Err(EventStreamError::PreludeChecksum { expected, actual });
    }
    if total > MAX_MESSAGE_LEN {
        return Err(EventStreamError::TooLarge(total));
    }
    if headers > MAX_HEADERS_LEN {
        return Err(EventStreamError::TooLarge(headers));
    }
    if total < MIN_MESSAGE_LEN || headers > total - MIN_MESSAGE_LEN {
        return Err(EventStreamError::Malformed(format!(
            "total length {total} cannot hold {headers} header bytes"
        )));
    }
    Ok(Some(total))
}

/// Decodes one whole message whose prelude `message_len` has validated.
fn decode_message(msg: &[u8]) -> Result<Message, EventStreamError> {
    let crc_at = msg.len() - 4;
    let expected = be_u32(&msg[crc_at..]);
    let actual = crc32(&msg[..crc_at]);
    if expected != actual {
        return Err(EventStreamError::MessageChecksum { expected, actual });
    }
    let headers_end = PRELUDE_LEN + be_u32(&msg[4..8]) as usize;
    Ok(Message {
        headers: decode_headers(&msg[PRELUDE_LEN..headers_end])?,
        payload: msg[headers_end..crc_at].to_vec(),
    })
}

fn decode_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, EventStreamError> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], EventStreamError> {
        if b.len() < n {
            return Err(EventStreamError::Malformed(
                "header runs past the headers section".into(),
            ));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn fixed<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], EventStreamError> {
        let mut a = [0u8; N];
        a.copy_from_slice(take(b, N)?);
        Ok(a)
    }
    let mut headers = Vec::new();
    while !b.is_empty() {
        let name_len = take(&mut b, 1)?[0] as usize;
        if name_len == 0 {
            return Err(EventStreamError::Malformed("empty header name".into()));
        }
        let name = std::str::from_utf8(take(&mut b, name_len)?)
            .map_err(|_| EventStreamError::Malformed("header name is not UTF-8".into()))?
            .to_owned();
        let value = match take(&mut b, 1)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed(&mut b)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(fixed(&mut b)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(fixed(&mut b)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(fixed(&mut b)?)),
            6 => {
                let n = u16::from_be_bytes(fixed(&mut b)?) as usize;
                HeaderValue::Bytes(take(&mut b, n)?.to_vec())
            }
            7 => {
                let n = u16::from_be_bytes(fixed(&mut b)?) as usize;
                let s = std::str::from_utf8(take(&mut b, n)?).map_err(|_| {
                    EventStreamError::Malformed(format!("header {name} is not UTF-8"))
                })?;
                HeaderValue::String(s.to_owned())
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(&mut b)?)),
            9 => HeaderValue::Uuid(fixed(&mut b)?),
            t => {
                return Err(EventStreamError::Malformed(format!(
                    "header {name} has unknown type {t}"
                )))
            }
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes one message (used by tests and by the mock Bedrock provider).
///
/// # Panics
/// If a header name is empty or longer than 255 bytes, or a string or byte-array value is longer
/// than 65535 bytes: the format cannot express them, and callers build headers from constants.
pub fn encode_message(headers: &[(&str, HeaderValue)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        let name_len = u8::try_from(name.len()).expect("event-stream header name over 255 bytes");
        assert!(name_len > 0, "empty event-stream header name");
        h.push(name_len);
        h.extend_from_slice(name.as_bytes());
        match value {
            HeaderValue::Bool(true) => h.push(0),
            HeaderValue::Bool(false) => h.push(1),
            HeaderValue::Byte(v) => {
                h.push(2);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                h.push(3);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                h.push(4);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                h.push(5);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                h.push(6);
                push_u16_prefixed(&mut h, v);
            }
            HeaderValue::String(v) => {
                h.push(7);
                push_u16_prefixed(&mut h, v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                h.push(8);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                h.push(9);
                h.extend_from_slice(v);
            }
        }
    }
    let total = MIN_MESSAGE_LEN + h.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn push_u16_prefixed(out: &mut Vec<u8>, v: &[u8]) {
    let n = u16::try_from(v.len()).expect("event-stream header value over 65535 bytes");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(v);
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF: zlib's
/// `crc32`), one table lookup per byte. Bedrock's events are small, so slicing-by-8 would not pay.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-c-event-stream's published vectors: an empty message, a payload-only message, and a
    /// message with one string header (`content-type: application/json`) and a payload.
    const EMPTY: [u8; 16] = [
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8,
        0xff,
    ];
    const PAYLOAD_ONLY: [u8; 29] = [
        0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66,
        0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36,
    ];

    fn with_header_vector() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C,
        ];
        v.extend_from_slice(b"content-type");
        v.extend_from_slice(&[0x07, 0x00, 0x10]);
        v.extend_from_slice(b"application/json");
        v.extend_from_slice(b"{'foo':'bar'}");
        v.extend_from_slice(&[0x8D, 0x9C, 0x08, 0xB1]);
        v
    }

    fn feed_in_pieces(bytes: &[u8], piece: usize) -> Result<Vec<Message>, EventStreamError> {
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            d.feed(chunk, &mut out)?;
        }
        assert!(d.is_idle());
        Ok(out)
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn published_vectors_decode_at_every_fragment_size() {
        let mut all = EMPTY.to_vec();
        all.extend_from_slice(&PAYLOAD_ONLY);
        all.extend_from_slice(&with_header_vector());
        for piece in 1..=all.len() {
            let msgs = feed_in_pieces(&all, piece).unwrap();
            assert_eq!(msgs.len(), 3, "piece size {piece}");
            assert_eq!(msgs[0], Message::default());
            assert_eq!(msgs[1].payload, b"{'foo':'bar'}");
            assert!(msgs[1].headers.is_empty());
            assert_eq!(msgs[2].header_str("content-type"), Some("application/json"));
            assert_eq!(msgs[2].payload, b"{'foo':'bar'}");
        }
    }

    #[test]
    fn encoder_reproduces_published_vectors() {
        assert_eq!(encode_message(&[], b""), EMPTY);
        assert_eq!(encode_message(&[], b"{'foo':'bar'}"), PAYLOAD_ONLY);
        assert_eq!(
            encode_message(
                &[("content-type", "application/json".into())],
                b"{'foo':'bar'}"
            ),
            with_header_vector()
        );
    }

    #[test]
    fn every_header_type_round_trips() {
        let headers = vec![
            ("t", HeaderValue::Bool(true)),
            ("f", HeaderValue::Bool(false)),
            ("byte", HeaderValue::Byte(-3)),
            ("short", HeaderValue::Short(-300)),
            ("int", HeaderValue::Int(70_000)),
            ("long", HeaderValue::Long(-5_000_000_000)),
            ("bytes", HeaderValue::Bytes(vec![0, 1, 255])),
            ("str", HeaderValue::String("héllo".into())),
            ("ts", HeaderValue::Timestamp(1_700_000_000_000)),
            ("uuid", HeaderValue::Uuid([7; 16])),
        ];
        let bytes = encode_message(&headers, b"payload");
        for piece in [1, 2, 5, 13, bytes.len()] {
            let msgs = feed_in_pieces(&bytes, piece).unwrap();
            assert_eq!(msgs.len(), 1);
            let got: Vec<(&str, &HeaderValue)> = msgs[0]
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v))
                .collect();
            let want: Vec<(&str, &HeaderValue)> = headers.iter().map(|(n, v)| (*n, v)).collect();
            assert_eq!(got, want);
            assert_eq!(msgs[0].payload, b"payload");
        }
    }

    #[test]
    fn corrupt_prelude_is_rejected_before_the_body_arrives() {
        let mut bad = EMPTY;
        bad[9] = 0xc3; // the bit flip of aws-c-event-stream's corrupted-CRC case
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        let err = d.feed(&bad[..12], &mut out).unwrap_err();
        assert!(
            matches!(err, EventStreamError::PreludeChecksum { .. }),
            "{err}"
        );
        // The error sticks: nothing after a framing error can be trusted.
        assert_eq!(d.feed(&EMPTY, &mut out), Err(err));
        assert!(out.is_empty());
        assert!(!d.is_idle());
    }

    #[test]
    fn corrupt_message_crc_is_rejected() {
        let mut bad = with_header_vector();
        let n = bad.len();
        bad[n - 6] ^= 0x20; // a payload byte
        let err = feed_in_pieces(&bad, 7).unwrap_err();
        assert!(
            matches!(err, EventStreamError::MessageChecksum { .. }),
            "{err}"
        );
    }

    #[test]
    fn oversized_message_is_rejected_from_its_prelude() {
        // aws-c-event-stream's 16 MiB + 1 prelude (valid CRC): refused without buffering it.
        let big = [
            0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x94, 0xE8, 0xF6, 0x47,
        ];
        let mut out = Vec::new();
        let err = EventStreamDecoder::new().feed(&big, &mut out).unwrap_err();
        assert_eq!(err, EventStreamError::TooLarge(16 * 1024 * 1024 + 1));
    }

    #[test]
    fn inconsistent_lengths_are_malformed() {
        // Total length 15 (below the minimum) with a valid prelude CRC.
        let mut v = vec![0, 0, 0, 15, 0, 0, 0, 0];
        let crc = crc32(&v);
        v.extend_from_slice(&crc.to_be_bytes());
        let err = EventStreamDecoder::new()
            .feed(&v, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, EventStreamError::Malformed(_)), "{err}");

        // A string header whose length runs past the headers section.
        let mut msg = encode_message(&[("a", "bc".into())], b"");
        msg[12 + 1 + 1 + 1 + 1] = 9; // low byte of the u16 value length: 2 -> 9
        let body_end = msg.len() - 4;
        let crc = crc32(&msg[..body_end]);
        msg[body_end..].copy_from_slice(&crc.to_be_bytes());
        let err = EventStreamDecoder::new()
            .feed(&msg, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, EventStreamError::Malformed(_)), "{err}");
    }

    #[test]
    fn unknown_header_type_is_malformed() {
        let mut msg = encode_message(&[("a", HeaderValue::Bool(true))], b"");
        msg[12 + 2] = 10;
        let body_end = msg.len() - 4;
        let crc = crc32(&msg[..body_end]);
        msg[body_end..].copy_from_slice(&crc.to_be_bytes());
        let err = EventStreamDecoder::new()
            .feed(&msg, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, EventStreamError::Malformed(_)), "{err}");
    }

    #[test]
    fn partial_message_leaves_decoder_busy() {
        let msg = with_header_vector();
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(&msg[..20], &mut out).unwrap();
        assert!(out.is_empty());
        assert!(!d.is_idle());
        d.feed(&msg[20..], &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(d.is_idle());
    }
}
