# Sourced by build.sh and test.sh: paths, and `ensure_tools`, which installs
# the pinned tools (package.json + package-lock.json beside this file) into
# target/js-tools with `npm ci` when they are missing or the lock changed.
# Everything installed or generated goes under target/, never adapters/.

JS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$JS_DIR/../.." && pwd)
TOOLS="$ROOT/target/js-tools"
BIN="$TOOLS/node_modules/.bin"

ensure_tools() {
  local want
  want=$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)
  mkdir -p "$TOOLS"
  (
    flock 9 # one install at a time
    if [[ -x $BIN/componentize-js && -x $BIN/esbuild && -x $BIN/tsc && $(cat "$TOOLS/.lock-sha256" 2>/dev/null) == "$want" ]]; then
      exit 0
    fi
    echo "installing the JS adapter tools into $TOOLS (npm ci)" >&2
    cp "$JS_DIR/package.json" "$JS_DIR/package-lock.json" "$TOOLS/"
    (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$TOOLS/.lock-sha256"
  ) 9>"$TOOLS.lock"
}

# adapter_meta DIR: prints the adapter's name (package.json "name" without
# "adapter-", else the directory name) and version (ADAPTER_VERSION, else
# package.json "version", else 0.1.0), one per line.
adapter_meta() {
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    let pkg = {};
    try { pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")); } catch {}
    const name = (pkg.name || path.basename(dir)).replace(/^adapter-/, "");
    console.log(name);
    console.log(process.env.ADAPTER_VERSION || pkg.version || "0.1.0");
  ' "$1"
}

# typecheck DIR WORK: type-checks DIR/src and DIR/test with the SDK
# (tsconfig generated in WORK, extending tsconfig.json beside this file).
typecheck() {
  local dir=$1 work=$2
  mkdir -p "$work"
  cat >"$work/tsconfig.json" <<JSON
{
  "extends": "$JS_DIR/tsconfig.json",
  "include": ["$dir/src/**/*.ts", "$dir/test/**/*.ts", "$JS_DIR/sdk/src/**/*.ts", "$JS_DIR/sdk/test/node.d.ts"]
}
JSON
  "$BIN/tsc" -p "$work/tsconfig.json"
}
