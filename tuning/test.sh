#!/usr/bin/env bash
# Self-test of the host-tuning kit, for the project's test suite. Fast (about 1 s), changes nothing
# on the host: every real write goes into a scratch tree (SG_ROOT). Exit 0 = pass.
#   1. check.sh exits 0 or 1 (never crashes, nothing on stderr) and prints every knob;
#      usage errors exit 2.
#   2. apply.sh all --dry-run (also with --persist and, when a NIC exists, irq) prints a command for
#      every sysctl check.sh reports as DIFFERS, and changes nothing: `sysctl -a`, THP, governors,
#      IRQ affinities and the two persist files are identical before and after.
#   3. Containers/VMs: with nothing under SG_ROOT every knob reads "n/a", no error.
#   4. Round trip on a scratch tree: apply.sh net limits thp --persist, then check.sh net thp says
#      OK, better-than-recommended values were not lowered, the persist files hold the settings.
#   5. A real run as a non-root user is refused and changes nothing.
#   6. shellcheck, when installed and TUNING_SHELLCHECK=1 (it alone takes 5-20 s).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
# Everything that looks at the real host runs unprivileged when we are root, so that even a broken
# --dry-run could not change the host (the snapshot comparison would still catch it).
unpriv() {
  if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
  else
    "$@"
  fi
}
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# --- 1. check.sh --------------------------------------------------------------------------------
rc=0
unpriv "$here/check.sh" >"$tmp/check.out" 2>"$tmp/check.err" || rc=$?
if [[ $rc == 0 || $rc == 1 ]]; then pass "check.sh exit status $rc"; else fail "check.sh exited $rc"; fi
[[ -s $tmp/check.err ]] && fail "check.sh wrote to stderr: $(head -3 "$tmp/check.err")"
knobs=(net.core.somaxconn net.core.netdev_max_backlog net.ipv4.tcp_max_syn_backlog
  net.ipv4.tcp_tw_reuse net.ipv4.ip_local_port_range net.ipv4.tcp_fin_timeout net.core.rmem_max
  net.core.wmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem fs.nr_open fs.file-max
  kernel.io_uring_disabled net.core.busy_poll net.core.busy_read
  "ulimit -n (soft" "ulimit -n (hard" "ulimit -l (soft" "ulimit -l (hard"
  "cpufreq governor" "transparent_hugepage/enabled" "transparent_hugepage/defrag"
  "irqbalance" "irq affinity" "isolated cores" "kernel cmdline isolcpus" "kernel cmdline nohz_full")
missing=()
for k in "${knobs[@]}"; do
  grep -qF -- "$k" "$tmp/check.out" || missing+=("$k")
done
if ((${#missing[@]})); then fail "check.sh did not print: ${missing[*]}"; else pass "check.sh printed all ${#knobs[@]} knobs"; fi
bad=$(awk 'NR > 3 && NF && $0 !~ /^    note: / && $0 !~ /^[0-9]+ OK,/ && $0 !~ /^to apply:/ && $NF !~ /^(OK|DIFFERS|n\/a|INFO)$/' "$tmp/check.out")
[[ -z $bad ]] || fail "check.sh rows without a status: $bad"
if [[ $rc == 1 ]] && ! grep -q ' DIFFERS$' "$tmp/check.out"; then fail "exit 1 without a DIFFERS row"; fi
if [[ $rc == 0 ]] && grep -q ' DIFFERS$' "$tmp/check.out"; then fail "exit 0 with a DIFFERS row"; fi
for args in "--bogus" "--pid" "--pid notanumber" "nosuchgroup"; do
  rc=0
  # shellcheck disable=SC2086 # word splitting intended
  unpriv "$here/check.sh" $args >/dev/null 2>&1 || rc=$?
  [[ $rc == 2 ]] || fail "check.sh $args exited $rc, expected 2"
done
pass "check.sh usage errors exit 2"

# --- 2. apply.sh --dry-run changes nothing --------------------------------------------------------
snapshot() {
  {
    sysctl -a 2>/dev/null | grep -Ev '^(fs\.(dentry-state|inode-nr|inode-state|file-nr|aio-nr)|kernel\.(ns_last_pid|random\.|pty\.nr)|net\.netfilter\.nf_conntrack_count|fs\.quota\.)' || true
    # one grep for all files (file:content lines); files that do not exist are simply absent
    grep -H '' /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag \
      /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor /proc/irq/*/smp_affinity_list \
      /etc/sysctl.d/90-shardgate.conf /etc/security/limits.d/90-shardgate.conf 2>/dev/null || true
    ulimit -Sn; ulimit -Hn; ulimit -Sl; ulimit -Hl
  } 2>/dev/null
}
snapshot >"$tmp/before"
nic=$(for d in /sys/class/net/*; do [[ -e $d/device ]] && { echo "${d##*/}"; break; }; done; true)
runs=("all --dry-run" "all --dry-run --persist")
[[ -n $nic ]] && runs+=("all --dry-run --persist --nic $nic --cores 0")
for args in "${runs[@]}"; do
  rc=0
  # shellcheck disable=SC2086
  unpriv "$here/apply.sh" $args >"$tmp/dry.out" 2>"$tmp/dry.err" || rc=$?
  [[ $rc == 0 ]] || fail "apply.sh $args exited $rc: $(head -3 "$tmp/dry.err")"
  [[ -s $tmp/dry.err ]] && fail "apply.sh $args wrote to stderr (did it try to change something?): $(head -3 "$tmp/dry.err")"
  grep -q '^# == net ==' "$tmp/dry.out" || fail "apply.sh $args printed no net section"
done
# every sysctl that differs has its command in the dry run (the last run: all groups, --persist)
while read -r key _; do
  grep -qE "^sysctl -w '?$key=" "$tmp/dry.out" || fail "dry run has no command for $key (check.sh says DIFFERS)"
done < <(awk '$NF == "DIFFERS" && $1 ~ /^(net|fs|kernel)\./ {print $1}' "$tmp/check.out")
grep -q "90-shardgate.conf" "$tmp/dry.out" || fail "dry run with --persist shows no persist commands"
snapshot >"$tmp/after"
if diff -u "$tmp/before" "$tmp/after" >"$tmp/diff"; then
  pass "apply.sh all --dry-run (${#runs[@]} variants) printed commands and changed nothing"
else
  fail "dry run changed the host:"; cat "$tmp/diff" >&2
fi

# --- 3. nothing there: every knob n/a ---------------------------------------------------------------
mkdir -p "$tmp/empty"
rc=0
SG_ROOT=$tmp/empty "$here/check.sh" net cpu thp irq >"$tmp/empty.out" 2>"$tmp/empty.err" || rc=$?
[[ $rc == 0 && ! -s $tmp/empty.err ]] || fail "check.sh on an empty root: exit $rc, $(head -2 "$tmp/empty.err")"
n_na=$(grep -c ' n/a$' "$tmp/empty.out" || true)
((n_na >= 16)) || fail "check.sh on an empty root: only $n_na n/a rows"
rc=0
SG_ROOT=$tmp/empty "$here/apply.sh" all --dry-run >/dev/null 2>"$tmp/empty.err" || rc=$?
[[ $rc == 0 ]] || fail "apply.sh --dry-run on an empty root exited $rc"
pass "missing files read as n/a ($n_na rows), no errors"

# --- 4. round trip on a scratch tree ----------------------------------------------------------------
r=$tmp/root
put() { mkdir -p "$(dirname "$r/$1")"; printf '%s\n' "$2" >"$r/$1"; }
put proc/sys/net/core/somaxconn 128
put proc/sys/net/core/netdev_max_backlog 1000
put proc/sys/net/ipv4/tcp_max_syn_backlog 512
put proc/sys/net/ipv4/tcp_tw_reuse 2
put proc/sys/net/ipv4/ip_local_port_range $'1024\t60999'   # lower bound already wider: kept
put proc/sys/net/ipv4/tcp_fin_timeout 60
put proc/sys/net/core/rmem_max 212992
put proc/sys/net/core/wmem_max 33554432                    # already above: untouched
put proc/sys/net/ipv4/tcp_rmem $'4096\t131072\t6291456'
put proc/sys/net/ipv4/tcp_wmem $'4096\t16384\t4194304'
put proc/sys/net/core/busy_poll 0
put proc/sys/net/core/busy_read 50
put proc/sys/fs/nr_open 1048576
put proc/sys/fs/file-max 400000
put proc/sys/kernel/io_uring_disabled 2
put sys/kernel/mm/transparent_hugepage/enabled '[always] madvise never'
put sys/kernel/mm/transparent_hugepage/defrag 'always defer defer+madvise [madvise] never'
mkdir -p "$r/etc/sysctl.d"
printf 'net.core.somaxconn = 64\nvm.swappiness = 10\n' >"$r/etc/sysctl.d/90-shardgate.conf"
rc=0
SG_ROOT=$r "$here/apply.sh" net limits thp --persist >"$tmp/rt.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "apply.sh on the scratch tree exited $rc: $(tail -3 "$tmp/rt.out")"
rc=0
SG_ROOT=$r "$here/check.sh" net thp >"$tmp/rt.check" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "check.sh net thp after apply: exit $rc: $(grep DIFFERS "$tmp/rt.check")"
v() { tr '\t' ' ' <"$r/$1"; }
[[ $(v proc/sys/net/ipv4/ip_local_port_range) == "1024 65535" ]] || fail "port range: $(v proc/sys/net/ipv4/ip_local_port_range)"
[[ $(v proc/sys/net/core/wmem_max) == 33554432 ]] || fail "wmem_max was lowered"
[[ $(v proc/sys/net/ipv4/tcp_rmem) == "4096 131072 16777216" ]] || fail "tcp_rmem: $(v proc/sys/net/ipv4/tcp_rmem)"
[[ $(v proc/sys/kernel/io_uring_disabled) == 0 ]] || fail "io_uring_disabled not applied"
[[ $(v sys/kernel/mm/transparent_hugepage/enabled) == madvise ]] || fail "THP enabled not applied"
grep -q 'transparent_hugepage/defrag = madvise: already OK' "$tmp/rt.out" || fail "THP defrag touched although OK"
conf=$r/etc/sysctl.d/90-shardgate.conf
if [[ $(grep -c '^net.core.somaxconn' "$conf") != 1 ]] || ! grep -q '^net.core.somaxconn = 4096$' "$conf"; then
  fail "sysctl.d: somaxconn not replaced exactly once"
fi
grep -q '^vm.swappiness = 10$' "$conf" || fail "sysctl.d: a foreign line was removed"
grep -q '^fs.file-max = 2097152$' "$conf" || fail "sysctl.d: limits lines missing"
grep -q '^net.core.wmem_max = 33554432$' "$conf" || fail "sysctl.d: an already-better value was not persisted as is"
grep -q 'nofile *1048576' "$r/etc/security/limits.d/90-shardgate.conf" || fail "limits.d not written"
# a second run is idempotent: nothing left to change, no duplicate lines
SG_ROOT=$r "$here/apply.sh" net thp --persist >"$tmp/rt2.out" 2>&1 || fail "second apply failed"
grep -q '^+ sysctl\|^+ echo' "$tmp/rt2.out" && fail "second apply changed something: $(grep '^+ echo' "$tmp/rt2.out" | head -2)"
[[ $(grep -c '^net.ipv4.tcp_fin_timeout' "$conf") == 1 ]] || fail "sysctl.d: duplicate lines after a second run"
pass "scratch-tree round trip: applied, check OK, better values kept, persist files right, idempotent"

# --- 5. non-root real run is refused ---------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
  rc=0; "$here/apply.sh" net >"$tmp/nr.out" 2>&1 || rc=$?
elif command -v setpriv >/dev/null 2>&1; then
  rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups "$here/apply.sh" net >"$tmp/nr.out" 2>&1 || rc=$?
else
  rc=skip
fi
if [[ $rc == skip ]]; then
  echo "skip: non-root refusal (no setpriv)"
elif [[ $rc == 1 ]] && grep -q 'requires root' "$tmp/nr.out"; then
  pass "a real run without root is refused"
else
  fail "non-root real run: exit $rc, $(head -2 "$tmp/nr.out")"
fi
for args in "" "net --bogus" "irq --cores 0" "irq --nic lo --cores x-y"; do
  rc=0
  # shellcheck disable=SC2086
  unpriv "$here/apply.sh" $args --dry-run >/dev/null 2>&1 || rc=$?
  [[ $rc == 2 ]] || fail "apply.sh $args exited $rc, expected 2"
done
pass "apply.sh usage errors exit 2"
snapshot >"$tmp/after2"
diff -q "$tmp/before" "$tmp/after2" >/dev/null || fail "the host changed during the test"

# --- 6. shellcheck (slow: 5-20 s, so only with TUNING_SHELLCHECK=1, e.g. in a lint step) -------------
if [[ ${TUNING_SHELLCHECK:-0} != 1 ]]; then
  echo "skip: shellcheck (set TUNING_SHELLCHECK=1 to run it)"
elif command -v shellcheck >/dev/null 2>&1; then
  if (cd "$here" && shellcheck -x check.sh apply.sh lib.sh test.sh measure/measure.sh); then pass "shellcheck clean"; else fail "shellcheck"; fi
else
  echo "skip: shellcheck not installed"
fi

if ((fails)); then
  echo "tuning/test.sh: $fails failure(s)" >&2
  exit 1
fi
echo "tuning/test.sh: all passed"
