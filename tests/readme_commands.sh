#!/usr/bin/env bash
# Runs the README's two newcomer commands exactly as written, so they cannot drift:
#   quick-start: must build and start the daemon on config.example.yaml with no backend; the
#                script sends one error trace over OTLP/HTTP, stops the daemon with SIGTERM and
#                checks the trace was kept (written to kept-traces.jsonl) and the exit code is 0.
#   tests:       the test command, run as the last step; its exit code is this script's.
# Each command is the first line of the ```sh block after its `<!-- readme-command: NAME -->`
# marker in README.md. Usage: tests/readme_commands.sh [quick-start|tests|all] (default all).
set -euo pipefail
cd "$(dirname "$0")/.."

command_of() {
    local name=$1
    awk -v marker="<!-- readme-command: $name -->" '
        $0 == marker { found = 1; next }
        found && /^```/ { if (inblock) exit; inblock = 1; next }
        found && inblock { print; exit }
    ' README.md
}

quick_start() {
    local cmd
    cmd=$(command_of quick-start)
    [ -n "$cmd" ] || { echo "README.md has no quick-start command" >&2; return 1; }
    echo "== README quick-start: $cmd"
    local work log out
    work=$(mktemp -d)
    log="$work/daemon.log"
    rm -f kept-traces.jsonl
    # Its own process group, so SIGTERM reaches the daemon and not only `cargo run`.
    setsid bash -c "$cmd" >"$log" 2>&1 &
    local pid=$!
    local ready=""
    # The first release build takes minutes on a fresh machine: wait up to 20 minutes.
    for _ in $(seq 1 1200); do
        if curl -fsS -o /dev/null http://127.0.0.1:8888/readyz 2>/dev/null; then
            ready=1
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 1
    done
    if [ -z "$ready" ]; then
        echo "the quick-start daemon did not become ready; its output:" >&2
        tail -n 50 "$log" >&2
        kill -TERM -- "-$pid" 2>/dev/null || true
        return 1
    fi
    # One trace whose span failed: the example's `errors` rule keeps it.
    local trace=5b8efff798038103d269b633813fc60c
    local now
    now=$(date +%s%N)
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
        --data "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"readme\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":\"$trace\",\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"GET /\",\"startTimeUnixNano\":\"$now\",\"endTimeUnixNano\":\"$now\",\"status\":{\"code\":2}}]}]}]}" \
        http://127.0.0.1:4318/v1/traces
    curl -fsS http://127.0.0.1:8888/metrics | grep -q '^tailsift_receiver_accepted_spans_total' \
        || { echo "/metrics does not show accepted spans" >&2; kill -TERM -- "-$pid"; return 1; }
    kill -TERM -- "-$pid"
    local rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "the quick-start daemon exited with $rc after SIGTERM; its output:" >&2
        tail -n 50 "$log" >&2
        return 1
    fi
    grep -q "$trace" kept-traces.jsonl \
        || { echo "the error trace was not written to kept-traces.jsonl" >&2; return 1; }
    rm -f kept-traces.jsonl
    rm -rf "$work"
    echo "quick-start: built, served, kept the error trace, stopped cleanly"
}

tests() {
    local cmd
    cmd=$(command_of tests)
    [ -n "$cmd" ] || { echo "README.md has no test command" >&2; return 1; }
    echo "== README test command: $cmd"
    bash -c "$cmd"
}

case "${1:-all}" in
    quick-start) quick_start ;;
    tests) tests ;;
    all) quick_start && tests ;;
    *) echo "usage: $0 [quick-start|tests|all]" >&2; exit 2 ;;
esac
