//! `loadtest`: shardgate's benchmark harness (SPEC §7). A thin dispatcher over the subcommands.

mod compare;
mod gen;
mod mock;
mod procfs;

use clap::{Parser, Subcommand};

/// Command line of `loadtest`.
#[derive(Parser)]
#[command(name = "loadtest", about = "shardgate's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Run the mock LLM provider (OpenAI, Anthropic, Gemini, Cohere and Bedrock formats, faults by model name).
    Mock(mock::MockArgs),
    /// Generate load: open loop at a constant rate (coordinated-omission corrected) or closed loop.
    Load(gen::LoadArgs),
    /// Start the mock, shardgate and reference proxies, measure each in interleaved rounds.
    Compare(compare::CompareArgs),
}

fn main() {
    let code = match Cli::parse().cmd {
        Command::Mock(args) => mock::run(args),
        Command::Load(args) => gen::run(args),
        Command::Compare(args) => compare::run(args),
    };
    std::process::exit(code);
}
