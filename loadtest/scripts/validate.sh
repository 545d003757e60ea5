#!/usr/bin/env bash
# Validates `loadtest load` against external tools on the same mock, back to back:
#   closed loop (throughput and latency at fixed concurrency): loadtest vs wrk vs h2load (vs oha)
#   fixed rate (service time; h2load --rps is per connection, not CO-corrected): loadtest vs h2load
# Usage: loadtest/scripts/validate.sh [LOADTEST_BIN] [SECONDS]
set -euo pipefail
# CPU of the external tools (loadtest prints its own).
T=(/usr/bin/time -f "  tool CPU: %U s user + %S s sys")
LT=${1:-target/release/loadtest}
SECS=${2:-5}
CONNS=${CONNS:-64}
WORK=$(mktemp -d)
MOCK_PID=
cleanup() { [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

"$LT" mock --listen 127.0.0.1:0 --no-record >"$WORK/mock.out" 2>/dev/null &
MOCK_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/mock.out" 2>/dev/null && break; sleep 0.05; done
ADDR=$(sed -n 's/^listening on //p' "$WORK/mock.out")
URL="http://$ADDR/v1/chat/completions"
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Request 0000000000000000 run 00000000: summarize why a thread-per-core gateway keeps tail latency low."}],"max_tokens":16}'
printf '%s' "$BODY" >"$WORK/body.json"
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
LUA
echo "mock at $ADDR; ${SECS}s per run; $CONNS connections; $(nproc) cores"

echo; echo "== closed loop, $CONNS connections =="
for i in 1 2; do
  echo "-- round $i: loadtest"
  "$LT" load --url "$URL" --closed-loop --connections "$CONNS" --duration-s "$SECS" | grep -E "requests|latency|CPU"
  echo "-- round $i: wrk"
  "${T[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" "$URL" 2>&1 | grep -E "Requests/sec|50%|90%|99%|Latency  |tool CPU"
  if command -v h2load >/dev/null; then
    echo "-- round $i: h2load"
    "${T[@]}" h2load --h1 -t1 -c"$CONNS" -D "$SECS" -d "$WORK/body.json" -H 'content-type: application/json' "$URL" 2>&1 \
      | grep -E "finished in|requests:|time for request|tool CPU"
  fi
  if command -v oha >/dev/null; then
    echo "-- round $i: oha"
    "${T[@]}" oha --no-tui -c "$CONNS" -z "${SECS}s" -m POST -T application/json -D "$WORK/body.json" "$URL" 2>&1 \
      | grep -E "Requests/sec|50.00%|90.00%|99.00%|tool CPU"
  fi
done

# h2load --rps is per connection and its connections' timers fire in phase, so with many
# connections its arrivals come in bursts; with one connection both tools send evenly spaced.
if command -v h2load >/dev/null; then
  for SPEC in 1:500 1:1000 50:5000; do
    C=${SPEC%%:*}; RATE=${SPEC##*:}; PER=$((RATE / C))
    echo; echo "== fixed rate $RATE req/s over $C connection(s) =="
    echo "-- loadtest (open loop)"
    "$LT" load --url "$URL" --rate "$RATE" --connections "$C" --duration-s "$SECS" | grep -E "requests|µs|CPU"
    echo "-- h2load --rps $PER per connection"
    "${T[@]}" h2load --h1 -t1 -c"$C" --rps "$PER" -D "$SECS" -d "$WORK/body.json" -H 'content-type: application/json' "$URL" 2>&1 \
      | grep -E "finished in|requests:|time for request|tool CPU"
  done
fi
