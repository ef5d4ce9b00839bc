#!/usr/bin/env bash
# Builds a Python adapter folder (a copy of adapters/python/template) into a
# component of the `handover-adapter` world:
#
#   adapters/python/build.sh SRC_DIR OUT.wasm
#
# - installs componentize-py (pinned below) into target/python-venv if it is
#   missing or another version (idempotent; a no-op when present);
# - writes the bindings stubs for IDEs and tests to target/python-bindings/stubs;
# - stages SRC_DIR's Python files (not tests/, not __pycache__) plus a
#   generated adapter_meta.py (NAME = the folder name without `adapter-`,
#   or $ADAPTER_NAME; VERSION = $ADAPTER_VERSION, else 0.1.0) in
#   target/python-build/NAME/app, and componentizes module `app` with the
#   SDK (a copy of adapters/python/sdk in target/python-build/NAME/sdk) on
#   the path.
# - the contract version: the adapter folder's `CONTRACT` file (one line,
#   `0.1.0` or `0.2.0`), else $HANDOVER_CONTRACT, else 0.1.0; the 0.2.0 stubs
#   go to target/python-bindings/stubs-0.2.0.
#
#   adapters/python/build.sh --bindings CONTRACT
#
# only installs componentize-py and writes CONTRACT's stubs (the SDK's stub
# parity tests compare with them).
# Everything generated or installed lives under target/, never under adapters/.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

if [ $# -ne 2 ]; then
    echo "usage: $0 SRC_DIR OUT.wasm | $0 --bindings CONTRACT" >&2
    exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bindings_only=
if [ "$1" = --bindings ]; then
    bindings_only=1
    contract=$2
    origin="the command line"
else
    src=$(cd "$1" && pwd)
    out_dir=$(mkdir -p "$(dirname "$2")" && cd "$(dirname "$2")" && pwd)
    out="$out_dir/$(basename "$2")"
    contract=${HANDOVER_CONTRACT:-0.1.0}
    origin="$src/CONTRACT or HANDOVER_CONTRACT"
    if [ -f "$src/CONTRACT" ]; then
        contract=$(tr -d '[:space:]' <"$src/CONTRACT")
    fi
fi
case "$contract" in
    0.1.0 | 0.2.0) ;;
    *)
        echo "error: contract \`$contract\` (from $origin): this SDK builds 0.1.0 or 0.2.0" >&2
        exit 2
        ;;
esac
wit="$root/wit/v$contract"
sdk="$root/adapters/python/sdk"
venv="$root/target/python-venv"
cpy="$venv/bin/componentize-py"

if [ -z "$bindings_only" ] && [ ! -f "$src/app.py" ]; then
    echo "error: $src has no app.py (start from adapters/python/template)" >&2
    exit 2
fi

if ! "$cpy" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

stubs="$root/target/python-bindings/stubs"
[ "$contract" = 0.1.0 ] || stubs="$stubs-$contract"
if [ ! -f "$stubs/.wit-stamp" ] || ! cmp -s <(cat "$wit"/*.wit "$wit"/deps/*.wit; echo "$COMPONENTIZE_PY_VERSION") "$stubs/.wit-stamp"; then
    rm -rf "$stubs"
    "$cpy" -d "$wit" -w handover-adapter bindings "$stubs" >/dev/null
    { cat "$wit"/*.wit "$wit"/deps/*.wit; echo "$COMPONENTIZE_PY_VERSION"; } >"$stubs/.wit-stamp"
fi
if [ -n "$bindings_only" ]; then
    echo "bindings for contract $contract in $stubs" >&2
    exit 0
fi

name=${ADAPTER_NAME:-$(basename "$src")}
name=${name#adapter-}
stage="$root/target/python-build/$name"
rm -rf "$stage"
mkdir -p "$stage/app" "$stage/sdk"
tar -C "$src" --exclude=./tests --exclude=__pycache__ --exclude='test_*.py' -cf - . | tar -C "$stage/app" -xf -
# The SDK is staged too, so nothing the build does can write under adapters/.
tar -C "$sdk" --exclude=__pycache__ -cf - handover_sdk | tar -C "$stage/sdk" -xf -
cat >"$stage/app/adapter_meta.py" <<EOF
"""Written by adapters/python/build.sh: what describe reports."""
NAME = "$name"
VERSION = "${ADAPTER_VERSION:-0.1.0}"
EOF

# -p: only the app and the SDK (no virtualenv site-packages in the component).
cd "$stage"
env -u VIRTUAL_ENV "$cpy" -q -d "$wit" -w handover-adapter componentize app \
    -p "$stage/app" -p "$stage/sdk" -o "$out"
echo "built $out ($(du -h "$out" | cut -f1), contract $contract)" >&2
