//! The result of a load run: counts, rates, latency percentiles and the generator's own CPU use,
//! as JSON and as a printed summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::stats::{Percentiles, Stats};
use super::worker::Clock;
use super::{BodySize, LoadConfig};

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `open-loop` or `closed-loop`.
    pub mode: &'static str,
    /// Target address.
    pub target: String,
    /// Requested rate (open loop), requests per second.
    pub rate: Option<f64>,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Connections.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Body size class.
    pub body: BodySize,
    /// Streamed responses.
    pub stream: bool,
    /// Request body bytes.
    pub body_bytes: usize,
    /// `io_uring` or `epoll`.
    pub driver: &'static str,
    /// Seconds over which `achieved_rps` is computed: the window, longer if responses came late.
    pub elapsed_s: f64,
    /// Requests written in the measured window.
    pub sent: u64,
    /// 2xx responses.
    pub ok: u64,
    /// Failed requests (statuses, connect, I/O, timeouts).
    pub errors: u64,
    /// Non-2xx responses by status.
    pub status_errors: BTreeMap<String, u64>,
    /// Failed connects.
    pub connect_errors: u64,
    /// Broken connections.
    pub io_errors: u64,
    /// Timed-out requests.
    pub timeouts: u64,
    /// Scheduled requests never sent (the target could not keep up).
    pub unsent: u64,
    /// Completed requests (ok + errors) per second.
    pub achieved_rps: f64,
    /// Latency of ok responses (total time when streaming), µs; from the intended send time in
    /// open loop.
    pub latency: Percentiles,
    /// Time to first byte of ok responses, µs (streaming only).
    pub ttfb: Option<Percentiles>,
    /// Service time of ok responses (from the actual write), µs; equals `latency` in closed loop.
    pub service: Percentiles,
    /// Send lag: how late requests were written after their intended time, µs (open loop).
    pub send_lag: Option<Percentiles>,
    /// Generator CPU (user + system) over the run, seconds.
    pub generator_cpu_s: f64,
    /// Generator CPU as a percentage of one core over the run.
    pub generator_cpu_pct: f64,
    /// Generator CPU per completed request, µs.
    pub generator_cpu_us_per_req: f64,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

impl Report {
    /// Builds the report of a run.
    pub fn new(
        cfg: &LoadConfig,
        s: &Stats,
        clock: Clock,
        body_bytes: usize,
        cpu_us: u64,
        wall: Duration,
        uring: bool,
    ) -> Report {
        let window = clock.end - clock.measure_from;
        let last = s.last_done.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(clock.measure_from)
        });
        let elapsed = match cfg.rate {
            Some(_) => window.max(last),
            None => last.max(Duration::from_millis(1)),
        };
        let completed = s.ok + s.errors();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            mode: if cfg.rate.is_some() {
                "open-loop"
            } else {
                "closed-loop"
            },
            target: format!("http://{}{}", cfg.target.host, cfg.target.path),
            rate: cfg.rate,
            duration_s: window.as_secs_f64(),
            connections: cfg.connections,
            threads: cfg.threads,
            body: cfg.body,
            stream: cfg.stream,
            body_bytes,
            driver: if uring { "io_uring" } else { "epoll" },
            elapsed_s: round(secs, 3),
            sent: s.sent,
            ok: s.ok,
            errors: s.errors(),
            status_errors: s
                .status_errors
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            connect_errors: s.connect_errors,
            io_errors: s.io_errors,
            timeouts: s.timeouts,
            unsent: s.unsent,
            achieved_rps: round(completed as f64 / secs, 1),
            latency: Percentiles::of(&s.latency),
            ttfb: cfg.stream.then(|| Percentiles::of(&s.ttfb)),
            send_lag: cfg.rate.map(|_| Percentiles::of(&s.lag)),
            service: Percentiles::of(&s.service),
            generator_cpu_s: round(cpu_us as f64 / 1e6, 3),
            generator_cpu_pct: round(100.0 * cpu_us as f64 / wall.as_micros().max(1) as f64, 1),
            generator_cpu_us_per_req: round(cpu_us as f64 / completed.max(1) as f64, 1),
        }
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let what = match self.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(
            o,
            "{what} for {} s on {} connection(s), {} thread(s) ({}), {} B bodies{} -> {}",
            self.duration_s,
            self.connections,
            self.threads,
            self.driver,
            self.body_bytes,
            if self.stream { ", streaming" } else { "" },
            self.target
        );
        let _ = writeln!(
            o,
            "  requests: sent {}  ok {}  errors {}  unsent {}  achieved {:.1} req/s over {:.3} s",
            self.sent, self.ok, self.errors, self.unsent, self.achieved_rps, self.elapsed_s
        );
        if self.errors > 0 {
            let _ = writeln!(
                o,
                "  errors: statuses {:?}  connect {}  io {}  timeouts {}",
                self.status_errors, self.connect_errors, self.io_errors, self.timeouts
            );
        }
        let origin = if self.rate.is_some() {
            "from intended send time"
        } else {
            "from send"
        };
        let label = if self.stream { "total" } else { "latency" };
        line(&mut o, &format!("{label} µs ({origin})"), &self.latency);
        if let Some(t) = &self.ttfb {
            line(&mut o, "first byte µs", t);
        }
        if let Some(t) = &self.send_lag {
            line(&mut o, "service µs (from actual send)", &self.service);
            line(&mut o, "send lag µs", t);
        }
        let _ = writeln!(
            o,
            "  generator CPU: {:.3} s = {:.1}% of one core, {:.1} µs per request",
            self.generator_cpu_s, self.generator_cpu_pct, self.generator_cpu_us_per_req
        );
        o
    }
}

fn line(o: &mut String, label: &str, p: &Percentiles) {
    let _ = writeln!(
        o,
        "  {label}: min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
        p.min_us, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us
    );
}
