"""Logging into the host's log through the contract's `log` import. The
host caps lines and bytes per call: log what helps an operator, never
secrets. Fields are keyword arguments: `log.warn("skipped", type="x")`.
"""

from handover_sdk import wit  # noqa: F401  (installs the stand-ins outside a component)
from wit_world.imports import log as _host


def _emit(level, message: str, fields: dict) -> None:
    pairs = [wit.KeyValue(key=str(k), value=str(v)) for k, v in fields.items()]
    _host.log(level, message, pairs)


def trace(message: str, **fields) -> None:
    _emit(_host.Level.TRACE, message, fields)


def debug(message: str, **fields) -> None:
    _emit(_host.Level.DEBUG, message, fields)


def info(message: str, **fields) -> None:
    _emit(_host.Level.INFO, message, fields)


def warn(message: str, **fields) -> None:
    _emit(_host.Level.WARN, message, fields)


def error(message: str, **fields) -> None:
    _emit(_host.Level.ERROR, message, fields)
