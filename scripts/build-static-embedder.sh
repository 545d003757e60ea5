#!/usr/bin/env bash
# Builds models/static-minilm/static-minilm-256.bin: fetches all-MiniLM-L6-v2 if needed, gathers
# a corpus from text already on the machine (scripts/distill-corpus.py), then runs the distill
# example (feature embed-minilm). Takes tens of minutes on 2 cores, most of it the teacher's
# forward passes. Extra arguments go to the example (e.g. --max-sentences 20000 for a quick run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/fetch-model.sh
mkdir -p target
corpus="target/distill-corpus.txt"
python3 scripts/distill-corpus.py > "$corpus"
cargo run --release --features embed-minilm --example distill -- --corpus "$corpus" "$@"
