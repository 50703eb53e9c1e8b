#!/usr/bin/env bash
# Several servers behind a real load balancer: HAProxy (Debian's package, installed here when
# missing and this runs as root) in front of two servers over one PostgreSQL database (created
# and dropped here), and tests/interop/cluster.test.mjs driving stock automerge-repo phones
# through it; server A is killed with SIGKILL half-way. Needs Node 20+, npm and PostgreSQL on
# 127.0.0.1:5432 (scripts/ensure-postgres starts it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
interop="$root/tests/interop"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sansang-target}

if ! command -v haproxy >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "== cluster: installing haproxy from Debian's packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    else
        echo "cluster: haproxy is not installed (apt-get install haproxy)" >&2
        exit 1
    fi
fi

"$root/scripts/ensure-postgres"
pg=postgres://postgres@127.0.0.1:5432
db=sansang_cluster_$$
psql "$pg/postgres" -qc "create database $db" >/dev/null

(cd "$interop" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work="$(mktemp -d "${TMPDIR:-/tmp}/sansang-cluster.XXXXXX")"
b_pid="" proxy_pid=""
cleanup() {
    for pid in $proxy_pid $b_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    _stop_demo
    psql "$pg/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    rm -rf "$work"
}

# shellcheck source=../demo-server.sh
source "$root/tests/demo-server.sh"
export SANSANG_TRUSTED_PROXIES='["127.0.0.1"]'
# Server A: the demo on the database (it creates the commune, accounts and phones).
start_demo cluster-a 5 "$pg/$db"
trap cleanup EXIT
a_url=$url

# Server B: the same database, its own data folder and port.
b_port=$(free_port)
mkdir -p "$work/b"
env -u SANSANG_CONFIG -u SANSANG_PUBLIC_URL -u SANSANG_PHOTO_STORE \
    SANSANG_DATABASE_URL="$pg/$db" SANSANG_DATA_DIR="$work/b" SANSANG_LISTEN="127.0.0.1:$b_port" \
    "$CARGO_TARGET_DIR/debug/sansang" serve >"$work/b.log" 2>&1 &
b_pid=$!
b_url="http://127.0.0.1:$b_port"
for _ in $(seq 1 300); do
    curl -fsS "$b_url/healthz" >/dev/null 2>&1 && break
    kill -0 "$b_pid" 2>/dev/null || { echo "cluster: server B exited:" >&2; cat "$work/b.log" >&2; exit 1; }
    sleep 0.1
done
echo "== cluster: server A at $a_url, server B at $b_url"

proxy_port=$(free_port)
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option redispatch
    retries 3
    option forwardfor
frontend sansang
    bind 127.0.0.1:$proxy_port
    default_backend servers
backend servers
    balance roundrobin
    option httpchk GET /healthz
    server a ${a_url#http://} check inter 500ms fall 2 rise 1
    server b 127.0.0.1:$b_port check inter 500ms fall 2 rise 1
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
proxy_pid=$!
proxy_url="http://127.0.0.1:$proxy_port"
for _ in $(seq 1 100); do
    curl -fsS "$proxy_url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== cluster: HAProxy at $proxy_url"

set +e
(cd "$interop" && SANSANG_URL="$proxy_url" SANSANG_CREDENTIALS="$credentials" \
    SANSANG_SERVERS="$a_url,$b_url" SANSANG_KILL_PID="$server_pid" \
    node --test --test-reporter=tap cluster.test.mjs) 2>&1 | tee "$work/node.log"
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
    echo "cluster: failed; server A's log (last 60 lines):"
    tail -n 60 "$stderr_log" || true
    echo "cluster: server B's log (last 60 lines):"
    tail -n 60 "$work/b.log" || true
    echo "cluster: HAProxy's log:"
    tail -n 30 "$work/haproxy.log" || true
fi
exit "$status"
