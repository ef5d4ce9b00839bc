#!/usr/bin/env bash
# make-sim-copy.sh DEST — a copy of the template as a third party would make
# it, with only its provider logic filled in for the sim provider: package
# adapter-my-provider, src/provider.ts = sim_provider.ts, and the unit test
# sim_provider.test.ts as test/. Then: build.sh DEST OUT.wasm, test.sh DEST.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${1:?usage: $0 DEST}
rm -rf "$dest"
mkdir -p "$dest/test"
cp -r "$here/../template/src" "$dest/src"
cp "$here/sim_provider.ts" "$dest/src/provider.ts"
cp "$here/sim_provider.test.ts" "$dest/test/"
sed 's/"adapter-template"/"adapter-my-provider"/' "$here/../template/package.json" >"$dest/package.json"
