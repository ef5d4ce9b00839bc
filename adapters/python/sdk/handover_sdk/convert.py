"""JSON values <-> typed Python values (dataclasses, `str`, `int`, `float`,
`bool`, `Optional[...]`, `list[...]`, `dict[str, ...]`, `Literal[...]`,
`Enum`, `Any`), with errors that name the path of the bad value
(`nested.count`, `channels[1]`). Shared by settings, state and typed HTTP
responses; unknown object keys are ignored.
"""

import dataclasses
import enum
import json
import types
import typing
from typing import Any


class Invalid(Exception):
    """A value that does not fit its type: `path` (may be "") and `problem`."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def located(self) -> str:
        """``"`path`: problem"``, or the problem alone at the top level."""
        return f"`{self.path}`: {self.problem}" if self.path else self.problem


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """A JSON value as an error message quotes it: `integer 42`, `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "a list"
    return "an object"


_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _scalar(cls: type, value: Any, path: str) -> Any:
    ok = {
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
    }[cls]
    if not ok:
        raise Invalid(path, f"expected {_EXPECTED[cls]}, got {describe(value)}")
    return float(value) if cls is float else value


def _variants(names: list) -> str:
    quoted = [f"`{n}`" for n in names]
    if len(quoted) <= 2:
        return " or ".join(quoted)
    return "one of " + ", ".join(quoted)


def _choice(allowed: list, value: Any, path: str) -> Any:
    if value in allowed and type(value) in {type(a) for a in allowed}:
        return value
    shown = value if isinstance(value, str) else json.dumps(value)
    raise Invalid(path, f"unknown variant `{shown}`, expected {_variants(allowed)}")


def _dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise Invalid(path, f"expected an object, got {describe(value)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f.metadata.get("json", f.name)
        if key in value:
            kwargs[f.name] = from_json(hints[f.name], value[key], _join(path, key))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise Invalid(_join(path, key), "required field is missing")
    return cls(**kwargs)


def from_json(cls: Any, value: Any, path: str = "") -> Any:
    """Checks and converts a parsed JSON `value` to `cls`; raises `Invalid`."""
    if cls is Any or cls is object:
        return value
    if dataclasses.is_dataclass(cls):
        return _dataclass(cls, value, path)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return cls(_choice([m.value for m in cls], value, path))
    if cls in _EXPECTED:
        return _scalar(cls, value, path)
    origin, args = typing.get_origin(cls), typing.get_args(cls)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return from_json(options[0], value, path)
        for option in options:
            try:
                return from_json(option, value, path)
            except Invalid:
                pass
        raise Invalid(path, f"no variant of {cls} matches {describe(value)}")
    if origin is typing.Literal:
        return _choice(list(args), value, path)
    if origin in (list, typing.List) or cls is list:
        if not isinstance(value, list):
            raise Invalid(path, f"expected a list, got {describe(value)}")
        item = args[0] if args else Any
        return [from_json(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, typing.Dict) or cls is dict:
        if not isinstance(value, dict):
            raise Invalid(path, f"expected an object, got {describe(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: from_json(item, v, _join(path, k)) for k, v in value.items()}
    raise TypeError(f"handover_sdk.convert: unsupported type {cls!r} at `{path}`")


def to_json(value: Any) -> Any:
    """A dataclass (or anything built of them, enums, lists, dicts) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.metadata.get("json", f.name): to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value
