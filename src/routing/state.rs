//! One shard's routing state for the configuration in force, as the request path uses it: key
//! cooldowns, target health, and the alias orderings built from them. Owned by the shard
//! (`RefCell` in `Shard`), rebuilt when a reload installs a new configuration: provider indices
//! change then, so cooldowns and health start afresh.

use std::time::{Duration, Instant};

use super::health::{Admission, HealthConfig, HealthTable};
use super::keys::KeyTable;
use super::strategy::{self, Candidate};
use crate::gateway::Gateway;
use crate::metrics::HealthSample;
use crate::pipeline::resolve::AliasEntry;
use crate::providers::Provider;

/// Most targets of one alias ordered without allocating.
pub const MAX_ORDER: usize = 16;

/// One shard's routing state.
pub struct RoutingState {
    generation: u64,
    keys: KeyTable,
    health: HealthTable,
    config: HealthConfig,
    /// Reused by `order` so that ordering allocates nothing after warm-up.
    scratch: Vec<usize>,
}

impl RoutingState {
    /// Fresh state for `gateway`.
    pub fn new(gateway: &Gateway) -> RoutingState {
        let config = gateway.health.clone();
        RoutingState {
            generation: gateway.generation,
            keys: KeyTable::new(&gateway.providers),
            health: HealthTable::new(gateway.providers.len(), gateway.generation, &config),
            config,
            scratch: Vec::with_capacity(MAX_ORDER),
        }
    }

    /// The configuration generation this state belongs to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether an attempt may go to the target now; `Some` carries the admission to end it with.
    pub fn admit(&mut self, provider: usize, model: &str, now: Instant) -> Option<Admission> {
        let cfg = &self.config;
        let Some(target) = self.health.target_mut(provider, model) else {
            // Past the table's bound: untracked targets are always allowed.
            return Some(Admission::Allowed);
        };
        match target.admit(now, cfg) {
            Admission::Rejected => None,
            a => Some(a),
        }
    }

    /// Ends an admitted attempt: `verdict` is `Some(ok)` for an outcome that says something about
    /// the target (success, or its own failure), `None` for key-level or caller-level answers.
    pub fn finished(
        &mut self,
        provider: usize,
        model: &str,
        admission: Admission,
        now: Instant,
        latency: Duration,
        verdict: Option<bool>,
    ) {
        let cfg = &self.config;
        let Some(target) = self.health.target_mut(provider, model) else {
            return;
        };
        match verdict {
            Some(ok) => target.finished(now, latency, ok, cfg),
            None => target.cancelled(admission),
        }
    }

    /// Picks a usable key of `provider` for `model`, avoiding `tried`.
    pub fn pick_key(
        &self,
        provider: &Provider,
        index: usize,
        model: &str,
        now: Instant,
        tried: &[usize],
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        self.keys
            .pick(&provider.keys, index, model, now, tried, rng)
    }

    /// Rests a key until `until` (after a 429).
    pub fn cool_down(&mut self, provider: usize, key: usize, until: Instant) {
        self.keys.cool_down(provider, key, until);
    }

    /// Takes a key out of use on this shard (after a 401/403), until the next reload; true the
    /// first time (so it is logged once).
    pub fn disable(&mut self, provider: usize, key: usize) -> bool {
        self.keys.disable(provider, key)
    }

    /// Orders `alias`'s targets by its strategy into `out`; returns how many were written.
    pub fn order(
        &mut self,
        alias: &AliasEntry,
        prices: &super::prices::PriceTable,
        kinds: &[crate::config::ProviderKind],
        now: Instant,
        rng: &mut fastrand::Rng,
        out: &mut [usize; MAX_ORDER],
    ) -> usize {
        let mut candidates = [Candidate::default(); MAX_ORDER];
        let n = alias.targets.len().min(MAX_ORDER);
        for (c, t) in candidates.iter_mut().zip(&alias.targets) {
            let health = self
                .health
                .find(t.provider, &t.model)
                .and_then(|id| self.health.get(id));
            *c = Candidate {
                weight: t.weight,
                latency: health.and_then(|h| h.latency_ewma()),
                in_flight: health.map_or(0, |h| h.in_flight()),
                open: health.is_some_and(|h| h.rejects(now, &self.config)),
                price: kinds
                    .get(t.provider)
                    .and_then(|k| prices.lookup(*k, &t.model)),
            };
        }
        self.scratch.clear();
        strategy::order(&alias.strategy, &candidates[..n], rng, &mut self.scratch);
        let mut written = 0;
        for &i in self.scratch.iter().take(MAX_ORDER) {
            out[written] = i;
            written += 1;
        }
        written
    }

    /// Every tracked target's circuit gauge, for `/metrics`.
    pub fn health_samples(&self, gateway: &Gateway) -> Vec<HealthSample> {
        self.health
            .iter()
            .filter_map(|(provider, model, h)| {
                Some(HealthSample {
                    provider: gateway.providers.get(provider)?.name.clone(),
                    model: model.to_string(),
                    value: h.gauge(),
                })
            })
            .collect()
    }
}
