# shellcheck shell=bash
# Shared by check.sh and apply.sh: the knobs, their recommended values, how a current value is
# read (defensively: a file that does not exist is "n/a", never an error) and how it is judged.
# Sourced, not run. Every function only reads; nothing here changes the host.

# Root of the filesystem the knobs are read from. Empty on a real host; the test points it at an
# empty directory to check that every knob degrades to "n/a" (as in a container without /sys).
SG_ROOT=${SG_ROOT:-}

# Recommended values. One place, so check.sh and apply.sh can never disagree.
# shellcheck disable=SC2034 # used by the scripts that source this file
SG_REC_NOFILE=1048576          # ulimit -n, soft and hard (LimitNOFILE=)
# shellcheck disable=SC2034
SG_REC_MEMLOCK_KIB=65536       # ulimit -l in KiB, or unlimited (LimitMEMLOCK=)
# shellcheck disable=SC2034
SG_REC_GOVERNOR=performance
# Accepted THP settings, "|"-separated; the first is the one apply.sh writes.
# shellcheck disable=SC2034
SG_THP_ENABLED_OK="madvise|never"
# shellcheck disable=SC2034
SG_THP_DEFRAG_OK="madvise|defer+madvise|defer|never"
SG_BUSY_POLL=${SG_BUSY_POLL:-0}  # µs; 0 = off. --busy-poll N in both scripts sets what is wanted.

# The sysctls: group|key|rule|recommended. Rules:
#   min    current >= recommended              max   current <= recommended
#   eq     current == recommended              range "lo hi": current lo <= lo and hi >= hi
#   tmax   "min default max" triple: only max must be >= recommended max (min/default kept)
sg_sysctl_table() {
  cat <<EOF
net|net.core.somaxconn|min|4096
net|net.core.netdev_max_backlog|min|16384
net|net.ipv4.tcp_max_syn_backlog|min|8192
net|net.ipv4.tcp_tw_reuse|eq|1
net|net.ipv4.ip_local_port_range|range|10000 65535
net|net.ipv4.tcp_fin_timeout|max|15
net|net.core.rmem_max|min|16777216
net|net.core.wmem_max|min|16777216
net|net.ipv4.tcp_rmem|tmax|4096 131072 16777216
net|net.ipv4.tcp_wmem|tmax|4096 16384 16777216
net|net.core.busy_poll|eq|${SG_BUSY_POLL}
net|net.core.busy_read|eq|${SG_BUSY_POLL}
limits|fs.nr_open|min|1048576
limits|fs.file-max|min|2097152
limits|kernel.io_uring_disabled|eq|0
EOF
}

# Functions return their value in REPLY (no subshell, no fork: check.sh stays fast on a loaded host)
# and their success in the exit status.

# Collapses tabs and runs of spaces (sysctl triples are tab-separated) into single spaces.
sg_norm() {
  local s=$*
  s=${s//$'\t'/ }
  while [[ $s == *"  "* ]]; do s=${s//  / }; done
  s=${s# }
  REPLY=${s% }
}

# The first line of a file; status 1 when it does not exist or cannot be read.
sg_read() {
  local f=$1 line=''
  REPLY=''
  [[ -r $f ]] || return 1
  IFS= read -r line 2>/dev/null <"$f" || [[ -n $line ]] || return 1
  REPLY=$line
}

sg_sysctl_path() {
  local k=$1
  REPLY=$SG_ROOT/proc/sys/${k//.//}
}

# Current value of a sysctl, normalised; status 1 when the key does not exist here.
sg_sysctl_get() {
  sg_sysctl_path "$1"
  sg_read "$REPLY" || return 1
  sg_norm "$REPLY"
}

sg_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# a >= b for non-negative integers of any length (values like 9223372036854775807 occur).
sg_ge() {
  local a=$1 b=$2
  a=${a#"${a%%[!0]*}"} b=${b#"${b%%[!0]*}"}
  a=${a:-0} b=${b:-0}
  if ((${#a} != ${#b})); then ((${#a} > ${#b})); return; fi
  [[ $a > $b || $a == "$b" ]]
}

# sg_judge RULE CURRENT RECOMMENDED -> REPLY=OK or DIFFERS
sg_judge() {
  local rule=$1 cur=$2 rec=$3 ok=0
  local -a c r
  read -r -a c <<<"$cur"
  read -r -a r <<<"$rec"
  case $rule in
    min) sg_is_uint "$cur" && sg_ge "$cur" "$rec" && ok=1 ;;
    max) sg_is_uint "$cur" && sg_ge "$rec" "$cur" && ok=1 ;;
    eq) [[ $cur == "$rec" ]] && ok=1 ;;
    range)
      ((${#c[@]} == 2)) && sg_is_uint "${c[0]}" && sg_is_uint "${c[1]}" &&
        sg_ge "${r[0]}" "${c[0]}" && sg_ge "${c[1]}" "${r[1]}" && ok=1 ;;
    tmax) ((${#c[@]} == 3)) && sg_is_uint "${c[2]}" && sg_ge "${c[2]}" "${r[2]}" && ok=1 ;;
    limit) # ulimit-style: "unlimited" or a number >= recommended
      { [[ $cur == unlimited ]] || { sg_is_uint "$cur" && sg_ge "$cur" "$rec"; }; } && ok=1 ;;
    oneof) [[ "|$rec|" == *"|$cur|"* ]] && ok=1 ;;
  esac
  if ((ok)); then REPLY=OK; else REPLY=DIFFERS; fi
}

# sg_target RULE CURRENT RECOMMENDED -> REPLY = the value apply.sh sets: the recommendation, never
# lowering a field that is already better (a wider port range or a larger buffer maximum stays).
sg_target() {
  local rule=$1 cur=$2 rec=$3 lo hi
  local -a c r
  read -r -a c <<<"$cur"
  read -r -a r <<<"$rec"
  REPLY=$rec
  case $rule in
    range)
      lo=${r[0]} hi=${r[1]}
      if ((${#c[@]} == 2)) && sg_is_uint "${c[0]}" && sg_is_uint "${c[1]}"; then
        if sg_ge "$lo" "${c[0]}"; then lo=${c[0]}; fi
        if sg_ge "${c[1]}" "$hi"; then hi=${c[1]}; fi
      fi
      REPLY="$lo $hi" ;;
    tmax) if ((${#c[@]} == 3)); then REPLY="${c[0]} ${c[1]} ${r[2]}"; fi ;;
    oneof) REPLY=${rec%%|*} ;;
  esac
}

# How the recommendation is shown to a human.
sg_rec_text() {
  local rule=$1 rec=$2
  local -a r
  read -r -a r <<<"$rec"
  case $rule in
    min) REPLY=">= $rec" ;;
    max) REPLY="<= $rec" ;;
    eq) REPLY=$rec ;;
    range) REPLY="${r[0]} ${r[1]} or wider" ;;
    tmax) REPLY="max >= ${r[2]}" ;;
    limit) REPLY=">= $rec or unlimited" ;;
    oneof) REPLY=${rec//|/ or } ;;
  esac
}

# --- resource limits ------------------------------------------------------------------------------

# sg_limit_get PID|"" RESOURCE SOFT|HARD -> REPLY ("unlimited" or a number; memlock in KiB).
# With a pid, read from /proc/PID/limits (the running gateway); without, this shell's limits.
sg_limit_get() {
  local pid=$1 res=$2 which=$3 line label file
  local -a f
  REPLY=''
  case $res in
    nofile) label='Max open files' ;;
    memlock) label='Max locked memory' ;;
  esac
  if [[ -n $pid ]]; then file=$SG_ROOT/proc/$pid/limits; else file=/proc/$$/limits; fi
  if [[ ! -r $file ]]; then
    [[ -z $pid ]] || return 1
    case $res/$which in # no /proc: ask the shell
      nofile/soft) REPLY=$(ulimit -Sn) ;;
      nofile/hard) REPLY=$(ulimit -Hn) ;;
      memlock/soft) REPLY=$(ulimit -Sl) ;;
      memlock/hard) REPLY=$(ulimit -Hl) ;;
    esac
    return 0
  fi
  while IFS= read -r line; do
    [[ $line == "$label "* ]] || continue
    read -r -a f <<<"${line#"$label"}"
    if [[ $which == soft ]]; then REPLY=${f[0]}; else REPLY=${f[1]}; fi
    if [[ $res == memlock && $REPLY =~ ^[0-9]+$ ]]; then REPLY=$((REPLY / 1024)); fi
    return 0
  done <"$file"
  return 1
}

# --- CPU, THP -------------------------------------------------------------------------------------

# The cpufreq governor files that exist (one per cpu with a cpufreq policy), one per line.
sg_governor_files() {
  local f
  for f in "$SG_ROOT"/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor; do
    [[ -e $f ]] && printf '%s\n' "$f"
  done
  return 0
}

# The selected word of a sysfs multiple-choice file: "always [madvise] never" -> madvise.
sg_bracketed() {
  sg_read "$1" || return 1
  if [[ $REPLY =~ \[([^]]+)\] ]]; then REPLY=${BASH_REMATCH[1]}; fi
}

# shellcheck disable=SC2034
SG_THP_DIR=$SG_ROOT/sys/kernel/mm/transparent_hugepage

# --- NICs and IRQs --------------------------------------------------------------------------------

# Physical (or paravirtual) NICs: interfaces backed by a device, not lo/bridges/veth/ifb.
sg_nics() {
  local d
  for d in "$SG_ROOT"/sys/class/net/*; do
    [[ -e $d/device ]] && printf '%s\n' "${d##*/}"
  done
  return 0
}

# The IRQ numbers of a NIC, sorted, one per line: the MSI/MSI-X vectors of its device (for virtio
# the PCI parent holds them), its legacy irq, and /proc/interrupts lines naming it; without the
# vectors /proc/interrupts names "...-config" (virtio's configuration-change interrupt, no traffic).
sg_nic_irqs() {
  local nic=$1 dev='' name='' irq f
  dev=$(readlink -f "$SG_ROOT/sys/class/net/$nic/device" 2>/dev/null) || dev=''
  [[ -n $dev ]] && name=${dev##*/}
  {
    if [[ -n $dev ]]; then
      for f in "$dev"/msi_irqs/* "$dev"/../msi_irqs/*; do
        [[ -e $f ]] || continue
        # the parent only counts for virtio devices (virtioN under a PCI function)
        if [[ $f == "$dev/../"* && $name != virtio* ]]; then continue; fi
        printf '%s\n' "${f##*/}"
      done
      if sg_read "$dev/irq"; then irq=$REPLY; else irq=0; fi
      if [[ $irq =~ ^[1-9][0-9]*$ ]]; then printf '%s\n' "$irq"; fi
    fi
    if [[ -r $SG_ROOT/proc/interrupts ]]; then
      awk -v nic="$nic" -v dn="$name" '
        { n = $NF; sub(":", "", $1) }
        $1 ~ /^[0-9]+$/ && (n == nic || index(n, nic "-") == 1 || (dn != "" && index(n, dn "-") == 1)) { print $1 }
      ' "$SG_ROOT/proc/interrupts"
    fi
  } | sort -n -u | {
    if [[ -r $SG_ROOT/proc/interrupts ]]; then
      awk 'NR == FNR { n = $NF; sub(":", "", $1); if (n ~ /-config$/) skip[$1] = 1; next } !($1 in skip)' \
        "$SG_ROOT/proc/interrupts" -
    else
      cat
    fi
  }
}

# Current smp_affinity_list of an IRQ in REPLY; status 1 when there is none.
sg_irq_affinity() { sg_read "$SG_ROOT/proc/irq/$1/smp_affinity_list"; }

# REPLY = "running" / "not running" / "n/a" (no /proc to look in).
sg_irqbalance_status() {
  local p
  REPLY=n/a
  [[ -d $SG_ROOT/proc ]] || return 0
  REPLY='not running'
  for p in "$SG_ROOT"/proc/[0-9]*/comm; do
    if sg_read "$p" && [[ $REPLY == irqbalance ]]; then REPLY=running; return 0; fi
  done
  REPLY='not running'
}

# Expands a cpu list ("0-3,6,8-9") to one cpu per line; status 1 on a malformed list.
sg_expand_cpus() {
  local list=$1 part a b
  [[ $list =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || return 1
  IFS=, read -r -a parts <<<"$list"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then
      a=${part%-*} b=${part#*-}
      ((10#$a <= 10#$b)) || return 1
      seq "$((10#$a))" "$((10#$b))"
    else
      printf '%s\n' "$((10#$part))"
    fi
  done
}

# REPLY = the value of a kernel command line parameter (isolcpus=..., nohz_full=...);
# status 1 when it is not set (or there is no /proc/cmdline).
sg_cmdline_param() {
  local w
  local -a words
  sg_read "$SG_ROOT/proc/cmdline" || return 1
  read -r -a words <<<"$REPLY"
  REPLY=''
  for w in "${words[@]}"; do
    [[ $w == -- ]] && break
    if [[ $w == "$1="* ]]; then REPLY=${w#*=}; return 0; fi
  done
  return 1
}
