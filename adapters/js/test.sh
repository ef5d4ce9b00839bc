#!/usr/bin/env bash
# test.sh [DIR...] — unit tests of JS/TS adapter code under plain Node, no
# host: for each DIR (default: the SDK and the template) type-checks DIR/src
# and DIR/test, bundles each DIR/test/*.test.ts with esbuild into
# target/js/test/<name>/ and runs them with `node --test`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

ensure_tools
dirs=("$@")
[[ ${#dirs[@]} -gt 0 ]] || dirs=("$JS_DIR/sdk" "$JS_DIR/template")
files=()
for d in "${dirs[@]}"; do
  dir=$(cd "$d" && pwd)
  { read -r NAME; read -r VERSION; } < <(adapter_meta "$dir")
  work="$ROOT/target/js/test/$NAME"
  rm -rf "$work" && mkdir -p "$work"
  typecheck "$dir" "$work"
  shopt -s nullglob
  tests=("$dir"/test/*.test.ts)
  shopt -u nullglob
  [[ ${#tests[@]} -gt 0 ]] || { echo "no tests in $dir/test" >&2; exit 1; }
  "$BIN/esbuild" "${tests[@]}" --bundle --format=esm --platform=node --target=node20 \
    --tsconfig="$work/tsconfig.json" --define:__ADAPTER_NAME__="\"$NAME\"" \
    --define:__ADAPTER_VERSION__="\"$VERSION\"" --out-extension:.js=.mjs \
    --log-level=warning --outdir="$work"
  for t in "${tests[@]}"; do files+=("$work/$(basename "${t%.ts}").mjs"); done
done
node --test "${files[@]}"
