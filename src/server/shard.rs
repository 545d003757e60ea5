//! One shard: a thread with its own monoio runtime, listener, connections, upstream pools and
//! metrics. Everything here is shard-local (`Rc`, `Cell`, `RefCell`): nothing on the request path
//! is shared with another core.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc::UnboundedReceiver;

use super::shutdown::Drain;
use crate::gateway::{Gateway, SnapshotRequest};
use crate::metrics::ShardMetrics;
use crate::upstream::dns::DnsCache;
use crate::upstream::UpstreamPool;

/// A shard's state, shared by its connection tasks through `Rc`.
pub struct Shard {
    /// Shard number (0-based).
    pub id: usize,
    /// The shared compiled configuration.
    pub gateway: Arc<Gateway>,
    /// Idle upstream connections.
    pub pool: UpstreamPool,
    /// Resolved provider addresses.
    pub dns: DnsCache,
    /// This shard's metrics (single writer).
    pub metrics: RefCell<ShardMetrics>,
    /// Random source for key and target choice.
    pub rng: RefCell<fastrand::Rng>,
    /// Draining signal.
    pub drain: Drain,
    /// Open caller connections.
    pub connections: Cell<usize>,
    request_id_prefix: u64,
    request_counter: Cell<u64>,
}

impl Shard {
    /// A fresh shard; `seed` fixes its random choices (tests make them reproducible).
    pub fn new(id: usize, gateway: Arc<Gateway>, seed: u64) -> Shard {
        let providers = gateway.providers.len();
        let dns = DnsCache::new(gateway.resolver.clone());
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let request_id_prefix = rng.u64(..);
        Shard {
            id,
            gateway,
            pool: UpstreamPool::new(providers),
            dns,
            metrics: RefCell::new(ShardMetrics::new()),
            rng: RefCell::new(rng),
            drain: Drain::new(),
            connections: Cell::new(0),
            request_id_prefix,
            request_counter: Cell::new(0),
        }
    }

    /// Whether the shard is draining for shutdown.
    pub fn draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// A new request id: 32 hex digits, unique per shard start (random prefix + counter).
    pub fn next_request_id(&self) -> [u8; 32] {
        let n = self.request_counter.get().wrapping_add(1);
        self.request_counter.set(n);
        let mut out = [0u8; 32];
        hex_u64(self.request_id_prefix, &mut out[..16]);
        hex_u64(n, &mut out[16..]);
        out
    }

    /// Answers metrics snapshot requests from the scraping shard until the gateway stops.
    pub async fn serve_snapshots(self: Rc<Self>, mut rx: UnboundedReceiver<SnapshotRequest>) {
        use futures_core::Stream;
        loop {
            let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut rx).poll_next(cx)).await;
            match next {
                Some(reply) => {
                    let _ = reply.send(self.metrics.borrow().snapshot());
                }
                None => return,
            }
        }
    }

    /// Waits until every connection has closed or `limit` has passed; returns the number left.
    pub async fn wait_for_connections(&self, limit: Duration) -> usize {
        let start = std::time::Instant::now();
        while self.connections.get() > 0 && start.elapsed() < limit {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        self.connections.get()
    }
}

fn hex_u64(v: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, slot) in out.iter_mut().take(16).enumerate() {
        *slot = HEX[((v >> ((15 - i) * 4)) & 0xf) as usize];
    }
}
