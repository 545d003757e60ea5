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

# Collapses tabs and runs of spaces (sysctl triples are tab-separated) into single spaces.
sg_norm() {
  local s=$*
  s=${s//$'\t'/ }
  while [[ $s == *"  "* ]]; do s=${s//  / }; done
  s=${s# }
  s=${s% }
  printf '%s' "$s"
}

# Prints the first line of a file, or nothing (status 1) when it does not exist or cannot be read.
sg_read() {
  local f=$1 line
  [[ -r $f ]] || return 1
  IFS= read -r line 2>/dev/null <"$f" || [[ -n ${line:-} ]] || return 1
  printf '%s' "$line"
}

sg_sysctl_path() {
  printf '%s/proc/sys/%s' "$SG_ROOT" "${1//.//}"
}

# Current value of a sysctl, normalised; status 1 when the key does not exist here.
sg_sysctl_get() {
  local v
  v=$(sg_read "$(sg_sysctl_path "$1")") || return 1
  sg_norm "$v"
}

sg_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# a >= b for non-negative integers of any length (values like 9223372036854775807 occur).
sg_ge() {
  local a b
  a=$(sg_strip0 "$1") b=$(sg_strip0 "$2")
  if ((${#a} != ${#b})); then ((${#a} > ${#b})); return; fi
  [[ $a > $b || $a == "$b" ]]
}
sg_strip0() {
  local s=$1
  while [[ ${#s} -gt 1 && $s == 0* ]]; do s=${s#0}; done
  printf '%s' "$s"
}

# sg_judge RULE CURRENT RECOMMENDED -> prints OK or DIFFERS
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
  if ((ok)); then printf OK; else printf DIFFERS; fi
}

# sg_target RULE CURRENT RECOMMENDED -> the value apply.sh sets: the recommendation, never lowering
# a field that is already better (a wider port range or a larger buffer maximum stays).
sg_target() {
  local rule=$1 cur=$2 rec=$3 lo hi
  local -a c r
  read -r -a c <<<"$cur"
  read -r -a r <<<"$rec"
  case $rule in
    range)
      lo=${r[0]} hi=${r[1]}
      if ((${#c[@]} == 2)) && sg_is_uint "${c[0]}" && sg_is_uint "${c[1]}"; then
        sg_ge "$lo" "${c[0]}" && lo=${c[0]}
        sg_ge "${c[1]}" "$hi" && hi=${c[1]}
      fi
      printf '%s %s' "$lo" "$hi" ;;
    tmax)
      if ((${#c[@]} == 3)); then printf '%s %s %s' "${c[0]}" "${c[1]}" "${r[2]}"; else printf '%s' "$rec"; fi ;;
    oneof) printf '%s' "${rec%%|*}" ;;
    *) printf '%s' "$rec" ;;
  esac
}

# How the recommendation is shown to a human.
sg_rec_text() {
  local rule=$1 rec=$2
  local -a r
  read -r -a r <<<"$rec"
  case $rule in
    min) printf '>= %s' "$rec" ;;
    max) printf '<= %s' "$rec" ;;
    eq) printf '%s' "$rec" ;;
    range) printf '%s %s or wider' "${r[0]}" "${r[1]}" ;;
    tmax) printf 'max >= %s' "${r[2]}" ;;
    limit) printf '>= %s or unlimited' "$rec" ;;
    oneof) printf '%s' "${rec//|/ or }" ;;
  esac
}

# --- resource limits ------------------------------------------------------------------------------

# sg_limit_get PID|"" RESOURCE SOFT|HARD -> value ("unlimited" or a number; memlock in KiB).
# With a pid, read from /proc/PID/limits (the running gateway); without, this shell's limits.
sg_limit_get() {
  local pid=$1 res=$2 which=$3 line label v
  local -a f
  if [[ -z $pid ]]; then
    case $res/$which in
      nofile/soft) ulimit -Sn ;;
      nofile/hard) ulimit -Hn ;;
      memlock/soft) ulimit -Sl ;;
      memlock/hard) ulimit -Hl ;;
    esac
    return
  fi
  case $res in
    nofile) label='Max open files' ;;
    memlock) label='Max locked memory' ;;
  esac
  [[ -r $SG_ROOT/proc/$pid/limits ]] || return 1
  line=$(grep -m1 "^$label" "$SG_ROOT/proc/$pid/limits") || return 1
  line=${line#"$label"}
  read -r -a f <<<"$line"
  if [[ $which == soft ]]; then v=${f[0]}; else v=${f[1]}; fi
  if [[ $res == memlock && $v != unlimited ]]; then v=$((v / 1024)); fi
  printf '%s' "$v"
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
  local v
  v=$(sg_read "$1") || return 1
  if [[ $v =~ \[([^]]+)\] ]]; then printf '%s' "${BASH_REMATCH[1]}"; else printf '%s' "$v"; fi
}

sg_thp_dir() { printf '%s/sys/kernel/mm/transparent_hugepage' "$SG_ROOT"; }

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
      irq=$(sg_read "$dev/irq" 2>/dev/null) || irq=0
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

# Current smp_affinity_list of an IRQ, or nothing.
sg_irq_affinity() { sg_read "$SG_ROOT/proc/irq/$1/smp_affinity_list"; }

# "running" / "not running" / "n/a" (no way to tell).
sg_irqbalance_status() {
  local p comm
  if [[ -z $SG_ROOT ]] && command -v pgrep >/dev/null 2>&1; then
    if pgrep -x irqbalance >/dev/null 2>&1; then printf running; else printf 'not running'; fi
    return
  fi
  [[ -d $SG_ROOT/proc ]] || { printf n/a; return; }
  for p in "$SG_ROOT"/proc/[0-9]*; do
    comm=$(sg_read "$p/comm" 2>/dev/null) || continue
    [[ $comm == irqbalance ]] && { printf running; return; }
  done
  printf 'not running'
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

# The value of a kernel command line parameter (isolcpus=..., nohz_full=...), or nothing.
sg_cmdline_param() {
  local cmdline w
  cmdline=$(sg_read "$SG_ROOT/proc/cmdline") || return 1
  for w in $cmdline; do
    [[ $w == -- ]] && break
    [[ $w == "$1="* ]] && { printf '%s' "${w#*=}"; return 0; }
  done
  return 1
}
