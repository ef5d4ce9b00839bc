"""Provider state: the opaque `state` bytes the host keeps between calls,
as JSON of the adapter's state dataclass (every field with a default, so a
fresh handover gets `State()`). An optional `check(self)` method runs after
every load (not at `start`), e.g. `require(bool(self.conversation_id),
"conversation id")`.
"""

import dataclasses
import json
from typing import Any

from handover_sdk import wit
from handover_sdk.convert import Invalid, from_json, to_json
from handover_sdk.failure import error


def load(cls: type, data: bytes) -> Any:
    """Parses the host's state bytes; empty bytes give `cls()`."""
    if not data:
        return cls()
    try:
        value = json.loads(bytes(data))
    except ValueError as e:
        raise error(f"corrupt adapter state: {e}") from None
    try:
        return from_json(cls, value)
    except Invalid as e:
        raise error(f"corrupt adapter state: {e.located()}") from None


def save(state: Any) -> bytes:
    """The state as compact JSON bytes."""
    text = json.dumps(to_json(state), separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def require(present: bool, what: str) -> None:
    """Fails with ``no {what} in the handover state`` unless `present`."""
    if not present:
        raise error(f"no {what} in the handover state")


@dataclasses.dataclass
class AgentRef:
    """An agent as kept in state (`{"id": ..., "name": ...}`)."""

    id: str = ""
    name: str = ""

    def to_agent(self) -> "wit.Agent":
        return wit.Agent(id=self.id, name=self.name)

    @classmethod
    def of(cls, agent: "wit.Agent") -> "AgentRef":
        return cls(id=agent.id, name=agent.name)
