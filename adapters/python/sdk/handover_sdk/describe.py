"""What `describe` reports: capabilities, polling mode and the whole
`adapter-info` record. Static data only: `describe` must not do I/O.
"""

from typing import Optional, Sequence

from handover_sdk import wit

_FLAGS = ("attachments", "typing", "queue_position", "availability_check", "bot_side_close", "transcript")


def capabilities(**on: bool) -> "wit.Capabilities":
    """Capabilities with the named flags set, e.g. `capabilities(typing=True)`;
    `capabilities(all=True)` switches everything on."""
    every = bool(on.pop("all", False))
    unknown = set(on) - set(_FLAGS)
    if unknown:
        raise TypeError(f"unknown capabilities {sorted(unknown)}; known: {', '.join(_FLAGS)}")
    return wit.Capabilities(**{flag: bool(on.get(flag, every)) for flag in _FLAGS})


ALL = capabilities(all=True)
NONE = capabilities()

NO_POLLING = wit.Polling(mode=wit.PollMode.NONE, interval_ms=0, max_wait_ms=0)


def periodic(interval_ms: int) -> "wit.Polling":
    """The host polls every `interval_ms`."""
    return wit.Polling(mode=wit.PollMode.PERIODIC, interval_ms=interval_ms, max_wait_ms=0)


def long_poll(interval_ms: int, max_wait_ms: int) -> "wit.Polling":
    """Each poll holds a request open for up to `max_wait_ms`."""
    return wit.Polling(mode=wit.PollMode.LONG_POLL, interval_ms=interval_ms, max_wait_ms=max_wait_ms)


def info(
    name: str,
    version: str,
    channels: Sequence[str],
    caps: "wit.Capabilities" = NONE,
    polling: "wit.Polling" = NO_POLLING,
    signature: Optional["wit.WebhookSignature"] = None,
    settings_schema: str = "{}",
) -> "wit.AdapterInfo":
    """The `adapter-info` record."""
    return wit.AdapterInfo(
        name=name,
        version=version,
        channels=list(channels),
        capabilities=caps,
        webhook_signature=signature,
        polling=polling,
        settings_schema=settings_schema,
    )
