//! Result rows of `compare`: one per target, rate and round; overheads against `direct` in the
//! same round; medians over rounds; the printed table.

use std::fmt::Write as _;

use serde::Serialize;

/// One measurement (or, in [`Summary`], the median of several). The first fields are SPEC §7's.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Target name.
    pub target: String,
    /// Rate it was run at (req/s); `null` in max-throughput (closed-loop) mode.
    pub rate: Option<f64>,
    /// Completed requests per second.
    pub achieved_rps: f64,
    /// 2xx responses.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Median latency, µs (from the intended send time in open loop; total time when streaming).
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// `p50_us` minus direct's in the same round and rate; `null` for direct.
    pub overhead_p50_us: Option<i64>,
    /// `p99_us` minus direct's in the same round and rate; `null` for direct.
    pub overhead_p99_us: Option<i64>,
    /// CPU (user + system) of the target's process tree per completed request, µs.
    pub cpu_us_per_req: f64,
    /// Peak RSS of the target's process tree during the run, MiB.
    pub rss_mib: f64,
    /// shardgate's own `overhead_seconds` p50 over the run, µs (shardgate only).
    pub gateway_overhead_p50_us: Option<f64>,
    /// shardgate's own `overhead_seconds` p99 over the run, µs (shardgate only).
    pub gateway_overhead_p99_us: Option<f64>,
    /// The rate asked for, when the target was capped below it.
    pub requested_rate: Option<f64>,
    /// Connections used (the bound on in-flight requests).
    pub connections: usize,
    /// Scheduled requests never sent because the target fell behind.
    pub unsent: u64,
    /// Time to first byte p50, µs (streaming only).
    pub ttfb_p50_us: Option<u64>,
    /// Time to first byte p99, µs (streaming only).
    pub ttfb_p99_us: Option<u64>,
    /// `ttfb_p50_us` minus direct's (streaming only; `null` for direct).
    pub overhead_ttfb_p50_us: Option<i64>,
    /// Service time p50 (from the actual write, not CO-corrected), µs.
    pub service_p50_us: u64,
    /// Service time p99, µs.
    pub service_p99_us: u64,
    /// How late the generator wrote requests after their intended time, p50, µs (open loop).
    pub send_lag_p50_us: Option<u64>,
    /// Send lag p99, µs (open loop).
    pub send_lag_p99_us: Option<u64>,
    /// The load generator's CPU over the run, % of one core.
    pub generator_cpu_pct: f64,
}

/// A target and rate over all rounds: medians, plus every round.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Medians over rounds of each field.
    #[serde(flatten)]
    pub median: Row,
    /// Errors summed over all rounds.
    pub errors_total: u64,
    /// The rounds' own rows, in order.
    pub rounds: Vec<Row>,
}

/// Fills the overhead fields of `rows` (one round and rate) from its `direct` row.
pub fn fill_overheads(rows: &mut [Row]) {
    let Some(d) = rows.iter().find(|r| r.target == "direct").cloned() else {
        return;
    };
    for r in rows.iter_mut().filter(|r| r.target != "direct") {
        // Capped targets ran at another rate: no like-for-like direct figure.
        if r.requested_rate.is_some() {
            continue;
        }
        r.overhead_p50_us = Some(r.p50_us as i64 - d.p50_us as i64);
        r.overhead_p99_us = Some(r.p99_us as i64 - d.p99_us as i64);
        if let (Some(a), Some(b)) = (r.ttfb_p50_us, d.ttfb_p50_us) {
            r.overhead_ttfb_p50_us = Some(a as i64 - b as i64);
        }
    }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

fn median_i(v: Vec<Option<i64>>) -> Option<i64> {
    let mut v: Vec<i64> = v.into_iter().flatten().collect();
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

fn median_of(v: Vec<Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.into_iter().flatten().collect();
    (!v.is_empty()).then(|| median_f(v))
}

/// Medians of `rounds` (all the same target and rate; at least one).
pub fn summarize(rounds: Vec<Row>) -> Summary {
    let f = |g: fn(&Row) -> f64| median_f(rounds.iter().map(g).collect());
    let u = |g: fn(&Row) -> u64| median_u(rounds.iter().map(g).collect());
    let i = |g: fn(&Row) -> Option<i64>| median_i(rounds.iter().map(g).collect());
    let o = |g: fn(&Row) -> Option<f64>| median_of(rounds.iter().map(g).collect());
    let ou = |g: fn(&Row) -> Option<u64>| {
        median_of(rounds.iter().map(|r| g(r).map(|x| x as f64)).collect()).map(|x| x as u64)
    };
    let first = rounds.first().cloned();
    let median = Row {
        target: first.as_ref().map(|r| r.target.clone()).unwrap_or_default(),
        rate: first.as_ref().and_then(|r| r.rate),
        achieved_rps: f(|r| r.achieved_rps),
        ok: u(|r| r.ok),
        errors: u(|r| r.errors),
        p50_us: u(|r| r.p50_us),
        p90_us: u(|r| r.p90_us),
        p99_us: u(|r| r.p99_us),
        p999_us: u(|r| r.p999_us),
        overhead_p50_us: i(|r| r.overhead_p50_us),
        overhead_p99_us: i(|r| r.overhead_p99_us),
        cpu_us_per_req: f(|r| r.cpu_us_per_req),
        rss_mib: f(|r| r.rss_mib),
        gateway_overhead_p50_us: o(|r| r.gateway_overhead_p50_us),
        gateway_overhead_p99_us: o(|r| r.gateway_overhead_p99_us),
        requested_rate: first.as_ref().and_then(|r| r.requested_rate),
        connections: first.as_ref().map_or(0, |r| r.connections),
        unsent: u(|r| r.unsent),
        ttfb_p50_us: ou(|r| r.ttfb_p50_us),
        ttfb_p99_us: ou(|r| r.ttfb_p99_us),
        overhead_ttfb_p50_us: i(|r| r.overhead_ttfb_p50_us),
        service_p50_us: u(|r| r.service_p50_us),
        service_p99_us: u(|r| r.service_p99_us),
        send_lag_p50_us: ou(|r| r.send_lag_p50_us),
        send_lag_p99_us: ou(|r| r.send_lag_p99_us),
        generator_cpu_pct: f(|r| r.generator_cpu_pct),
    };
    Summary {
        median,
        errors_total: rounds.iter().map(|r| r.errors).sum(),
        rounds,
    }
}

fn opt_i(v: Option<i64>) -> String {
    v.map_or("-".into(), |x| format!("{x:+}"))
}

fn opt_f(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// The table header.
pub fn header() -> String {
    format!(
        "{:<10} {:>7} {:>9} {:>8} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>13}",
        "target",
        "rate",
        "achieved",
        "ok",
        "err",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "+p50",
        "+p99",
        "cpu/req",
        "rss",
        "gw p50/p99"
    )
}

/// One table line (latencies in µs, RSS in MiB).
pub fn line(r: &Row) -> String {
    let rate = r.rate.map_or("max".into(), |x| format!("{x}"));
    let gw = match (r.gateway_overhead_p50_us, r.gateway_overhead_p99_us) {
        (None, None) => "-".into(),
        (a, b) => format!("{}/{}", opt_f(a), opt_f(b)),
    };
    let mut s = format!(
        "{:<10} {:>7} {:>9.1} {:>8} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8.1} {:>6.1} {:>13}",
        r.target,
        rate,
        r.achieved_rps,
        r.ok,
        r.errors,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.p999_us,
        opt_i(r.overhead_p50_us),
        opt_i(r.overhead_p99_us),
        r.cpu_us_per_req,
        r.rss_mib,
        gw
    );
    if let (Some(a), Some(b)) = (r.ttfb_p50_us, r.ttfb_p99_us) {
        let _ = write!(s, "  ttfb {a}/{b} ({})", opt_i(r.overhead_ttfb_p50_us));
    }
    if let Some(req) = r.requested_rate {
        let _ = write!(s, "  (capped from {req})");
    }
    if r.unsent > 0 {
        let _ = write!(s, "  unsent {}", r.unsent);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, p50: u64, p99: u64) -> Row {
        Row {
            target: target.into(),
            rate: Some(1000.0),
            achieved_rps: 1000.0,
            ok: 10,
            errors: 0,
            p50_us: p50,
            p90_us: p50,
            p99_us: p99,
            p999_us: p99,
            overhead_p50_us: None,
            overhead_p99_us: None,
            cpu_us_per_req: 1.0,
            rss_mib: 1.0,
            gateway_overhead_p50_us: None,
            gateway_overhead_p99_us: None,
            requested_rate: None,
            connections: 64,
            unsent: 0,
            ttfb_p50_us: None,
            ttfb_p99_us: None,
            overhead_ttfb_p50_us: None,
            service_p50_us: p50,
            service_p99_us: p99,
            send_lag_p50_us: None,
            send_lag_p99_us: None,
            generator_cpu_pct: 1.0,
        }
    }

    #[test]
    fn overheads_and_medians() {
        let mut rows = vec![row("direct", 100, 200), row("shardgate", 130, 260)];
        fill_overheads(&mut rows);
        assert_eq!(rows[0].overhead_p50_us, None);
        assert_eq!(rows[1].overhead_p50_us, Some(30));
        assert_eq!(rows[1].overhead_p99_us, Some(60));
        let mut a = rows[1].clone();
        a.overhead_p50_us = Some(10);
        a.errors = 2;
        let mut b = rows[1].clone();
        b.overhead_p50_us = Some(50);
        let s = summarize(vec![rows[1].clone(), a, b]);
        assert_eq!(s.median.overhead_p50_us, Some(30));
        assert_eq!(s.errors_total, 2);
        assert_eq!(s.rounds.len(), 3);
        let v = serde_json::to_value(&s).unwrap_or_default();
        for k in [
            "target",
            "rate",
            "p999_us",
            "overhead_p99_us",
            "rss_mib",
            "rounds",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(line(&s.median).starts_with("shardgate"));
    }
}
