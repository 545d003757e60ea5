//! Reading a response body piece by piece, whatever its framing, for the paths that must look
//! at it (translation, error mapping) rather than relay its bytes.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::exchange::{UpstreamConn, UpstreamFailure};
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::ResponseFraming;

/// Why a body could not be read completely.
#[derive(Debug)]
pub enum BodyError {
    /// The provider stopped sending (timeout, close, socket error) before the body ended.
    Cut(UpstreamFailure),
    /// Invalid chunked framing.
    Framing(String),
    /// Larger than the limit.
    TooLarge,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Cut(UpstreamFailure::Timeout) => {
                write!(f, "no data within the provider timeout")
            }
            BodyError::Cut(UpstreamFailure::Closed) => {
                write!(f, "the provider closed the connection")
            }
            BodyError::Cut(UpstreamFailure::Io(e)) => write!(f, "connection error: {e}"),
            BodyError::Framing(m) => write!(f, "invalid chunked framing: {m}"),
            BodyError::TooLarge => write!(f, "response body too large"),
        }
    }
}

/// Yields a response body's payload as it arrives.
pub struct BodyReader {
    framing: ResponseFraming,
    remaining: u64,
    chunked: ChunkedDecoder,
    done: bool,
}

impl BodyReader {
    /// A reader for the body whose head `up` holds.
    pub fn new(up: &UpstreamConn) -> BodyReader {
        let framing = up.head.framing.unwrap_or(ResponseFraming::UntilClose);
        BodyReader {
            framing,
            remaining: match framing {
                ResponseFraming::Length(n) => n,
                _ => 0,
            },
            chunked: ChunkedDecoder::new(),
            done: framing == ResponseFraming::Empty || framing == ResponseFraming::Length(0),
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the connection ended cleanly and may carry another request.
    pub fn reusable(&self, up: &UpstreamConn) -> bool {
        self.done
            && self.framing != ResponseFraming::UntilClose
            && up.head.keep_alive
            && up.rbuf.is_empty()
    }

    /// Appends the next piece of payload to `out` (waiting for the provider when nothing is
    /// buffered); returns `Ok(false)` once the body is complete.
    pub async fn next(
        &mut self,
        up: &mut UpstreamConn,
        timeout: Duration,
        waited: &mut Duration,
        out: &mut BytesMut,
    ) -> Result<bool, BodyError> {
        loop {
            if self.done {
                return Ok(false);
            }
            if !up.rbuf.is_empty() {
                let before = out.len();
                match self.framing {
                    ResponseFraming::Length(_) => {
                        let take = (self.remaining.min(up.rbuf.len() as u64)) as usize;
                        out.extend_from_slice(&up.rbuf.split_to(take));
                        self.remaining -= take as u64;
                        self.done = self.remaining == 0;
                    }
                    ResponseFraming::Chunked => {
                        self.done = self
                            .chunked
                            .decode(&mut up.rbuf, out)
                            .map_err(|e| BodyError::Framing(e.to_string()))?;
                    }
                    ResponseFraming::UntilClose => {
                        out.extend_from_slice(&up.rbuf);
                        up.rbuf.clear();
                    }
                    ResponseFraming::Empty => self.done = true,
                }
                if out.len() > before || self.done {
                    return Ok(!self.done || out.len() > before);
                }
            }
            let t = Instant::now();
            let got = up.fill(timeout).await;
            *waited += t.elapsed();
            match got {
                Ok(_) => {}
                Err(UpstreamFailure::Closed) if self.framing == ResponseFraming::UntilClose => {
                    self.done = true;
                    return Ok(false);
                }
                Err(f) => return Err(BodyError::Cut(f)),
            }
        }
    }

    /// Reads the rest of the body into `out`, refusing more than `limit` bytes.
    pub async fn read_all(
        &mut self,
        up: &mut UpstreamConn,
        timeout: Duration,
        limit: usize,
        waited: &mut Duration,
        out: &mut BytesMut,
    ) -> Result<(), BodyError> {
        while self.next(up, timeout, waited, out).await? {
            if out.len() > limit {
                return Err(BodyError::TooLarge);
            }
        }
        Ok(())
    }
}
