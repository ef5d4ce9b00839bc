#!/usr/bin/env bash
# build.sh SRC_DIR OUT.wasm — builds a TypeScript adapter (SRC_DIR/src/adapter.ts,
# the template's layout) into a component of world `handover-adapter`
# (wit/v0.1.0): installs the pinned tools if missing (target/js-tools),
# type-checks, bundles TS → one ES module with esbuild, then componentize-js.
# Intermediate files go to target/js/build/<name>/. Env: ADAPTER_VERSION overrides
# the version `describe` reports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SRC_DIR OUT.wasm" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
OUT=$(realpath -m "$2")
[[ -f $SRC/src/adapter.ts ]] || { echo "$SRC/src/adapter.ts not found" >&2; exit 2; }

ensure_tools
{ read -r NAME; read -r VERSION; } < <(adapter_meta "$SRC")
WORK="$ROOT/target/js/build/$NAME"
mkdir -p "$WORK" "$(dirname "$OUT")"
started=$(date +%s)

typecheck "$SRC" "$WORK"

# The component's entry: the host seams, then the adapter's export.
cat >"$WORK/entry.ts" <<TS
import { installHost } from "handover-adapter-sdk/host";
import { adapter } from "$SRC/src/adapter";
installHost();
export { adapter };
TS
"$BIN/esbuild" "$WORK/entry.ts" --bundle --format=esm --platform=neutral --target=es2022 \
  --tsconfig="$WORK/tsconfig.json" --external:'wasi:*' --external:'handover:*' \
  --define:__ADAPTER_NAME__="\"$NAME\"" --define:__ADAPTER_VERSION__="\"$VERSION\"" \
  --log-level=warning --outfile="$WORK/adapter.js"

# fetch-event would make the engine serve wasi:http/incoming-handler; the
# world does not export it and the SDK's HTTP client does not need `fetch`.
"$BIN/componentize-js" "$WORK/adapter.js" --wit "$ROOT/wit/v0.1.0" --world-name handover-adapter \
  --disable fetch-event --out "$OUT" >&2

echo "built $OUT ($NAME $VERSION, $(stat -c %s "$OUT") bytes, $(($(date +%s) - started)) s)" >&2
