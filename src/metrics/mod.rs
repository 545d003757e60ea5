//! Metrics: per-shard single-writer counters and latency histograms, merged at scrape.
//!
//! Each shard owns its `ShardMetrics` outright (no atomics, no locks: only its own thread touches
//! it). A scrape asks every other shard for a snapshot over a channel and merges the answers, so
//! the request path never pays for cross-core cache traffic.

pub mod prometheus;

use std::time::Duration;

use hdrhistogram::Histogram;
// Fast non-keyed hashing: the model label set is bounded (`intern`), so crafted collisions can
// only slow a bounded map.
use rustc_hash::FxHashMap as HashMap;

/// Largest latency a histogram records, in nanoseconds (longer values are clamped).
const MAX_NANOS: u64 = 600_000_000_000;

/// Routes as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteLabel {
    /// `/v1/chat/completions`
    ChatCompletions,
    /// `/v1/completions`
    Completions,
    /// `/v1/embeddings`
    Embeddings,
    /// `/v1/responses`
    Responses,
    /// `/anthropic/v1/messages`
    Messages,
    /// `/anthropic/v1/messages/count_tokens`
    CountTokens,
    /// `/genai/.../models/{model}:generateContent` and `:streamGenerateContent`
    GenerateContent,
    /// `/v1/models`
    Models,
    /// `/health`, `/ready`
    Health,
    /// `/metrics`
    Metrics,
    /// `/admin/...`
    Admin,
    /// Anything else (404s, malformed requests).
    Other,
}

impl RouteLabel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteLabel::ChatCompletions => "chat_completions",
            RouteLabel::Completions => "completions",
            RouteLabel::Embeddings => "embeddings",
            RouteLabel::Responses => "responses",
            RouteLabel::Messages => "messages",
            RouteLabel::CountTokens => "count_tokens",
            RouteLabel::GenerateContent => "generate_content",
            RouteLabel::Models => "models",
            RouteLabel::Health => "health",
            RouteLabel::Metrics => "metrics",
            RouteLabel::Admin => "admin",
            RouteLabel::Other => "other",
        }
    }
}

/// No provider / model label (requests that never reached routing).
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CounterKey {
    route: RouteLabel,
    provider: u32,
    model: u32,
    status: u16,
}

/// One latency distribution with its exact sum.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Recorded values in nanoseconds.
    pub hist: Histogram<u64>,
    /// Exact sum of recorded values in nanoseconds.
    pub sum_nanos: u128,
}

impl Latency {
    fn new() -> Latency {
        Latency {
            // Three significant digits from 1 ns to 10 min: the overhead target is in µs.
            hist: Histogram::new_with_bounds(1, MAX_NANOS, 3)
                .expect("constant histogram bounds are valid"),
            sum_nanos: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let n = (d.as_nanos().min(u128::from(MAX_NANOS)) as u64).max(1);
        self.hist.saturating_record(n);
        self.sum_nanos += u128::from(n);
    }

    fn merge(&mut self, other: &Latency) {
        let _ = self.hist.add(&other.hist);
        self.sum_nanos += other.sum_nanos;
    }
}

/// What one request contributes to the metrics.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// The route label.
    pub route: RouteLabel,
    /// Provider name, or `None` if routing was not reached.
    pub provider: Option<&'a str>,
    /// Upstream model name, if resolved.
    pub model: Option<&'a str>,
    /// Status sent to the caller.
    pub status: u16,
    /// Receive → response fully written.
    pub total: Duration,
    /// Time spent waiting on the provider (connect, head, body reads); zero when not proxied.
    pub upstream: Duration,
    /// Whether it was proxied (only then are upstream/overhead recorded).
    pub proxied: bool,
}

/// A shard's metrics; written only by its shard.
#[derive(Debug)]
pub struct ShardMetrics {
    counters: HashMap<CounterKey, u64>,
    label_ids: HashMap<Box<str>, u32>,
    labels: Vec<Box<str>>,
    duration: Latency,
    overhead: Latency,
    upstream: Latency,
    retries: u64,
    fallbacks: u64,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ShardMetrics {
    /// Empty metrics.
    pub fn new() -> ShardMetrics {
        ShardMetrics {
            counters: HashMap::default(),
            label_ids: HashMap::default(),
            labels: Vec::new(),
            duration: Latency::new(),
            overhead: Latency::new(),
            upstream: Latency::new(),
            retries: 0,
            fallbacks: 0,
        }
    }

    /// Counts one request. Allocates only the first time a label value is seen on this shard.
    /// Labels are names, not indexes, so counts stay right across a reload that reorders providers.
    pub fn record(&mut self, r: &RequestRecord<'_>) {
        let model = r.model.map_or(NONE, |m| self.intern(m));
        let provider = r.provider.map_or(NONE, |p| self.intern(p));
        let key = CounterKey {
            route: r.route,
            provider,
            model,
            status: r.status,
        };
        *self.counters.entry(key).or_insert(0) += 1;
        self.duration.record(r.total);
        if r.proxied {
            self.upstream.record(r.upstream);
            self.overhead.record(r.total.saturating_sub(r.upstream));
        }
    }

    fn intern(&mut self, label: &str) -> u32 {
        if let Some(&id) = self.label_ids.get(label) {
            return id;
        }
        // Bound the label set: a caller inventing model names must not grow memory forever.
        if self.labels.len() >= 10_000 {
            return NONE;
        }
        let id = self.labels.len() as u32;
        self.labels.push(label.into());
        self.label_ids.insert(label.into(), id);
        id
    }

    fn label(&self, id: u32) -> String {
        self.labels
            .get(id as usize)
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    /// Counts an attempt that repeats one on the same target (another key or the same again).
    pub fn count_retry(&mut self) {
        self.retries += 1;
    }

    /// Counts a request moving on to the next target of its plan after the previous failed.
    pub fn count_fallback(&mut self) {
        self.fallbacks += 1;
    }

    /// A copy for a scrape.
    pub fn snapshot(&self) -> Snapshot {
        let requests = self
            .counters
            .iter()
            .map(|(k, &count)| CounterSample {
                route: k.route,
                provider: self.label(k.provider),
                model: self.label(k.model),
                status: k.status,
                count,
            })
            .collect();
        Snapshot {
            requests,
            duration: self.duration.clone(),
            overhead: self.overhead.clone(),
            upstream: self.upstream.clone(),
            retries: self.retries,
            fallbacks: self.fallbacks,
            health: Vec::new(),
        }
    }
}

/// One counter value with its labels resolved.
#[derive(Debug, Clone)]
pub struct CounterSample {
    /// Route label.
    pub route: RouteLabel,
    /// Provider name ("" when none).
    pub provider: String,
    /// Model name ("" when none).
    pub model: String,
    /// Status code.
    pub status: u16,
    /// Requests counted.
    pub count: u64,
}

/// A shard's metrics at one moment, sendable to the scraping shard.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `requests_total` samples.
    pub requests: Vec<CounterSample>,
    /// `request_duration_seconds`.
    pub duration: Latency,
    /// `overhead_seconds`.
    pub overhead: Latency,
    /// `upstream_duration_seconds`.
    pub upstream: Latency,
    /// `retries_total`.
    pub retries: u64,
    /// `fallbacks_total`.
    pub fallbacks: u64,
    /// `target_health` samples, one per target a shard has seen (the renderer averages shards).
    pub health: Vec<HealthSample>,
}

/// One target's health on one shard: 1 closed circuit, 0.5 half-open, 0 open.
#[derive(Debug, Clone)]
pub struct HealthSample {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// The gauge value.
    pub value: f64,
}

impl Snapshot {
    /// Folds `other` into `self` (histograms added, counters appended; the renderer sums them).
    pub fn merge(&mut self, other: Snapshot) {
        self.requests.extend(other.requests);
        self.retries += other.retries;
        self.fallbacks += other.fallbacks;
        self.health.extend(other.health);
        self.duration.merge(&other.duration);
        self.overhead.merge(&other.overhead);
        self.upstream.merge(&other.upstream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = ShardMetrics::new();
        let mut b = ShardMetrics::new();
        let rec = RequestRecord {
            route: RouteLabel::ChatCompletions,
            provider: Some("p"),
            model: Some("gpt-x"),
            status: 200,
            total: Duration::from_micros(110),
            upstream: Duration::from_micros(100),
            proxied: true,
        };
        a.record(&rec);
        a.record(&rec);
        b.record(&rec);
        let mut snap = a.snapshot();
        snap.merge(b.snapshot());
        let total: u64 = snap.requests.iter().map(|s| s.count).sum();
        assert_eq!(total, 3);
        assert_eq!(snap.overhead.hist.len(), 3);
        let p50 = snap.overhead.hist.value_at_quantile(0.5);
        assert!((9_990..=10_010).contains(&p50), "p50 {p50}");
    }
}
