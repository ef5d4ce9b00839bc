"""What `describe` reports: capabilities, polling mode and the whole
`adapter-info` record. Static data only: `describe` must not do I/O.
"""

from typing import Optional, Sequence

from handover_sdk import wit
from handover_sdk.contract import VERSION, require_0_2

_FLAGS = ("attachments", "typing", "queue_position", "availability_check", "bot_side_close", "transcript")
# Contract 0.2.0's flags (a 0.1.0 build has none of them).
_FLAGS_0_2 = ("hand_back", "wrap_up", "receipts", "user_typing", "rich_messages")
if VERSION == "0.2.0":
    _FLAGS = _FLAGS + _FLAGS_0_2


def capabilities(**on: bool) -> "wit.Capabilities":
    """Capabilities with the named flags set, e.g. `capabilities(typing=True)`;
    `capabilities(all=True)` switches everything on."""
    every = bool(on.pop("all", False))
    newer = set(on) & set(_FLAGS_0_2) - set(_FLAGS)
    if newer:
        require_0_2(f"capabilities {sorted(newer)}")
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
    needs_egress: Sequence[str] = (),
    needs_secrets: Sequence[str] = (),
    routing: Optional[object] = None,
) -> "wit.AdapterInfo":
    """The `adapter-info` record. Contract 0.2.0 only: `needs_egress`
    (origins, or `{setting}` templates such as `"{base_url}"`) and
    `needs_secrets` (the endpoint secrets the host injects), which the host
    checks against the endpoint; `routing` (see `v0_2.json_routing`)."""
    fields = dict(
        name=name,
        version=version,
        channels=list(channels),
        capabilities=caps,
        webhook_signature=signature,
        polling=polling,
        settings_schema=settings_schema,
    )
    if VERSION == "0.2.0":
        fields["permissions"] = wit.Permissions(egress=list(needs_egress), secrets=list(needs_secrets))
        fields["webhook_routing"] = routing
    elif needs_egress or needs_secrets or routing is not None:
        require_0_2("declared permissions and webhook routing")
    return wit.AdapterInfo(**fields)
