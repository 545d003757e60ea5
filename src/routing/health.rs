//! Health of routing targets as one shard sees them: latency and error-rate EWMAs, the number
//! of requests in flight, and a circuit breaker per target (provider index + model).
//!
//! Single writer: a shard owns its [`HealthTable`] and updates it from its own requests, so no
//! lock or atomic is involved. Shards share what they learned by value instead: one shard takes
//! a [`Snapshot`] now and then and the others fold it in with [`HealthTable::merge_from`].
//!
//! ## Lifecycle of one attempt
//! ```text
//! match health.admit(now, &cfg) {          // counts the attempt as in flight unless Rejected
//!     Admission::Rejected => try the next target,
//!     adm => {
//!         ... send ...
//!         health.finished(now, latency, ok, &cfg)   // an answer that says something about the target
//!         // or health.cancelled(adm)               // no verdict: caller gone, no usable key,
//!                                                   // a key-level 401/403/429, a caller error
//!     }
//! }
//! ```
//! Every admitted attempt must end with exactly one `finished` or `cancelled`; otherwise the
//! in-flight count drifts and a half-open circuit waits for `probe_timeout` before probing again.
//!
//! ## Circuit breaker
//! Closed → Open after `failure_threshold` consecutive failures, or when the error rate exceeds
//! `error_rate_threshold` after at least `min_requests` outcomes. Open rejects until its open
//! period has passed; the next `admit` turns it HalfOpen and returns [`Admission::Probe`]. While
//! that probe is out every other attempt is rejected. Probe success closes the circuit (counters
//! reset); probe failure opens it again for `open_duration × open_backoff^(trips-1)`, capped at
//! `max_open_duration`.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// Tuning of health tracking and of the circuit breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Weight of a new sample in the latency EWMA, in (0, 1].
    pub latency_alpha: f64,
    /// Weight of a new outcome in the error-rate EWMA, in (0, 1].
    pub error_alpha: f64,
    /// Consecutive failures that open the circuit; 0 disables this trigger.
    pub failure_threshold: u32,
    /// Error rate (0..1) above which the circuit opens once `min_requests` outcomes were seen;
    /// 1.0 or more disables this trigger.
    pub error_rate_threshold: f64,
    /// Outcomes needed (since the circuit last closed) before the error rate may open it.
    pub min_requests: u32,
    /// How long the circuit stays open after its first trip.
    pub open_duration: Duration,
    /// Each further trip without a successful probe in between multiplies the open period by
    /// this factor (1 keeps it constant).
    pub open_backoff: u32,
    /// The open period never exceeds this.
    pub max_open_duration: Duration,
    /// A probe that reported nothing for this long is presumed lost and another one is let
    /// through (a safety net for a caller that forgot `cancelled`).
    pub probe_timeout: Duration,
    /// Whether [`HealthTable::merge_from`] adopts another shard's open circuit.
    pub share_open: bool,
    /// Most targets one table tracks; callers can name arbitrary models, so this bounds memory.
    pub max_targets: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            latency_alpha: 0.2,
            error_alpha: 0.1,
            failure_threshold: 5,
            error_rate_threshold: 0.5,
            min_requests: 20,
            open_duration: Duration::from_secs(10),
            open_backoff: 2,
            max_open_duration: Duration::from_secs(300),
            probe_timeout: Duration::from_secs(120),
            share_open: true,
            max_targets: 4096,
        }
    }
}

/// State of a target's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Traffic flows.
    Closed,
    /// Traffic is rejected until the open period ends.
    Open,
    /// One probe decides whether to close or open again.
    HalfOpen,
}

/// What [`TargetHealth::admit`] decided for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (circuit closed).
    Allowed,
    /// Go ahead as the single probe of a half-open circuit.
    Probe,
    /// Do not send: try another target.
    Rejected,
}

/// Upper bound on any open period, so that adding it to an `Instant` cannot overflow.
const OPEN_CEILING: Duration = Duration::from_secs(24 * 3600);

/// One target's health on one shard.
#[derive(Debug, Clone)]
pub struct TargetHealth {
    /// Latency EWMA in nanoseconds; meaningful once `latency_samples > 0`.
    latency_ns: f64,
    latency_samples: u32,
    /// Error-rate EWMA (0..1) over the outcomes since the circuit last closed.
    error_rate: f64,
    /// Outcomes since the circuit last closed (saturating).
    samples: u32,
    in_flight: u32,
    consecutive_failures: u32,
    state: CircuitState,
    /// End of the open period (state Open).
    open_until: Option<Instant>,
    /// When the outstanding probe was admitted (state HalfOpen); `None` when no probe is out.
    probe_started: Option<Instant>,
    /// Trips since the circuit was last closed, for the growing open period.
    trips: u32,
}

impl Default for TargetHealth {
    fn default() -> Self {
        TargetHealth::new()
    }
}

/// The EWMA weight for the `n`-th sample: a plain mean while `1/n` exceeds `alpha`, so the first
/// samples are not dragged toward the initial 0.
fn weight_for(alpha: f64, n: u32) -> f64 {
    // NaN or non-positive alpha would freeze the average; treat it as "only the last sample".
    let alpha = if alpha > 0.0 { alpha.min(1.0) } else { 1.0 };
    let mean = 1.0 / f64::from(n.max(1));
    alpha.max(mean)
}

impl TargetHealth {
    /// A target never seen before: closed, no samples.
    pub fn new() -> TargetHealth {
        TargetHealth {
            latency_ns: 0.0,
            latency_samples: 0,
            error_rate: 0.0,
            samples: 0,
            in_flight: 0,
            consecutive_failures: 0,
            state: CircuitState::Closed,
            open_until: None,
            probe_started: None,
            trips: 0,
        }
    }

    /// Decides whether an attempt may go to this target now. Unless `Rejected`, the attempt
    /// counts as in flight until [`finished`](Self::finished) or [`cancelled`](Self::cancelled).
    pub fn admit(&mut self, now: Instant, cfg: &HealthConfig) -> Admission {
        let admission = match self.state {
            CircuitState::Closed => Admission::Allowed,
            CircuitState::Open => match self.open_until {
                Some(until) if now < until => Admission::Rejected,
                _ => {
                    self.state = CircuitState::HalfOpen;
                    self.open_until = None;
                    self.probe_started = Some(now);
                    Admission::Probe
                }
            },
            CircuitState::HalfOpen => match self.probe_started {
                Some(t) if now.saturating_duration_since(t) < cfg.probe_timeout => {
                    Admission::Rejected
                }
                _ => {
                    self.probe_started = Some(now);
                    Admission::Probe
                }
            },
        };
        if admission != Admission::Rejected {
            self.in_flight = self.in_flight.saturating_add(1);
        }
        admission
    }

    /// Whether [`admit`](Self::admit) would reject an attempt now (an open circuit still in its
    /// open period, or a half-open one whose probe is out). Side-effect free: this is what the
    /// strategies' `Candidate::open` should be.
    pub fn rejects(&self, now: Instant, cfg: &HealthConfig) -> bool {
        match self.state {
            CircuitState::Closed => false,
            CircuitState::Open => self.open_until.is_some_and(|until| now < until),
            CircuitState::HalfOpen => self
                .probe_started
                .is_some_and(|t| now.saturating_duration_since(t) < cfg.probe_timeout),
        }
    }

    /// Records the outcome of an admitted attempt: `latency` is the time to the response head
    /// (or until the failure was known), `ok` false only for failures of the target itself
    /// (5xx, connect error, timeout, unreadable answer). Key-level answers (401/403/429) and
    /// caller errors say nothing about the target: end those with [`cancelled`](Self::cancelled).
    pub fn finished(&mut self, now: Instant, latency: Duration, ok: bool, cfg: &HealthConfig) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.record(latency, ok, cfg);
        match self.state {
            CircuitState::Closed => {
                if ok {
                    self.consecutive_failures = 0;
                } else {
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    let by_count = cfg.failure_threshold > 0
                        && self.consecutive_failures >= cfg.failure_threshold;
                    let by_rate = self.samples >= cfg.min_requests
                        && self.error_rate > cfg.error_rate_threshold;
                    if by_count || by_rate {
                        self.trip(now, cfg);
                    }
                }
            }
            // The probe's verdict. A straggler admitted before the circuit opened may also land
            // here; its outcome is just as recent evidence, so it decides too.
            CircuitState::HalfOpen => {
                if ok {
                    self.close();
                } else {
                    self.trip(now, cfg);
                }
            }
            // Stragglers admitted before the trip: they feed the averages but cannot reopen
            // or extend anything.
            CircuitState::Open => {}
        }
    }

    /// Ends an admitted attempt without a verdict on the target. `admission` is what `admit`
    /// returned for it: a cancelled probe frees the probe slot so the next attempt can probe.
    pub fn cancelled(&mut self, admission: Admission) {
        if admission == Admission::Rejected {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if admission == Admission::Probe && self.state == CircuitState::HalfOpen {
            self.probe_started = None;
        }
    }

    /// Updates the averages with one outcome.
    fn record(&mut self, latency: Duration, ok: bool, cfg: &HealthConfig) {
        self.samples = self.samples.saturating_add(1);
        let w = weight_for(cfg.error_alpha, self.samples);
        let x = if ok { 0.0 } else { 1.0 };
        self.error_rate += w * (x - self.error_rate);

        // Successes always count. A failure counts only when it was slower than the average:
        // a timeout must make a slow target look slow, but a fast 500 must not make a broken
        // target look fast to the latency-aware strategy.
        let ns = latency.as_nanos() as f64;
        if ok || self.latency_samples == 0 || ns > self.latency_ns {
            self.latency_samples = self.latency_samples.saturating_add(1);
            let w = weight_for(cfg.latency_alpha, self.latency_samples);
            self.latency_ns += w * (ns - self.latency_ns);
        }
    }

    /// Opens the circuit for the (growing) open period.
    fn trip(&mut self, now: Instant, cfg: &HealthConfig) {
        self.trips = self.trips.saturating_add(1);
        let factor = cfg
            .open_backoff
            .max(1)
            .saturating_pow(self.trips.saturating_sub(1));
        let period = cfg
            .open_duration
            .saturating_mul(factor)
            .min(cfg.max_open_duration)
            .min(OPEN_CEILING);
        self.state = CircuitState::Open;
        self.open_until = Some(now.checked_add(period).unwrap_or(now));
        self.probe_started = None;
        self.consecutive_failures = 0;
    }

    /// Closes the circuit with fresh counters (the latency average is kept: it is still the
    /// best estimate of how fast the target answers).
    fn close(&mut self) {
        self.state = CircuitState::Closed;
        self.open_until = None;
        self.probe_started = None;
        self.trips = 0;
        self.consecutive_failures = 0;
        self.error_rate = 0.0;
        self.samples = 0;
    }

    /// The latency EWMA; `None` before the first sample.
    pub fn latency_ewma(&self) -> Option<Duration> {
        // `as` saturates and maps NaN to 0, so this cannot panic.
        (self.latency_samples > 0).then(|| Duration::from_nanos(self.latency_ns as u64))
    }

    /// The error-rate EWMA (0..1) since the circuit last closed.
    pub fn error_rate(&self) -> f64 {
        self.error_rate
    }

    /// Attempts admitted and not yet finished or cancelled.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Failures in a row while closed.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The circuit's state (an open circuit past its open period reads Open until the next
    /// `admit` turns it half-open).
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// When the open period ends, while open.
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    /// The `/metrics` gauge: 1 closed, 0.5 half-open, 0 open.
    pub fn gauge(&self) -> f64 {
        match self.state {
            CircuitState::Closed => 1.0,
            CircuitState::HalfOpen => 0.5,
            CircuitState::Open => 0.0,
        }
    }

    /// Folds another shard's view of this target in with `weight` (0..1).
    fn merge(&mut self, other: &SnapshotEntry, weight: f64, now: Instant, cfg: &HealthConfig) {
        if let Some(lat) = other.latency {
            let ns = lat.as_nanos() as f64;
            if self.latency_samples == 0 {
                self.latency_ns = ns;
                self.latency_samples = 1;
            } else {
                self.latency_ns += weight * (ns - self.latency_ns);
            }
        }
        if other.samples > 0 && other.error_rate.is_finite() {
            self.error_rate += weight * (other.error_rate.clamp(0.0, 1.0) - self.error_rate);
        }
        // A target another shard found down is down here too; the probe stays per shard.
        // Adopting the later end never grows the period (no trip is counted), so shards that
        // exchange snapshots both ways cannot extend each other's open periods forever.
        if cfg.share_open {
            if let Some(until) = other.open_until.filter(|&u| u > now) {
                let until = until.min(now.checked_add(OPEN_CEILING).unwrap_or(until));
                match self.state {
                    CircuitState::Closed => {
                        self.state = CircuitState::Open;
                        self.open_until = Some(until);
                        self.consecutive_failures = 0;
                    }
                    CircuitState::Open => {
                        self.open_until = Some(self.open_until.map_or(until, |u| u.max(until)));
                    }
                    // A probe of our own is out (or about to be): let it decide.
                    CircuitState::HalfOpen => {}
                }
            }
        }
    }
}

/// Handle of a target in one [`HealthTable`] (valid for that table only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetId(u32);

#[derive(Debug)]
struct Entry {
    provider: usize,
    model: Box<str>,
    health: TargetHealth,
}

/// The health of every target one shard has used, keyed by (provider index, model).
///
/// A target gets an entry (one allocation for its name) the first time it is seen; lookups
/// after that hash the model name and allocate nothing. Provider indices are those of one
/// configuration generation: build a new table on reload.
#[derive(Debug)]
pub struct HealthTable {
    generation: u64,
    /// Per provider index: model → position in `entries`.
    index: Vec<FxHashMap<Box<str>, u32>>,
    entries: Vec<Entry>,
    max_targets: usize,
}

impl HealthTable {
    /// An empty table for `providers` providers of configuration `generation`.
    pub fn new(providers: usize, generation: u64, cfg: &HealthConfig) -> HealthTable {
        HealthTable {
            generation,
            index: (0..providers).map(|_| FxHashMap::default()).collect(),
            entries: Vec::new(),
            max_targets: cfg.max_targets.min(u32::MAX as usize),
        }
    }

    /// The configuration generation this table's provider indices belong to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The id of a known target, without creating it.
    pub fn find(&self, provider: usize, model: &str) -> Option<TargetId> {
        self.index.get(provider)?.get(model).copied().map(TargetId)
    }

    /// The id of a target, created on first sight; `None` when `provider` is out of range or
    /// the table is full (`max_targets`): such a target is simply not tracked.
    pub fn id(&mut self, provider: usize, model: &str) -> Option<TargetId> {
        let map = self.index.get_mut(provider)?;
        if let Some(&i) = map.get(model) {
            return Some(TargetId(i));
        }
        if self.entries.len() >= self.max_targets {
            return None;
        }
        let i = u32::try_from(self.entries.len()).ok()?;
        map.insert(model.into(), i);
        self.entries.push(Entry {
            provider,
            model: model.into(),
            health: TargetHealth::new(),
        });
        Some(TargetId(i))
    }

    /// The health of `id`.
    pub fn get(&self, id: TargetId) -> Option<&TargetHealth> {
        self.entries.get(id.0 as usize).map(|e| &e.health)
    }

    /// The health of `id`, for updating.
    pub fn get_mut(&mut self, id: TargetId) -> Option<&mut TargetHealth> {
        self.entries.get_mut(id.0 as usize).map(|e| &mut e.health)
    }

    /// The health of a target, created on first sight (see [`id`](Self::id)).
    pub fn target_mut(&mut self, provider: usize, model: &str) -> Option<&mut TargetHealth> {
        let id = self.id(provider, model)?;
        self.get_mut(id)
    }

    /// Number of targets tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no target is tracked yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every tracked target as (provider index, model, health), for `/metrics`.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &str, &TargetHealth)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.provider, &*e.model, &e.health))
    }

    /// What this shard knows, as a value another shard can fold in. Allocates (one string per
    /// target): take it periodically, off the request path.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            generation: self.generation,
            entries: self
                .entries
                .iter()
                .map(|e| SnapshotEntry {
                    provider: e.provider,
                    model: e.model.clone(),
                    latency: e.health.latency_ewma(),
                    error_rate: e.health.error_rate,
                    samples: e.health.samples,
                    open_until: match e.health.state {
                        CircuitState::Open => e.health.open_until,
                        _ => None,
                    },
                })
                .collect(),
        }
    }

    /// Folds another shard's snapshot in: latency and error-rate averages move toward the other
    /// shard's by `weight` (clamped to 0..1; e.g. `1 / shards`), and with `cfg.share_open` an
    /// open circuit there opens it here until the same instant. Targets new to this shard are
    /// created (up to `max_targets`). A snapshot of another configuration generation is
    /// ignored. Returns the number of entries folded in.
    ///
    /// Intended use: every second or so each shard sends `snapshot()` to the others over the
    /// per-shard channels the metrics scrape already uses, and each receiver calls this on its
    /// own event loop. Values move by message, so there is no lock and no shared memory.
    pub fn merge_from(
        &mut self,
        snapshot: &Snapshot,
        weight: f64,
        now: Instant,
        cfg: &HealthConfig,
    ) -> usize {
        if snapshot.generation != self.generation || weight.is_nan() || weight <= 0.0 {
            return 0;
        }
        let weight = weight.min(1.0);
        let mut merged = 0;
        for entry in &snapshot.entries {
            if let Some(target) = self.target_mut(entry.provider, &entry.model) {
                target.merge(entry, weight, now, cfg);
                merged += 1;
            }
        }
        merged
    }
}

/// One shard's view of every target it tracks, produced by [`HealthTable::snapshot`] and folded
/// into other shards' tables with [`HealthTable::merge_from`]. Plain data, `Send`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The configuration generation the provider indices belong to.
    pub generation: u64,
    /// One entry per target.
    pub entries: Vec<SnapshotEntry>,
}

/// One target in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotEntry {
    /// Provider index.
    pub provider: usize,
    /// Model name as the provider knows it.
    pub model: Box<str>,
    /// Latency EWMA, if any sample was taken.
    pub latency: Option<Duration>,
    /// Error-rate EWMA since the circuit last closed.
    pub error_rate: f64,
    /// Outcomes behind `error_rate`.
    pub samples: u32,
    /// End of the open period when the circuit is open there.
    pub open_until: Option<Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cfg() -> HealthConfig {
        HealthConfig {
            failure_threshold: 3,
            min_requests: 10,
            error_rate_threshold: 0.5,
            open_duration: Duration::from_secs(1),
            open_backoff: 2,
            max_open_duration: Duration::from_secs(3),
            probe_timeout: Duration::from_secs(5),
            ..HealthConfig::default()
        }
    }

    /// Admits and finishes one attempt.
    fn run(h: &mut TargetHealth, now: Instant, ok: bool, cfg: &HealthConfig) -> Admission {
        let a = h.admit(now, cfg);
        if a != Admission::Rejected {
            h.finished(now, ms(100), ok, cfg);
        }
        a
    }

    #[test]
    fn latency_ewma_starts_with_the_first_sample_and_follows() {
        let cfg = HealthConfig {
            latency_alpha: 0.5,
            ..cfg()
        };
        let mut h = TargetHealth::new();
        let t = Instant::now();
        assert_eq!(h.latency_ewma(), None);
        h.admit(t, &cfg);
        h.finished(t, ms(100), true, &cfg);
        assert_eq!(h.latency_ewma(), Some(ms(100)));
        h.admit(t, &cfg);
        h.finished(t, ms(300), true, &cfg);
        // Second sample: plain mean (1/2 = alpha here).
        assert_eq!(h.latency_ewma(), Some(ms(200)));
        h.admit(t, &cfg);
        h.finished(t, ms(400), true, &cfg);
        assert_eq!(h.latency_ewma(), Some(ms(300)));
    }

    #[test]
    fn fast_failures_do_not_make_a_target_look_fast_but_slow_ones_count() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t = Instant::now();
        h.admit(t, &cfg);
        h.finished(t, ms(500), true, &cfg);
        h.admit(t, &cfg);
        h.finished(t, ms(1), false, &cfg);
        assert_eq!(h.latency_ewma(), Some(ms(500)));
        h.admit(t, &cfg);
        h.finished(t, ms(5_000), false, &cfg);
        assert!(h.latency_ewma().is_some_and(|l| l > ms(500)));
    }

    #[test]
    fn in_flight_counts_admitted_attempts() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t = Instant::now();
        let a = h.admit(t, &cfg);
        let b = h.admit(t, &cfg);
        assert_eq!((a, b), (Admission::Allowed, Admission::Allowed));
        assert_eq!(h.in_flight(), 2);
        h.finished(t, ms(10), true, &cfg);
        h.cancelled(b);
        assert_eq!(h.in_flight(), 0);
        // Never underflows, whatever the caller does.
        h.cancelled(Admission::Allowed);
        h.finished(t, ms(10), true, &cfg);
        assert_eq!(h.in_flight(), 0);
    }

    #[test]
    fn consecutive_failures_open_then_probe_closes() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t0 = Instant::now();
        run(&mut h, t0, false, &cfg);
        run(&mut h, t0, true, &cfg); // resets the streak
        run(&mut h, t0, false, &cfg);
        run(&mut h, t0, false, &cfg);
        assert_eq!(h.state(), CircuitState::Closed);
        run(&mut h, t0, false, &cfg);
        assert_eq!(h.state(), CircuitState::Open);
        assert_eq!(h.gauge(), 0.0);
        assert!(h.rejects(t0, &cfg));

        // Rejected during the open period.
        assert_eq!(h.admit(t0 + ms(999), &cfg), Admission::Rejected);
        assert_eq!(h.in_flight(), 0);
        // After it: exactly one probe at a time.
        let t1 = t0 + ms(1000);
        assert!(!h.rejects(t1, &cfg));
        assert_eq!(h.admit(t1, &cfg), Admission::Probe);
        assert_eq!(h.state(), CircuitState::HalfOpen);
        assert_eq!(h.gauge(), 0.5);
        assert!(h.rejects(t1, &cfg));
        assert_eq!(h.admit(t1, &cfg), Admission::Rejected);
        assert_eq!(h.admit(t1 + ms(10), &cfg), Admission::Rejected);
        h.finished(t1 + ms(20), ms(20), true, &cfg);
        assert_eq!(h.state(), CircuitState::Closed);
        assert_eq!(h.gauge(), 1.0);
        assert_eq!(h.error_rate(), 0.0);
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(h.admit(t1 + ms(30), &cfg), Admission::Allowed);
    }

    #[test]
    fn failed_probe_reopens_for_longer_capped() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let mut t = Instant::now();
        for _ in 0..3 {
            run(&mut h, t, false, &cfg);
        }
        assert_eq!(h.open_until(), Some(t + Duration::from_secs(1)));
        // Probe fails: 2 s, then 3 s (cap), then 3 s.
        for expected in [2u64, 3, 3] {
            t = h.open_until().unwrap_or(t);
            assert_eq!(run(&mut h, t, false, &cfg), Admission::Probe);
            assert_eq!(h.state(), CircuitState::Open);
            assert_eq!(h.open_until(), Some(t + Duration::from_secs(expected)));
        }
        // Success resets the backoff.
        t = h.open_until().unwrap_or(t);
        assert_eq!(run(&mut h, t, true, &cfg), Admission::Probe);
        for _ in 0..3 {
            run(&mut h, t, false, &cfg);
        }
        assert_eq!(h.open_until(), Some(t + Duration::from_secs(1)));
    }

    #[test]
    fn error_rate_opens_only_after_min_requests() {
        let cfg = HealthConfig {
            failure_threshold: 0, // only the rate trigger
            ..cfg()
        };
        let mut h = TargetHealth::new();
        let t = Instant::now();
        // Alternate: 50% errors never exceeds the threshold of 0.5 by much, so use 2 of 3.
        for i in 0..9 {
            run(&mut h, t, i % 3 == 0, &cfg);
            assert_eq!(
                h.state(),
                CircuitState::Closed,
                "opened after {} outcomes",
                i + 1
            );
        }
        assert!(h.error_rate() > 0.5);
        run(&mut h, t, false, &cfg);
        assert_eq!(h.state(), CircuitState::Open);
    }

    #[test]
    fn cancelled_probe_frees_the_slot_but_a_straggler_does_not() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t = Instant::now();
        let straggler = h.admit(t, &cfg);
        for _ in 0..3 {
            run(&mut h, t, false, &cfg);
        }
        let t1 = t + Duration::from_secs(1);
        let probe = h.admit(t1, &cfg);
        assert_eq!(probe, Admission::Probe);
        // The request admitted before the trip goes away: the probe is still out.
        h.cancelled(straggler);
        assert_eq!(h.admit(t1, &cfg), Admission::Rejected);
        // The probe itself is cancelled (no usable key, say): the next attempt probes.
        h.cancelled(probe);
        assert_eq!(h.admit(t1, &cfg), Admission::Probe);
        assert_eq!(h.in_flight(), 1);
    }

    #[test]
    fn lost_probe_is_replaced_after_probe_timeout() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t = Instant::now();
        for _ in 0..3 {
            run(&mut h, t, false, &cfg);
        }
        let t1 = t + Duration::from_secs(1);
        assert_eq!(h.admit(t1, &cfg), Admission::Probe);
        assert_eq!(h.admit(t1 + ms(4_999), &cfg), Admission::Rejected);
        assert_eq!(h.admit(t1 + ms(5_000), &cfg), Admission::Probe);
    }

    #[test]
    fn stragglers_while_open_do_not_extend_it() {
        let cfg = cfg();
        let mut h = TargetHealth::new();
        let t = Instant::now();
        let a = h.admit(t, &cfg);
        assert_eq!(a, Admission::Allowed);
        for _ in 0..3 {
            run(&mut h, t, false, &cfg);
        }
        let until = h.open_until();
        h.finished(t + ms(500), ms(500), false, &cfg);
        assert_eq!(h.open_until(), until);
        assert_eq!(h.state(), CircuitState::Open);
    }

    #[test]
    fn odd_configs_do_not_panic() {
        let cfg = HealthConfig {
            latency_alpha: f64::NAN,
            error_alpha: -1.0,
            failure_threshold: 1,
            open_duration: Duration::MAX,
            open_backoff: u32::MAX,
            max_open_duration: Duration::MAX,
            ..HealthConfig::default()
        };
        let mut h = TargetHealth::new();
        let t = Instant::now();
        for _ in 0..40 {
            let a = h.admit(t, &cfg);
            if a != Admission::Rejected {
                h.finished(t, Duration::MAX, false, &cfg);
            }
        }
        assert_eq!(h.state(), CircuitState::Open);
        assert!(h.latency_ewma().is_some());
    }

    #[test]
    fn table_allocates_once_per_target_and_is_bounded() {
        let cfg = HealthConfig {
            max_targets: 2,
            ..cfg()
        };
        let mut table = HealthTable::new(2, 7, &cfg);
        assert!(table.is_empty());
        let a = table.id(0, "gpt-4o");
        assert_eq!(table.id(0, "gpt-4o"), a);
        assert_eq!(table.find(0, "gpt-4o"), a);
        assert_eq!(table.find(1, "gpt-4o"), None);
        let b = table.id(1, "gpt-4o");
        assert_ne!(a, b);
        assert_eq!(table.id(1, "other"), None, "full");
        assert_eq!(table.id(5, "gpt-4o"), None, "no such provider");
        assert_eq!(table.len(), 2);
        let t = Instant::now();
        if let Some(h) = table.target_mut(0, "gpt-4o") {
            h.admit(t, &cfg);
        }
        let listed: Vec<_> = table
            .iter()
            .map(|(p, m, h)| (p, m, h.in_flight()))
            .collect();
        assert_eq!(listed, vec![(0, "gpt-4o", 1), (1, "gpt-4o", 0)]);
        assert_eq!(table.generation(), 7);
    }

    #[test]
    fn snapshots_merge_by_weight_and_share_open_circuits() {
        let cfg = cfg();
        let t = Instant::now();
        let mut a = HealthTable::new(2, 1, &cfg);
        let mut b = HealthTable::new(2, 1, &cfg);
        if let Some(h) = a.target_mut(0, "m") {
            h.admit(t, &cfg);
            h.finished(t, ms(400), true, &cfg);
        }
        if let Some(h) = b.target_mut(0, "m") {
            h.admit(t, &cfg);
            h.finished(t, ms(200), true, &cfg);
        }
        // A target only `a` knows, whose circuit is open there.
        if let Some(h) = a.target_mut(1, "down") {
            for _ in 0..3 {
                run(h, t, false, &cfg);
            }
        }
        let snap = a.snapshot();
        assert_eq!(b.merge_from(&snap, 0.5, t, &cfg), 2);
        let m = b.find(0, "m").and_then(|id| b.get(id));
        assert_eq!(m.and_then(TargetHealth::latency_ewma), Some(ms(300)));
        let down = b.find(1, "down").and_then(|id| b.get(id));
        assert_eq!(down.map(TargetHealth::state), Some(CircuitState::Open));
        assert_eq!(
            down.and_then(TargetHealth::open_until),
            Some(t + Duration::from_secs(1))
        );
        // Merging back does not extend `a`'s open period.
        let back = b.snapshot();
        a.merge_from(&back, 0.5, t, &cfg);
        let a_down = a.find(1, "down").and_then(|id| a.get(id));
        assert_eq!(
            a_down.and_then(TargetHealth::open_until),
            Some(t + Duration::from_secs(1))
        );
        // Another generation, or a zero weight, is ignored.
        let mut c = HealthTable::new(2, 2, &cfg);
        assert_eq!(c.merge_from(&snap, 0.5, t, &cfg), 0);
        assert_eq!(
            c.merge_from(
                &Snapshot {
                    generation: 2,
                    ..snap.clone()
                },
                0.0,
                t,
                &cfg
            ),
            0
        );
        assert!(c.is_empty());
        // An expired open period is not adopted.
        let mut d = HealthTable::new(2, 1, &cfg);
        d.merge_from(&snap, 0.5, t + Duration::from_secs(2), &cfg);
        let d_down = d.find(1, "down").and_then(|id| d.get(id));
        assert_eq!(d_down.map(TargetHealth::state), Some(CircuitState::Closed));
    }
}
