#!/usr/bin/env bash
# Checks that the checked-in dist/ is what the sources build: `npm ci`, then a build into a
# temporary folder, compared file by file with dist/. Exits 1 naming the files that differ
# (rebuild with `npm ci && npm run build` and commit dist/ when they do).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out="$(mktemp -d "${TMPDIR:-/tmp}/sansang-field-dist.XXXXXX")"
trap 'rm -rf "$out"' EXIT

echo "== field-app: npm ci"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "== field-app: vite build into $out"
npx --no-install vite build --outDir "$out" --emptyOutDir --logLevel warn

if [[ ! -d dist ]]; then
    echo "field-app: dist/ is missing; run npm run build and commit it" >&2
    exit 1
fi
status=0
while IFS= read -r file; do
    if [[ ! -f "dist/$file" ]]; then
        echo "field-app: missing from dist/: $file" >&2
        status=1
    elif ! cmp -s "$out/$file" "dist/$file"; then
        echo "field-app: differs from the build: dist/$file" >&2
        status=1
    fi
done < <(cd "$out" && find . -type f | sed 's|^\./||' | sort)
while IFS= read -r file; do
    if [[ ! -f "$out/$file" ]]; then
        echo "field-app: not produced by the build (stale): dist/$file" >&2
        status=1
    fi
done < <(cd dist && find . -type f | sed 's|^\./||' | sort)
if ((status != 0)); then
    echo "field-app: dist/ is not what the sources build; run 'npm ci && npm run build' in field-app/ and commit dist/" >&2
    exit 1
fi
echo "field-app: dist/ matches the sources"
