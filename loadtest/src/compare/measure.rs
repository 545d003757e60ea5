//! One measurement of one target: the load run, the CPU and peak RSS of the target's process tree,
//! and (for shardgate) its own overhead histogram over the run.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::results::Row;
use super::scrape;
use super::targets::Target;
use crate::gen::{self, BodySize, LoadConfig};
use crate::procfs;

/// How often RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(100);

/// How to load a target.
#[derive(Debug, Clone)]
pub struct Load {
    /// Requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// Measured seconds.
    pub duration: Duration,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Connections.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Body size.
    pub body: BodySize,
    /// Streamed responses.
    pub stream: bool,
}

/// Peak summed RSS (KiB) of `pids`, sampled until `stop` is set.
fn sample_rss(pids: Vec<u32>, stop: Arc<AtomicBool>) -> u64 {
    let mut peak = 0;
    loop {
        let now: u64 = pids.iter().filter_map(|&p| procfs::rss_kib(p)).sum();
        peak = peak.max(now);
        if stop.load(Ordering::Relaxed) {
            return peak;
        }
        thread::sleep(RSS_EVERY);
    }
}

/// The generator's settings for `t` under `load` (rate and connections capped by the target).
pub fn config(t: &Target, load: &Load) -> io::Result<LoadConfig> {
    let rate = match (load.rate, t.max_rate) {
        (Some(r), Some(m)) => Some(r.min(m)),
        (r, _) => r,
    };
    let connections = t
        .max_connections
        .map_or(load.connections, |m| load.connections.min(m));
    Ok(LoadConfig {
        target: gen::Target::parse(&t.url())?,
        model: t.model.clone(),
        rate,
        duration: load.duration,
        warmup: load.warmup,
        connections,
        threads: load.threads,
        body: load.body,
        stream: load.stream,
        headers: t.headers.clone(),
        timeout: Duration::from_secs(10),
        drain: Duration::from_secs(2),
    })
}

/// Runs `load` against `t` and measures it (overheads are filled in later, per round).
pub fn measure(t: &Target, load: &Load) -> io::Result<Row> {
    let cfg = config(t, load)?;
    let is_gateway = t.name == "shardgate";
    let before = if is_gateway {
        scrape::fetch(&t.addr)
            .map(|m| scrape::buckets(&m, scrape::OVERHEAD))
            .ok()
    } else {
        None
    };
    let pids = procfs::tree(t.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pids, stop) = (pids.clone(), stop.clone());
        thread::Builder::new()
            .name("compare-rss".into())
            .spawn(move || sample_rss(pids, stop))?
    };
    let cpu_before = procfs::tree_cpu_us(t.pid);
    let report = gen::run_load(&cfg);
    let cpu_used = procfs::tree_cpu_us(t.pid).saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    let peak_kib = sampler.join().unwrap_or(0);
    let report = report?;
    let (gw50, gw99) = match before {
        Some(b) => {
            let after = scrape::fetch(&t.addr).map(|m| scrape::buckets(&m, scrape::OVERHEAD))?;
            let d = scrape::delta(&b, &after);
            let us = |q| scrape::quantile(&d, q).map(|s| (s * 1e7).round() / 10.0);
            (us(0.5), us(0.99))
        }
        None => (None, None),
    };
    let completed = report.ok + report.errors;
    let capped = match (load.rate, cfg.rate) {
        (Some(asked), Some(used)) if used < asked => Some(asked),
        _ => None,
    };
    let l = report.latency;
    Ok(Row {
        target: t.name.clone(),
        rate: cfg.rate,
        achieved_rps: report.achieved_rps,
        ok: report.ok,
        errors: report.errors,
        p50_us: l.p50_us,
        p90_us: l.p90_us,
        p99_us: l.p99_us,
        p999_us: l.p999_us,
        overhead_p50_us: None,
        overhead_p99_us: None,
        cpu_us_per_req: (cpu_used as f64 / completed.max(1) as f64 * 10.0).round() / 10.0,
        rss_mib: (peak_kib as f64 / 1024.0 * 10.0).round() / 10.0,
        gateway_overhead_p50_us: gw50,
        gateway_overhead_p99_us: gw99,
        requested_rate: capped,
        connections: cfg.connections,
        unsent: report.unsent,
        ttfb_p50_us: report.ttfb.map(|p| p.p50_us),
        ttfb_p99_us: report.ttfb.map(|p| p.p99_us),
        overhead_ttfb_p50_us: None,
        service_p50_us: report.service.p50_us,
        service_p99_us: report.service.p99_us,
        send_lag_p50_us: report.send_lag.map(|p| p.p50_us),
        send_lag_p99_us: report.send_lag.map(|p| p.p99_us),
        generator_cpu_pct: report.generator_cpu_pct,
    })
}
