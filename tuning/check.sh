#!/usr/bin/env bash
# shardgate host check: prints, for every tuning knob, the current value, the recommended value and
# OK / DIFFERS (n/a where the knob does not exist on this host, INFO for report-only items).
# Changes nothing. Exit status: 0 all OK, 1 something differs, 2 usage error.
# Each knob is explained in tuning/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

die_usage() { echo "check.sh: $*  (check.sh --help for usage)" >&2; exit 2; }
usage() {
  cat <<'EOF'
usage: check.sh [--pid PID] [--busy-poll USEC] [--nic NIC] [GROUP...]

Prints every knob with its current value, the recommended value and OK / DIFFERS. Changes nothing.

  GROUP            net, limits, cpu, thp, irq (default: all of them)
  --pid PID        read ulimit -n / -l of a running process (the gateway) instead of this shell
  --busy-poll USEC the busy-poll value you intend (default 0 = off; see README)
  --nic NIC        report IRQ affinity of this NIC only (default: every NIC backed by a device)

Exit status: 0 every knob OK (or n/a / report-only), 1 at least one DIFFERS, 2 usage error.
EOF
}

pid=
nic=
groups=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --pid) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die_usage "--pid needs a process id"
      pid=$2; shift 2 ;;
    --busy-poll) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die_usage "--busy-poll needs microseconds"
      SG_BUSY_POLL=$2; shift 2 ;;
    --nic) [[ $# -ge 2 && -n $2 && $2 != -* ]] || die_usage "--nic needs an interface name"
      nic=$2; shift 2 ;;
    net | limits | cpu | thp | irq) groups+=("$1"); shift ;;
    all) groups+=(net limits cpu thp irq); shift ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done
((${#groups[@]})) || groups=(net limits cpu thp irq)
if [[ -n $pid && ! -r $SG_ROOT/proc/$pid/limits ]]; then
  die_usage "no process $pid (cannot read /proc/$pid/limits)"
fi
want() { [[ " ${groups[*]} " == *" $1 "* ]]; }

n_ok=0 n_diff=0 n_na=0 n_info=0
row() { # label current recommended status [note]
  local cur=${2:-}
  [[ -n $cur ]] || cur='""'
  printf '%-36s %-24s %-28s %s\n' "$1" "$cur" "$3" "$4"
  case $4 in
    OK) n_ok=$((n_ok + 1)) ;;
    DIFFERS) n_diff=$((n_diff + 1)) ;;
    n/a) n_na=$((n_na + 1)) ;;
    *) n_info=$((n_info + 1)) ;;
  esac
  if [[ -n ${5:-} ]]; then printf '    note: %s\n' "$5"; fi
}

if sg_read /proc/sys/kernel/osrelease; then kernel=$REPLY; else kernel=unknown; fi
if sg_read /proc/sys/kernel/hostname; then host=$REPLY; else host=host; fi
if sg_read "$SG_ROOT/sys/devices/system/cpu/online"; then online=$REPLY; else online=n/a; fi
printf 'shardgate host check: %s, kernel %s, cpus online %s\n\n' "$host" "$kernel" "$online"
printf '%-36s %-24s %-28s %s\n' KNOB CURRENT RECOMMENDED STATUS

# --- sysctls (net, limits) ---
while IFS='|' read -r group key rule rec; do
  want "$group" || continue
  note=
  if sg_sysctl_get "$key"; then
    cur=$REPLY
    sg_judge "$rule" "$cur" "$rec"
    status=$REPLY
    case $key/$status in
      kernel.io_uring_disabled/DIFFERS)
        note="io_uring is restricted (1: only members of kernel.io_uring_group; 2: off); shardgate falls back to epoll" ;;
      net.ipv4.tcp_tw_reuse/DIFFERS)
        [[ $cur == 2 ]] && note="2 = loopback only; upstream connections to providers are not loopback" ;;
    esac
  else
    cur=n/a status=n/a
    [[ $key == kernel.io_uring_disabled ]] && note="sysctl absent (kernel < 6.6): io_uring is not restricted by it"
  fi
  sg_rec_text "$rule" "$rec"
  row "$key" "$cur" "$REPLY" "$status" "$note"
done < <(sg_sysctl_table)

# --- resource limits (limits) ---
if want limits; then
  if [[ -n $pid ]]; then who="pid $pid"; else who="this shell"; fi
  for res in nofile memlock; do
    for which in soft hard; do
      if [[ $res == nofile ]]; then
        label="ulimit -n ($which, $who)" rec=$SG_REC_NOFILE
      else
        label="ulimit -l ($which, $who, KiB)" rec=$SG_REC_MEMLOCK_KIB
      fi
      note=
      if sg_limit_get "$pid" "$res" "$which" && [[ -n $REPLY ]]; then
        cur=$REPLY
        sg_judge limit "$cur" "$rec"
        status=$REPLY
      else
        cur=n/a status=n/a
      fi
      if [[ $res/$which == memlock/hard ]]; then
        case $kernel in
          [0-4].* | 5.[0-9].* | 5.1[01].*)
            note="kernel $kernel < 5.12: each io_uring ring (about 400 KiB at 4096 entries) is charged to this limit, per user" ;;
          *) note="kernel >= 5.12 charges io_uring rings to the memory cgroup; memlock still bounds registered buffers" ;;
        esac
      fi
      if [[ $res/$which == nofile/hard && -z $pid ]]; then
        note="limits of this shell; the gateway's come from its unit (LimitNOFILE=): check it with --pid \$(pgrep -x shardgate)"
      fi
      sg_rec_text limit "$rec"
      row "$label" "$cur" "$REPLY" "$status" "$note"
    done
  done
fi

# --- CPU: governor and isolation (cpu) ---
if want cpu; then
  mapfile -t govs < <(sg_governor_files)
  if ((${#govs[@]} == 0)); then
    row "cpufreq governor" n/a "$SG_REC_GOVERNOR" n/a "no cpufreq (VM, container, or no cpufreq driver): the hypervisor/firmware decides"
  else
    for f in "${govs[@]}"; do
      cpu=${f%/cpufreq/scaling_governor}
      cpu=${cpu##*/}
      if sg_read "$f"; then
        cur=$REPLY
        sg_judge oneof "$cur" "$SG_REC_GOVERNOR"
        status=$REPLY
      else
        cur=n/a status=n/a
      fi
      row "cpufreq governor ($cpu)" "$cur" "$SG_REC_GOVERNOR" "$status"
    done
  fi
  if sg_read "$SG_ROOT/sys/devices/system/cpu/isolated"; then
    iso=${REPLY:-none}
  else
    iso=n/a
  fi
  row "isolated cores" "$iso" "optional: the shard cores" INFO
  for p in isolcpus nohz_full rcu_nocbs; do
    if [[ -r $SG_ROOT/proc/cmdline ]]; then
      if sg_cmdline_param "$p"; then v=$REPLY; else v="(not set)"; fi
    else
      v=n/a
    fi
    row "kernel cmdline $p" "$v" "optional: the shard cores" INFO
  done
fi

# --- transparent hugepages (thp) ---
if want thp; then
  if sg_bracketed "$SG_THP_DIR/enabled"; then
    cur=$REPLY
    sg_judge oneof "$cur" "$SG_THP_ENABLED_OK"
    row "transparent_hugepage/enabled" "$cur" "madvise (or never)" "$REPLY"
  else
    row "transparent_hugepage/enabled" n/a "madvise (or never)" n/a
  fi
  if sg_bracketed "$SG_THP_DIR/defrag"; then
    cur=$REPLY
    sg_judge oneof "$cur" "$SG_THP_DEFRAG_OK"
    row "transparent_hugepage/defrag" "$cur" "not always (madvise)" "$REPLY"
  else
    row "transparent_hugepage/defrag" n/a "not always (madvise)" n/a
  fi
fi

# --- IRQ affinity and irqbalance (irq; report only) ---
if want irq; then
  sg_irqbalance_status
  ib=$REPLY
  ib_note=
  [[ $ib == running ]] && ib_note="irqbalance moves IRQs on its own; to pin NIC queues, stop it or set IRQBALANCE_BANNED_CPULIST"
  row "irqbalance" "$ib" "report only" INFO "$ib_note"
  if [[ -n $nic ]]; then nics=("$nic"); else mapfile -t nics < <(sg_nics); fi
  if ((${#nics[@]} == 0)); then
    row "irq affinity" n/a "report only" n/a "no NIC backed by a device (container or no /sys/class/net)"
  fi
  for n in "${nics[@]}"; do
    mapfile -t irqs < <(sg_nic_irqs "$n")
    if ((${#irqs[@]} == 0)); then
      row "irq affinity $n" n/a "report only" n/a "no IRQs found for $n"
      continue
    fi
    aff=()
    for i in "${irqs[@]}"; do
      if sg_irq_affinity "$i"; then aff+=("$i:$REPLY"); else aff+=("$i:?"); fi
    done
    row "irq affinity $n" "${aff[*]}" "report only (irq:cpus)" INFO
  done
fi

printf '\n%d OK, %d DIFFERS, %d n/a, %d report-only\n' "$n_ok" "$n_diff" "$n_na" "$n_info"
if ((n_diff > 0)); then
  echo "to apply: sudo $here/apply.sh GROUP [--dry-run] [--persist]   (see $here/README.md)"
  exit 1
fi
exit 0
