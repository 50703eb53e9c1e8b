#!/usr/bin/env bash
# API fuzzing: schemathesis (from PyPI, pinned, in a virtualenv under ~/.cache) against the
# OpenAPI document of a running demo server, signed in as the demo's admin. Fails on any 5xx
# and on any answer that does not match the document. Signing out and changing the password are
# left out: they would end the session the run signs in with.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../demo-server.sh
source "$here/../demo-server.sh"
venv=${SANSANG_SCHEMATHESIS_VENV:-$HOME/.cache/sansang-schemathesis}
if [[ ! -x "$venv/bin/st" ]]; then
    echo "== api-fuzz: installing schemathesis into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
start_demo api-fuzz 20
admin_user=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(u["username"] for u in d["users"] if u["role"]=="admin"))' "$credentials")
admin_pass=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(u["password"] for u in d["users"] if u["role"]=="admin"))' "$credentials")
token=$(curl -sf -X POST "$url/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$admin_user\",\"password\":\"$admin_pass\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "== api-fuzz: schemathesis against $url/api/openapi.json"
"$venv/bin/st" run "$url/api/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/password \
    --max-examples 20 --seed 1 --workers 1 "$@"
