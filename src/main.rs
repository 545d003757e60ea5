//! The `shardgate` command: `serve` (the default) and `check`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shardgate::config::Config;
use shardgate::server::{self, RunOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A thread-per-core LLM gateway.
#[derive(Parser)]
#[command(name = "shardgate", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve(ServeArgs),
    /// Validate a configuration file and print every error with its location.
    Check {
        /// The TOML file to check.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Configuration file; without it the embedded default is used.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address (overrides server.listen); port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Number of shards (overrides server.shards; 0 = one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Default, ValueEnum)]
enum LogFormat {
    #[default]
    Human,
    Json,
}

fn main() -> ExitCode {
    disable_transparent_hugepages();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { config }) => check(&config),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

/// Logs go to stderr through a writer thread (a shard never blocks on a log write); the returned
/// guard flushes what is queued when it is dropped at exit.
/// mimalloc backs its arenas with transparent huge pages when the kernel offers them, which
/// roughly doubles resident memory at 1,000 connections (measured: 57 MiB vs 22 MiB, see
/// tuning/README.md) for no speed gain here. Opt this process out before the first allocation
/// of any size; `SHARDGATE_ALLOW_THP=1` keeps them.
fn disable_transparent_hugepages() {
    if std::env::var_os("SHARDGATE_ALLOW_THP").is_some_and(|v| v == "1") {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

fn serve(args: ServeArgs) -> ExitCode {
    let _log_flush = init_logging(args.log_format);
    let (mut config, banner) = match &args.config {
        Some(path) => match Config::load_file(path) {
            Ok(c) => (c, vec![format!("config: {}", path.display())]),
            Err(errors) => {
                for e in errors {
                    eprintln!("{}: {e}", path.display());
                }
                return ExitCode::FAILURE;
            }
        },
        None => {
            let env = |name: &str| std::env::var(name).ok();
            let (config, mut lines) = Config::embedded_default(&env);
            lines.insert(
                0,
                "no --config given: using the embedded default".to_string(),
            );
            (config, lines)
        }
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(shards) = args.shards {
        config.server.shards = shards;
    }
    let seed = std::env::var("SHARDGATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let options = RunOptions {
        banner,
        seed,
        config_path: args.config.clone(),
        listen_override: args.listen,
        shards_override: args.shards,
        control: None,
    };
    match server::run(config, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardgate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load_file(path) {
        Ok(config) => {
            println!(
                "{}: OK ({} provider(s), {} alias(es), listen {})",
                path.display(),
                config.providers.len(),
                config.models.len(),
                config.server.listen
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{}: {e}", path.display());
            }
            println!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}
