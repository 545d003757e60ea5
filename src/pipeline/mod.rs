//! The request pipeline after `receive` (see docs/architecture.md for the stage list):
//! classify the route, then for proxied routes resolve → route → forward → record → return.
//! Governance and caching slot in between resolve and route (`forward::proxy` is where).

pub mod admin;
pub mod forward;
pub mod relay;
pub mod resolve;
pub mod respond;
pub mod routes;
pub mod translated;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{ApiFormat, ErrorKind, GatewayError};
use crate::metrics::{RequestRecord, RouteLabel};
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;
use routes::Route;

/// Longest caller-supplied `x-request-id` that is echoed (longer ones are replaced).
const MAX_REQUEST_ID: usize = 128;

/// The request id: the caller's `x-request-id` when it is sane, else a generated one.
pub struct RequestId {
    buf: [u8; MAX_REQUEST_ID],
    len: usize,
}

impl RequestId {
    fn for_request(shard: &Shard, conn: &ClientConn) -> RequestId {
        let mut id = RequestId {
            buf: [0; MAX_REQUEST_ID],
            len: 0,
        };
        if let Some(v) = conn.head.header(b"x-request-id") {
            if !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.iter().all(|b| b.is_ascii_graphic())
            {
                id.buf[..v.len()].copy_from_slice(v);
                id.len = v.len();
                return id;
            }
        }
        let generated = shard.next_request_id();
        id.buf[..generated.len()].copy_from_slice(&generated);
        id.len = generated.len();
        id
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What every stage may need to know about the request being served.
pub struct RequestCtx {
    /// The request id echoed in `x-request-id`.
    pub id: RequestId,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// When the complete request was in hand.
    pub received: Instant,
    /// The route's metrics label.
    pub route: RouteLabel,
    /// The caller's API format: errors are written in it.
    pub format: ApiFormat,
    /// Upstream attempts made so far (`x-shardgate-attempts`).
    pub attempts: u32,
    /// Time spent waiting on providers, all attempts together.
    pub upstream_wait: Duration,
}

/// Serves one complete request; returns whether the connection may carry another.
pub async fn handle(shard: &Shard, conn: &mut ClientConn, body: Bytes, received: Instant) -> bool {
    let method = conn.head.method;
    let route = routes::classify(method, conn.head.path());
    let mut ctx = RequestCtx {
        id: RequestId::for_request(shard, conn),
        keep_alive: conn.head.keep_alive && !shard.draining(),
        received,
        route: route.label(),
        format: match route {
            Route::Proxy(inbound) => inbound.format(),
            _ => ApiFormat::OpenAi,
        },
        attempts: 0,
        upstream_wait: Duration::ZERO,
    };
    match route {
        Route::Proxy(inbound) => forward::proxy(shard, conn, body, inbound, &mut ctx).await,
        Route::Models => {
            let body = shard.gateway().models_json.clone();
            finish_local(shard, conn, &ctx, 200, &body).await
        }
        Route::Health => finish_local(shard, conn, &ctx, 200, b"{\"status\":\"ok\"}").await,
        Route::Ready => {
            if shard.draining() {
                finish_local(shard, conn, &ctx, 503, b"{\"status\":\"draining\"}").await
            } else {
                finish_local(shard, conn, &ctx, 200, b"{\"status\":\"ready\"}").await
            }
        }
        Route::Metrics => {
            let text = scrape(shard).await;
            conn.wbuf.clear();
            let meta = respond::Meta::local(ctx.id.as_bytes());
            respond::head(
                &mut conn.wbuf,
                200,
                b"text/plain; version=0.0.4",
                text.len(),
                &meta,
                ctx.keep_alive,
            );
            if conn.body_allowed() {
                conn.wbuf.extend_from_slice(text.as_bytes());
            }
            let ok = conn.flush().await;
            record_local(shard, &ctx, 200);
            ok && ctx.keep_alive
        }
        Route::AdminReload => {
            let outcome = match admin::authorize(shard, conn) {
                Ok(()) => admin::reload(shard).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(body) => finish_local(shard, conn, &ctx, 200, &body).await,
                Err(err) => finish_error(shard, conn, &ctx, &err).await,
            }
        }
        Route::NotFound => {
            let err = GatewayError::new(
                ErrorKind::RouteNotFound,
                format!("no route for {}", String::from_utf8_lossy(conn.head.path())),
            );
            finish_error(shard, conn, &ctx, &err).await
        }
        Route::MethodNotAllowed => {
            let err = GatewayError::new(
                ErrorKind::MethodNotAllowed,
                "method not allowed on this route",
            );
            finish_error(shard, conn, &ctx, &err).await
        }
    }
}

async fn finish_local(
    shard: &Shard,
    conn: &mut ClientConn,
    ctx: &RequestCtx,
    status: u16,
    body: &[u8],
) -> bool {
    conn.wbuf.clear();
    let meta = respond::Meta::local(ctx.id.as_bytes());
    respond::head(
        &mut conn.wbuf,
        status,
        b"application/json",
        body.len(),
        &meta,
        ctx.keep_alive,
    );
    if conn.body_allowed() {
        conn.wbuf.extend_from_slice(body);
    }
    let ok = conn.flush().await;
    record_local(shard, ctx, status);
    ok && ctx.keep_alive
}

/// Answers with `err` (the gateway's own error, no upstream involved) and records it.
pub(crate) async fn finish_error(
    shard: &Shard,
    conn: &mut ClientConn,
    ctx: &RequestCtx,
    err: &GatewayError,
) -> bool {
    let ok = respond::error(
        shard,
        conn,
        err,
        ctx.format,
        ctx.keep_alive,
        Some(ctx.id.as_bytes()),
    )
    .await;
    record_local(shard, ctx, err.status());
    ok && ctx.keep_alive
}

fn record_local(shard: &Shard, ctx: &RequestCtx, status: u16) {
    shard.metrics.borrow_mut().record(&RequestRecord {
        route: ctx.route,
        provider: None,
        model: None,
        status,
        total: ctx.received.elapsed(),
        upstream: Duration::ZERO,
        proxied: false,
    });
}

/// Gathers every shard's metrics (this one directly, the others over their channels).
async fn scrape(shard: &Shard) -> String {
    let mut snap = shard.metrics_snapshot();
    let gateway = shard.gateway();
    for (i, peer) in gateway.metric_peers.iter().enumerate() {
        if i == shard.id {
            continue;
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        if peer.unbounded_send(tx).is_ok() {
            if let Ok(other) = rx.await {
                snap.merge(other);
            }
        }
    }
    crate::metrics::prometheus::render(&snap)
}
