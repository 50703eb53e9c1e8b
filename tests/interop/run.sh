#!/usr/bin/env bash
# Interop test with the real JavaScript client: installs @automerge/automerge-repo and its
# WebSocket adapter (2.5.6, pinned in package-lock.json), builds and starts `sansang demo` on a
# free port with a fresh SQLite database, runs interop.test.mjs with node:test against it, stops
# the server; then the burst test (burst.test.mjs: ten stock phones on one token, every household
# must reach the server) against a fresh demo on SQLite and one on PostgreSQL (a database created
# and dropped here; skipped when no PostgreSQL answers, a failure under CI=true). Exits non-zero
# when a suite fails. Needs Node 20 or newer and npm.
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

failed=0
start_demo interop 24
run_node interop "$here" interop.test.mjs || failed=1
stop_demo

# The burst's phones share one device token: the per-token sync limits are lifted, as for the
# benchmark (they are what a token may cost, not what this test is about).
export SANSANG_SYNC_MESSAGES_PER_SECOND=1000000 SANSANG_SYNC_MESSAGE_BURST=1000000
export SANSANG_SYNC_INFLIGHT_MESSAGES_PER_TOKEN=100000 SANSANG_SYNC_CONNECTIONS_PER_TOKEN=100000
# Pings every 2 s instead of 15: the phones queue seconds of messages on their sockets, so a
# server that took a busy socket (its pong behind its messages) for a silent one dropped some of
# them mid-burst, which wedges the stock client's documents; this makes that happen in every run.
export SANSANG_SYNC_PING_INTERVAL_SECONDS=2
start_demo burst-sqlite 1
run_node "burst on SQLite" "$here" burst.test.mjs || failed=1
stop_demo

"$here/../../scripts/ensure-postgres"
pg=postgres://postgres@127.0.0.1:5432
burst_db=sansang_burst_$$
if psql "$pg/postgres" -qc "create database $burst_db" >/dev/null 2>&1; then
    start_demo burst-postgres 1 "$pg/$burst_db"
    run_node "burst on PostgreSQL" "$here" burst.test.mjs || failed=1
    stop_demo
    psql "$pg/postgres" -qc "drop database if exists $burst_db" >/dev/null 2>&1 || true
elif [[ "${CI:-}" == true ]]; then
    echo "burst: no PostgreSQL at 127.0.0.1:5432" >&2
    failed=1
else
    echo "burst: no PostgreSQL at 127.0.0.1:5432; the PostgreSQL burst is skipped"
fi
exit "$failed"
