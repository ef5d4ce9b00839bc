#!/usr/bin/env bash
# Installs a real Synapse homeserver (PyPI `matrix-synapse`) into
# target/synapse-venv for the matrix adapter tests (tests/simulators/src/matrix).
# Idempotent: does nothing when the pinned version is already installed.
# Usage: scripts/install-synapse.sh      (from any directory)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="1.163.2"
venv="$root/target/synapse-venv"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('matrix-synapse') != '$version')" 2>/dev/null; then
    echo "synapse $version already installed in $venv"
    exit 0
fi

echo "installing matrix-synapse $version into $venv"
mkdir -p "$root/target"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "matrix-synapse==$version"
"$venv/bin/python" -c "import synapse; print('synapse', synapse.__version__, 'installed')"
