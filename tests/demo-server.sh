# Sourced by the JavaScript suites (tests/interop/run.sh, tests/browser/run.sh): builds the
# server, starts `sansang demo` on a free port with a fresh SQLite database in a temporary
# folder, and waits until it serves. After `start_demo NAME HOUSEHOLDS [DATABASE_URL]` the caller
# has `url`, `credentials` (the demo's JSON file), `data_dir` and `stderr_log`; the server stops
# and the folder goes when the caller's shell exits, or at `stop_demo`; `run_node` runs node:test
# files against it. With DATABASE_URL (a PostgreSQL database) the demo is stored there instead
# of in SQLite. Variables `SANSANG_SYNC_*` of the caller's environment reach the server.
# shellcheck shell=bash

start_demo() {
    local name=$1 households=$2 database=${3:-}
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sansang-target}

    echo "== $name: cargo build -p sansang-server"
    (cd "$root" && cargo build -p sansang-server --locked --quiet)

    data_dir="$(mktemp -d "${TMPDIR:-/tmp}/sansang-$name.XXXXXX")"
    server_pid=""
    trap _stop_demo EXIT

    local stdout_log="$data_dir/stdout.log"
    stderr_log="$data_dir/stderr.log"
    local database_env=(-u SANSANG_DATABASE_URL)
    [[ -n "$database" ]] && database_env=(SANSANG_DATABASE_URL="$database")
    env -u SANSANG_CONFIG -u SANSANG_PUBLIC_URL -u SANSANG_PHOTO_STORE "${database_env[@]}" \
        SANSANG_DATA_DIR="$data_dir" SANSANG_LISTEN=127.0.0.1:0 \
        "$CARGO_TARGET_DIR/debug/sansang" demo --households "$households" >"$stdout_log" 2>"$stderr_log" &
    server_pid=$!

    # The demo prints "  open http://…" and then "  saved to <credentials>" once it serves.
    url=""
    credentials=""
    for _ in $(seq 1 600); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$name: the server exited before serving; its output:" >&2
            cat "$stdout_log" "$stderr_log" >&2
            exit 1
        fi
        url="$(sed -n 's/^ *open \(http:\/\/[^ ]*\).*$/\1/p' "$stdout_log" | head -n 1)"
        credentials="$(sed -n 's/^ *saved to \(.*\)$/\1/p' "$stdout_log" | head -n 1)"
        if [[ -n "$url" && -n "$credentials" ]]; then
            echo "== $name: server at $url"
            return 0
        fi
        sleep 0.1
    done
    echo "$name: the server did not print its URL and credentials within 60 s; its output:" >&2
    cat "$stdout_log" "$stderr_log" >&2
    exit 1
}

# run_node NAME DIR ARG...: `node --test` with ARG... (options, test files) in DIR against the
# demo started last (SANSANG_URL, SANSANG_CREDENTIALS), in TAP, so the run ends with
# node:test's "# tests N", "# pass N", "# fail N" lines; on failure the server's log and that
# summary again. Returns node's status.
run_node() {
    local name=$1 dir=$2 node_log="$data_dir/node.log" status
    shift 2
    set +e
    (cd "$dir" && SANSANG_URL="$url" SANSANG_CREDENTIALS="$credentials" \
        node --test --test-reporter=tap "$@") 2>&1 | tee "$node_log"
    status=${PIPESTATUS[0]}
    set -e
    if ((status != 0)); then
        echo "$name: failed; the server's log (last 100 lines):"
        tail -n 100 "$stderr_log"
        echo "$name: node:test summary again:"
        grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$node_log" || true
    fi
    return "$status"
}

stop_demo() { _stop_demo; server_pid=""; data_dir=""; }

_stop_demo() {
    if [[ -n "${server_pid:-}" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    [[ -n "${data_dir:-}" ]] && rm -rf "$data_dir"
    # The caller's exit status, not this test's: an EXIT trap's status would replace it.
    return 0
}
