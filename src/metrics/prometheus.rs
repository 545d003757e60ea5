//! Prometheus text exposition (format 0.0.4) of merged shard snapshots.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Latency, Snapshot};

/// Histogram bucket upper bounds in seconds: fine at the microsecond end where the gateway's own
/// time lives, coarse at the provider end.
const BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
];

/// Renders `snap`.
pub fn render(snap: &Snapshot) -> String {
    let mut out = String::with_capacity(8192);
    let mut summed: BTreeMap<(&str, &str, &str, u16), u64> = BTreeMap::new();
    for s in &snap.requests {
        *summed
            .entry((
                s.route.as_str(),
                s.provider.as_str(),
                s.model.as_str(),
                s.status,
            ))
            .or_insert(0) += s.count;
    }
    out.push_str("# HELP shardgate_requests_total Requests answered, by route, provider, model and status.\n");
    out.push_str("# TYPE shardgate_requests_total counter\n");
    for ((route, provider, model, status), count) in &summed {
        let _ = writeln!(
            out,
            "shardgate_requests_total{{route=\"{route}\",provider=\"{}\",model=\"{}\",status=\"{status}\"}} {count}",
            escape(provider),
            escape(model)
        );
    }
    let _ = writeln!(out, "# HELP shardgate_retries_total Upstream attempts that repeated one on the same target (another key, or the same after a pause).");
    let _ = writeln!(out, "# TYPE shardgate_retries_total counter");
    let _ = writeln!(out, "shardgate_retries_total {}", snap.retries);
    let _ = writeln!(out, "# HELP shardgate_fallbacks_total Requests that moved on to the next target of their plan after one failed.");
    let _ = writeln!(out, "# TYPE shardgate_fallbacks_total counter");
    let _ = writeln!(out, "shardgate_fallbacks_total {}", snap.fallbacks);
    let mut health: BTreeMap<(&str, &str), (f64, u32)> = BTreeMap::new();
    for h in &snap.health {
        let e = health
            .entry((h.provider.as_str(), h.model.as_str()))
            .or_insert((0.0, 0));
        e.0 += h.value;
        e.1 += 1;
    }
    let _ = writeln!(out, "# HELP shardgate_target_health Circuit state of a provider/model target, averaged over shards: 1 closed, 0.5 half-open, 0 open.");
    let _ = writeln!(out, "# TYPE shardgate_target_health gauge");
    for ((provider, model), (sum, n)) in &health {
        let _ = writeln!(
            out,
            "shardgate_target_health{{provider=\"{}\",model=\"{}\"}} {}",
            escape(provider),
            escape(model),
            sum / f64::from((*n).max(1))
        );
    }
    histogram(
        &mut out,
        "shardgate_request_duration_seconds",
        "Time from a complete request to the last response byte written.",
        &snap.duration,
    );
    histogram(
        &mut out,
        "shardgate_overhead_seconds",
        "Time the gateway itself added: request duration minus the wait on the provider.",
        &snap.overhead,
    );
    histogram(
        &mut out,
        "shardgate_upstream_duration_seconds",
        "Time spent waiting on the provider (connect, response head, body reads).",
        &snap.upstream,
    );
    out
}

fn histogram(out: &mut String, name: &str, help: &str, lat: &Latency) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let h = &lat.hist;
    for &bound in BUCKETS {
        let nanos = (bound * 1e9) as u64;
        let count = if h.is_empty() {
            0
        } else {
            h.count_between(0, nanos)
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.len());
    let _ = writeln!(out, "{name}_sum {}", lat.sum_nanos as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {}", h.len());
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::{RequestRecord, RouteLabel, ShardMetrics};
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counters_and_histograms() {
        let mut m = ShardMetrics::new();
        m.record(&RequestRecord {
            route: RouteLabel::ChatCompletions,
            provider: Some("mock"),
            model: Some("m\"1"),
            status: 200,
            total: Duration::from_micros(30),
            upstream: Duration::from_micros(27),
            proxied: true,
        });
        let text = render(&m.snapshot());
        assert!(text.contains(
            "shardgate_requests_total{route=\"chat_completions\",provider=\"mock\",model=\"m\\\"1\",status=\"200\"} 1"
        ));
        assert!(text.contains("shardgate_overhead_seconds_bucket{le=\"0.000005\"} 1"));
        assert!(text.contains("shardgate_overhead_seconds_bucket{le=\"0.0000025\"} 0"));
        assert!(text.contains("shardgate_request_duration_seconds_count 1"));
    }
}
