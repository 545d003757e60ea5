//! `loadtest compare` (SPEC §7): starts the mock, shardgate and the reference proxies found on the
//! machine, loads each in interleaved rounds (A B C A B C …) so drift hits all alike, and prints and
//! writes one result per target and rate.
//!
//! Layout: [`procs`] owns the child processes, [`targets`] starts them, [`measure`] runs one
//! measurement, [`scrape`] reads shardgate's `/metrics`, [`results`] aggregates and prints.

pub mod measure;
pub mod procs;
pub mod results;
pub mod scrape;
pub mod targets;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::gen::BodySize;
use measure::Load;
use results::{Row, Summary};
use targets::{Env, Target};

/// Flags of `loadtest compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// Open-loop rates (req/s), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub rates: Vec<f64>,
    /// Measured seconds per target, rate and round.
    #[arg(long, default_value_t = 15.0)]
    pub duration_s: f64,
    /// Where to write the JSON results.
    #[arg(long, default_value = "results.json")]
    pub out: PathBuf,
    /// Targets in round order: direct, shardgate, nginx, litellm (missing proxies are skipped).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,shardgate,nginx,litellm"
    )]
    pub targets: Vec<String>,
    /// Rounds; results are medians over rounds, each round's values kept in `rounds`.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Client connections (the bound on in-flight requests).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// shardgate shards.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// Mock provider threads.
    #[arg(long, default_value_t = 1)]
    pub mock_threads: usize,
    /// Mock provider latency, ms.
    #[arg(long, default_value_t = 0)]
    pub mock_latency_ms: u64,
    /// Closed loop per target (maximum throughput) instead of the open-loop rates.
    #[arg(long)]
    pub max_throughput: bool,
    /// Streamed responses: also reports time to first byte.
    #[arg(long)]
    pub stream: bool,
    /// Request body size.
    #[arg(long, value_enum, default_value_t = BodySize::Small)]
    pub body: BodySize,
    /// Unmeasured warm-up per target before the first round, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Directory holding the `shardgate` binary (default: this binary's, e.g. target/release).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Highest rate LiteLLM is run at (higher rates are capped to it).
    #[arg(long, default_value_t = 90.0)]
    pub litellm_rate: f64,
    /// Connections (in-flight bound) for LiteLLM.
    #[arg(long, default_value_t = 16)]
    pub litellm_connections: usize,
}

/// Runs the comparison; returns the exit code.
pub fn run(args: CompareArgs) -> i32 {
    procs::install_handlers();
    match compare(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("compare: {e}");
            1
        }
    }
}

fn bin_dir(args: &CompareArgs) -> io::Result<PathBuf> {
    if let Some(d) = &args.bin_dir {
        return Ok(d.clone());
    }
    let exe = std::env::current_exe()?;
    Ok(exe.parent().map(PathBuf::from).unwrap_or_default())
}

/// Starts the targets named in `--targets` that exist here, in order.
fn start_targets(
    args: &CompareArgs,
    env: &Env,
    mock: &(procs::Proc, String),
) -> io::Result<Vec<Target>> {
    let mut out = Vec::new();
    for name in &args.targets {
        let t = match name.trim() {
            "direct" => targets::direct(&mock.1, mock.0.pid()),
            "shardgate" => targets::start_shardgate(env, &mock.1)?,
            "nginx" => match targets::on_path("nginx").or_else(|| {
                let p = PathBuf::from("/usr/sbin/nginx");
                p.is_file().then_some(p)
            }) {
                Some(exe) => targets::start_nginx(env, &exe, &mock.1)?,
                None => {
                    eprintln!("compare: nginx not found (apt-get install -y nginx): skipped");
                    continue;
                }
            },
            "litellm" => match targets::on_path("litellm") {
                Some(exe) => targets::start_litellm(
                    env,
                    &exe,
                    &mock.1,
                    args.litellm_rate,
                    args.litellm_connections,
                )?,
                None => {
                    eprintln!("compare: litellm not on PATH: skipped");
                    continue;
                }
            },
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown target {other:?} (direct, shardgate, nginx, litellm)"),
                ))
            }
        };
        eprintln!("compare: {} at {} (pid {})", t.name, t.addr, t.pid);
        out.push(t);
    }
    Ok(out)
}

fn compare(args: &CompareArgs) -> io::Result<()> {
    let dir = procs::TempDir::new()?;
    let env = Env {
        bin_dir: bin_dir(args)?,
        dir: dir.0.clone(),
        shards: args.shards.max(1),
        mock_threads: args.mock_threads.max(1),
        mock_latency_ms: args.mock_latency_ms,
        stream: args.stream,
    };
    let mut mock = targets::start_mock(&env)?;
    eprintln!("compare: mock at {} (pid {})", mock.1, mock.0.pid());
    let mut targets = start_targets(args, &env, &mock)?;
    if targets.is_empty() {
        return Err(io::Error::other("no targets to measure"));
    }
    let rates: Vec<Option<f64>> = if args.max_throughput {
        vec![None]
    } else {
        args.rates.iter().map(|&r| Some(r)).collect()
    };
    let load = |rate, duration: f64, warmup: f64| Load {
        rate,
        duration: Duration::from_secs_f64(duration.max(0.1)),
        warmup: Duration::from_secs_f64(warmup.max(0.0)),
        connections: args.connections.max(1),
        threads: args.threads.max(1),
        body: args.body,
        stream: args.stream,
    };
    if args.warmup_s > 0.0 {
        for t in &targets {
            let rate = rates.first().copied().flatten().or(Some(1000.0));
            eprintln!("compare: warming up {} for {} s", t.name, args.warmup_s);
            measure::measure(t, &load(rate, args.warmup_s, 0.0))?;
        }
    }
    println!("{}", results::header());
    let mut all: Vec<Vec<Row>> = Vec::new();
    for round in 1..=args.rounds.max(1) {
        for &rate in &rates {
            let mut rows = Vec::new();
            for t in targets.iter_mut() {
                if let Some(p) = t.proc.as_mut() {
                    p.check_alive()?;
                }
                rows.push(measure::measure(t, &load(rate, args.duration_s, 0.0))?);
            }
            mock.0.check_alive()?;
            results::fill_overheads(&mut rows);
            for r in &rows {
                println!("{}  [round {round}]", results::line(r));
            }
            all.push(rows);
        }
    }
    let summaries = group(&targets, &rates, all);
    println!("\nmedians over {} round(s):", args.rounds.max(1));
    println!("{}", results::header());
    for s in &summaries {
        println!("{}", results::line(&s.median));
    }
    let json = serde_json::to_string_pretty(&summaries).map_err(io::Error::other)?;
    std::fs::write(&args.out, json + "\n")?;
    println!("wrote {}", args.out.display());
    // Stop the proxies before the mock they talk to.
    drop(targets);
    drop(mock);
    Ok(())
}

/// Groups per-round rows by target and rate, in table order (rate, then target).
fn group(targets: &[Target], rates: &[Option<f64>], all: Vec<Vec<Row>>) -> Vec<Summary> {
    let mut out = Vec::new();
    for (ri, _) in rates.iter().enumerate() {
        for t in targets {
            let rounds: Vec<Row> = all
                .iter()
                .skip(ri)
                .step_by(rates.len().max(1))
                .flat_map(|rows| rows.iter().filter(|r| r.target == t.name).cloned())
                .collect();
            if !rounds.is_empty() {
                out.push(results::summarize(rounds));
            }
        }
    }
    out
}
