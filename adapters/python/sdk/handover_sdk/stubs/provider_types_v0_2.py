"""Stand-in for the generated `handover_provider_types` of contract 0.2.0:
everything of 0.1.0 (`provider_types`), with the records 0.2.0 changed
(`AgentMessage.actions`, `UserInput.id`, `Capabilities`' new flags,
`AdapterInfo.permissions` and `.webhook_routing`) and its new types. Used
only outside a component, when `HANDOVER_CONTRACT=0.2.0`;
tests/test_stubs.py compares the two modules together with the generated
stubs of wit/v0.2.0.
"""

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional, Union

from handover_sdk.stubs.provider_types import *  # noqa: F401,F403
from handover_sdk.stubs.provider_types import (
    Agent,
    Attachment,
    HttpResponse,
    InputKind,
    Polling,
    WebhookSignature,
)


@dataclass
class QuickReply:
    title: str
    payload: str


@dataclass
class Link:
    title: str
    url: str


@dataclass
class Action_QuickReply:
    value: QuickReply


@dataclass
class Action_Link:
    value: Link


Action = Union[Action_QuickReply, Action_Link]


@dataclass
class AgentMessage:
    agent: Optional[Agent]
    text: str
    attachments: List[Attachment]
    actions: List[Action]


@dataclass
class HandBack:
    variables: str
    note: Optional[str]


@dataclass
class WrapUp:
    disposition: Optional[str]
    resolution_code: Optional[str]
    notes: Optional[str]


@dataclass
class Survey:
    score: Optional[int]
    scale_max: int
    comment: Optional[str]


class ReceiptStatus(Enum):
    DELIVERED = 0
    READ = 1


@dataclass
class Receipt:
    message_ids: List[str]
    status: ReceiptStatus
    timestamp_ms: Optional[int]


@dataclass
class ProviderReference:
    kind: str
    id: str
    url: Optional[str]


@dataclass
class Event_ReturnedToBot:
    value: HandBack


@dataclass
class Event_WrapUp:
    value: WrapUp


@dataclass
class Event_Survey:
    value: Survey


@dataclass
class Event_Receipt:
    value: Receipt


@dataclass
class Event_ProviderReference:
    value: ProviderReference


@dataclass
class UserInput:
    id: str
    kind: InputKind
    text: str
    attachments: List[Attachment]


@dataclass
class Capabilities:
    attachments: bool
    typing: bool
    queue_position: bool
    availability_check: bool
    bot_side_close: bool
    transcript: bool
    hand_back: bool
    wrap_up: bool
    receipts: bool
    user_typing: bool
    rich_messages: bool


@dataclass
class Permissions:
    egress: List[str]
    secrets: List[str]


@dataclass
class Locator_Header:
    value: str


@dataclass
class Locator_JsonPointer:
    value: str


Locator = Union[Locator_Header, Locator_JsonPointer]


@dataclass
class WebhookRouting:
    correlation_key: Locator
    key_prefix: str
    delivery_id: Optional[Locator]
    response: HttpResponse


@dataclass
class AdapterInfo:
    name: str
    version: str
    channels: List[str]
    capabilities: Capabilities
    webhook_signature: Optional[WebhookSignature]
    polling: Polling
    settings_schema: str
    permissions: Permissions
    webhook_routing: Optional[WebhookRouting]
