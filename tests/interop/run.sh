#!/usr/bin/env bash
# Interop test with the real JavaScript client: installs @automerge/automerge-repo and its
# WebSocket adapter (2.5.6, pinned in package-lock.json), builds and starts `sansang demo` on a
# free port with a fresh SQLite database, runs interop.test.mjs with node:test against it, stops
# the server. Exits with node's status. Needs Node 20 or newer and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sansang-target}

if ! command -v node >/dev/null 2>&1; then
    echo "interop: node is not installed; Node 20 or newer is needed" >&2
    exit 1
fi
node_version="$(node --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
if ! [[ "$node_major" =~ ^[0-9]+$ ]] || ((node_major < 20)); then
    echo "interop: Node $node_version is too old; Node 20 or newer is needed" >&2
    exit 1
fi

echo "== interop: npm ci (node $node_version)"
# No install scripts: cbor-extract, cbor-x's optional native decoder, ships prebuilt binaries as
# packages (and cbor-x falls back to JavaScript without it). package.json overrides it to 2.2.2:
# the npm registry reached from the project's machines has no 2.2.3 platform packages, which left
# package-lock.json without them and `npm ci` refusing the lock as out of sync.
(cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

echo "== interop: cargo build -p sansang-server"
(cd "$root" && cargo build -p sansang-server --locked --quiet)

data_dir="$(mktemp -d "${TMPDIR:-/tmp}/sansang-interop.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$data_dir"
}
trap cleanup EXIT

stdout_log="$data_dir/stdout.log"
stderr_log="$data_dir/stderr.log"
env -u SANSANG_DATABASE_URL -u SANSANG_CONFIG -u SANSANG_PUBLIC_URL -u SANSANG_PHOTO_STORE \
    SANSANG_DATA_DIR="$data_dir" SANSANG_LISTEN=127.0.0.1:0 \
    "$CARGO_TARGET_DIR/debug/sansang" demo --households 24 >"$stdout_log" 2>"$stderr_log" &
server_pid=$!

# The demo prints "  open http://…" and then "  saved to <credentials>" once it serves.
url=""
credentials=""
for _ in $(seq 1 600); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "interop: the server exited before serving; its output:" >&2
        cat "$stdout_log" "$stderr_log" >&2
        exit 1
    fi
    url="$(sed -n 's/^ *open \(http:\/\/[^ ]*\).*$/\1/p' "$stdout_log" | head -n 1)"
    credentials="$(sed -n 's/^ *saved to \(.*\)$/\1/p' "$stdout_log" | head -n 1)"
    if [[ -n "$url" && -n "$credentials" ]]; then
        break
    fi
    sleep 0.1
done
if [[ -z "$url" || -z "$credentials" ]]; then
    echo "interop: the server did not print its URL and credentials within 60 s; its output:" >&2
    cat "$stdout_log" "$stderr_log" >&2
    exit 1
fi
echo "== interop: server at $url"

# TAP, so the run ends with node:test's "# tests N", "# pass N", "# fail N" lines.
node_log="$data_dir/node.log"
set +e
(cd "$here" && SANSANG_URL="$url" SANSANG_CREDENTIALS="$credentials" \
    node --test --test-reporter=tap interop.test.mjs) 2>&1 | tee "$node_log"
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
    echo "interop: failed; the server's log (last 100 lines):"
    tail -n 100 "$stderr_log"
    echo "interop: node:test summary again:"
    grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$node_log" || true
fi
exit "$status"
