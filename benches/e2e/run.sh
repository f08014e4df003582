#!/usr/bin/env bash
# End-to-end benchmark: tailsift (keep errors + 10%, keep all), Rotel pass-through and the
# OpenTelemetry Collector with tail_sampling (keep errors + 10%) under the
# same OTLP/gRPC load into the same counting sink. Prints a table; writes bench-results/e2e-*.json.
# Options go to bench.py (e.g. --window 15 --warmup 4 --compression gzip --keep); see README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 benches/e2e/bench.py e2e "$@"
