"""Provider logic for the sim reference provider (adapters/sim/PROTOCOL.md),
filled into the Python template's provider.py: the Python twin of
FILLED_PROVIDER in host/tests/all/template.rs. Copied over provider.py of
a template copy, it builds an adapter that passes the conformance kit
(`handover-kit conformance OUT.wasm --simulator sim`).

One addition over the Rust fill: webhooks that arrive before an earlier
`seq` are held in the state until the gap fills (as adapters/sim-logic
does), so the "out-of-order webhooks" scenario passes too.
"""

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from handover_sdk import channels, convert, describe, events, http, settings, signature, webhook, wit

CHANNELS = ["webchat", "sms"]
MAX_HELD = 32
"""Early webhooks held for a gap in `seq`; past this the gap counts as lost."""
CAPABILITIES = describe.NONE
POLLING = describe.NO_POLLING


def webhook_signature() -> Optional["wit.WebhookSignature"]:
    return signature.hmac_sha256(
        "X-Sim-Signature",
        prefix="sha256=",
        signed=signature.timestamp_then_body("."),
        timestamp_header="X-Sim-Timestamp",
        delivery_id_header="X-Sim-Delivery",
    )


@dataclass
class Settings:
    base_url: str

    def validate(self) -> None:
        self.base_url = settings.require_http_url("base_url", self.base_url)


@dataclass
class Opened:
    id: str
    events: List[Any] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Created:
    id: str
    queue_position: Optional[int] = None
    estimated_wait_seconds: Optional[int] = None


def open_conversation(s: Settings, c: "wit.Conversation") -> Opened:
    channels.check(c.channel, None, CHANNELS, "sim")
    transcript = [{"author": "user", "text": t.text, "ts": t.timestamp_ms} for t in c.transcript]
    body = {"handover_id": c.handover_id, "session_id": c.session_id, "user_id": c.user_id,
            "channel": c.channel, "locale": c.locale, "transcript": transcript,
            "routing": {"skills": list(c.routing.skills)}}
    created = http.post_json(f"{s.base_url}/conversations", body, into=Created)
    queued = events.queued(created.queue_position, created.estimated_wait_seconds)
    return Opened(id=created.id, events=[queued], extra={"last_seq": 1})


def send_message(s: Settings, conversation_id: str, user_input: "wit.UserInput") -> None:
    url = f"{s.base_url}/conversations/{http.path_segment(conversation_id)}/messages"
    http.post_json(url, {"text": user_input.text, "kind": "text", "attachments": []})


class Ending(enum.Enum):
    CANCEL = "cancel"
    CLOSE = "close"


def end_conversation(s: Settings, conversation_id: str, ending: Ending) -> None:
    url = f"{s.base_url}/conversations/{http.path_segment(conversation_id)}/{ending.value}"
    http.post_json(url, {})


@dataclass
class Route:
    conversation_id: str
    delivery_id: Optional[str] = None


@dataclass
class Agent:
    id: str
    name: str


@dataclass
class Hook:
    event_id: str
    conversation_id: str
    seq: int
    type: str
    agent: Optional[Agent] = None
    text: Optional[str] = None
    reason: Optional[str] = None


def route_webhook(body: bytes) -> Route:
    hook = webhook.json_body(body, into=Hook)
    return Route(conversation_id=hook.conversation_id, delivery_id=hook.event_id)


def webhook_events(body: bytes, extra: Dict[str, Any]) -> List[Any]:
    hook = webhook.json_body(body, into=Hook)
    last = extra.get("last_seq", 0)
    held = [convert.from_json(Hook, h) for h in extra.get("held", [])]
    if hook.seq <= last or any(h.seq == hook.seq for h in held):
        return []
    held = sorted(held + [hook], key=lambda h: h.seq)
    out = []
    while held and (held[0].seq == last + 1 or len(held) > MAX_HELD):
        next_hook = held.pop(0)
        last = next_hook.seq
        out += _events(next_hook)
    extra["last_seq"] = last
    extra["held"] = convert.to_json(held)
    return out


def _events(hook: Hook) -> List[Any]:
    who = events.agent(hook.agent.id, hook.agent.name) if hook.agent else None
    if hook.type == "agent_joined":
        return [events.agent_joined(who or events.agent("", ""))]
    if hook.type == "agent_message":
        return [events.agent_message(who, hook.text or "")]
    if hook.type == "ended":
        reason = events.NO_AGENT_AVAILABLE if hook.reason == "no_agent" else events.AGENT_CLOSED
        return [events.ended(reason)]
    return []
