#!/usr/bin/env bash
# Several servers behind a real load balancer: HAProxy (Debian's package, installed here when
# missing and this runs as root) in front of three servers over one PostgreSQL database (created
# and dropped here), and tests/interop/cluster.test.mjs driving stock automerge-repo phones
# through it; server A is killed with SIGKILL in the middle of a burst. Then `sansang simulate`
# runs a day of fieldwork through the proxy against the two servers left (phones whose
# connections drop at random, so they move between the servers) and must end with "no change
# lost". Needs Node 20+, npm and PostgreSQL on 127.0.0.1:5432 (scripts/ensure-postgres starts
# it).
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
others=() proxy_pid=""
cleanup() {
    for pid in $proxy_pid "${others[@]}"; do
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
# The phones share one hamlet's token; its budgets are shared out between the servers, so they
# are lifted here as in the interop burst (tests/interop/run.sh).
export SANSANG_SYNC_MESSAGES_PER_SECOND=1000000 SANSANG_SYNC_MESSAGE_BURST=1000000
export SANSANG_SYNC_INFLIGHT_MESSAGES_PER_TOKEN=100000 SANSANG_SYNC_CONNECTIONS_PER_TOKEN=100000
# Server A: the demo on the database (it creates the commune, accounts and phones).
start_demo cluster-a 5 "$pg/$db"
trap cleanup EXIT
a_url=$url

# Servers B and C: the same database, each its own data folder and port.
urls=("$a_url")
for name in b c; do
    port=$(free_port)
    mkdir -p "$work/$name"
    env -u SANSANG_CONFIG -u SANSANG_PUBLIC_URL -u SANSANG_PHOTO_STORE \
        SANSANG_DATABASE_URL="$pg/$db" SANSANG_DATA_DIR="$work/$name" SANSANG_LISTEN="127.0.0.1:$port" \
        "$CARGO_TARGET_DIR/debug/sansang" serve >"$work/$name.log" 2>&1 &
    pid=$!
    others+=("$pid")
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { echo "cluster: server $name exited:" >&2; cat "$work/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    urls+=("http://127.0.0.1:$port")
done
echo "== cluster: servers at ${urls[*]}"

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
    server a ${urls[0]#http://} check inter 500ms fall 2 rise 1
    server b ${urls[1]#http://} check inter 500ms fall 2 rise 1
    server c ${urls[2]#http://} check inter 500ms fall 2 rise 1
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
proxy_pid=$!
proxy_url="http://127.0.0.1:$proxy_port"
for _ in $(seq 1 100); do
    curl -fsS "$proxy_url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== cluster: HAProxy at $proxy_url"

all_urls=$(IFS=,; echo "${urls[*]}")
set +e
(cd "$interop" && SANSANG_URL="$proxy_url" SANSANG_CREDENTIALS="$credentials" \
    SANSANG_SERVERS="$all_urls" SANSANG_KILL_PID="$server_pid" \
    SANSANG_PHOTO="$root/fuzz/corpus/photo_ingest/seed-gradient.jpg" \
    node --test --test-reporter=tap cluster.test.mjs) 2>&1 | tee "$work/node.log"
status=${PIPESTATUS[0]}
if ((status == 0)); then
    # A day of fieldwork through the proxy, against the two servers left.
    echo "== cluster: sansang simulate through HAProxy (servers B and C)"
    "$CARGO_TARGET_DIR/debug/sansang" simulate --url "$proxy_url" --credentials "$credentials" \
        --phones 8 --households 80 --edits 6 --overlap 0.3 --disconnect 0.3 --bursts 3 \
        2>&1 | tee "$work/simulate.log"
    status=${PIPESTATUS[0]}
    if ((status == 0)) && ! grep -q "^no change lost" "$work/simulate.log"; then
        echo "cluster: simulate did not end with \"no change lost\"" >&2
        status=1
    fi
fi
set -e
if ((status != 0)); then
    echo "cluster: failed; server A's log (last 60 lines):"
    tail -n 60 "$stderr_log" || true
    for name in b c; do
        echo "cluster: server $name's log (last 60 lines):"
        tail -n 60 "$work/$name.log" || true
    done
    echo "cluster: HAProxy's log:"
    tail -n 30 "$work/haproxy.log" || true
fi
exit "$status"
