//! Counters and latency histograms of a run (one per generator thread, merged at the end), and
//! the percentile summaries computed from them.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded, in µs (longer ones saturate here).
const MAX_US: u64 = 120_000_000;

/// What one generator thread saw.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of successful (2xx) responses in µs: from the intended send time in open loop,
    /// from the actual send in closed loop; total time when streaming.
    pub latency: Histogram<u64>,
    /// Time to the first response byte in µs, same origin as `latency`.
    pub ttfb: Histogram<u64>,
    /// Service time of successful responses in µs: from the actual write to the last byte (what
    /// tools without coordinated-omission correction report).
    pub service: Histogram<u64>,
    /// How late requests were written relative to their intended time, µs (open loop): the
    /// generator's own lateness plus waiting for a free connection.
    pub lag: Histogram<u64>,
    /// Requests written (measured window only).
    pub sent: u64,
    /// 2xx responses.
    pub ok: u64,
    /// Non-2xx responses by status.
    pub status_errors: BTreeMap<u16, u64>,
    /// Failed connects.
    pub connect_errors: u64,
    /// Connections that broke mid-exchange (reset, early close, unparsable response).
    pub io_errors: u64,
    /// Requests without a full response within the timeout.
    pub timeouts: u64,
    /// Scheduled sends never made before the drain deadline (the target could not keep up).
    pub unsent: u64,
    /// When the last measured response completed.
    pub last_done: Option<Instant>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: histogram(),
            ttfb: histogram(),
            lag: histogram(),
            service: histogram(),
            sent: 0,
            ok: 0,
            status_errors: BTreeMap::new(),
            connect_errors: 0,
            io_errors: 0,
            timeouts: 0,
            unsent: 0,
            last_done: None,
        }
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 120 s at 3 significant digits; the bounds are constant and valid.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.lag.add(&other.lag);
        let _ = self.service.add(&other.service);
        self.sent += other.sent;
        self.ok += other.ok;
        for (s, n) in &other.status_errors {
            *self.status_errors.entry(*s).or_insert(0) += n;
        }
        self.connect_errors += other.connect_errors;
        self.io_errors += other.io_errors;
        self.timeouts += other.timeouts;
        self.unsent += other.unsent;
        self.last_done = self.last_done.max(other.last_done);
    }

    /// All failed requests: error statuses, connect and I/O errors, timeouts (not `unsent`).
    pub fn errors(&self) -> u64 {
        self.status_errors.values().sum::<u64>()
            + self.connect_errors
            + self.io_errors
            + self.timeouts
    }
}

/// Percentiles of one histogram, in µs.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Smallest value.
    pub min_us: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest value.
    pub max_us: u64,
}

impl Percentiles {
    /// Summarises `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            min_us: h.min(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_percentiles() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for v in 1..=100 {
            a.latency.saturating_record(v);
        }
        b.latency.saturating_record(1_000);
        b.ok = 1;
        b.status_errors.insert(500, 2);
        b.timeouts = 1;
        a.merge(&b);
        assert_eq!(a.latency.len(), 101);
        assert_eq!(a.errors(), 3);
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.p50_us, 51);
        assert_eq!(p.max_us, 1_000);
        assert_eq!(
            Percentiles::of(&Stats::default().ttfb),
            Percentiles::default()
        );
    }
}
