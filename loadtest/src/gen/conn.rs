//! One keep-alive HTTP/1.1 client connection: one request in flight at a time (no pipelining),
//! reconnecting after a failure or a `Connection: close`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::request::Template;
use super::response::{Done, Reader};

/// Read buffer size (responses are consumed as they arrive, so this never needs to grow).
const READ_BUF: usize = 16 * 1024;

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// Could not connect.
    Connect,
    /// The connection broke or the response was not valid HTTP.
    Io,
    /// No complete response within the timeout.
    Timeout,
}

/// The result of one request.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// The response's status, or why there is none.
    pub result: Result<Done, Fail>,
    /// When the request was written (after any reconnect).
    pub sent_at: Instant,
    /// When the first response byte arrived.
    pub first_byte: Option<Instant>,
    /// When the response was complete (or the failure seen).
    pub done_at: Instant,
}

/// A client connection with its buffers.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    req: Vec<u8>,
    rbuf: Vec<u8>,
    reader: Reader,
}

impl Conn {
    /// A connection to `addr`, not yet connected.
    pub fn new(addr: SocketAddr, template: &Template) -> Conn {
        Conn {
            addr,
            stream: None,
            req: template.bytes.clone(),
            rbuf: Vec::with_capacity(READ_BUF),
            reader: Reader::default(),
        }
    }

    /// Connects now if not connected.
    pub async fn connect(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let s = TcpStream::connect_addr(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        Ok(())
    }

    /// Sends the template stamped with `id` and reads the response, within `timeout`.
    pub async fn exchange(&mut self, template: &Template, id: u64, timeout: Duration) -> Exchange {
        let start = Instant::now();
        let mut ex = Exchange {
            result: Err(Fail::Timeout),
            sent_at: start,
            first_byte: None,
            done_at: start,
        };
        let res = monoio::time::timeout(timeout, self.run(template, id, &mut ex)).await;
        ex.done_at = Instant::now();
        ex.result = match res {
            Ok(r) => r,
            Err(_) => Err(Fail::Timeout),
        };
        match ex.result {
            Ok(done) if !done.close => {}
            // Failed or closing: the connection's state is unknown or over.
            _ => self.stream = None,
        }
        ex
    }

    async fn run(&mut self, template: &Template, id: u64, ex: &mut Exchange) -> Result<Done, Fail> {
        if self.connect().await.is_err() {
            return Err(Fail::Connect);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Fail::Connect);
        };
        if self.req.len() != template.bytes.len() {
            // A timed-out write took the buffer with it.
            self.req = template.bytes.clone();
        }
        template.stamp(&mut self.req, id);
        ex.sent_at = Instant::now();
        let (res, req) = stream.write_all(std::mem::take(&mut self.req)).await;
        self.req = req;
        if res.is_err() {
            return Err(Fail::Io);
        }
        self.reader.reset();
        self.rbuf.clear();
        loop {
            if self.rbuf.capacity() < READ_BUF {
                self.rbuf.reserve(READ_BUF);
            }
            let len = self.rbuf.len();
            let buf = std::mem::take(&mut self.rbuf);
            let (res, slice) = stream.read(buf.slice_mut(len..)).await;
            self.rbuf = slice.into_inner();
            let n = res.map_err(|_| Fail::Io)?;
            if n == 0 {
                return self.reader.at_eof().ok_or(Fail::Io);
            }
            if ex.first_byte.is_none() {
                ex.first_byte = Some(Instant::now());
            }
            let (used, done) = self.reader.feed(&self.rbuf).map_err(|_| Fail::Io)?;
            if let Some(done) = done {
                return Ok(done);
            }
            self.rbuf.drain(..used);
        }
    }
}
