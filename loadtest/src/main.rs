//! `loadtest`: shardgate's benchmark harness (SPEC §7). A thin dispatcher over the subcommands.

mod mock;

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
    /// Run the mock LLM provider (OpenAI, Anthropic and Gemini formats, faults by model name).
    Mock(mock::MockArgs),
}

fn main() {
    let code = match Cli::parse().cmd {
        Command::Mock(args) => mock::run(args),
    };
    std::process::exit(code);
}
