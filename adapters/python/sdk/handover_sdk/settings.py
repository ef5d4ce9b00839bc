"""Endpoint settings: a JSON object (as text) parsed into the adapter's
settings dataclass, with messages that name the field, e.g.
``settings: `base_url`: must start with http:// or https://, got "ftp://x"``.

A settings class is a dataclass; fields without a default are required,
unknown keys are ignored. An optional `validate(self)` method runs after
parsing to check (and normalise) fields, raising `invalid(field, problem)`.
"""

import json
from typing import Any, Optional, Sequence, TypeVar

from handover_sdk.convert import Invalid, from_json
from handover_sdk.failure import AdapterFailure, error

T = TypeVar("T")


def parse(cls: type, text: str) -> Any:
    """Parses and checks the settings text into `cls`; failures name the field."""
    try:
        data = json.loads(text if text.strip() else "{}")
    except ValueError as e:
        raise error(f"settings: not valid JSON: {e}") from None
    try:
        parsed = from_json(cls, data)
    except Invalid as e:
        raise error(f"settings: {e.located()}") from None
    validate = getattr(parsed, "validate", None)
    if callable(validate):
        validate()
    return parsed


def invalid(field: str, problem: str) -> AdapterFailure:
    """A failure naming a settings field: ``settings: `field`: problem``."""
    return error(f"settings: `{field}`: {problem}")


def require_http_url(field: str, value: str) -> str:
    """Checks that `value` is an absolute http(s) URL with a host; returns it
    without a trailing `/`, ready for f"{base}/path"."""
    value = value.strip()
    for scheme in ("http://", "https://"):
        if value.startswith(scheme):
            rest = value[len(scheme):]
            if not rest or rest.startswith("/"):
                raise invalid(field, f"has no host: {json.dumps(value)}")
            return value.rstrip("/")
    raise invalid(field, f"must start with http:// or https://, got {json.dumps(value)}")


def require_min(field: str, value: Optional[T], minimum: T) -> None:
    """Checks that an optional number is at least `minimum`."""
    if value is not None and value < minimum:
        raise invalid(field, f"must be at least {minimum}, got {value}")


def require_max(field: str, value: Optional[T], maximum: T, why: str = "", echo: bool = False) -> None:
    """Checks that an optional number is at most `maximum`:
    ``must be at most {max}[ ({why})][, got {value}]``."""
    if value is not None and value > maximum:
        problem = f"must be at most {maximum}"
        if why:
            problem += f" ({why})"
        if echo:
            problem += f", got {value}"
        raise invalid(field, problem)


def require_list(field: str, values: Sequence[str], noun: str) -> None:
    """A non-empty list without blank entries (`field[i]` names a blank one)."""
    if not values:
        raise invalid(field, f"must list at least one {noun}")
    for i, v in enumerate(values):
        if not v.strip():
            raise invalid(f"{field}[{i}]", "must not be empty")


def require_channels(channels: Optional[Sequence[str]]) -> None:
    """The optional `channels` setting: when given, a non-empty list of names."""
    if channels is not None:
        require_list("channels", channels, "channel")
