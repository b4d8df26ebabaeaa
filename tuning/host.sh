#!/usr/bin/env bash
# Shows (default) or applies (--apply [--persist]) the host settings of tuning/README.md.
#
#   tuning/host.sh            show every knob: current value, recommendation, verdict
#   tuning/host.sh --apply    set the sysctls now (root); everything else is advice only
#   tuning/host.sh --apply --persist   also write /etc/sysctl.d/60-certstream.conf
#
# Only sysctls are ever changed. Limits, IRQ affinity, CPU isolation and THP need the unit
# file, a reboot or a decision about the host layout, so they are shown with what to do.
set -euo pipefail

SYSCTL_FILE=/etc/sysctl.d/60-certstream.conf

# name | recommended | kind: "min" (at least, first field compared) or "eq" (exactly)
SYSCTLS=(
  "net.core.somaxconn|4096|min"
  "net.ipv4.tcp_max_syn_backlog|4096|min"
  "net.core.netdev_max_backlog|16384|min"
  "net.ipv4.tcp_wmem|4096 65536 4194304|eq"
  "net.ipv4.ip_local_port_range|10000 65000|eq"
)

row() { printf '%-34s %-26s %-26s %s\n' "$1" "$2" "$3" "$4"; }

sysctl_value() { sysctl -n "$1" 2>/dev/null | tr -s '\t ' ' ' || echo "n/a"; }

verdict() { # current recommended kind
  local cur=$1 want=$2 kind=$3
  [ "$cur" = "n/a" ] && { echo "unreadable"; return; }
  if [ "$kind" = min ]; then
    [ "${cur%% *}" -ge "${want%% *}" ] 2>/dev/null && echo ok || echo "raise"
  else
    [ "$cur" = "$want" ] && echo ok || echo "differs"
  fi
}

show_sysctls() {
  for entry in "${SYSCTLS[@]}"; do
    IFS='|' read -r key want kind <<<"$entry"
    local cur; cur=$(sysctl_value "$key")
    row "$key" "$cur" "$want" "$(verdict "$cur" "$want" "$kind")"
  done
}

show_io_uring() {
  local v; v=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo "n/a (kernel < 6.6: allowed unless seccomp blocks it)")
  row "kernel.io_uring_disabled" "$v" "0" "$([ "$v" = 0 ] && echo ok || echo check)"
  if grep -qs Seccomp:.*2 /proc/self/status; then
    row "seccomp filter on this shell" "yes" "allows io_uring_*" "check (containers often block io_uring)"
  fi
}

show_limits() {
  local l n; l=$(ulimit -l); n=$(ulimit -n)
  row "ulimit -l (KiB)" "$l" ">= 512 per executor" "$([ "$l" = unlimited ] || [ "$l" -ge $((512 * $(nproc))) ] && echo ok || echo "raise (LimitMEMLOCK=)")"
  row "ulimit -n" "$n" ">= clients + 1024" "$([ "$n" = unlimited ] || [ "$n" -ge 65536 ] && echo ok || echo "raise (LimitNOFILE=)")"
}

show_memory() {
  local thp; thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo n/a)
  row "transparent_hugepage" "$thp" "madvise or never" "$([ "$thp" = always ] && echo "set madvise" || echo ok)"
  local swap; swap=$(awk '/SwapTotal/ {print $2}' /proc/meminfo)
  row "swap (KiB) / swappiness" "$swap / $(sysctl_value vm.swappiness)" "0 or swappiness 1" "$([ "$swap" = 0 ] && echo ok || echo check)"
}

show_cpus() {
  local iso; iso=$(cat /sys/devices/system/cpu/isolated 2>/dev/null || true)
  row "isolated CPUs" "${iso:-none}" "executor cores" "$([ -n "$iso" ] && echo "run with CPUAffinity=$iso" || echo "optional")"
  row "this shell's CPU affinity" "$(taskset -pc $$ 2>/dev/null | sed 's/.*: //')" "" "executors pin one per CPU in the mask"
}

show_nics() {
  local dev
  for dev in /sys/class/net/*; do
    local name; name=$(basename "$dev")
    [ "$name" = lo ] && continue
    [ -d "$dev/queues" ] || continue
    local rx tx; rx=$(ls -d "$dev"/queues/rx-* 2>/dev/null | wc -l); tx=$(ls -d "$dev"/queues/tx-* 2>/dev/null | wc -l)
    row "nic $name queues (rx/tx)" "$rx/$tx" ">= executors" "$([ "$rx" -ge "$(nproc)" ] && echo ok || echo "few queues: consider RPS")"
    local q
    for q in "$dev"/queues/rx-*; do
      [ -r "$q/rps_cpus" ] && row "  $(basename "$q") rps_cpus" "$(cat "$q/rps_cpus")" "" ""
    done
    for q in "$dev"/queues/tx-*; do
      [ -r "$q/xps_cpus" ] && row "  $(basename "$q") xps_cpus" "$(cat "$q/xps_cpus" 2>/dev/null || echo n/a)" "" ""
    done
    local irq
    for irq in $(grep -E "$name" /proc/interrupts 2>/dev/null | cut -d: -f1 | tr -d ' '); do
      row "  irq $irq smp_affinity_list" "$(cat /proc/irq/"$irq"/smp_affinity_list 2>/dev/null || echo n/a)" "" ""
    done
  done
  if pgrep -x irqbalance >/dev/null 2>&1; then
    row "irqbalance" "running" "off when pinning IRQs" "check"
  fi
}

show() {
  row "setting" "current" "recommended" "verdict"
  show_sysctls
  show_io_uring
  show_limits
  show_memory
  show_cpus
  show_nics
  echo
  echo "See tuning/README.md for why, and how to measure each knob with the loadtest harness."
}

apply() {
  [ "$(id -u)" = 0 ] || { echo "--apply needs root" >&2; exit 1; }
  local persist=$1 entry key want kind
  for entry in "${SYSCTLS[@]}"; do
    IFS='|' read -r key want kind <<<"$entry"
    local cur; cur=$(sysctl_value "$key")
    if [ "$kind" = min ] && [ "$(verdict "$cur" "$want" min)" = ok ]; then
      echo "$key already $cur (>= $want)"
      continue
    fi
    sysctl -w "$key=$want"
  done
  if [ "$persist" = yes ]; then
    {
      echo "# certstream host settings (tuning/README.md), written by tuning/host.sh"
      for entry in "${SYSCTLS[@]}"; do
        IFS='|' read -r key want kind <<<"$entry"
        echo "$key = $want"
      done
    } >"$SYSCTL_FILE"
    echo "wrote $SYSCTL_FILE"
  fi
  echo "Limits (LimitNOFILE, LimitMEMLOCK) are set by systemd/certstream.service;"
  echo "IRQ affinity, CPU isolation and THP are host decisions: see tuning/README.md."
}

case "${1:-}" in
  "" | --show) show ;;
  --apply)
    case "${2:-}" in
      "") apply no ;;
      --persist) apply yes ;;
      *) echo "usage: $0 [--show | --apply [--persist]]" >&2; exit 2 ;;
    esac
    ;;
  *) echo "usage: $0 [--show | --apply [--persist]]" >&2; exit 2 ;;
esac
