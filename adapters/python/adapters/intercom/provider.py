"""Provider logic for Intercom (https://developers.intercom.com), REST API
version 2.16: the handover becomes an Intercom conversation started by the
user's contact, teammates answer it in the Intercom Inbox, and Intercom's
webhooks (topics `conversation.*`) bring their actions back.

The calls, all documented in Intercom's OpenAPI description (a trimmed copy
is tests/kit/providers/intercom/openapi.json):

- start: `GET /contacts/find_by_external_id/{external_id}` (the contact whose
  external_id is the handover's `user_id`; `POST /contacts` creates it when
  Intercom has none), `POST /conversations` from that contact with the
  transcript as its first message, then `PUT /conversations/{id}` to set the
  conversation's custom attribute `handover_id` (Intercom's create call has
  no field for it);
- user message: `POST /conversations/{id}/reply` as that contact (its
  Intercom id is read with `GET /conversations/{id}` first: `send_message`
  gets no adapter state, see the note there);
- cancel / close: `POST /conversations/{id}/parts` with `message_type:
  close`, on behalf of the admin (teammate) in the `admin_id` setting.

Webhooks (Intercom "notifications", signed `X-Hub-Signature: sha1=<hex
HMAC-SHA1 of the body>` with the app's client secret) are routed by the
conversation id `data.item.id`; the notification `id` is the delivery id
the host drops duplicates by. Subscribe the app to
`conversation.admin.assigned`, `conversation.admin.replied`,
`conversation.admin.closed`, and also `conversation.user.replied` and
`conversation.admin.noted`: their parts carry no event but keep the part
count below contiguous.

Order: Intercom does not promise to deliver notifications in order, and
numbers none of them. Each notification's conversation has
`statistics.count_conversation_parts`, the number of parts so far, which
numbers its newest part(s): a part that comes after one not seen yet waits
in the state until the gap fills (for at most `reorder_window` waiting
notifications), and a part seen already is dropped (the host drops a
redelivered notification by its `id` before that). Parts made before the
handover id was set (the count the update answered with) pass once,
whenever they come.
"""

import enum
import html
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from handover_sdk import channels, convert, describe, error, events, http, log, settings, signature, webhook, wit

PROVIDER = "Intercom"
# Intercom conversations are text: the bot's text channels hand over;
# voice (and anything else) does not, unless the `channels` setting says so.
CHANNELS = ["webchat", "messenger", "whatsapp", "sms", "telegram", "line", "instagram"]
CAPABILITIES = describe.capabilities(attachments=True, bot_side_close=True, transcript=True)
POLLING = describe.NO_POLLING

# Part types that (re)assign the conversation; `assigned_to` says to whom.
ASSIGNMENT_PARTS = ("assignment", "assign_and_reopen", "assign_and_unsnooze", "default_assignment",
                    "away_mode_assignment")


def webhook_signature() -> Optional["wit.WebhookSignature"]:
    # Intercom signs the raw body with the app's client secret; no timestamp
    # and no delivery-id header (the delivery id is the body's `id`).
    return signature.hmac_sha1("X-Hub-Signature", prefix="sha1=")


@dataclass
class Settings:
    base_url: str
    """https://api.intercom.io (or the EU / AU region's host)."""
    admin_id: str
    """The teammate (admin) on whose behalf the bot closes conversations."""
    api_version: str = "2.16"
    """Sent as `Intercom-Version`."""
    handover_attribute: str = "handover_id"
    """The conversation data attribute (a String) that gets the handover id."""
    create_contacts: bool = True
    """Create the user's contact when none has the handover's user_id as external_id."""
    reorder_window: int = 8
    """Out-of-order notifications kept waiting for an earlier part, at most."""
    channels: Optional[List[str]] = None

    def validate(self) -> None:
        self.base_url = settings.require_http_url("base_url", self.base_url)
        for name in ("admin_id", "api_version", "handover_attribute"):
            if not getattr(self, name).strip():
                raise settings.invalid(name, "must not be empty")
        settings.require_min("reorder_window", self.reorder_window, 1)
        settings.require_max("reorder_window", self.reorder_window, 64, echo=True)
        settings.require_channels(self.channels)


def _headers(s: Settings) -> Dict[str, str]:
    # Credentials (Authorization: Bearer ...) are added by the host.
    return {"Intercom-Version": s.api_version}


def _url(s: Settings, *segments: str) -> str:
    return s.base_url + "".join("/" + http.path_segment(x) for x in segments)


@dataclass
class Opened:
    id: str
    events: List[Any] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Contact:
    id: str


@dataclass
class Created:
    """`POST /conversations` answers the user's first message."""

    conversation_id: str


@dataclass
class Statistics:
    count_conversation_parts: Optional[int] = None


@dataclass
class Author:
    type: str = ""
    id: Optional[str] = None
    name: Optional[str] = None


@dataclass
class Source:
    author: Optional[Author] = None


@dataclass
class ContactRef:
    id: str = ""


@dataclass
class ContactList:
    contacts: List[ContactRef] = field(default_factory=list)


@dataclass
class Conversation:
    id: str
    statistics: Optional[Statistics] = None
    source: Optional[Source] = None
    contacts: Optional[ContactList] = None


def _find_contact(s: Settings, user_id: str) -> Optional[str]:
    try:
        found = http.get_json(_url(s, "contacts", "find_by_external_id", user_id), _headers(s), into=Contact)
    except http.HttpError as e:
        if e.status == 404:
            return None
        raise
    return found.id


def _contact(s: Settings, c: "wit.Conversation") -> str:
    if not c.user_id.strip():
        raise error("the handover has no user_id: Intercom needs a contact (its external_id) to open a conversation")
    found = _find_contact(s, c.user_id)
    if found:
        return found
    if not s.create_contacts:
        raise error(f"Intercom has no contact with external_id {c.user_id!r} (and create_contacts is off)")
    body: Dict[str, Any] = {"role": "user", "external_id": c.user_id}
    profile = {kv.key: kv.value for kv in c.user_profile}
    for key in ("name", "email", "phone"):
        if profile.get(key):
            body[key] = profile[key]
    return http.post_json(_url(s, "contacts"), body, _headers(s), into=Contact).id


_AUTHORS = {"user": "User", "bot": "Bot", "agent": "Agent", "system": "System"}


def _author(entry: "wit.TranscriptEntry") -> str:
    return _AUTHORS.get(entry.author.name.lower(), "User")


def _opening_text(c: "wit.Conversation") -> str:
    """The conversation's first message, plain text (Intercom's create call
    takes no HTML): the transcript, then the routing hints."""
    lines = [f"{_author(t)}: {t.text}" for t in c.transcript if t.text.strip()]
    text = "\n".join(lines) if lines else "The user asked to talk to a person."
    extras = []
    if c.routing.skills:
        extras.append("skills: " + ", ".join(c.routing.skills))
    if c.routing.queue:
        extras.append(f"queue: {c.routing.queue}")
    extras.append(f"channel: {c.channel}")
    if c.locale:
        extras.append(f"locale: {c.locale}")
    return f"{text}\n\n(handed over by the bot; {'; '.join(extras)})"


def open_conversation(s: Settings, c: "wit.Conversation") -> Opened:
    channels.check(c.channel, s.channels, CHANNELS, PROVIDER)
    contact_id = _contact(s, c)
    body = {"from": {"type": "user", "id": contact_id}, "body": _opening_text(c)}
    created = http.post_json(_url(s, "conversations"), body, _headers(s), into=Created)
    try:
        tagged = http.request_json(
            "PUT", _url(s, "conversations", created.conversation_id),
            {"custom_attributes": {s.handover_attribute: c.handover_id}}, _headers(s), into=Conversation)
    except Exception:
        # The conversation exists but cannot be tied to the handover: close it
        # (best effort) so no teammate picks up a conversation nobody follows.
        _close_quietly(s, created.conversation_id)
        raise
    parts = tagged.statistics.count_conversation_parts if tagged.statistics else None
    # The id Intercom answers the update with (the same conversation).
    return Opened(id=tagged.id or created.conversation_id, events=[events.queued()],
                  extra={"last_part": parts or 0, "start_parts": parts or 0, "early_seen": [], "held": [],
                         "agent": None, "reorder_window": s.reorder_window})


def _contact_of(conv: Conversation) -> Optional[str]:
    author = conv.source.author if conv.source else None
    if author and author.id and author.type in ("user", "lead", "contact"):
        return author.id
    if conv.contacts and conv.contacts.contacts:
        return conv.contacts.contacts[0].id or None
    return None


def send_message(s: Settings, conversation_id: str, user_input: "wit.UserInput") -> None:
    # The reply is made as the conversation's contact. send_message is not
    # given the adapter state (app.py passes only the conversation id), so
    # the contact's Intercom id is read from the conversation each time.
    conv = http.get_json(_url(s, "conversations", conversation_id), _headers(s), into=Conversation)
    contact_id = _contact_of(conv)
    if not contact_id:
        raise error(f"Intercom conversation {conversation_id} has no contact to reply as")
    urls = [a.url for a in user_input.attachments][:10]
    body: Dict[str, Any] = {"message_type": "comment", "type": "user", "intercom_user_id": contact_id,
                            "body": user_input.text or ("(attachment)" if urls else "")}
    if urls:
        body["attachment_urls"] = urls
    http.post_json(_url(s, "conversations", conversation_id, "reply"), body, _headers(s))


class Ending(enum.Enum):
    CANCEL = "cancel"
    CLOSE = "close"


_ENDING_NOTE = {
    Ending.CANCEL: "The user cancelled the handover in the bot.",
    Ending.CLOSE: "The bot closed the handover (the user went quiet or the bot ended it).",
}


def _close(s: Settings, conversation_id: str, note: str) -> None:
    body = {"message_type": "close", "type": "admin", "admin_id": s.admin_id, "body": note}
    http.post_json(_url(s, "conversations", conversation_id, "parts"), body, _headers(s))


def _close_quietly(s: Settings, conversation_id: str) -> None:
    try:
        _close(s, conversation_id, "The bot could not link this conversation to its handover.")
    except Exception as e:  # noqa: BLE001 (best effort; the original failure is reported)
        log.warn("could not close the unlinked Intercom conversation", conversation=conversation_id, error=str(e))


def end_conversation(s: Settings, conversation_id: str, ending: Ending) -> None:
    _close(s, conversation_id, _ENDING_NOTE[ending])


@dataclass
class Route:
    conversation_id: str
    delivery_id: Optional[str] = None


# --- webhooks -------------------------------------------------------------


@dataclass
class Attachment:
    url: str = ""
    content_type: Optional[str] = None
    name: Optional[str] = None


@dataclass
class Part:
    part_type: str = ""
    body: Optional[str] = None
    author: Optional[Author] = None
    assigned_to: Optional[Author] = None
    attachments: List[Attachment] = field(default_factory=list)


@dataclass
class Item:
    type: str = ""
    id: Optional[str] = None
    statistics: Optional[Statistics] = None


@dataclass
class Data:
    item: Optional[Item] = None


@dataclass
class Notification:
    type: str = ""
    id: Optional[str] = None
    topic: str = ""
    data: Optional[Data] = None


def _notification(body: bytes) -> Notification:
    return webhook.json_body(body, into=Notification)


def _conversation(n: Notification) -> Optional[Item]:
    item = n.data.item if n.data else None
    return item if item is not None and item.type == "conversation" and item.id else None


def route_webhook(body: bytes) -> Route:
    n = _notification(body)
    item = _conversation(n)
    # Anything but a conversation (`ping`, contact topics...) concerns no
    # handover: an empty key, which the host finds nothing under.
    return Route(conversation_id=item.id if item else "", delivery_id=n.id)


def webhook_events(body: bytes, extra: Dict[str, Any]) -> List[Any]:
    n = _notification(body)
    item = _conversation(n)
    if item is None:
        return []
    parts = _raw_parts(body)
    count = item.statistics.count_conversation_parts if item.statistics else None
    if count is None or not parts:
        # Nothing to order by: the parts as they come.
        return _events_of(parts, extra)
    # The parts are the conversation's newest, numbered count-k+1 .. count.
    first = count - len(parts) + 1
    last = int(extra.get("last_part", 0))
    start = int(extra.get("start_parts", 0))
    early = list(extra.get("early_seen", []))
    held = list(extra.get("held", []))
    out: List[Any] = []
    for i, part in enumerate(parts):
        number = first + i
        if number <= start:
            # A part made before the conversation got its handover id (an
            # assignment rule can act at once): passed on once, when it comes.
            if number not in early:
                early.append(number)
                out += _events_of([part], extra)
        elif number <= last:
            pass  # passed on already: a repeat (e.g. the same part under another topic)
        elif all(h["n"] != number for h in held):
            held.append({"n": number, "part": part})
    extra["early_seen"] = early
    held.sort(key=lambda h: h["n"])
    window = int(extra.get("reorder_window") or Settings.reorder_window)
    # Pass on what follows without a gap; past the window, stop waiting.
    while held and (held[0]["n"] == last + 1 or len(held) > window):
        entry = held.pop(0)
        last = max(last, entry["n"])
        out += _events_of([entry["part"]], extra)
    extra["last_part"] = last
    extra["held"] = held
    return out


_KEEP = ("part_type", "body", "author", "assigned_to", "attachments")


def _raw_parts(body: bytes) -> List[Dict[str, Any]]:
    """The notification's parts as JSON (only the fields used), to keep in
    the state while they wait."""
    doc = webhook.json_body(body)
    parts = (((doc.get("data") or {}).get("item") or {}).get("conversation_parts") or {}).get("conversation_parts") or []
    return [{k: p.get(k) for k in _KEEP if p.get(k) is not None} for p in parts if isinstance(p, dict)]


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*br\s*/?\s*>|</\s*(p|div|li|h[1-6])\s*>", re.IGNORECASE)


def plain_text(body: Optional[str]) -> str:
    """A part body as text: plain in webhooks of API 2.15+, HTML before."""
    if not body:
        return ""
    if "<" not in body:
        return body
    text = _TAG.sub("", _BREAK.sub("\n", body))
    return html.unescape(text).strip()


def _agent(author: Optional[Author]) -> "wit.Agent":
    return events.agent((author.id or "") if author else "", (author.name or "") if author else "")


def _events_of(raw_parts: List[Dict[str, Any]], extra: Dict[str, Any]) -> List[Any]:
    out: List[Any] = []
    for raw in raw_parts:
        part = convert.from_json(Part, raw)
        author = part.author or Author()
        kind = part.part_type
        if kind in ASSIGNMENT_PARTS and part.assigned_to is not None:
            out += _assigned(part, extra)
        elif kind == "comment" and author.type == "admin":
            who = _agent(author)
            if not extra.get("agent"):
                # A teammate who answers has joined, assignment or not.
                extra["agent"] = {"id": who.id, "name": who.name}
                out.append(events.agent_joined(who))
            files = [events.attachment(a.url, a.content_type or "application/octet-stream", a.name)
                     for a in part.attachments if a.url]
            out.append(events.agent_message(who, plain_text(part.body), files))
        elif kind == "close":
            reason = events.AGENT_CLOSED if author.type == "admin" else events.PROVIDER_CLOSED
            out.append(events.ended(reason))
        # Everything else (the user's own replies, notes, bot and workflow
        # parts, snoozes, attribute updates) tells the bot nothing.
    return out


def _assigned(part: Part, extra: Dict[str, Any]) -> List[Any]:
    to = part.assigned_to
    if to is None or not to.id or to.type != "admin":
        if extra.get("agent") and to is not None and to.type == "team" and to.id:
            return [events.transferred(to_queue=to.id)]
        return []
    author = part.author or Author()
    # The assignee's name is in the part only when they took it themselves.
    name = (author.name or "") if author.id == to.id else ""
    who = events.agent(to.id, name)
    current = extra.get("agent")
    extra["agent"] = {"id": who.id, "name": who.name}
    if not current:
        return [events.agent_joined(who)]
    if current.get("id") != who.id:
        return [events.transferred(to_agent=who)]
    return []
