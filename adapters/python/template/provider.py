"""Provider logic: the only file to fill in for a new adapter. Every TODO
below is a provider call or a mapping; the glue in app.py handles state,
settings plumbing and the contract (through the SDK's typed layer).
Credentials never go here: the host adds them to requests (see
adapters/README.md, `[[endpoints.auth]]`).
"""

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from handover_sdk import describe, error, settings, unsupported, wit

# TODO: the channels the provider serves ("*" for any).
CHANNELS = ["webchat"]
# TODO: switch on what the adapter implements, e.g. describe.capabilities(typing=True).
CAPABILITIES = describe.NONE
# TODO: describe.periodic(ms) if the host must poll instead of receiving webhooks.
POLLING = describe.NO_POLLING


def webhook_signature() -> Optional["wit.WebhookSignature"]:
    """TODO: how the provider signs webhooks, if it sends any
    (`handover_sdk.signature.hmac_sha256(...)`, ...)."""
    return None


@dataclass
class Settings:
    """The endpoint's settings, parsed by the SDK (errors name the field).
    TODO: add the provider's fields."""

    base_url: str

    def validate(self) -> None:
        """TODO: check the fields (settings.require_min, settings.invalid, ...)."""
        self.base_url = settings.require_http_url("base_url", self.base_url)


@dataclass
class Opened:
    """A conversation the provider opened."""

    id: str
    events: List[Any] = field(default_factory=list)
    """Reported right away (e.g. events.queued(position, wait))."""
    extra: Dict[str, Any] = field(default_factory=dict)
    """Anything else to keep in the state."""


def open_conversation(s: Settings, conversation: "wit.Conversation") -> Opened:
    """TODO: the provider's "create conversation" call (send the transcript
    and routing), e.g. `created = http.post_json(f"{s.base_url}/...", body)`."""
    raise error("template adapter: open_conversation is not implemented yet")


def send_message(s: Settings, conversation_id: str, user_input: "wit.UserInput") -> None:
    """TODO: the provider's "send message" call."""
    raise error("template adapter: send_message is not implemented yet")


class Ending(enum.Enum):
    CANCEL = "cancel"
    CLOSE = "close"


def end_conversation(s: Settings, conversation_id: str, ending: Ending) -> None:
    """TODO: cancel / close at the provider (raise unsupported(...) if it cannot)."""
    raise unsupported("template adapter: ending a conversation is not implemented yet")


@dataclass
class Route:
    """Which conversation a webhook concerns."""

    conversation_id: str
    delivery_id: Optional[str] = None


def route_webhook(body: bytes) -> Route:
    """TODO: read the conversation id and delivery id from a webhook body
    (`handover_sdk.webhook.json_body(body)`)."""
    raise error("template adapter: route_webhook is not implemented yet")


def webhook_events(body: bytes, extra: Dict[str, Any]) -> List[Any]:
    """TODO: turn a webhook body into events (events.agent_joined, ...);
    `extra` is the state kept by open_conversation (e.g. a sequence number)."""
    raise error("template adapter: webhook_events is not implemented yet")
