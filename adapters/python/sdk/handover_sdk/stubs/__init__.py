"""Installs stand-ins for the modules a componentize-py build generates
(`componentize_py_types`, `wit_world`, `wit_world.exports`,
`wit_world.imports.handover_provider_types`, `wit_world.imports.log`) so
that adapter code, the SDK and the template's `app.py` import under plain
CPython. The stand-in `log` records calls in `LOG` instead of logging.
No wasi:http modules: HTTP goes through `http.set_transport` in tests.

The contract's types are 0.1.0's, or 0.2.0's when the environment says
`HANDOVER_CONTRACT=0.2.0` (as `build.sh` does for a 0.2.0 adapter).
"""

import importlib
import os
import sys
import types
from dataclasses import dataclass
from enum import Enum
from typing import Generic, List, Tuple, TypeVar

CONTRACTS = {"0.1.0": "provider_types", "0.2.0": "provider_types_v0_2"}


def _types_module() -> types.ModuleType:
    """The stand-in types of the contract `HANDOVER_CONTRACT` names."""
    contract = os.environ.get("HANDOVER_CONTRACT", "0.1.0")
    if contract not in CONTRACTS:
        raise RuntimeError(
            f"HANDOVER_CONTRACT={contract!r}: this SDK builds for {', '.join(CONTRACTS)}"
        )
    return importlib.import_module(f"handover_sdk.stubs.{CONTRACTS[contract]}")

T = TypeVar("T")

LOG: List[Tuple[str, str, dict]] = []
"""(level, message, fields) of every `log` call, oldest first."""


@dataclass
class Some(Generic[T]):
    value: T


@dataclass
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Err(Generic[T], Exception):
    value: T


class Level(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def _log(level: Level, message: str, fields: list) -> None:
    LOG.append((level.name.lower(), message, {kv.key: kv.value for kv in fields}))


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def install() -> None:
    """Registers the stand-ins, unless real bindings are already importable."""
    if "wit_world.imports.handover_provider_types" in sys.modules:
        return
    try:
        import componentize_py_types  # noqa: F401
    except ImportError:
        _module("componentize_py_types", Ok=Ok, Err=Err, Some=Some, Result=object)
    world = _module("wit_world", WitWorld=object)
    world.__path__ = []
    exports = _module("wit_world.exports", Adapter=object)
    imports = _module("wit_world.imports")
    imports.__path__ = []
    stub_types = _types_module()
    sys.modules["wit_world.imports.handover_provider_types"] = stub_types
    log = _module("wit_world.imports.log", Level=Level, log=_log)
    world.exports, world.imports = exports, imports
    imports.handover_provider_types, imports.log = stub_types, log
