//! Per-shard keep-alive pools, one per provider. Shard-local (`RefCell`), so checkout and checkin
//! are a `Vec` pop and push: no lock, no atomic. A reload rebuilds the pool for the new provider
//! list, carrying over the connections of providers whose origin did not change.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::exchange::UpstreamConn;
use crate::gateway::Gateway;

struct Idle {
    conn: UpstreamConn,
    since: Instant,
}

/// The idle upstream connections of one shard.
pub struct UpstreamPool {
    generation: Cell<u64>,
    per_provider: RefCell<Vec<Vec<Idle>>>,
}

impl UpstreamPool {
    /// An empty pool for `gateway`'s providers.
    pub fn new(gateway: &Gateway) -> UpstreamPool {
        UpstreamPool {
            generation: Cell::new(gateway.generation),
            per_provider: RefCell::new((0..gateway.providers.len()).map(|_| Vec::new()).collect()),
        }
    }

    /// The most recently used idle connection to provider `index` of `generation` that is
    /// younger than `max_idle`. Most recent first: it is the least likely to have been closed.
    pub fn checkout(
        &self,
        generation: u64,
        index: usize,
        max_idle: Duration,
    ) -> Option<UpstreamConn> {
        if generation != self.generation.get() {
            return None;
        }
        let mut all = self.per_provider.borrow_mut();
        let slots = all.get_mut(index)?;
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

    /// Returns a connection whose last response was read completely. Dropped when the pool is
    /// full or the connection belongs to a configuration that has since been reloaded.
    pub fn checkin(
        &self,
        generation: u64,
        index: usize,
        conn: UpstreamConn,
        max_idle_conns: usize,
    ) {
        if generation != self.generation.get() {
            return;
        }
        if let Some(slots) = self.per_provider.borrow_mut().get_mut(index) {
            if slots.len() < max_idle_conns {
                slots.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Re-indexes the pool for `new`: a provider keeps its idle connections when one of the same
    /// name, origin and trusted CAs existed in `old`; the rest are closed.
    pub fn rebuild(&self, old: &Gateway, new: &Gateway) {
        let mut all = self.per_provider.borrow_mut();
        let mut previous = std::mem::take(&mut *all);
        let mut next: Vec<Vec<Idle>> = (0..new.providers.len()).map(|_| Vec::new()).collect();
        for (i, p) in new.providers.iter().enumerate() {
            let same = old.providers.iter().enumerate().position(|(j, o)| {
                o.name == p.name
                    && o.origin.host == p.origin.host
                    && o.origin.port == p.origin.port
                    && o.origin.tls == p.origin.tls
                    && old.config.providers.get(j).map(|c| &c.tls_ca_file)
                        == new.config.providers.get(i).map(|c| &c.tls_ca_file)
            });
            if let (Some(j), Some(slot)) = (same, next.get_mut(i)) {
                if let Some(conns) = previous.get_mut(j) {
                    *slot = std::mem::take(conns);
                }
            }
        }
        *all = next;
        self.generation.set(new.generation);
    }
}
