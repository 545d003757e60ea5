//! Incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
//!
//! Used for chunked request bodies from callers and chunked responses from providers. It consumes
//! whatever prefix of the input it can and appends the payload to an output buffer, so it works on
//! bodies that arrive in arbitrary pieces.

use bytes::{Buf, BytesMut};

/// The longest chunk-size line (size plus extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// The most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16384;

/// Why a chunked body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The chunk-size line is not hexadecimal or is too long.
    BadSize,
    /// A chunk's data is not followed by CRLF.
    MissingCrlf,
    /// The trailer section is too long.
    TrailersTooLong,
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkedError::BadSize => "invalid chunk size line",
            ChunkedError::MissingCrlf => "chunk data not followed by CRLF",
            ChunkedError::TrailersTooLong => "chunked trailers too long",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// Decoder state for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder { state: State::Size }
    }

    /// Whether the terminating chunk and trailers have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes as much of `input` as can be decoded, appending payload bytes to `out`.
    /// Returns `Ok(true)` once the whole body (including trailers) has been consumed; bytes after
    /// it stay in `input` (the next pipelined message).
    pub fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<bool, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(true),
                State::Size => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        return if input.len() > MAX_LINE {
                            Err(ChunkedError::BadSize)
                        } else {
                            Ok(false)
                        };
                    };
                    if nl > MAX_LINE {
                        return Err(ChunkedError::BadSize);
                    }
                    let size = parse_size_line(&input[..nl])?;
                    input.advance(nl + 1);
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let take = remaining.min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..take]);
                    input.advance(take);
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        if input.first().is_some_and(|&b| b != b'\r') {
                            return Err(ChunkedError::MissingCrlf);
                        }
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    input.advance(2);
                    self.state = State::Size;
                }
                State::Trailers(seen) => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        return if seen + input.len() > MAX_TRAILERS {
                            Err(ChunkedError::TrailersTooLong)
                        } else {
                            Ok(false)
                        };
                    };
                    let line_is_empty = nl == 0 || (nl == 1 && input[0] == b'\r');
                    input.advance(nl + 1);
                    if line_is_empty {
                        self.state = State::Done;
                    } else if seen + nl + 1 > MAX_TRAILERS {
                        return Err(ChunkedError::TrailersTooLong);
                    } else {
                        self.state = State::Trailers(seen + nl + 1);
                    }
                }
            }
        }
    }
}

/// Parses `HEX[;ext...][\r]` into the chunk size.
fn parse_size_line(line: &[u8]) -> Result<u64, ChunkedError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex_end = line
        .iter()
        .position(|&b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if hex_end == 0 || hex_end > 15 {
        return Err(ChunkedError::BadSize);
    }
    let rest = super::trim_ows(&line[hex_end..]);
    if !rest.is_empty() && rest[0] != b';' {
        return Err(ChunkedError::BadSize);
    }
    let mut size: u64 = 0;
    for &b in &line[..hex_end] {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ChunkedError::BadSize),
        };
        size = (size << 4) | u64::from(digit);
    }
    Ok(size)
}

/// Appends one chunk frame (`HEX\r\n payload \r\n`) for `payload` to `out`; empty payloads write nothing
/// (an empty chunk would end the body).
pub fn write_chunk(payload: &[u8], out: &mut BytesMut) {
    if payload.is_empty() {
        return;
    }
    write_chunk_header(payload.len(), out);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends just the `HEX\r\n` line that precedes a chunk of `len` bytes.
pub fn write_chunk_header(len: usize, out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The terminating zero-length chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let mut input = BytesMut::new();
        let mut out = BytesMut::new();
        let mut done = false;
        for p in pieces {
            input.extend_from_slice(p);
            done = dec.decode(&mut input, &mut out)?;
        }
        Ok((out.to_vec(), done, input.to_vec()))
    }

    #[test]
    fn decodes_whole_body_and_leaves_the_rest() {
        let (out, done, rest) =
            decode_all(&[b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /"]).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(rest, b"GET /");
    }

    #[test]
    fn decodes_byte_by_byte() {
        let body = b"A\r\n0123456789\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        let (out, done, rest) = decode_all(&pieces).unwrap();
        assert_eq!(out, b"0123456789abc");
        assert!(done);
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode_all(&[b"zz\r\n"]).unwrap_err(), ChunkedError::BadSize);
        assert_eq!(decode_all(&[b"\r\n"]).unwrap_err(), ChunkedError::BadSize);
        assert_eq!(
            decode_all(&[b"2\r\nabXY"]).unwrap_err(),
            ChunkedError::MissingCrlf
        );
        assert_eq!(
            decode_all(&[b"ffffffffffffffffff\r\n"]).unwrap_err(),
            ChunkedError::BadSize
        );
        let long = vec![b'1'; MAX_LINE + 10];
        assert_eq!(decode_all(&[&long]).unwrap_err(), ChunkedError::BadSize);
    }

    #[test]
    fn incomplete_is_not_done() {
        let (out, done, _) = decode_all(&[b"5\r\nhel"]).unwrap();
        assert_eq!(out, b"hel");
        assert!(!done);
    }

    #[test]
    fn chunk_writer_round_trips() {
        let mut framed = BytesMut::new();
        write_chunk(b"hello", &mut framed);
        write_chunk(&[7u8; 300], &mut framed);
        write_chunk(b"", &mut framed);
        framed.extend_from_slice(LAST_CHUNK);
        assert!(framed.starts_with(b"5\r\nhello\r\n12c\r\n"));
        let (out, done, _) = decode_all(&[&framed]).unwrap();
        assert!(done);
        assert_eq!(out.len(), 305);
    }

    /// Random bytes and mutated bodies fed in random pieces never panic and never produce more
    /// payload than input.
    #[test]
    fn random_input_never_panics() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let mut body = b"4\r\nabcd\r\n3;e=1\r\nxyz\r\n0\r\nT: v\r\n\r\n".to_vec();
            for _ in 0..rng.usize(0..4) {
                let i = rng.usize(..body.len());
                body[i] = rng.u8(..);
            }
            let mut dec = ChunkedDecoder::new();
            let mut input = BytesMut::new();
            let mut out = BytesMut::new();
            let mut fed = 0;
            while fed < body.len() {
                let n = rng.usize(1..=(body.len() - fed));
                input.extend_from_slice(&body[fed..fed + n]);
                fed += n;
                match dec.decode(&mut input, &mut out) {
                    Ok(true) | Err(_) => break,
                    Ok(false) => {}
                }
            }
            assert!(out.len() <= body.len());
        }
    }
}
