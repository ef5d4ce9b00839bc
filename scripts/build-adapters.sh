#!/usr/bin/env bash
# Builds every guest component (adapters and test fixtures) of the adapters
# workspace for wasm32-wasip2 and copies them to target/adapters/<name>.wasm,
# plus target/adapters/echo-v2.wasm (the echo fixture built with
# ADAPTER_VERSION=2.0.0). Idempotent; cargo makes repeat runs fast.
# Usage: scripts/build-adapters.sh   (from any directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="$root/adapters/Cargo.toml"
build_dir="$root/target/adapters-build"
build_dir_v2="$root/target/adapters-build-v2"
out_dir="$root/target/adapters"
target=wasm32-wasip2

# Output name -> cargo package name (the .wasm is named after the package).
components=(
    "sim:adapter-sim"
    "sim-poll:adapter-sim-poll"
    "template:adapter-template"
    "chatwoot:adapter-chatwoot"
    "genesys-open-messaging:adapter-genesys-open-messaging"
    "salesforce-miaw:adapter-salesforce-miaw"
    "salesforce-live-agent:adapter-salesforce-live-agent"
    "liveperson:adapter-liveperson"
    "sunshine-conversations:adapter-sunshine-conversations"
    "matrix:adapter-matrix"
    "loop:fixture-loop"
    "membomb:fixture-membomb"
    "recursion:fixture-recursion"
    "panic:fixture-panic"
    "big-state:fixture-big-state"
    "many-events:fixture-many-events"
    "log-flood:fixture-log-flood"
    "egress:fixture-egress"
    "fs-env:fixture-fs-env"
    "echo:fixture-echo"
    "counter:fixture-counter"
)

rustup target add "$target" >/dev/null 2>&1 || rustup target add "$target"

# The version baked into the main build is each crate's own; a stray
# ADAPTER_VERSION in the caller's environment must not leak into it.
env -u ADAPTER_VERSION cargo build --release --quiet --target "$target" \
    --manifest-path "$manifest" --target-dir "$build_dir"
ADAPTER_VERSION=2.0.0 cargo build --release --quiet --target "$target" \
    --manifest-path "$manifest" --target-dir "$build_dir_v2" --package fixture-echo

# Copies $1 to $2 only when the content changed, so mtimes stay stable.
install_wasm() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.tmp"
        mv "$2.tmp" "$2"
    fi
}

mkdir -p "$out_dir"
produced=()
for entry in "${components[@]}"; do
    name="${entry%%:*}"
    package="${entry#*:}"
    install_wasm "$build_dir/$target/release/${package//-/_}.wasm" "$out_dir/$name.wasm"
    produced+=("$out_dir/$name.wasm")
done
install_wasm "$build_dir_v2/$target/release/fixture_echo.wasm" "$out_dir/echo-v2.wasm"
produced+=("$out_dir/echo-v2.wasm")

for file in "${produced[@]}"; do
    printf '%8d  %s\n' "$(stat -c %s "$file")" "${file#"$root"/}"
done
