#!/usr/bin/env bash
# Shows (default) or applies (--apply) the host settings described in tuning/README.md.
set -euo pipefail

declare -A WANT=(
  [net.core.somaxconn]=4096
  [net.ipv4.tcp_max_syn_backlog]=4096
  [net.ipv4.tcp_wmem]="4096 65536 4194304"
  [net.ipv4.ip_local_port_range]="10000 65000"
)

show() {
  printf '%-34s %-24s %s\n' "setting" "current" "recommended"
  for key in "${!WANT[@]}"; do
    printf '%-34s %-24s %s\n' "$key" "$(sysctl -n "$key" 2>/dev/null | tr '\t' ' ' || echo n/a)" "${WANT[$key]}"
  done
  printf '%-34s %-24s %s\n' "kernel.io_uring_disabled" "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo n/a)" "0"
  printf '%-34s %-24s %s\n' "ulimit -l (KiB)" "$(ulimit -l)" ">= 512 per executor"
  printf '%-34s %-24s %s\n' "ulimit -n" "$(ulimit -n)" ">= clients + 1024"
  printf '%-34s %-24s %s\n' "transparent_hugepage" "$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo n/a)" "madvise"
}

apply() {
  [ "$(id -u)" = 0 ] || { echo "--apply needs root" >&2; exit 1; }
  for key in "${!WANT[@]}"; do
    sysctl -w "$key=${WANT[$key]}"
  done
}

case "${1:-}" in
  --apply) apply ;;
  ""|--show) show ;;
  *) echo "usage: $0 [--show|--apply]" >&2; exit 2 ;;
esac
