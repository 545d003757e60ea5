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
use crate::upstream::dns::{DnsCache, Resolver};
use crate::upstream::UpstreamPool;

/// A shard's state, shared by its connection tasks through `Rc`.
pub struct Shard {
    /// Shard number (0-based).
    pub id: usize,
    /// The compiled configuration in force (replaced by a reload; requests in flight keep theirs).
    /// The `Rc` around the shared `Arc` is deliberate: each request clones the `Rc` (a plain
    /// increment) instead of the `Arc` (an atomic on a cache line every shard would contend for).
    #[allow(clippy::redundant_allocation)]
    current: RefCell<Rc<Arc<Gateway>>>,
    /// Idle upstream connections.
    pub pool: UpstreamPool,
    /// Resolved provider addresses.
    pub dns: DnsCache,
    /// This shard's metrics (single writer).
    pub metrics: RefCell<ShardMetrics>,
    /// Random source for key and target choice.
    pub rng: RefCell<fastrand::Rng>,
    /// Key cooldowns and target health for the configuration in force (single writer).
    pub routing: RefCell<crate::routing::state::RoutingState>,
    /// Draining signal.
    pub drain: Drain,
    /// Open caller connections.
    pub connections: Cell<usize>,
    /// Where admin requests go (the main thread); `None` disables `/admin/reload`.
    pub control: Option<crossbeam_channel::Sender<super::control::Control>>,
    request_id_prefix: u64,
    request_counter: Cell<u64>,
}

impl Shard {
    /// A fresh shard; `seed` fixes its random choices (tests make them reproducible).
    pub fn new(
        id: usize,
        gateway: Arc<Gateway>,
        resolver: Resolver,
        seed: u64,
        control: Option<crossbeam_channel::Sender<super::control::Control>>,
    ) -> Shard {
        let dns = DnsCache::new(resolver);
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let request_id_prefix = rng.u64(..);
        Shard {
            id,
            routing: RefCell::new(crate::routing::state::RoutingState::new(&gateway)),
            pool: UpstreamPool::new(&gateway),
            current: RefCell::new(Rc::new(gateway)),
            dns,
            metrics: RefCell::new(ShardMetrics::new()),
            rng: RefCell::new(rng),
            drain: Drain::new(),
            connections: Cell::new(0),
            control,
            request_id_prefix,
            request_counter: Cell::new(0),
        }
    }

    /// The configuration in force. An `Rc` clone (no atomic): the request holding it keeps using
    /// it even if a reload installs another meanwhile.
    #[allow(clippy::redundant_allocation)]
    pub fn gateway(&self) -> Rc<Arc<Gateway>> {
        self.current.borrow().clone()
    }

    /// Makes `new` the configuration for requests from now on, re-indexing the upstream pool.
    pub fn install(&self, new: Arc<Gateway>) {
        let old = self.gateway();
        self.pool.rebuild(&old, &new);
        // Provider indices may have changed: cooldowns and health start afresh.
        *self.routing.borrow_mut() = crate::routing::state::RoutingState::new(&new);
        *self.current.borrow_mut() = Rc::new(new);
    }

    /// Installs each configuration the control thread sends until the gateway stops.
    pub async fn serve_reloads(self: Rc<Self>, mut rx: UnboundedReceiver<Arc<Gateway>>) {
        use futures_core::Stream;
        while let Some(new) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut rx).poll_next(cx)).await
        {
            let generation = new.generation;
            self.install(new);
            tracing::info!(shard = self.id, generation, "configuration reloaded");
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

    /// This shard's metrics with its targets' health, for a scrape.
    pub fn metrics_snapshot(&self) -> crate::metrics::Snapshot {
        let mut snap = self.metrics.borrow().snapshot();
        snap.health = self.routing.borrow().health_samples(&self.gateway());
        snap
    }

    /// Answers metrics snapshot requests from the scraping shard until the gateway stops.
    pub async fn serve_snapshots(self: Rc<Self>, mut rx: UnboundedReceiver<SnapshotRequest>) {
        use futures_core::Stream;
        loop {
            let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut rx).poll_next(cx)).await;
            match next {
                Some(reply) => {
                    let _ = reply.send(self.metrics_snapshot());
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
