"""Helpers for the two webhook phases: reading a request's headers and
JSON body (a malformed body is a failure, which the host answers 400) and
building the `webhook-route` that `route-webhook` returns.
"""

import json
from typing import Any, Optional, Sequence

from handover_sdk import wit
from handover_sdk.convert import Invalid, from_json
from handover_sdk.failure import error


def header(request: "wit.HttpRequest", name: str) -> Optional[str]:
    """The first value of header `name` (case-insensitive), or None."""
    name = name.lower()
    return next((kv.value for kv in request.headers if kv.key.lower() == name), None)


def json_body(body: bytes, into: Any = None) -> Any:
    """The body as JSON (converted to `into` if given), or the failure
    ``malformed webhook body: …``."""
    try:
        value = json.loads(bytes(body))
        return from_json(into, value) if into is not None else value
    except ValueError as e:
        raise error(f"malformed webhook body: {e}") from None
    except Invalid as e:
        raise error(f"malformed webhook body: {e.located()}") from None


def route(
    correlation_keys: Sequence[str],
    delivery_id: Optional[str] = None,
    status: int = 200,
    body: bytes = b"{}",
    content_type: str = "application/json",
) -> "wit.WebhookRoute":
    """Which handovers a webhook concerns, its delivery id, and the response."""
    response = wit.HttpResponse(
        status=status,
        headers=[wit.KeyValue(key="content-type", value=content_type)],
        body=body,
    )
    return wit.WebhookRoute(response=response, delivery_id=delivery_id, correlation_keys=list(correlation_keys))
