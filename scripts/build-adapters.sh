#!/usr/bin/env bash
# Builds every guest component (adapters and test fixtures) of the adapters
# workspace for wasm32-wasip2 into target/adapters/<name>.wasm, plus
# target/adapters/echo-v2.wasm (the echo fixture's source as version 2.0.0),
# and lists them with their sizes. The work is done by
# the build script of tests/guests (package handover-guests), which discovers
# the components from adapters/Cargo.toml (every member with a cdylib lib
# target) and installs the wasm target with rustup if missing; this is
# `cargo build -p handover-guests`. Idempotent; a repeat run with nothing
# changed does nothing.
# Usage: scripts/build-adapters.sh   (from any directory)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --quiet -p handover-guests

for file in "$root"/target/adapters/*.wasm; do
    printf '%8d  %s\n' "$(stat -c %s "$file")" "${file#"$root"/}"
done
