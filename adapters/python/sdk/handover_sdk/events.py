"""Event builders: one short function per case of the WIT `event` variant
(`queued`, `agent_joined`, `agent_message`, `typing`, `agent_left`,
`transferred`, `ended`), plus `agent`, `attachment` and the end reasons.
They return the generated binding types, ready to put in a step.
"""

from typing import List, Optional

from handover_sdk import wit
from handover_sdk.contract import VERSION

AGENT_CLOSED = wit.EndReason_AgentClosed()
AGENT_LEFT = wit.EndReason_AgentLeft()
PROVIDER_CLOSED = wit.EndReason_ProviderClosed()
NO_AGENT_AVAILABLE = wit.EndReason_NoAgentAvailable()


def other(reason: str) -> "wit.EndReason":
    """An end reason the variant has no case for, described by the adapter."""
    return wit.EndReason_Other(reason)


def agent(id: str, name: str) -> "wit.Agent":
    return wit.Agent(id=id, name=name)


def attachment(url: str, content_type: str, name: Optional[str] = None) -> "wit.Attachment":
    return wit.Attachment(url=url, content_type=content_type, name=name)


def queued(position: Optional[int] = None, estimated_wait_seconds: Optional[int] = None) -> "wit.Event":
    """The conversation waits in the provider's queue."""
    return wit.Event_Queued(wit.QueueInfo(position=position, estimated_wait_seconds=estimated_wait_seconds))


def agent_joined(who: "wit.Agent") -> "wit.Event":
    return wit.Event_AgentJoined(who)


def agent_message(who: Optional["wit.Agent"], text: str, attachments: Optional[List["wit.Attachment"]] = None) -> "wit.Event":
    """An agent's message (with buttons and links: `v0_2.rich_message`)."""
    fields = dict(agent=who, text=text, attachments=list(attachments or []))
    if VERSION == "0.2.0":
        fields["actions"] = []
    return wit.Event_AgentMessage(wit.AgentMessage(**fields))


def typing(on: bool) -> "wit.Event":
    """An agent started (`True`) or stopped (`False`) typing."""
    return wit.Event_AgentTyping(bool(on))


def agent_left(who: "wit.Agent") -> "wit.Event":
    return wit.Event_AgentLeft(who)


def transferred(to_queue: Optional[str] = None, to_agent: Optional["wit.Agent"] = None) -> "wit.Event":
    return wit.Event_Transferred(wit.Transfer(to_queue=to_queue, to_agent=to_agent))


def ended(reason: "wit.EndReason") -> "wit.Event":
    """The provider side ended the conversation (e.g. `ended(AGENT_CLOSED)`)."""
    return wit.Event_Ended(reason)
