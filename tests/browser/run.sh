#!/usr/bin/env bash
# Browser test of the review pages: Debian's Chromium (installed here with apt-get when it is
# missing), playwright-core and axe-core from npm (pinned in package-lock.json), `sansang demo`
# on a free port with a fresh database, review.test.mjs with node:test. Screenshots go to
# tests/browser/screenshots/ (or $SANSANG_SCREENSHOTS). Exits with node's status.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sansang-target}
chromium=${SANSANG_CHROMIUM:-/usr/bin/chromium}

if ! command -v node >/dev/null 2>&1; then
    echo "browser: node is not installed; Node 20 or newer is needed" >&2
    exit 1
fi
if [[ ! -x "$chromium" ]]; then
    echo "== browser: installing Debian's chromium (once per machine)"
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then sudo="sudo -n"; fi
    if ! $sudo apt-get install -y --no-install-recommends chromium >/tmp/sansang-apt.log 2>&1; then
        $sudo apt-get update >>/tmp/sansang-apt.log 2>&1
        $sudo apt-get install -y --no-install-recommends chromium >>/tmp/sansang-apt.log 2>&1 || {
            tail -n 30 /tmp/sansang-apt.log >&2
            echo "browser: could not install chromium" >&2
            exit 1
        }
    fi
fi
echo "== browser: $("$chromium" --version 2>/dev/null || echo "$chromium")"

echo "== browser: npm ci"
(cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

echo "== browser: cargo build -p sansang-server"
(cd "$root" && cargo build -p sansang-server --locked --quiet)

data_dir="$(mktemp -d "${TMPDIR:-/tmp}/sansang-browser.XXXXXX")"
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
# 240 households: about ten with conflicting values, spread over the twelve hamlets.
env -u SANSANG_DATABASE_URL -u SANSANG_CONFIG -u SANSANG_PUBLIC_URL -u SANSANG_PHOTO_STORE \
    SANSANG_DATA_DIR="$data_dir" SANSANG_LISTEN=127.0.0.1:0 \
    "$CARGO_TARGET_DIR/debug/sansang" demo --households 240 >"$stdout_log" 2>"$stderr_log" &
server_pid=$!

url=""
credentials=""
for _ in $(seq 1 600); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "browser: the server exited before serving; its output:" >&2
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
    echo "browser: the server did not print its URL and credentials within 60 s; its output:" >&2
    cat "$stdout_log" "$stderr_log" >&2
    exit 1
fi
echo "== browser: server at $url"

node_log="$data_dir/node.log"
set +e
(cd "$here" && SANSANG_URL="$url" SANSANG_CREDENTIALS="$credentials" SANSANG_CHROMIUM="$chromium" \
    node --test --test-reporter=tap review.test.mjs) 2>&1 | tee "$node_log"
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
    echo "browser: failed; the server's log (last 100 lines):"
    tail -n 100 "$stderr_log"
fi
echo "browser: screenshots in ${SANSANG_SCREENSHOTS:-$here/screenshots}"
exit "$status"
