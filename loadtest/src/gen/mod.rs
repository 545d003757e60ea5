//! `loadtest load`: an open-loop constant-rate HTTP/1.1 load generator with coordinated-omission
//! correction, and a closed-loop mode for maximum throughput.
//!
//! Layout: [`request`] builds unique request bytes, [`response`] follows response framing,
//! [`conn`] runs one keep-alive connection, [`pacer`] sleeps precisely, [`worker`] runs one thread's
//! share of connections and schedule, [`stats`] merges histograms, [`report`] summarises.

pub mod conn;
pub mod pacer;
pub mod report;
pub mod request;
pub mod response;
pub mod rt;
pub mod stats;
pub mod worker;

use std::io;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

pub use report::Report;
pub use request::{BodySize, Target};

use stats::Stats;
use worker::{Clock, Part};

/// Flags of `loadtest load`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Target URL (`http://host:port/path`), e.g. `http://127.0.0.1:8089/v1/chat/completions`.
    #[arg(long)]
    pub url: String,
    /// Requests per second on a fixed schedule (open loop); ignored with `--closed-loop`.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Unmeasured warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 0.0)]
    pub warmup_s: f64,
    /// Keep-alive connections (each carries at most one request at a time).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Generator threads, each with its own monoio runtime.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Request body size: ~200 B or ~10 KB.
    #[arg(long, value_enum, default_value_t = BodySize::Small)]
    pub body: BodySize,
    /// Model name in the request body.
    #[arg(long, default_value = "gpt-4o-mini")]
    pub model: String,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Send each request as soon as the connection's last one completed (maximum throughput).
    #[arg(long)]
    pub closed_loop: bool,
    /// Ask for streamed responses; reports time to first byte and total time.
    #[arg(long)]
    pub stream: bool,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Scheduled requests still unsent this many seconds after the end are given up (`unsent`).
    #[arg(long, default_value_t = 2.0)]
    pub drain_s: f64,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub out: Option<String>,
}

/// A run's settings (the library form of [`LoadArgs`]).
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to send.
    pub target: Target,
    /// Model name in the body.
    pub model: String,
    /// Requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// Measured window.
    pub duration: Duration,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Total connections.
    pub connections: usize,
    /// Threads (at most `connections`).
    pub threads: usize,
    /// Body size class.
    pub body: BodySize,
    /// Streamed responses.
    pub stream: bool,
    /// Extra header lines.
    pub headers: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Grace after the end for late scheduled sends.
    pub drain: Duration,
}

impl LoadConfig {
    /// Settings from the command line.
    pub fn from_args(a: &LoadArgs) -> io::Result<LoadConfig> {
        let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
        Ok(LoadConfig {
            target: Target::parse(&a.url)?,
            model: a.model.clone(),
            rate: (!a.closed_loop).then_some(a.rate),
            duration: secs(a.duration_s),
            warmup: secs(a.warmup_s),
            connections: a.connections.max(1),
            threads: a.threads.max(1),
            body: a.body,
            stream: a.stream,
            headers: a.headers.clone(),
            timeout: Duration::from_millis(a.timeout_ms.max(1)),
            drain: secs(a.drain_s),
        })
    }
}

/// Runs the load described by `cfg` and reports what it measured, including its own CPU use.
pub fn run_load(cfg: &LoadConfig) -> io::Result<Report> {
    let mut cfg = cfg.clone();
    cfg.connections = cfg.connections.max(1);
    cfg.threads = cfg.threads.clamp(1, cfg.connections);
    if cfg.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--rate must be positive",
        ));
    }
    let cfg = Arc::new(cfg);
    let template = Arc::new(request::Template::new(
        &cfg.target,
        &cfg.model,
        cfg.body,
        cfg.stream,
        &cfg.headers,
        fastrand::u32(..),
    ));
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut gos = Vec::new();
    let mut handles = Vec::new();
    for index in 0..cfg.threads {
        let connections =
            cfg.connections / cfg.threads + usize::from(index < cfg.connections % cfg.threads);
        let (go_tx, go_rx) = mpsc::channel();
        gos.push(go_tx);
        let part = Part {
            index,
            connections,
            ready: ready_tx.clone(),
            go: go_rx,
        };
        let (c, t) = (cfg.clone(), template.clone());
        handles.push(
            thread::Builder::new()
                .name(format!("load-{index}"))
                .spawn(move || worker::run(c, t, part))?,
        );
    }
    drop(ready_tx);
    let mut uring = true;
    for _ in 0..cfg.threads {
        uring &= ready_rx
            .recv()
            .map_err(|_| io::Error::other("a generator thread died"))?;
    }
    let cpu_before = crate::procfs::self_cpu_us();
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let clock = Clock {
        start,
        measure_from,
        end,
        give_up: end + cfg.drain,
    };
    for g in &gos {
        let _ = g.send(clock);
    }
    let mut total = Stats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| io::Error::other("a generator thread panicked"))?;
        total.merge(&s);
    }
    let cpu_us = crate::procfs::self_cpu_us().saturating_sub(cpu_before);
    let wall = start.elapsed();
    Ok(Report::new(
        &cfg,
        &total,
        clock,
        template.body_len,
        cpu_us,
        wall,
        uring,
    ))
}

/// `loadtest load`: runs, prints the summary, writes `--out`; returns the exit code.
pub fn run(args: LoadArgs) -> i32 {
    let result = LoadConfig::from_args(&args).and_then(|cfg| run_load(&cfg));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return 1;
        }
    };
    print!("{}", report.summary());
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("load: writing {path}: {e}");
            return 1;
        }
    }
    0
}
