#!/usr/bin/env bash
# shardgate host tuning: applies the recommendations of check.sh, but only for the groups the
# operator names, and only the knobs that differ. Nothing outside the named groups is touched.
# --dry-run prints the exact commands (a runnable script) and changes nothing.
# --persist also writes /etc/sysctl.d/90-shardgate.conf and /etc/security/limits.d/90-shardgate.conf.
# Each knob is explained in tuning/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
  cat <<'EOF'
usage: apply.sh [--dry-run] [--persist] [options] GROUP...

GROUP (one or more; nothing is changed outside them):
  net      somaxconn, netdev_max_backlog, tcp_max_syn_backlog, tcp_tw_reuse, ip_local_port_range,
           tcp_fin_timeout, rmem_max/wmem_max, tcp_rmem/tcp_wmem (max only), busy_poll/busy_read
  limits   fs.nr_open, fs.file-max, kernel.io_uring_disabled; ulimit -n/-l of a running process
           with --pid; PAM limits with --persist
  cpu      cpufreq governor -> performance (core isolation needs the kernel command line: advice only)
  thp      transparent hugepages: enabled=madvise, defrag=madvise (only if they are set otherwise)
  irq      spread the NIC's IRQs over the given cores, one core per IRQ, round robin
           (needs --nic NIC --cores LIST)
  all      net limits cpu thp, and irq when --nic and --cores are given

options:
  --dry-run         print the exact commands, change nothing (no root needed)
  --persist         also write /etc/sysctl.d/90-shardgate.conf (net, limits) and
                    /etc/security/limits.d/90-shardgate.conf (limits)
  --busy-poll USEC  value for net.core.busy_poll/busy_read (default 0 = off; see README)
  --pid PID         limits: raise ulimit -n / -l of this running process (prlimit)
  --nic NIC         irq: the interface whose IRQs to pin
  --cores LIST      irq: cpus, e.g. 0-3 or 0,2,4-5

Real runs need root. Exit status: 0 done, 1 a change failed or not root, 2 usage error.
EOF
}

die_usage() { echo "apply.sh: $*  (apply.sh --help for usage)" >&2; exit 2; }

dry=0 persist=0 pid='' nic='' cores='' all=0
groups=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    -n | --dry-run) dry=1; shift ;;
    --persist) persist=1; shift ;;
    --busy-poll) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die_usage "--busy-poll needs microseconds"
      SG_BUSY_POLL=$2; shift 2 ;;
    --pid) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die_usage "--pid needs a process id"
      pid=$2; shift 2 ;;
    --nic) [[ $# -ge 2 && -n $2 && $2 != -* ]] || die_usage "--nic needs an interface name"
      nic=$2; shift 2 ;;
    --cores) [[ $# -ge 2 && -n $2 && $2 != -* ]] || die_usage "--cores needs a cpu list"
      cores=$2; shift 2 ;;
    net | limits | cpu | thp | irq) groups+=("$1"); shift ;;
    all) groups+=(net limits cpu thp); all=1; shift ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done
((${#groups[@]})) || die_usage "name at least one group (net, limits, cpu, thp, irq, all)"
want() { [[ " ${groups[*]} " == *" $1 "* ]]; }

# `all` includes irq when --nic or --cores is given (both are then required).
if ((all)) && [[ -n $nic$cores ]] && ! want irq; then groups+=(irq); fi
irq_cores=()
if want irq; then
  [[ -n $nic && -n $cores ]] || die_usage "irq needs --nic NIC and --cores LIST"
  [[ -e $SG_ROOT/sys/class/net/$nic ]] || die_usage "no network interface '$nic'"
  mapfile -t irq_cores < <(sg_expand_cpus "$cores") || true
  ((${#irq_cores[@]})) || die_usage "malformed cpu list '$cores' (expected e.g. 0-3 or 0,2,4-5)"
  if sg_read "$SG_ROOT/sys/devices/system/cpu/online"; then
    online=$REPLY
    mapfile -t online_cpus < <(sg_expand_cpus "$online") || true
    for c in "${irq_cores[@]}"; do
      [[ " ${online_cpus[*]} " == *" $c "* ]] || die_usage "cpu $c is not online (online: $online)"
    done
  fi
fi
if [[ -n $pid && ! -r $SG_ROOT/proc/$pid/limits ]]; then die_usage "no process $pid"; fi

# Real runs need root (SG_ROOT, a test hook, redirects every write into a scratch tree instead).
if ((!dry)) && [[ -z $SG_ROOT ]] && [[ $(id -u) -ne 0 ]]; then
  echo "apply.sh: changing kernel settings requires root: run it with sudo," >&2
  echo "          or add --dry-run to print the commands without changing anything." >&2
  exit 1
fi

changed=0 failed=0

# Quotes arguments for a shell, leaving plain words bare.
q() {
  local out='' a
  for a in "$@"; do
    if [[ -n $a && $a =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
      out+="$a "
    else
      out+="'${a//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}

say() { printf '# %s\n' "$*"; }

# Shows a command (bare in a dry run, so the output is a script; "+ " before it in a real run) and
# runs it unless this is a dry run. A failure is counted and reported; the other knobs still apply.
show() { if ((dry)); then printf '%s\n' "$1"; else printf '+ %s\n' "$1"; fi; }
run() {
  show "$(q "$@")"
  ((dry)) && return 0
  if "$@"; then changed=$((changed + 1)); else failed=$((failed + 1)); echo "! failed: $(q "$@")" >&2; fi
}
run_write() { # VALUE FILE
  show "echo $(q "$1") > $(q "$2")"
  ((dry)) && return 0
  if { printf '%s\n' "$1" >"$2"; } 2>/dev/null; then changed=$((changed + 1)); else
    failed=$((failed + 1)); echo "! failed: writing '$1' to $2" >&2
  fi
}
run_lines() { # >|>> FILE LINE...
  local op=$1 file=$2
  shift 2
  show "printf '%s\\n' $(q "$@") $op $(q "$file")"
  ((dry)) && return 0
  local ok=0
  if [[ $op == '>' ]]; then printf '%s\n' "$@" >"$file" && ok=1; else printf '%s\n' "$@" >>"$file" && ok=1; fi
  if ((ok)); then changed=$((changed + 1)); else failed=$((failed + 1)); echo "! failed: writing $file" >&2; fi
}

sysctl_set() { # KEY VALUE
  if [[ -z $SG_ROOT ]] && command -v sysctl >/dev/null 2>&1; then
    run sysctl -w "$1=$2"
  else
    sg_sysctl_path "$1"
    run_write "$2" "$REPLY"
  fi
}

SYSCTL_FILE=$SG_ROOT/etc/sysctl.d/90-shardgate.conf
sysctl_file_started=''
LIMITS_FILE=$SG_ROOT/etc/security/limits.d/90-shardgate.conf

# Replaces the given keys' lines in the shared sysctl.d file (net and limits both write to it).
persist_sysctl() { # "key = value"...
  local line key
  local -a sed_args=()
  run mkdir -p "${SYSCTL_FILE%/*}"
  if [[ ! -e $SYSCTL_FILE && -z $sysctl_file_started ]]; then
    sysctl_file_started=1
    run_lines '>' "$SYSCTL_FILE" "# shardgate host tuning, written by tuning/apply.sh --persist (see tuning/README.md)." \
      "# Loaded at boot by systemd-sysctl (or procps); apply now with: sysctl --system"
  fi
  for line in "$@"; do
    key=${line%% =*}
    sed_args+=(-e "/^[[:space:]]*${key//./\\.}[[:space:]]*=/d")
  done
  run sed -i "${sed_args[@]}" "$SYSCTL_FILE"
  run_lines '>>' "$SYSCTL_FILE" "$@"
}

apply_sysctls() { # GROUP
  local group=$1 g key rule rec cur target
  local -a lines=()
  while IFS='|' read -r g key rule rec; do
    [[ $g == "$group" ]] || continue
    if ! sg_sysctl_get "$key"; then
      say "$key: n/a on this host, skipped"
      continue
    fi
    cur=$REPLY
    sg_judge "$rule" "$cur" "$rec"
    if [[ $REPLY == OK ]]; then
      say "$key = $cur: already OK"
      target=$cur
    else
      sg_target "$rule" "$cur" "$rec"
      target=$REPLY
      say "$key: $cur -> $target"
      sysctl_set "$key" "$target"
    fi
    lines+=("$key = $target")
  done < <(sg_sysctl_table)
  if ((persist && ${#lines[@]})); then
    say "persisting to $SYSCTL_FILE"
    persist_sysctl "${lines[@]}"
  fi
}

# ulimit target (REPLY): the current value when it already meets the recommendation, else the
# recommendation.
limit_target() { # CURRENT RECOMMENDED
  sg_judge limit "$1" "$2"
  if [[ $REPLY == OK ]]; then REPLY=$1; else REPLY=$2; fi
}

apply_limits() {
  apply_sysctls limits
  if [[ -n $pid ]]; then
    local ns nh ls lh tns tnh tls tlh
    sg_limit_get "$pid" nofile soft; ns=$REPLY
    sg_limit_get "$pid" nofile hard; nh=$REPLY
    sg_limit_get "$pid" memlock soft; ls=$REPLY
    sg_limit_get "$pid" memlock hard; lh=$REPLY
    limit_target "$ns" "$SG_REC_NOFILE"; tns=$REPLY
    limit_target "$nh" "$SG_REC_NOFILE"; tnh=$REPLY
    limit_target "$ls" "$SG_REC_MEMLOCK_KIB"; tls=$REPLY
    limit_target "$lh" "$SG_REC_MEMLOCK_KIB"; tlh=$REPLY
    if [[ $ns:$nh:$ls:$lh == "$tns:$tnh:$tls:$tlh" ]]; then
      say "pid $pid: ulimit -n $ns/$nh, ulimit -l $ls/$lh KiB: already OK"
    else
      say "pid $pid: ulimit -n $ns/$nh -> $tns/$tnh, ulimit -l $ls/$lh -> $tls/$tlh KiB"
      # prlimit takes bytes for memlock
      local bls=$tls blh=$tlh
      [[ $bls == unlimited ]] || bls=$((bls * 1024))
      [[ $blh == unlimited ]] || blh=$((blh * 1024))
      run prlimit --pid "$pid" "--nofile=$tns:$tnh" "--memlock=$bls:$blh"
    fi
  else
    say "ulimit -n / -l are per process: for the gateway set LimitNOFILE=$SG_REC_NOFILE and"
    say "LimitMEMLOCK=$((SG_REC_MEMLOCK_KIB / 1024))M in its systemd unit (README), or pass --pid PID"
    say "to raise them on a running gateway; --persist writes PAM limits for login sessions."
  fi
  if ((persist)); then
    say "persisting to $LIMITS_FILE (PAM login sessions; systemd services use LimitNOFILE=/LimitMEMLOCK=)"
    run mkdir -p "${LIMITS_FILE%/*}"
    run_lines '>' "$LIMITS_FILE" \
      "# shardgate host tuning, written by tuning/apply.sh limits --persist (see tuning/README.md)." \
      "# '*' does not match root in pam_limits, hence the root lines." \
      "*     soft  nofile   $SG_REC_NOFILE" \
      "*     hard  nofile   $SG_REC_NOFILE" \
      "root  soft  nofile   $SG_REC_NOFILE" \
      "root  hard  nofile   $SG_REC_NOFILE" \
      "*     soft  memlock  $SG_REC_MEMLOCK_KIB" \
      "*     hard  memlock  $SG_REC_MEMLOCK_KIB" \
      "root  soft  memlock  $SG_REC_MEMLOCK_KIB" \
      "root  hard  memlock  $SG_REC_MEMLOCK_KIB"
  fi
}

apply_cpu() {
  local -a govs
  local f cpu cur avail
  mapfile -t govs < <(sg_governor_files)
  if ((${#govs[@]} == 0)); then
    say "cpufreq governor: n/a (no cpufreq on this host: VM, container or no driver), nothing to do"
  fi
  for f in "${govs[@]}"; do
    cpu=${f%/cpufreq/scaling_governor}
    cpu=${cpu##*/}
    sg_read "$f" || { say "$cpu governor: unreadable, skipped"; continue; }
    cur=$REPLY
    if [[ $cur == "$SG_REC_GOVERNOR" ]]; then
      say "$cpu governor = $cur: already OK"
      continue
    fi
    if sg_read "${f%/*}/scaling_available_governors"; then avail=$REPLY; else avail=''; fi
    if [[ -n $avail && " $avail " != *" $SG_REC_GOVERNOR "* ]]; then
      say "$cpu governor: $cur; '$SG_REC_GOVERNOR' not offered by the driver ($avail), skipped"
      continue
    fi
    say "$cpu governor: $cur -> $SG_REC_GOVERNOR"
    run_write "$SG_REC_GOVERNOR" "$f"
  done
  say "core isolation (isolcpus=/nohz_full=/rcu_nocbs=) is a kernel command line change: not done"
  say "here; see README 'Isolated cores' for the boot parameters and server.pin_cores."
  if ((persist)); then
    say "governor not persisted by this script: use cpufreq.default_governor=performance on the"
    say "kernel command line, or your distribution's cpupower/tuned service."
  fi
}

apply_thp() {
  local d=$SG_THP_DIR name cur ok target
  for name in enabled defrag; do
    if [[ $name == enabled ]]; then ok=$SG_THP_ENABLED_OK; else ok=$SG_THP_DEFRAG_OK; fi
    if ! sg_bracketed "$d/$name"; then
      say "transparent_hugepage/$name: n/a on this host, skipped"
      continue
    fi
    cur=$REPLY
    sg_judge oneof "$cur" "$ok"
    if [[ $REPLY == OK ]]; then
      say "transparent_hugepage/$name = $cur: already OK"
      continue
    fi
    target=${ok%%|*}
    say "transparent_hugepage/$name: $cur -> $target"
    run_write "$target" "$d/$name"
  done
  if ((persist)); then
    say "THP not persisted by this script: add transparent_hugepage=madvise to the kernel command line."
  fi
}

apply_irq() {
  local -a irqs
  local i n=${#irq_cores[@]} idx=0 core cur
  mapfile -t irqs < <(sg_nic_irqs "$nic")
  if ((${#irqs[@]} == 0)); then
    echo "apply.sh: no IRQs found for $nic (virtual interface?)" >&2
    failed=$((failed + 1))
    return
  fi
  sg_irqbalance_status
  if [[ $REPLY == running ]]; then
    say "WARNING: irqbalance is running and will move these IRQs again; stop it, or exclude the"
    say "cores with IRQBALANCE_BANNED_CPULIST / ban the IRQs. This script does not touch it."
  fi
  for i in "${irqs[@]}"; do
    core=${irq_cores[idx % n]}
    idx=$((idx + 1))
    sg_irq_affinity "$i" || { say "irq $i: no smp_affinity_list, skipped"; continue; }
    cur=$REPLY
    if [[ $cur == "$core" ]]; then
      say "irq $i ($nic): already on cpu $core"
      continue
    fi
    say "irq $i ($nic): cpus $cur -> $core"
    run_write "$core" "$SG_ROOT/proc/irq/$i/smp_affinity_list"
  done
  if ((persist)); then
    say "IRQ affinity is not persisted by this script (it resets at boot and when the driver reloads);"
    say "re-run it from a boot unit, or configure irqbalance."
  fi
}

if ((dry)); then
  say "dry run: the commands below are what a real run would execute; nothing is changed"
fi
for g in net limits cpu thp irq; do
  want "$g" || continue
  say "== $g =="
  case $g in
    net) apply_sysctls net ;;
    limits) apply_limits ;;
    cpu) apply_cpu ;;
    thp) apply_thp ;;
    irq) apply_irq ;;
  esac
done
if ((all)) && ! want irq; then
  say "== irq == skipped: needs --nic NIC --cores LIST"
fi

if ((dry)); then
  exit 0
fi
say "done: $changed change(s), $failed failure(s); verify with: $here/check.sh"
((failed == 0))
