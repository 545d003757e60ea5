#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + integration tests (real binaries on loopback
# against the project's mock provider), and the official Python SDKs end to end.
# Idempotent: creates the Python venv (.venv) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import openai, anthropic, google.genai, pytest' 2>/dev/null \
   || [ tests/python/requirements.txt -nt .venv/.installed ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  touch .venv/.installed
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Integration tests start target/debug/{shardgate,loadtest}: build every binary first.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast
.venv/bin/python -m pytest tests/python -q
tuning/test.sh
