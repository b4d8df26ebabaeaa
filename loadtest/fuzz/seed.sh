#!/usr/bin/env bash
# Builds the seed corpus of every fuzz target in loadtest/fuzz/corpus/<target>/ from the CT
# test data (default: loadtest/fixtures/ctdata, the copy of shared/ctdata), plus the kept
# regression inputs of loadtest/fixtures/fuzz-regressions/<target>/.
#   loadtest/fuzz/seed.sh [CTDATA_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
args=(--out loadtest/fuzz/corpus)
if [[ $# -gt 0 ]]; then
    args+=(--ctdata "$1")
fi
cargo run -q -p loadtest --bin fuzz-seeds -- "${args[@]}"
for dir in loadtest/fixtures/fuzz-regressions/*/; do
    [[ -d "$dir" ]] || continue
    target="$(basename "$dir")"
    mkdir -p "loadtest/fuzz/corpus/$target"
    cp -- "$dir"* "loadtest/fuzz/corpus/$target/" 2>/dev/null || true
done
