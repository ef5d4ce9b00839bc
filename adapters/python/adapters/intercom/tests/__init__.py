"""Puts the adapter folder and the Python SDK on sys.path for
`python3 -m unittest` run in the adapter folder. The SDK is found through
$HANDOVER_PY_SDK, else at ../sdk (the template's place in the repo), else
at adapters/python/sdk in the current directory or one above it. Writes
no bytecode from here on (run with PYTHONDONTWRITEBYTECODE=1 to write none
at all: in the repo, adapters/ is watched by the guests' build script)."""

import os
import sys

sys.dont_write_bytecode = True

from pathlib import Path  # noqa: E402

_here = Path(__file__).resolve().parent.parent
_cwd = Path.cwd()
_candidates = [os.environ.get("HANDOVER_PY_SDK"), _here.parent / "sdk"]
_candidates += [p / "adapters" / "python" / "sdk" for p in (_cwd, *_cwd.parents)]
_sdk = next((Path(p) for p in _candidates if p and (Path(p) / "handover_sdk").is_dir()), None)
if _sdk is None:
    raise ImportError("handover_sdk not found: set HANDOVER_PY_SDK to adapters/python/sdk")
sys.path[:0] = [str(_here), str(_sdk.resolve())]
