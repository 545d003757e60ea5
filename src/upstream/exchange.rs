//! One upstream request/response exchange: get a connection (pooled or new), write the request,
//! read the response head. A pooled connection that fails before any response byte is retried once
//! on a fresh connection (the server may have closed it while it sat idle).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::net::TcpStream;

use super::stream::UpstreamStream;
use crate::error::{ErrorKind, GatewayError};
use crate::gateway::Gateway;
use crate::http::response::{ResponseHead, ResponseHeadError};
use crate::providers::Provider;
use crate::server::shard::Shard;

/// Largest response head accepted from a provider.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Read buffer size of an upstream connection.
const READ_CHUNK: usize = 16 * 1024;

/// An upstream connection with its read buffer and the head of its current response.
pub struct UpstreamConn {
    /// The socket (plain or TLS).
    pub stream: UpstreamStream,
    /// Bytes read but not yet consumed (after `start`: the beginning of the body).
    pub rbuf: BytesMut,
    /// The current response's head.
    pub head: ResponseHead,
}

/// Why reading from a provider stopped.
#[derive(Debug)]
pub enum UpstreamFailure {
    /// No byte within the timeout.
    Timeout,
    /// The provider closed the connection.
    Closed,
    /// A socket error.
    Io(std::io::Error),
}

impl UpstreamConn {
    /// Opens a new connection to `provider` (DNS off-loop, TCP_NODELAY, TLS when configured).
    pub async fn connect(
        shard: &Shard,
        gateway: &Gateway,
        provider: &Provider,
    ) -> Result<UpstreamConn, GatewayError> {
        let origin = &provider.origin;
        let addrs = match origin.literal {
            Some(a) => vec![a],
            None => shard
                .dns
                .lookup(&origin.host, origin.port)
                .await
                .map_err(|e| connect_error(provider, &e.to_string()))?,
        };
        // Try each address in turn (a name may resolve to IPv6 and IPv4) within one budget.
        let deadline = Instant::now() + provider.connect_timeout;
        let mut last_error = String::from("no address");
        let mut connected = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, TcpStream::connect_addr(addr)).await {
                Ok(Ok(s)) => {
                    connected = Some(s);
                    break;
                }
                Ok(Err(e)) => last_error = format!("{addr}: {e}"),
                Err(_) => {
                    return Err(GatewayError::new(
                        ErrorKind::UpstreamTimeout,
                        format!("connecting to provider '{}' timed out", provider.name),
                    ))
                }
            }
        }
        let Some(tcp) = connected else {
            if origin.literal.is_none() {
                shard.dns.forget(&origin.host, origin.port);
            }
            return Err(connect_error(provider, &last_error));
        };
        // Without it, a keep-alive request can wait ~40 ms on Nagle + delayed ACK.
        let _ = tcp.set_nodelay(true);
        let stream = if origin.tls {
            let server_name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|e| connect_error(provider, &format!("invalid TLS server name: {e}")))?;
            match monoio::time::timeout(
                provider.connect_timeout,
                provider
                    .tls
                    .as_ref()
                    .unwrap_or(&gateway.tls)
                    .connect(server_name, tcp),
            )
            .await
            {
                Ok(Ok(tls)) => UpstreamStream::Tls(Box::new(tls)),
                Ok(Err(e)) => return Err(connect_error(provider, &format!("TLS: {e}"))),
                Err(_) => {
                    return Err(GatewayError::new(
                        ErrorKind::UpstreamTimeout,
                        format!("TLS handshake with provider '{}' timed out", provider.name),
                    ))
                }
            }
        } else {
            UpstreamStream::Plain(tcp)
        };
        Ok(UpstreamConn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            head: ResponseHead::new(),
        })
    }

    /// Reads more bytes into `rbuf`, waiting at most `timeout`. `Ok(n)` with n > 0 only.
    pub async fn fill(&mut self, timeout: Duration) -> Result<usize, UpstreamFailure> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        // monoio reads at the buffer's start; a slice of the spare capacity makes it append.
        let spare = crate::http::spare_capacity(std::mem::take(&mut self.rbuf));
        match monoio::time::timeout(timeout, self.stream.read(spare)).await {
            Ok((Ok(0), buf)) => {
                self.rbuf = buf.into_inner();
                Err(UpstreamFailure::Closed)
            }
            Ok((Ok(n), buf)) => {
                self.rbuf = buf.into_inner();
                Ok(n)
            }
            Ok((Err(e), buf)) => {
                self.rbuf = buf.into_inner();
                Err(UpstreamFailure::Io(e))
            }
            Err(_) => Err(UpstreamFailure::Timeout),
        }
    }
}

fn connect_error(provider: &Provider, detail: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamConnect,
        format!(
            "could not connect to provider '{}': {detail}",
            provider.name
        ),
    )
}

/// Sends `request` (a complete request, head and body) to provider `index` and reads the response
/// head. Returns the connection, positioned at the body, and gives `request` back for reuse.
/// `waited` accumulates the time spent waiting on the provider (connect and response head).
pub async fn start(
    shard: &Shard,
    gateway: &Gateway,
    index: usize,
    request: BytesMut,
    deadline: Instant,
    waited: &mut Duration,
) -> (Result<UpstreamConn, GatewayError>, BytesMut) {
    let Some(provider) = gateway.providers.get(index) else {
        return (
            Err(GatewayError::new(
                ErrorKind::Internal,
                "provider index out of range",
            )),
            request,
        );
    };
    let mut request = request;
    let mut pooled = shard
        .pool
        .checkout(gateway.generation, index, provider.pool_idle_timeout);
    loop {
        let reused = pooled.is_some();
        let mut conn = match pooled.take() {
            Some(c) => c,
            None => {
                let t = Instant::now();
                let c = UpstreamConn::connect(shard, gateway, provider).await;
                *waited += t.elapsed();
                match c {
                    Ok(c) => c,
                    Err(e) => return (Err(e), request),
                }
            }
        };
        let (written, buf) = conn.stream.write_all(request).await;
        request = buf;
        if let Err(e) = written {
            if reused {
                continue;
            }
            return (
                Err(protocol(
                    provider,
                    &format!("writing the request failed: {e}"),
                )),
                request,
            );
        }
        let t = Instant::now();
        let result = read_head(&mut conn, provider, deadline).await;
        *waited += t.elapsed();
        match result {
            Ok(()) => return (Ok(conn), request),
            // A pooled connection the server closed while idle: try once on a fresh one. Not
            // after a timeout: the provider may be working on the request, and a second copy
            // would be sent with the deadline already spent.
            Err(HeadFailure::NothingReceived(UpstreamFailure::Closed | UpstreamFailure::Io(_)))
                if reused =>
            {
                continue
            }
            Err(HeadFailure::NothingReceived(f)) | Err(HeadFailure::Partial(f)) => {
                return (Err(failure_error(provider, f)), request)
            }
            Err(HeadFailure::Invalid(e)) => return (Err(e), request),
        }
    }
}

enum HeadFailure {
    NothingReceived(UpstreamFailure),
    Partial(UpstreamFailure),
    Invalid(GatewayError),
}

async fn read_head(
    conn: &mut UpstreamConn,
    provider: &Provider,
    deadline: Instant,
) -> Result<(), HeadFailure> {
    if !conn.rbuf.is_empty() {
        // Bytes nobody asked for on an idle connection: it is out of step, never reuse it.
        return Err(HeadFailure::NothingReceived(UpstreamFailure::Closed));
    }
    let mut received_any = false;
    loop {
        if !conn.rbuf.is_empty() {
            match conn.head.parse(&conn.rbuf, false, MAX_RESPONSE_HEAD) {
                Ok(Some(n)) => {
                    let head = conn.rbuf.split_to(n).freeze();
                    conn.head.attach(head);
                    if (100..200).contains(&conn.head.status) {
                        // Interim response (e.g. 100 Continue): the real head follows.
                        continue;
                    }
                    return Ok(());
                }
                Ok(None) => {}
                Err(ResponseHeadError::TooLarge) => {
                    return Err(HeadFailure::Invalid(protocol(
                        provider,
                        "response head too large",
                    )))
                }
                Err(ResponseHeadError::Malformed(m)) => {
                    return Err(HeadFailure::Invalid(protocol(
                        provider,
                        &format!("invalid response: {m}"),
                    )))
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.fill(left).await {
            Ok(_) => received_any = true,
            Err(f) if received_any => return Err(HeadFailure::Partial(f)),
            Err(f) => return Err(HeadFailure::NothingReceived(f)),
        }
    }
}

/// The caller-facing error for a failed read from `provider`.
pub fn failure_error(provider: &Provider, f: UpstreamFailure) -> GatewayError {
    match f {
        UpstreamFailure::Timeout => GatewayError::new(
            ErrorKind::UpstreamTimeout,
            format!("provider '{}' did not answer in time", provider.name),
        ),
        UpstreamFailure::Closed => protocol(provider, "the provider closed the connection"),
        UpstreamFailure::Io(e) => protocol(provider, &format!("connection error: {e}")),
    }
}

fn protocol(provider: &Provider, detail: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        format!("provider '{}': {detail}", provider.name),
    )
}
