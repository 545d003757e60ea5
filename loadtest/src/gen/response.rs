//! An incremental HTTP/1.1 response reader: parses the head with httparse, then follows the body by
//! `Content-Length`, chunked framing, or the end of the connection, without keeping body bytes.

/// Most response header fields accepted.
const MAX_HEADERS: usize = 48;

/// Why a response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The head is not valid HTTP/1.x.
    Head,
    /// A chunk-size line is not hexadecimal.
    Chunk,
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Head not parsed yet.
    Head,
    /// This many bytes left.
    Length(u64),
    /// Chunked, in this state.
    Chunked(Chunk),
    /// Until the peer closes.
    UntilClose,
}

/// State of the chunked-body decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a size line: value so far, whether a digit was seen, whether in an extension.
    Size(u64, bool, bool),
    /// This many data bytes left.
    Data(u64),
    /// Skipping the CRLF after data.
    DataEnd,
    /// Reading trailer lines; whether the current line has content.
    Trailer(bool),
}

/// A complete response's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Status code.
    pub status: u16,
    /// Whether the connection cannot be reused.
    pub close: bool,
}

/// Reads one response at a time; [`Reader::reset`] before the next.
#[derive(Debug)]
pub struct Reader {
    body: Body,
    status: u16,
    close: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            body: Body::Head,
            status: 0,
            close: false,
        }
    }
}

impl Reader {
    /// Prepares for the next response.
    pub fn reset(&mut self) {
        *self = Reader::default();
    }

    /// Consumes what it can of `buf` (bytes not consumed by earlier calls). Returns the bytes
    /// consumed and, once the response is complete, its outcome.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Done>), ParseError> {
        let mut used = 0;
        if self.body == Body::Head {
            match self.head(buf)? {
                Some(n) => used = n,
                None => return Ok((0, None)),
            }
        }
        loop {
            let rest = &buf[used..];
            match self.body {
                Body::Head => {
                    // An interim 1xx response: parse the real head next.
                    match self.head(rest)? {
                        Some(n) => used += n,
                        None => return Ok((used, None)),
                    }
                }
                Body::Length(0) => return Ok((used, Some(self.done()))),
                Body::Length(n) => {
                    let take = n.min(rest.len() as u64);
                    used += take as usize;
                    self.body = Body::Length(n - take);
                    if take < n {
                        return Ok((used, None));
                    }
                }
                Body::UntilClose => return Ok((buf.len(), None)),
                Body::Chunked(state) => {
                    let (n, next) = chunked(state, rest)?;
                    used += n;
                    match next {
                        Some(s) => {
                            self.body = Body::Chunked(s);
                            return Ok((used, None));
                        }
                        None => return Ok((used, Some(self.done()))),
                    }
                }
            }
        }
    }

    /// The outcome if the peer closed now: complete only for a body delimited by the close.
    pub fn at_eof(&self) -> Option<Done> {
        (self.body == Body::UntilClose).then_some(Done {
            status: self.status,
            close: true,
        })
    }

    fn done(&self) -> Done {
        Done {
            status: self.status,
            close: self.close,
        }
    }

    /// Parses a head; `Some(len)` when complete (a 1xx interim head leaves `body` at `Head`).
    fn head(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ParseError::Head),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            return Ok(Some(len));
        }
        let mut close = resp.version == Some(0);
        let mut length = None;
        let mut is_chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value).map_err(|_| ParseError::Head)?;
                length = Some(v.trim().parse::<u64>().map_err(|_| ParseError::Head)?);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                is_chunked = contains_token(h.value, b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if contains_token(h.value, b"close") {
                    close = true;
                } else if contains_token(h.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        self.status = status;
        self.close = close;
        self.body = if status == 204 || status == 304 {
            Body::Length(0)
        } else if is_chunked {
            Body::Chunked(Chunk::Size(0, false, false))
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            self.close = true;
            Body::UntilClose
        };
        Ok(Some(len))
    }
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Advances the chunked decoder over `buf`: bytes consumed and the next state (`None`: body done).
fn chunked(mut state: Chunk, buf: &[u8]) -> Result<(usize, Option<Chunk>), ParseError> {
    let mut i = 0;
    while i < buf.len() {
        match state {
            Chunk::Data(n) => {
                let take = n.min((buf.len() - i) as u64);
                i += take as usize;
                state = if take == n {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(n - take)
                };
                continue;
            }
            Chunk::Size(v, digit, ext) => {
                let b = buf[i];
                state = match b {
                    b'\n' if !digit => return Err(ParseError::Chunk),
                    b'\n' if v == 0 => Chunk::Trailer(false),
                    b'\n' => Chunk::Data(v),
                    _ if ext || b == b'\r' => Chunk::Size(v, digit, ext),
                    b';' | b' ' | b'\t' => Chunk::Size(v, digit, true),
                    _ => {
                        let d = (b as char).to_digit(16).ok_or(ParseError::Chunk)?;
                        if v >> 56 != 0 {
                            return Err(ParseError::Chunk);
                        }
                        Chunk::Size(v << 4 | u64::from(d), true, false)
                    }
                };
            }
            Chunk::DataEnd => {
                if buf[i] == b'\n' {
                    state = Chunk::Size(0, false, false);
                }
            }
            Chunk::Trailer(content) => match buf[i] {
                b'\n' if !content => return Ok((i + 1, None)),
                b'\n' => state = Chunk::Trailer(false),
                b'\r' => {}
                _ => state = Chunk::Trailer(true),
            },
        }
        i += 1;
    }
    Ok((i, Some(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` in pieces of `step` bytes, as reads would deliver it.
    fn run(data: &[u8], step: usize) -> Option<Done> {
        let mut r = Reader::default();
        let mut pending: Vec<u8> = Vec::new();
        for piece in data.chunks(step) {
            pending.extend_from_slice(piece);
            let (n, done) = r.feed(&pending).expect("parse");
            pending.drain(..n);
            if done.is_some() {
                assert!(pending.is_empty(), "left {pending:?}");
                return done;
            }
        }
        None
    }

    #[test]
    fn content_length() {
        let d = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for step in [1, 3, 100] {
            assert_eq!(
                run(d, step),
                Some(Done {
                    status: 200,
                    close: false
                })
            );
        }
        assert_eq!(run(&d[..d.len() - 1], 100), None);
        let c = b"HTTP/1.1 503 x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            run(c, 7),
            Some(Done {
                status: 503,
                close: true
            })
        );
    }

    #[test]
    fn chunked_bodies() {
        let d = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 2, 5, 1000] {
            assert_eq!(
                run(d, step),
                Some(Done {
                    status: 200,
                    close: false
                }),
                "step {step}"
            );
        }
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        assert_eq!(run(cut, 4), None);
        let mut r = Reader::default();
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(r.feed(bad), Err(ParseError::Chunk));
    }

    #[test]
    fn interim_and_until_close() {
        let d = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            run(d, 3),
            Some(Done {
                status: 201,
                close: false
            })
        );
        let mut r = Reader::default();
        let (_, done) = r.feed(b"HTTP/1.0 200 OK\r\n\r\nabc").expect("parse");
        assert_eq!(done, None);
        assert_eq!(
            r.at_eof(),
            Some(Done {
                status: 200,
                close: true
            })
        );
        assert_eq!(
            Reader::default().feed(b"garbage\r\n\r\n"),
            Err(ParseError::Head)
        );
    }
}
