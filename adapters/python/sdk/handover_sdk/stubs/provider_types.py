"""Stand-in for the generated `wit_world.imports.handover_provider_types`
(componentize-py 0.25 names and shapes: records are dataclasses, enums are
`Enum`s with UPPER_CASE members, variant cases are `Variant_Case`
dataclasses with a `value` field when they carry data). Used only outside a
component; tests/test_stubs.py compares it with the generated stubs.
"""

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional, Union


@dataclass
class KeyValue:
    key: str
    value: str


class FailureReason(Enum):
    UNSUPPORTED = 0
    ERROR = 1


@dataclass
class Failure:
    reason: FailureReason
    message: str


class Author(Enum):
    USER = 0
    BOT = 1
    AGENT = 2
    SYSTEM = 3


@dataclass
class TranscriptEntry:
    author: Author
    text: str
    timestamp_ms: int


@dataclass
class Routing:
    skills: List[str]
    language: Optional[str]
    priority: Optional[int]
    queue: Optional[str]
    custom: List[KeyValue]


@dataclass
class Conversation:
    handover_id: str
    session_id: str
    user_id: str
    channel: str
    locale: str
    user_profile: List[KeyValue]
    transcript: List[TranscriptEntry]
    routing: Routing
    context: str


@dataclass
class Attachment:
    url: str
    content_type: str
    name: Optional[str]


@dataclass
class Agent:
    id: str
    name: str


@dataclass
class QueueInfo:
    position: Optional[int]
    estimated_wait_seconds: Optional[int]


@dataclass
class AgentMessage:
    agent: Optional[Agent]
    text: str
    attachments: List[Attachment]


@dataclass
class Transfer:
    to_queue: Optional[str]
    to_agent: Optional[Agent]


@dataclass
class EndReason_AgentClosed:
    pass


@dataclass
class EndReason_AgentLeft:
    pass


@dataclass
class EndReason_ProviderClosed:
    pass


@dataclass
class EndReason_NoAgentAvailable:
    pass


@dataclass
class EndReason_Other:
    value: str


EndReason = Union[EndReason_AgentClosed, EndReason_AgentLeft, EndReason_ProviderClosed,
                  EndReason_NoAgentAvailable, EndReason_Other]


@dataclass
class Event_Queued:
    value: QueueInfo


@dataclass
class Event_AgentJoined:
    value: Agent


@dataclass
class Event_AgentMessage:
    value: AgentMessage


@dataclass
class Event_AgentTyping:
    value: bool


@dataclass
class Event_AgentLeft:
    value: Agent


@dataclass
class Event_Transferred:
    value: Transfer


@dataclass
class Event_Ended:
    value: EndReason


Event = Union[Event_Queued, Event_AgentJoined, Event_AgentMessage, Event_AgentTyping,
              Event_AgentLeft, Event_Transferred, Event_Ended]


class InputKind(Enum):
    TEXT = 0
    INTENT = 1
    QUICK_REPLY = 2


@dataclass
class UserInput:
    kind: InputKind
    text: str
    attachments: List[Attachment]


@dataclass
class Step:
    state: bytes
    events: List[Event]
    correlation_keys: List[str]


@dataclass
class CallContext:
    handover_id: str
    settings: str


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: List[KeyValue]
    body: bytes


@dataclass
class HttpResponse:
    status: int
    headers: List[KeyValue]
    body: bytes


@dataclass
class WebhookRoute:
    response: HttpResponse
    delivery_id: Optional[str]
    correlation_keys: List[str]


@dataclass
class Availability:
    agents_available: bool
    open: bool
    estimated_wait_seconds: Optional[int]
    message: Optional[str]


@dataclass
class Capabilities:
    attachments: bool
    typing: bool
    queue_position: bool
    availability_check: bool
    bot_side_close: bool
    transcript: bool


class SignatureAlgorithm(Enum):
    HMAC_SHA256 = 0
    HMAC_SHA1 = 1
    HMAC_SHA512 = 2
    SHARED_SECRET = 3


class SignatureEncoding(Enum):
    HEX = 0
    BASE64 = 1


@dataclass
class SignedContent_Body:
    pass


@dataclass
class SignedContent_TimestampThenBody:
    value: str


@dataclass
class SignedContent_UrlThenBody:
    pass


SignedContent = Union[SignedContent_Body, SignedContent_TimestampThenBody, SignedContent_UrlThenBody]


@dataclass
class WebhookSignature:
    algorithm: SignatureAlgorithm
    header: str
    encoding: SignatureEncoding
    prefix: Optional[str]
    signed: SignedContent
    timestamp_header: Optional[str]
    delivery_id_header: Optional[str]


class PollMode(Enum):
    NONE = 0
    PERIODIC = 1
    LONG_POLL = 2


@dataclass
class Polling:
    mode: PollMode
    interval_ms: int
    max_wait_ms: int


@dataclass
class AdapterInfo:
    name: str
    version: str
    channels: List[str]
    capabilities: Capabilities
    webhook_signature: Optional[WebhookSignature]
    polling: Polling
    settings_schema: str
