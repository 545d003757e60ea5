#!/usr/bin/env bash
# Reproduces the measurements quoted in tuning/README.md. Needs root (for `unshare -n`), gcc, wrk,
# python3, nstat, ss, ip, and a release build of shardgate (cargo build --release).
#
# Every networking experiment runs in a private network namespace (unshare -n): the per-namespace
# sysctls it sets (somaxconn, tcp_max_syn_backlog, tcp_syncookies, tcp_tw_reuse,
# ip_local_port_range, tcp_fin_timeout) vanish with the namespace, and the host's values are never
# touched. The two experiments that can only be done by changing a global setting are not run
# unless named with --allow-global; they restore the original value on exit.
#
# usage: measure.sh [--gateway PATH] [--allow-global] EXPERIMENT...
#   somaxconn   burst of new connections vs. net.core.somaxconn 128 / 4096 (listen overflows)
#   synbacklog  same burst with syncookies off vs. tcp_max_syn_backlog 128 / 8192
#   portrange   connect/close churn vs. ip_local_port_range and tcp_tw_reuse
#   finwait     lifetime of FIN_WAIT_2 orphans vs. tcp_fin_timeout 60 / 15 / 3
#   nofile      the gateway under ulimit -n 1024 vs. the current limit, 2000 connections
#   memlock     the gateway under ulimit -l 0: which io_uring driver starts
#   driver      io_uring vs. epoll driver (SHARDGATE_IO_DRIVER=epoll), /health, 64 connections
#   thp         gateway RSS at 1000 connections: THP off for the process / madvise / mimalloc THP off
#   pin         server.pin_cores true vs. false, 2 shards, 64 connections
#   backlog     softnet_stat drops (netdev_max_backlog overflows) across a 2000-connection run
#   all         all of the above
#   uring-disabled  (global, --allow-global) kernel.io_uring_disabled=2 while the gateway starts
#   thp-always      (global, --allow-global) THP enabled=always during one run
# Environment: REPEAT (rounds, default 1 or as noted), N (burst size, 5000), DUR (seconds per run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/measure.sh
port=18080

# ---------------------------------------------------------------------------------------------------
# Inner mode: one case inside a fresh network namespace (called through `unshare -n`).
# ---------------------------------------------------------------------------------------------------
if [[ ${1:-} == --inner ]]; then
  shift
  work=$1 case=$2
  shift 2
  cd "$work"
  ip link set lo up

  start_gw() { # LOGFILE ARGS... ; sets gw (pid), waits for the banner
    local log=$1
    shift
    ${WRAP:-} ./shardgate --listen "127.0.0.1:$port" "$@" 2>"$log" &
    gw=$!
    for _ in $(seq 150); do grep -q '^listening on' "$log" 2>/dev/null && return 0; sleep 0.02; done
    echo "gateway did not start: $(tail -3 "$log")" >&2
    return 1
  }
  stop_gw() { kill "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; }
  counters() { nstat -z "$@" | awk '!/^#/ {printf "%s=%s ", $1, $2}'; echo; }

  # gwbench LABEL CONNS SECONDS ARGS...: wrk against /health; rps, p50, p99, errors, the gateway's
  # CPU per request (utime+stime from /proc), peak RSS, AnonHugePages.
  gwbench() {
    local label=$1 conns=$2 dur=$3 out t0 t1 reqs rps p50 p99 errs rss thp hz cpu
    shift 3
    start_gw gwbench.log "$@"
    t0=$(awk '{print $14 + $15}' "/proc/$gw/stat")
    out=$(wrk -t1 -c"$conns" -d"${dur}s" --latency "http://127.0.0.1:$port/health" 2>&1)
    t1=$(awk '{print $14 + $15}' "/proc/$gw/stat")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
    thp=$(awk '/AnonHugePages/ {print $2}' "/proc/$gw/smaps_rollup" 2>/dev/null || echo '?')
    stop_gw
    reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")
    rps=$(sed -n 's/^Requests\/sec: *//p' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(sed -n 's/^ *Socket errors: //p' <<<"$out")
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="${reqs:-0}" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / hz * 1e6 / n; else print "?" }')
    printf '%-26s rps=%-9s p50=%-8s p99=%-8s cpu/req=%sus peakRSS=%sKiB AnonHugePages=%sKiB errors=[%s]\n' \
      "$label" "$rps" "$p50" "$p99" "$cpu" "$rss" "$thp" "${errs:-none}"
  }

  case $case in
    somaxconn) # SOMAXCONN
      sysctl -qw net.core.somaxconn="$1"
      start_gw gw.log --shards 1
      nstat -n
      printf 'somaxconn=%-5s ' "$1"; ./burst 127.0.0.1 "$port" "${N:-5000}"
      printf '                '; counters TcpExtListenOverflows TcpExtListenDrops TcpExtSyncookiesSent
      stop_gw ;;
    synbacklog) # SYN_BACKLOG
      sysctl -qw net.ipv4.tcp_syncookies=0 net.ipv4.tcp_max_syn_backlog="$1"
      start_gw gw.log --shards 1
      nstat -n
      printf 'syncookies=0 tcp_max_syn_backlog=%-5s ' "$1"; ./burst 127.0.0.1 "$port" "${N:-5000}"
      printf '    '; counters TcpExtListenOverflows TcpExtTCPReqQFullDrop
      stop_gw ;;
    portrange) # "LO HI" REUSE SECONDS
      sysctl -qw net.ipv4.ip_local_port_range="$1" net.ipv4.tcp_tw_reuse="$2"
      start_gw gw.log --shards 1
      echo "== ip_local_port_range=$1 tcp_tw_reuse=$2, $3 s of connect/close to one address"
      ./churn 127.0.0.1 "$port" "$3"
      echo "TIME_WAIT sockets at the end: $(ss -Htan state time-wait | wc -l)"
      stop_gw ;;
    finwait) # FIN_TIMEOUT TIMES
      sysctl -qw net.ipv4.tcp_fin_timeout="$1"
      printf 'tcp_fin_timeout=%-3s ' "$1"; python3 "$here/finwait.py" 2000 "$2" ;;
    nofile) # SOFT_LIMIT
      ulimit -Sn "$1"
      RUST_LOG=info start_gw gw.log --shards 2
      printf 'ulimit -n %-6s ' "$1"
      wrk -t2 -c2000 -d5s "http://127.0.0.1:$port/health" 2>&1 | awk '/Socket errors/ {sub(/^ */, ""); e = $0} /Requests\/sec/ {r = $2} END {printf "wrk -c2000: %s req/s, %s; ", r, (e ? e : "no socket errors")}'
      stop_gw
      echo "gateway 'accept failed' warnings: $(grep -c 'accept failed' gw.log || true) ($(grep -m1 -o 'accept failed: [^(]*' gw.log || echo none))" ;;
    memlock)
      ulimit -l 0
      RUST_LOG=info start_gw gw.log --shards 2
      echo "ulimit -l $(ulimit -l): $(grep -o 'driver="[a-z_]*"' gw.log | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
      stop_gw ;;
    uring-disabled) # ORIGINAL (global! restored as soon as the shards are up)
      trap 'sysctl -qw kernel.io_uring_disabled="$1"' EXIT
      sysctl -qw kernel.io_uring_disabled=2
      RUST_LOG=info start_gw gw.log --shards 2
      sysctl -qw kernel.io_uring_disabled="$1"
      echo "kernel.io_uring_disabled=2 at start-up: $(grep -o 'driver="[a-z_]*"' gw.log | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
      grep -m1 -o 'io_uring unavailable.*' gw.log || true
      stop_gw ;;
    driver)
      gwbench io_uring 64 "${DUR:-5}" --shards 1
      SHARDGATE_IO_DRIVER=epoll gwbench epoll 64 "${DUR:-5}" --shards 1 ;;
    thp)
      WRAP="python3 $here/nothp.py" gwbench "THP off (prctl)" 1000 "${DUR:-5}" --shards 2
      gwbench "THP $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled) (host setting)" 1000 "${DUR:-5}" --shards 2
      MIMALLOC_ALLOW_THP=0 gwbench "MIMALLOC_ALLOW_THP=0" 1000 "${DUR:-5}" --shards 2 ;;
    thp-always) # ORIGINAL (global! restored on exit)
      trap 'echo "$1" >/sys/kernel/mm/transparent_hugepage/enabled' EXIT
      echo always >/sys/kernel/mm/transparent_hugepage/enabled
      gwbench "THP always" 1000 "${DUR:-5}" --shards 2
      MIMALLOC_ALLOW_THP=0 gwbench "always+MIMALLOC_ALLOW_THP=0" 1000 "${DUR:-5}" --shards 2 ;;
    pin)
      printf '[server]\nshards = 2\npin_cores = true\n' >pin.toml
      printf '[server]\nshards = 2\npin_cores = false\n' >nopin.toml
      gwbench "pin_cores = true" 64 "${DUR:-5}" --config pin.toml
      gwbench "pin_cores = false" 64 "${DUR:-5}" --config nopin.toml ;;
    backlog)
      drops() { # column 2 of /proc/net/softnet_stat (hex), summed over cpus
        local d=0 line
        local -a f
        while read -r line; do read -r -a f <<<"$line"; d=$((d + 16#${f[1]})); done </proc/net/softnet_stat
        echo "$d"
      }
      before=$(drops)
      gwbench "2000 connections" 2000 "${DUR:-5}" --shards 2
      after=$(drops)
      echo "softnet_stat drops (all cpus, since boot): before=$before after=$after" ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Outer mode.
# ---------------------------------------------------------------------------------------------------
gateway=$here/../../target/release/shardgate
allow_global=0
exps=()
while (($#)); do
  case $1 in
    --gateway) gateway=$2; shift 2 ;;
    --allow-global) allow_global=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    all) exps+=(somaxconn synbacklog portrange finwait nofile memlock driver thp pin backlog); shift ;;
    somaxconn | synbacklog | portrange | finwait | nofile | memlock | driver | thp | pin | backlog) exps+=("$1"); shift ;;
    uring-disabled | thp-always) exps+=("$1"); shift ;;
    *) echo "measure.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
((${#exps[@]})) || { echo "measure.sh: name an experiment (--help)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "measure.sh: needs root (unshare -n)" >&2; exit 1; }
for t in gcc wrk python3 nstat ss ip unshare; do
  command -v "$t" >/dev/null || { echo "measure.sh: missing $t" >&2; exit 1; }
done
[[ -x $gateway ]] || { echo "measure.sh: no gateway at $gateway (cargo build --release, or --gateway PATH)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$gateway" "$work/shardgate" # a private copy: a rebuild during the run cannot swap it
gcc -O2 -o "$work/burst" "$here/burst.c"
gcc -O2 -o "$work/churn" "$here/churn.c"
inner() { unshare -n "$self" --inner "$work" "$@"; }
rounds=${REPEAT:-1}

echo "host: $(uname -r), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for e in "${exps[@]}"; do
  echo "### $e"
  case $e in
    somaxconn)
      for _ in $(seq "${REPEAT:-3}"); do inner somaxconn 128; inner somaxconn 4096; done ;;
    synbacklog)
      for _ in $(seq "$rounds"); do inner synbacklog 128; inner synbacklog 8192; done ;;
    portrange)
      inner portrange "40000 40999" 0 "${DUR:-8}"
      inner portrange "40000 40999" 1 "${DUR:-8}"
      inner portrange "32768 60999" 0 "${DUR:-20}"
      inner portrange "32768 60999" 1 "${DUR:-20}"
      inner portrange "10000 65535" 0 "${DUR:-20}" ;;
    finwait)
      inner finwait 60 0.5,4,8
      inner finwait 15 1,14,16.5
      inner finwait 3 0.5,2,4 ;;
    nofile)
      inner nofile 1024
      inner nofile "$(ulimit -Sn)" ;;
    memlock) inner memlock ;;
    driver | thp | pin)
      for _ in $(seq "${REPEAT:-2}"); do inner "$e"; done ;;
    backlog)
      echo "net.core.netdev_max_backlog=$(cat /proc/sys/net/core/netdev_max_backlog) (global; loopback traffic goes through this per-cpu queue)"
      inner backlog ;;
    uring-disabled)
      if ((allow_global)); then inner uring-disabled "$(cat /proc/sys/kernel/io_uring_disabled)"
      else echo "skipped: changes a global setting for ~0.1 s; add --allow-global"; fi ;;
    thp-always)
      if ((allow_global)); then
        inner thp-always "$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled)"
      else echo "skipped: changes a global setting for ~10 s; add --allow-global"; fi ;;
  esac
done
