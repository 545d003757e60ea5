//! `loadtest compare` (placeholder while the generator is built).

/// Flags of `loadtest compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {}

/// Runs the comparison.
pub fn run(_args: CompareArgs) -> i32 {
    1
}
