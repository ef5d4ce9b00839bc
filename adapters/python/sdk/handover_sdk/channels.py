"""Channel checks: whether an endpoint serves the conversation's channel.
Pure (no I/O); the failure is the contract's `unsupported`.
"""

from typing import Optional, Sequence

from handover_sdk.failure import unsupported


def check(channel: str, configured: Optional[Sequence[str]], defaults: Sequence[str], provider: str) -> None:
    """Fails unless `channel` is in `configured` (the endpoint's `channels`
    setting) or, when that is None, in `defaults`:
    ``channel "voice" is not served by this {provider} endpoint (allowed: a, b)``."""
    allowed = list(configured) if configured is not None else list(defaults)
    if channel not in allowed and "*" not in allowed:
        raise unsupported(
            f'channel "{channel}" is not served by this {provider} endpoint (allowed: {", ".join(allowed)})'
        )


def require(channel: str, served: Sequence[str], what: str) -> None:
    """Fails unless `channel` is one of the fixed `served` channels:
    ``channel "sms" is not served by {what} (served: webchat)``."""
    if channel not in served:
        raise unsupported(f'channel "{channel}" is not served by {what} (served: {", ".join(served)})')
