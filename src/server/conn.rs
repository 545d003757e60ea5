//! Stage 1, receive: one caller connection. HTTP/1.1 keep-alive, pipelined requests answered in
//! order, Content-Length and chunked bodies, `Expect: 100-continue`, head and body limits, and the
//! idle, head-read and body-read timeouts.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::shard::Shard;
use crate::error::{ApiFormat, ErrorKind, GatewayError};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{BodyFraming, RequestHead};
use crate::metrics::{RequestRecord, RouteLabel};

/// Read buffer size per connection (grows for large bodies).
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes reserved ahead of arrival for a declared body.
const PREALLOC_LIMIT: usize = 1024 * 1024;

/// A caller connection with its reusable buffers.
pub struct ClientConn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read and not yet consumed (may hold the next pipelined request).
    pub rbuf: BytesMut,
    /// Buffer for what is written next (upstream request, then response head).
    pub wbuf: BytesMut,
    /// Scratch space for decoded payloads.
    pub scratch: BytesMut,
    /// The current request's head.
    pub head: RequestHead,
}

/// Why reading from the caller stopped.
enum ReadStop {
    /// Clean end: the caller closed between requests, went idle too long, or the shard drains.
    Closed,
    /// Answer with this error, then close.
    Fail(GatewayError),
    /// Close without answering (the caller vanished mid-request).
    Abort,
}

impl ClientConn {
    fn new(stream: TcpStream) -> ClientConn {
        ClientConn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            scratch: BytesMut::new(),
            head: RequestHead::new(),
        }
    }

    /// Gives back buffers that one large request grew, so an idle keep-alive connection does not
    /// hold megabytes (the common small request never triggers it).
    fn shrink_after_large_request(&mut self) {
        const KEEP: usize = 1024 * 1024;
        if self.rbuf.capacity() > KEEP && self.rbuf.is_empty() {
            self.rbuf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.wbuf.capacity() > KEEP {
            self.wbuf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.scratch.capacity() > KEEP {
            self.scratch = BytesMut::new();
        }
    }

    /// Whether the response to the current request may carry a body (not for HEAD).
    pub fn body_allowed(&self) -> bool {
        self.head.method != Some(crate::http::request::Method::Head)
    }

    /// Writes `wbuf` to the caller and clears it; false if the caller is gone.
    pub async fn flush(&mut self) -> bool {
        let buf = std::mem::take(&mut self.wbuf);
        let (res, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.wbuf = buf;
        res.is_ok()
    }

    /// Writes an owned buffer to the caller and gives it back cleared.
    pub async fn write_owned(&mut self, buf: BytesMut) -> (bool, BytesMut) {
        let (res, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        (res.is_ok(), buf)
    }

    /// Reads more into `rbuf` within `timeout`; with `idle`, also returns when the shard drains.
    async fn fill(
        &mut self,
        timeout: Duration,
        drain: Option<&super::shutdown::Drain>,
    ) -> Result<usize, ReadStop> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        // monoio reads at the buffer's start; a slice of the spare capacity makes it append.
        let spare = crate::http::spare_capacity(std::mem::take(&mut self.rbuf));
        let read = monoio::time::timeout(timeout, self.stream.read(spare));
        let outcome = match drain {
            Some(drain) => {
                monoio::select! {
                    r = read => Some(r),
                    _ = drain.wait() => None,
                }
            }
            None => Some(read.await),
        };
        match outcome {
            None => Err(ReadStop::Closed),
            Some(Err(_elapsed)) => Err(ReadStop::Closed),
            Some(Ok((Ok(n), buf))) => {
                self.rbuf = buf.into_inner();
                Ok(n)
            }
            Some(Ok((Err(_), buf))) => {
                self.rbuf = buf.into_inner();
                Err(ReadStop::Abort)
            }
        }
    }
}

/// Serves one caller connection until it closes, errs, or the shard drains.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    shard.connections.set(shard.connections.get() + 1);
    let mut conn = ClientConn::new(stream);
    loop {
        match read_request(&shard, &mut conn).await {
            Ok(body) => {
                let received = Instant::now();
                let keep = crate::pipeline::handle(&shard, &mut conn, body, received).await;
                // Let the head's bytes go so the read buffer can be reclaimed without allocating.
                conn.head.attach(Bytes::new());
                conn.shrink_after_large_request();
                if !keep || shard.draining() {
                    break;
                }
            }
            Err(ReadStop::Closed) | Err(ReadStop::Abort) => break,
            Err(ReadStop::Fail(err)) => {
                let received = Instant::now();
                crate::pipeline::respond::error(
                    &shard,
                    &mut conn,
                    &err,
                    ApiFormat::OpenAi,
                    false,
                    None,
                )
                .await;
                record_refused(&shard, &err, received);
                break;
            }
        }
    }
    shard
        .connections
        .set(shard.connections.get().saturating_sub(1));
}

fn record_refused(shard: &Shard, err: &GatewayError, received: Instant) {
    shard.metrics.borrow_mut().record(&RequestRecord {
        route: RouteLabel::Other,
        provider: None,
        model: None,
        status: err.status(),
        total: received.elapsed(),
        upstream: Duration::ZERO,
        proxied: false,
    });
}

/// Reads one request head and body. The head is left in `conn.head`.
async fn read_request(shard: &Shard, conn: &mut ClientConn) -> Result<Bytes, ReadStop> {
    let gateway = shard.gateway();
    let server = &gateway.config.server;
    let limits = gateway.head_limits;
    let mut head_deadline: Option<Instant> = None;
    let head_len = loop {
        if !conn.rbuf.is_empty() {
            match conn.head.parse(&conn.rbuf, limits) {
                Ok(Some(n)) => break n,
                Ok(None) => {}
                Err(e) => return Err(ReadStop::Fail(e)),
            }
        }
        if conn.rbuf.is_empty() {
            if shard.draining() {
                return Err(ReadStop::Closed);
            }
            let idle = Duration::from_millis(server.idle_timeout_ms);
            match conn.fill(idle, Some(&shard.drain)).await? {
                0 => return Err(ReadStop::Closed),
                _ => {
                    head_deadline =
                        Some(Instant::now() + Duration::from_millis(server.header_read_timeout_ms));
                }
            }
        } else {
            let deadline = *head_deadline.get_or_insert_with(|| {
                Instant::now() + Duration::from_millis(server.header_read_timeout_ms)
            });
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.fill(left, None).await {
                Ok(0) => return Err(ReadStop::Abort),
                Ok(_) => {}
                Err(ReadStop::Closed) => {
                    return Err(ReadStop::Fail(GatewayError::new(
                        ErrorKind::RequestTimeout,
                        "timed out reading the request head",
                    )))
                }
                Err(other) => return Err(other),
            }
        }
    };
    let max_body = server.max_request_bytes as u64;
    let body_deadline = Instant::now() + Duration::from_millis(server.body_read_timeout_ms);
    match conn.head.framing {
        None | Some(BodyFraming::None) => {
            let head = conn.rbuf.split_to(head_len).freeze();
            conn.head.attach(head);
            Ok(Bytes::new())
        }
        Some(BodyFraming::Length(len)) => {
            if len > max_body {
                return Err(ReadStop::Fail(too_large(max_body)));
            }
            // Head and body stay together in `rbuf` until the body is complete, then leave as one
            // frozen message: the buffer is never shared while it may need to grow, so growing
            // reclaims the old allocation instead of making a new one.
            let total = head_len + len as usize;
            if conn.head.expect_continue && conn.rbuf.len() < total {
                conn.wbuf.clear();
                conn.wbuf
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if !conn.flush().await {
                    return Err(ReadStop::Abort);
                }
            }
            while conn.rbuf.len() < total {
                // Grow with what arrives (doubling, from up to 1 MiB at once) rather than
                // trusting the declared length: heads alone must not reserve gigabytes.
                let missing = total - conn.rbuf.len();
                let spare = conn.rbuf.capacity() - conn.rbuf.len();
                if spare < missing.min(READ_CHUNK) {
                    conn.rbuf
                        .reserve(missing.min(conn.rbuf.capacity().max(PREALLOC_LIMIT)));
                }
                read_body_bytes(conn, body_deadline).await?;
            }
            let message = conn.rbuf.split_to(total).freeze();
            conn.head.attach(message.slice(..head_len));
            Ok(message.slice(head_len..))
        }
        Some(BodyFraming::Chunked) => {
            let head = conn.rbuf.split_to(head_len).freeze();
            conn.head.attach(head);
            if conn.head.expect_continue {
                conn.wbuf.clear();
                conn.wbuf
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if !conn.flush().await {
                    return Err(ReadStop::Abort);
                }
            }
            let mut decoder = ChunkedDecoder::new();
            let mut body = BytesMut::new();
            loop {
                let done = decoder.decode(&mut conn.rbuf, &mut body).map_err(|e| {
                    ReadStop::Fail(GatewayError::new(
                        ErrorKind::MalformedRequest,
                        format!("invalid chunked body: {e}"),
                    ))
                })?;
                if body.len() as u64 > max_body {
                    return Err(ReadStop::Fail(too_large(max_body)));
                }
                if done {
                    return Ok(body.freeze());
                }
                read_body_bytes(conn, body_deadline).await?;
            }
        }
    }
}

async fn read_body_bytes(conn: &mut ClientConn, deadline: Instant) -> Result<(), ReadStop> {
    let left = deadline.saturating_duration_since(Instant::now());
    match conn.fill(left, None).await {
        Ok(0) => Err(ReadStop::Abort),
        Ok(_) => Ok(()),
        Err(ReadStop::Closed) => Err(ReadStop::Fail(GatewayError::new(
            ErrorKind::RequestTimeout,
            "timed out reading the request body",
        ))),
        Err(other) => Err(other),
    }
}

fn too_large(max: u64) -> GatewayError {
    GatewayError::new(
        ErrorKind::PayloadTooLarge,
        format!("request body larger than {max} bytes"),
    )
}
