"""Glue between the generated WIT bindings and `provider.py`; adapter
authors never edit this file (all provider logic goes in provider.py).

componentize-py exports the class `Adapter` of this module as the
component's `handover:provider/adapter`. The SDK's typed layer
(`handover_sdk.typed.TypedAdapter`) parses the settings with
`provider.Settings`, loads and saves the `State` below, and turns
failures into `Err(Failure(...))`; each hook calls one provider function.
The name and version that `describe` reports come from `adapter_meta.py`,
which `adapters/python/build.sh` writes (the source folder's name, and
`ADAPTER_VERSION`).
"""

from dataclasses import dataclass, field
from typing import Any, Dict

from wit_world import exports

from handover_sdk import describe, http, webhook  # noqa: F401  (http: load the wasi:http transport at build time)
from handover_sdk.typed import Output, TypedAdapter

import provider

try:
    from adapter_meta import NAME, VERSION  # written by build.sh
except ImportError:  # unit tests, outside a build
    NAME, VERSION = "template", "0.0.0"


@dataclass
class State:
    """What the host keeps between calls: the provider's conversation id
    plus whatever else provider.py needs (as JSON)."""

    conversation_id: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)


class Adapter(TypedAdapter, exports.Adapter):
    Settings = provider.Settings
    State = State

    def info(self):
        return describe.info(NAME, VERSION, provider.CHANNELS, provider.CAPABILITIES, provider.POLLING,
                             signature=provider.webhook_signature())

    def on_start(self, cx, state, conversation):
        opened = provider.open_conversation(cx.settings, conversation)
        state.conversation_id = opened.id
        state.extra = opened.extra
        return Output(list(opened.events)).with_key(opened.id)

    def on_user_message(self, cx, state, user_input):
        provider.send_message(cx.settings, state.conversation_id, user_input)

    def on_cancel(self, cx, state):
        provider.end_conversation(cx.settings, state.conversation_id, provider.Ending.CANCEL)

    def on_close(self, cx, state):
        provider.end_conversation(cx.settings, state.conversation_id, provider.Ending.CLOSE)

    def on_route_webhook(self, settings, request):
        route = provider.route_webhook(request.body)
        return webhook.route([route.conversation_id], route.delivery_id)

    def on_handle_webhook(self, cx, state, request):
        return provider.webhook_events(request.body, state.extra)
