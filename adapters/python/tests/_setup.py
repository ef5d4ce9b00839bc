"""Test setup shared by every test module here (imported first): puts the
SDK and the template on sys.path and installs the stand-in bindings, so
`python3 -m unittest discover -s tests` runs with plain CPython. Writes
no bytecode from here on: adapters/ is watched by the guests' build script
(run with PYTHONDONTWRITEBYTECODE=1 to write none at all)."""

import sys

sys.dont_write_bytecode = True

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPO = ROOT.parent.parent
sys.path[:0] = [str(ROOT / "sdk"), str(HERE)]

from handover_sdk import wit  # noqa: E402,F401  (installs the stand-ins)


def template_app(provider_module, name: str = "my-provider"):
    """Loads the template's app.py with `provider_module` as its provider.py."""
    sys.modules["provider"] = provider_module
    spec = importlib.util.spec_from_file_location(f"app_{name.replace('-', '_')}", ROOT / "template" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NAME = name
    return module
