#!/usr/bin/env bash
# Interop test with the real JavaScript client: installs @automerge/automerge-repo and its
# WebSocket adapter (2.5.6, pinned in package-lock.json), builds and starts `sansang demo` on a
# free port with a fresh SQLite database, runs interop.test.mjs with node:test against it, stops
# the server. Exits with node's status. Needs Node 20 or newer and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
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

# shellcheck source=../demo-server.sh
source "$here/../demo-server.sh"
start_demo interop 24

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
