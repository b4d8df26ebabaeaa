#!/usr/bin/env bash
# Runs fuzz targets one after another (the machine is shared: never two at once), each for
# SECONDS, from the seed corpus (seed.sh). Full libFuzzer logs go to loadtest/fuzz/logs/.
#   loadtest/fuzz/run.sh SECONDS [TARGET...]      (default: every target)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:?usage: run.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
[[ -d corpus ]] || ./seed.sh
mkdir -p logs
cargo +nightly fuzz build -O -a
for target in "${targets[@]}"; do
    # Small-input parsers have 4-8 KiB bounds (chunk line, request head, read size): let
    # inputs grow past them. The others take libFuzzer's default (the largest seed).
    extra=()
    case "$target" in
        http_* | ws_* | static_ct_checkpoint) extra=(-max_len=16384) ;;
    esac
    echo "== $target: ${seconds}s ${extra[*]}"
    set +e
    cargo +nightly fuzz run -O -a "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "${extra[@]}" >"logs/$target.log" 2>&1
    status=$?
    set -e
    echo "   exit $status; $(grep -E '^stat::number_of_executed_units' "logs/$target.log" || true)"
done
