//! One keep-alive HTTP/1.1 client connection: one request in flight at a time (no pipelining),
//! reconnecting after a failure or a `Connection: close`.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::request::Template;
use super::response::{Done, Reader};

/// Read buffer size (responses are consumed as they arrive, so this never needs to grow).
const READ_BUF: usize = 16 * 1024;
/// Limit on establishing a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection's request deadline, enforced from outside by [`Guard::expire`].
///
/// Per-request timeouts are not monoio timers: every pending wheel timer makes each park of the
/// io_uring driver submit a timeout entry, which costs more than the request itself at low load.
/// Instead a per-thread watchdog task checks the guards a few times a second and shuts down the
/// socket of an overdue exchange, which ends its pending read or write.
#[derive(Debug, Default)]
pub struct Guard {
    /// When the exchange in flight is overdue (`None`: idle).
    deadline: Cell<Option<Instant>>,
    /// Its socket.
    fd: Cell<i32>,
    /// Whether the watchdog fired for the exchange in flight.
    fired: Cell<bool>,
}

impl Guard {
    /// Shuts down the socket of an overdue exchange; call from the connection's own thread.
    pub fn expire(&self, now: Instant) {
        if self.deadline.get().is_some_and(|d| now >= d) && !self.fired.get() {
            self.fired.set(true);
            // SAFETY: the fd belongs to the stream the in-flight exchange owns on this thread (the
            // deadline is cleared before that stream can be dropped); shutdown only ends its I/O.
            unsafe {
                libc::shutdown(self.fd.get(), libc::SHUT_RDWR);
            }
        }
    }
}

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
    guard: Rc<Guard>,
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
            guard: Rc::new(Guard::default()),
        }
    }

    /// Its deadline, for the thread's watchdog.
    pub fn guard(&self) -> Rc<Guard> {
        self.guard.clone()
    }

    /// Connects now if not connected.
    pub async fn connect(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let s = monoio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect_addr(self.addr))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        Ok(())
    }

    /// Sends the template stamped with `id` and reads the response, within `timeout` (enforced by
    /// the thread's watchdog through [`Conn::guard`]).
    pub async fn exchange(&mut self, template: &Template, id: u64, timeout: Duration) -> Exchange {
        let start = Instant::now();
        let mut ex = Exchange {
            result: Err(Fail::Timeout),
            sent_at: start,
            first_byte: None,
            done_at: start,
        };
        self.guard.fired.set(false);
        let res = self.run(template, id, timeout, &mut ex).await;
        self.guard.deadline.set(None);
        ex.done_at = Instant::now();
        ex.result = if self.guard.fired.get() {
            Err(Fail::Timeout)
        } else {
            res
        };
        match ex.result {
            Ok(done) if !done.close => {}
            // Failed or closing: the connection's state is unknown or over.
            _ => self.stream = None,
        }
        ex
    }

    async fn run(
        &mut self,
        template: &Template,
        id: u64,
        timeout: Duration,
        ex: &mut Exchange,
    ) -> Result<Done, Fail> {
        if self.connect().await.is_err() {
            return Err(Fail::Connect);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Fail::Connect);
        };
        self.guard.fd.set(stream.as_raw_fd());
        self.guard.deadline.set(Some(Instant::now() + timeout));
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
