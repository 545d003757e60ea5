//! Per-shard keep-alive pools, one per provider. Shard-local (`RefCell`), so checkout and checkin
//! are a `Vec` pop and push: no lock, no atomic.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::exchange::UpstreamConn;

struct Idle {
    conn: UpstreamConn,
    since: Instant,
}

/// The idle upstream connections of one shard.
pub struct UpstreamPool {
    per_provider: Vec<RefCell<Vec<Idle>>>,
}

impl UpstreamPool {
    /// A pool with one (empty) slot list per provider.
    pub fn new(providers: usize) -> UpstreamPool {
        UpstreamPool {
            per_provider: (0..providers).map(|_| RefCell::new(Vec::new())).collect(),
        }
    }

    /// The most recently used idle connection to `provider` that is younger than `max_idle`.
    /// Most recent first: it is the least likely to have been closed by the server.
    pub fn checkout(&self, provider: usize, max_idle: Duration) -> Option<UpstreamConn> {
        let mut slots = self.per_provider.get(provider)?.borrow_mut();
        let now = Instant::now();
        while let Some(idle) = slots.pop() {
            if now.duration_since(idle.since) < max_idle {
                return Some(idle.conn);
            }
            // Too old: every older one behind it is older still.
            slots.clear();
        }
        None
    }

    /// Returns a connection whose last response was read completely; dropped when the pool is full.
    pub fn checkin(&self, provider: usize, conn: UpstreamConn, max_idle_conns: usize) {
        if let Some(slots) = self.per_provider.get(provider) {
            let mut slots = slots.borrow_mut();
            if slots.len() < max_idle_conns {
                slots.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Number of idle connections held for `provider`.
    pub fn idle_count(&self, provider: usize) -> usize {
        self.per_provider
            .get(provider)
            .map_or(0, |s| s.borrow().len())
    }
}
