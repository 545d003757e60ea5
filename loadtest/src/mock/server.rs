//! Connection handling on one monoio thread: accept, read, answer pipelined requests in order, and
//! deliver delayed, streamed, cut and reset answers.
//!
//! Fast path: every complete request in the read buffer is answered into one output buffer, written
//! with a single write; buffers are reused for the connection's life.
//!
//! The connection code is generic over the stream, so a plain `TcpStream` and a rustls stream run
//! the same (separately monomorphised) loop; TLS only adds the handshake and a `close_notify` when
//! the mock ends a connection cleanly.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio_rustls::TlsAcceptor;

use super::http::{self, Parsed, MAX_HEADERS};
use super::routes::{self, Action, Ctx, Plan, Resp};

/// Initial read buffer size, and the free space kept before each read.
const READ_BUF: usize = 16 * 1024;
/// Initial output buffer size.
const WRITE_BUF: usize = 8 * 1024;
/// Read buffers grown beyond this (large bodies) are shrunk back when idle.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// Accepts connections forever, one task per connection; with `tls`, each connection first does
/// the TLS handshake.
pub async fn accept_loop(listener: TcpListener, ctx: Rc<Ctx>, tls: Option<TlsAcceptor>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                ctx.shared.count_connection();
                match &tls {
                    None => monoio::spawn(serve(stream, ctx.clone())),
                    Some(acceptor) => {
                        monoio::spawn(serve_tls(acceptor.clone(), stream, ctx.clone()))
                    }
                };
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                eprintln!("mock: accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(mut stream: TcpStream, ctx: Rc<Ctx>) {
    // Errors only end this connection (the peer went away).
    let _ = conn_loop(&mut stream, &ctx).await;
}

async fn serve_tls(acceptor: TlsAcceptor, stream: TcpStream, ctx: Rc<Ctx>) {
    // A failed handshake (plain HTTP on the TLS port, a client rejecting the certificate) only ends
    // this connection.
    let Ok(mut stream) = acceptor.accept(stream).await else {
        return;
    };
    if let Ok(true) = conn_loop(&mut stream, &ctx).await {
        // Ended at a response boundary: say so with close_notify, as HTTPS servers do. Faults
        // (reset, cut) drop the connection without it, like a truncation would.
        let _ = stream.shutdown().await;
    }
}

/// Writes all of `buf` and leaves it empty (capacity kept).
async fn flush<S: AsyncWriteRent>(stream: &mut S, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let (res, mut b) = stream.write_all(std::mem::take(buf)).await;
    b.clear();
    *buf = b;
    res.map(|_| ())
}

/// Serves one connection until it closes. `Ok(true)`: it ended cleanly at a response boundary (the
/// peer closed, or a response asked for `connection: close`); `Ok(false)`: the mock dropped it on
/// purpose mid-answer (the `reset` and `cut` faults).
async fn conn_loop<S: AsyncReadRent + AsyncWriteRent>(
    stream: &mut S,
    ctx: &Ctx,
) -> io::Result<bool> {
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BUF);
    let mut body: Vec<u8> = Vec::with_capacity(4096);
    let mut scratch: Vec<u8> = Vec::new();
    let mut continue_sent = false;
    loop {
        let mut consumed = 0;
        let mut close = false;
        let mut pending: Option<(usize, Plan)> = None;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = Resp {
                out: &mut out,
                body: &mut body,
                close: false,
            };
            match http::parse(&rbuf[consumed..], &mut headers, &mut scratch) {
                Ok(Parsed::Complete(req)) => {
                    continue_sent = false;
                    consumed += req.len;
                    resp.close = !req.keep_alive;
                    let start = resp.out.len();
                    let plan = routes::handle(&req, ctx, &mut resp);
                    if plan.is_immediate() && req.keep_alive {
                        continue;
                    }
                    close = !req.keep_alive;
                    pending = Some((start, plan));
                    break;
                }
                Ok(Parsed::Partial { expect_continue }) => {
                    if expect_continue && !continue_sent {
                        resp.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continue_sent = true;
                    }
                    break;
                }
                Err(e) => {
                    resp.close = true;
                    routes::codec_error(&mut resp, e);
                    close = true;
                    break;
                }
            }
        }
        if let Some((start, plan)) = pending {
            let open = deliver(stream, ctx, &mut out, start, plan, close).await?;
            if !open || close {
                return Ok(open);
            }
            rbuf.drain(..consumed);
            // More pipelined requests may already be buffered: parse before reading.
            continue;
        }
        flush(stream, &mut out).await?;
        if close {
            return Ok(true);
        }
        rbuf.drain(..consumed);
        if rbuf.is_empty() && rbuf.capacity() > SHRINK_ABOVE {
            rbuf = Vec::with_capacity(READ_BUF);
        }
        if rbuf.capacity() - rbuf.len() < READ_BUF / 4 {
            rbuf.reserve(READ_BUF.max(rbuf.len()));
        }
        let len = rbuf.len();
        let (res, slice) = stream.read(rbuf.slice_mut(len..)).await;
        rbuf = slice.into_inner();
        if res? == 0 {
            return Ok(true);
        }
    }
}

/// Delivers a non-immediate answer. `out[..start]` holds earlier pipelined responses (sent first),
/// `out[start..]` this request's complete response if `plan` is [`Action::Sent`]. Returns whether
/// the connection stays usable.
async fn deliver<S: AsyncWriteRent>(
    stream: &mut S,
    ctx: &Ctx,
    out: &mut Vec<u8>,
    start: usize,
    plan: Plan,
    close: bool,
) -> io::Result<bool> {
    let mut this = if start == 0 {
        std::mem::take(out)
    } else {
        out.split_off(start)
    };
    flush(stream, out).await?;
    if plan.delay_ms > 0 {
        monoio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    }
    let open = match plan.action {
        Action::Reset => false,
        Action::Sent { head_len, cut } => {
            if cut {
                let keep = head_len + (this.len() - head_len) / 2;
                this.truncate(keep);
            }
            flush(stream, &mut this).await?;
            !cut
        }
        Action::Stream(sp) => {
            http::write_stream_head(out, sp.content_type, close);
            let n = sp.events.len();
            let cut_at = if sp.cut {
                2.min(n.saturating_sub(1))
            } else {
                n
            };
            let delay = ctx.cfg.chunk_delay_ms;
            for (i, ev) in sp.events.iter().enumerate() {
                if i == cut_at {
                    // Head and `cut_at` events went out; drop mid-body.
                    return Ok(false);
                }
                if i > 0 && delay > 0 {
                    monoio::time::sleep(Duration::from_millis(delay)).await;
                }
                http::write_chunk(out, ev);
                if i + 1 == n {
                    http::write_last_chunk(out);
                }
                flush(stream, out).await?;
            }
            true
        }
    };
    if this.capacity() > out.capacity() {
        this.clear();
        *out = this;
    }
    Ok(open)
}
