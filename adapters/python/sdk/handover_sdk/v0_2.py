"""What contract 0.2.0 adds (the adapter folder's `CONTRACT` file says
0.2.0): builders for its new events and for agent messages with buttons
and links. Each fails with a `TypeError` naming the fix in a 0.1.0 build.
The contract's text: wit/v0.2.0/handover.wit.
"""

import json
from typing import Any, List, Optional

from handover_sdk import wit
from handover_sdk.contract import require_0_2


def quick_reply(title: str, payload: str) -> Any:
    """A button: pressing it sends `payload` as the user's quick-reply input."""
    require_0_2("a quick reply")
    return wit.Action_QuickReply(wit.QuickReply(title=title, payload=payload))


def link(title: str, url: str) -> Any:
    """A link the user can open."""
    require_0_2("a link")
    return wit.Action_Link(wit.Link(title=title, url=url))


def rich_message(who: Optional[Any], text: str, actions: List[Any], attachments: Optional[List[Any]] = None) -> Any:
    """An agent's message with buttons and links to render with it."""
    require_0_2("an agent message with actions")
    message = wit.AgentMessage(agent=who, text=text, attachments=list(attachments or []), actions=list(actions))
    return wit.Event_AgentMessage(message)


def returned_to_bot(variables: dict, note: Optional[str] = None) -> Any:
    """The agent handed the conversation back to the bot with `variables`."""
    require_0_2("returned_to_bot")
    if not isinstance(variables, dict):
        raise TypeError(f"returned_to_bot: variables must be a dict, got {type(variables).__name__}")
    return wit.Event_ReturnedToBot(wit.HandBack(variables=json.dumps(variables), note=note))


def wrap_up(disposition: Optional[str] = None, resolution_code: Optional[str] = None, notes: Optional[str] = None) -> Any:
    """What the agent recorded when wrapping up."""
    require_0_2("wrap_up")
    return wit.Event_WrapUp(wit.WrapUp(disposition=disposition, resolution_code=resolution_code, notes=notes))


def survey(score: Optional[int], scale_max: int, comment: Optional[str] = None) -> Any:
    """A post-chat survey result: `score` out of `scale_max`."""
    require_0_2("survey")
    return wit.Event_Survey(wit.Survey(score=score, scale_max=scale_max, comment=comment))


def receipt(message_ids: List[str], read: bool, timestamp_ms: Optional[int] = None) -> Any:
    """The user's messages of these ids (`user_input.id`) were delivered
    (`read=False`) or read by the agent."""
    require_0_2("receipt")
    status = wit.ReceiptStatus.READ if read else wit.ReceiptStatus.DELIVERED
    return wit.Event_Receipt(wit.Receipt(message_ids=list(message_ids), status=status, timestamp_ms=timestamp_ms))


def provider_reference(kind: str, id: str, url: Optional[str] = None) -> Any:
    """The provider's own record of the conversation (a ticket, a case)."""
    require_0_2("provider_reference")
    return wit.Event_ProviderReference(wit.ProviderReference(kind=kind, id=id, url=url))


def json_routing(pointer: str, key_prefix: str = "", delivery_pointer: Optional[str] = None,
                 response_body: str = "{}") -> Any:
    """Declared webhook routing: the correlation key at JSON pointer
    `pointer` of the body (prefixed with `key_prefix`), the delivery id at
    `delivery_pointer`; answered 200 with `response_body` as JSON."""
    require_0_2("webhook routing")
    delivery = wit.Locator_JsonPointer(delivery_pointer) if delivery_pointer else None
    response = wit.HttpResponse(status=200, headers=[wit.KeyValue(key="content-type", value="application/json")],
                                body=response_body.encode())
    return wit.WebhookRouting(correlation_key=wit.Locator_JsonPointer(pointer), key_prefix=key_prefix,
                              delivery_id=delivery, response=response)
