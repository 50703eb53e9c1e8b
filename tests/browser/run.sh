#!/usr/bin/env bash
# Browser tests of the review pages and of the volunteers' field app (/field/, as the server
# embeds it): Debian's Chromium (installed here with apt-get when it is missing), playwright-core
# and axe-core from npm (pinned in package-lock.json), `sansang demo` on a free port with a fresh
# database, review.test.mjs then field.test.mjs with node:test. Screenshots go to
# tests/browser/screenshots/ (or $SANSANG_SCREENSHOTS). Exits with node's status.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
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

# shellcheck source=../demo-server.sh
source "$here/../demo-server.sh"
# field.test.mjs tests the field app the server embeds, not a folder on disk.
unset SANSANG_FIELD_APP_DIR
# 240 households: about ten with conflicting values, spread over the twelve hamlets.
start_demo browser 240

export SANSANG_CHROMIUM="$chromium"
status=0
run_node browser "$here" --test-concurrency=1 review.test.mjs field.test.mjs || status=$?
echo "browser: screenshots in ${SANSANG_SCREENSHOTS:-$here/screenshots}"
exit "$status"
