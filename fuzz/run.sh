#!/usr/bin/env bash
# Runs the fuzz targets: builds them once, then runs each for a fixed time over its corpus in
# fuzz/corpus/<target>/ (read only: new inputs go to a scratch directory). Exits non-zero on
# the first crash, printing the reproducer (base64) and how to replay it.
#
#   fuzz/run.sh                      every target for 20 s (what CI runs)
#   fuzz/run.sh 600 ingest           one target for 10 minutes
#   FUZZ_JOBS=2 fuzz/run.sh 3600     every target for an hour each, two processes per target
#
# Needs the nightly toolchain (rustup) and cargo-fuzz (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
shift || true

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The instrumented build is kept outside the work tree, so that CI runs in fresh clones on the
# same machine rebuild only what changed.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-${HOME:-/tmp}/.cache/tailsift/fuzz-target}
# Debug assertions on: overflow checks and debug_assert! are part of what is fuzzed.
flags=(-a)

started=$(date +%s)
cargo +nightly fuzz build "${flags[@]}"
echo "fuzz: built in $(( $(date +%s) - started )) s"

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "artifacts/$t"
    opts=(-max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1)
    if [ -f "dict/$t.dict" ]; then opts+=(-dict="dict/$t.dict"); fi
    if [ -n "${FUZZ_JOBS:-}" ]; then opts+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
    echo "== fuzz $t for ${secs} s"
    if ! cargo +nightly fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- "${opts[@]}" \
        >"$scratch/$t.log" 2>&1; then
        tail -n 40 "$scratch/$t.log"
        grep -m 1 -A 2 "panicked at" "$scratch/$t.log" || true
        for crash in $(ls -t "artifacts/$t"/* 2>/dev/null | head -n 1); do
            echo "fuzz: $t failed on $crash; reproduce with: cargo +nightly fuzz run -a $t $crash"
            echo "fuzz: the input, base64: $(base64 -w0 "$crash")"
        done
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^Done" "$scratch/$t.log" || true
done
echo "fuzz: done in $(( $(date +%s) - started )) s"
