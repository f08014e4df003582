#!/usr/bin/env bash
# Builds the peers tailsift is tested against, from source, with Go:
#   otelcol-peer  the OpenTelemetry Collector (core and contrib v0.161.0): OTLP receiver,
#                 tail_sampling processor, loadbalancing, OTLP, OTLP/HTTP and file exporters
#                 (tests/peers/collector/main.go);
#   jaeger        Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger v1.75.0), in-memory
#                 store and OTLP receivers (tests/peers/jaeger/go.mod).
# Each binary goes to $TAILSIFT_PEERS_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/tailsift/peers)
# under <name>-<version>/, outside the repository. A binary is built only when it is missing or
# its module files changed (a stamp beside it holds their checksum); Go's module and build caches
# make a rebuild cheap. The tests find the binaries at the same paths (tests/peers/mod.rs), or at
# $TAILSIFT_OTELCOL_BIN and $TAILSIFT_JAEGER_BIN.
# Usage: tests/peers/build.sh [collector|jaeger|all] (default all). Prints each binary's path.
set -euo pipefail
cd "$(dirname "$0")"

COLLECTOR_VERSION=0.161.0
JAEGER_VERSION=1.75.0
dir=${TAILSIFT_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tailsift/peers}
# Only the module proxy: a module it refuses must fail here, not fall back to a VCS checkout.
export GOPROXY=${GOPROXY_PEERS:-https://proxy.golang.org}
export GOFLAGS=-mod=readonly

command -v go >/dev/null || { echo "build.sh: Go is not installed (need go >= 1.26)" >&2; exit 1; }

# build NAME VERSION MODULE_DIR OUTPUT PACKAGE
build() {
    local name=$1 version=$2 module=$3 out=$4 package=$5
    local target="$dir/$name-$version/$out"
    local sum
    sum=$(cat "$module"/go.mod "$module"/go.sum $(ls "$module"/*.go 2>/dev/null) | sha256sum | cut -c1-16)
    if [ -x "$target" ] && [ "$(cat "$target.stamp" 2>/dev/null)" = "$sum" ]; then
        echo "$name $version: up to date at $target" >&2
        echo "$target"
        return
    fi
    mkdir -p "$(dirname "$target")"
    local started=$(date +%s)
    echo "$name $version: building into $target (the first build takes minutes)" >&2
    (cd "$module" && go build -trimpath -o "$target.tmp" "$package")
    mv "$target.tmp" "$target"
    echo "$sum" > "$target.stamp"
    echo "$name $version: built in $(( $(date +%s) - started )) s" >&2
    echo "$target"
}

case "${1:-all}" in
    collector) build otelcol "$COLLECTOR_VERSION" collector otelcol-peer . ;;
    jaeger) build jaeger "$JAEGER_VERSION" jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger ;;
    all)
        build otelcol "$COLLECTOR_VERSION" collector otelcol-peer .
        build jaeger "$JAEGER_VERSION" jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger
        ;;
    *) echo "usage: $0 [collector|jaeger|all]" >&2; exit 2 ;;
esac
