#!/usr/bin/env bash
# Memory benchmark: RSS per buffered span for 10k, 100k and 1M held traces, then CPU per span
# with ~10k vs ~1M live traces at a fixed rate. Prints tables; writes bench-results/memory-*.json.
# Options go to bench.py (e.g. --traces 10000,100000 --flat-rate 200000 --skip-flat); see README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 benches/e2e/bench.py memory "$@"
