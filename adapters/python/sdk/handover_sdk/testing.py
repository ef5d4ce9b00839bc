"""Unit-test helpers for adapters, runnable with plain CPython (no host, no
component): a fake HTTP transport that records requests and answers from a
script, builders for the contract's records, and `failure_of` to read the
failure a call raised (an `AdapterFailure` or the export's `Err(Failure)`).

    fake = FakeTransport().on("POST", "/conversations", 201, {"id": "c-1"})
    with fake.installed():
        step = app.Adapter().start(ctx({"base_url": "http://p"}), conversation())
    assert fake.requests[0].json() == {...}
"""

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from handover_sdk import http, wit
from handover_sdk.contract import VERSION
from handover_sdk.failure import AdapterFailure
from handover_sdk.stubs import LOG  # noqa: F401  (log calls recorded outside a component)
from handover_sdk.transport import RawResponse, Request, TransportError


@dataclass
class Sent:
    """A request the fake transport received."""

    method: str
    url: str
    path: str
    """Path and query."""
    headers: Dict[str, str]
    body: Optional[bytes]
    timeout_s: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Answer = Union[RawResponse, TransportError, Callable[[Sent], RawResponse]]


class FakeTransport:
    """Answers by (method, path) route (`on`), else from a queue (`then`),
    else 404. A route's answers are used in turn; the last one repeats."""

    def __init__(self) -> None:
        self.requests: List[Sent] = []
        self._routes: Dict[Tuple[str, str], List[Answer]] = {}
        self._queue: List[Answer] = []

    @staticmethod
    def answer(status: int = 200, body: Any = None, headers: Optional[Dict[str, str]] = None) -> RawResponse:
        """A response; a body that is not bytes is sent as JSON."""
        data = body if isinstance(body, (bytes, bytearray)) else (b"" if body is None else json.dumps(body).encode())
        return RawResponse(status, list((headers or {"content-type": "application/json"}).items()), bytes(data))

    def on(self, method: str, path: str, status: int = 200, body: Any = None, **kw) -> "FakeTransport":
        """Answers `method path` (path without query) with status and JSON body."""
        self._routes.setdefault((method.upper(), path), []).append(self.answer(status, body, kw.get("headers")))
        return self

    def fail(self, method: str, path: str, message: str = "ConnectionRefused") -> "FakeTransport":
        """`method path` gets no response (a transport error)."""
        self._routes.setdefault((method.upper(), path), []).append(TransportError(message))
        return self

    def then(self, answer: Answer) -> "FakeTransport":
        """Queues an answer for the next request that matches no route."""
        self._queue.append(answer)
        return self

    def __call__(self, request: Request) -> RawResponse:
        parts = urlsplit(request.url)
        sent = Sent(request.method, request.url, parts.path + (f"?{parts.query}" if parts.query else ""),
                    dict(request.headers), request.body, request.timeout_s)
        self.requests.append(sent)
        answers = self._routes.get((request.method, parts.path))
        if answers:
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        elif self._queue:
            answer = self._queue.pop(0)
        else:
            answer = self.answer(404, {"error": "no such route in FakeTransport"})
        if isinstance(answer, TransportError):
            raise answer
        return answer(sent) if callable(answer) else answer

    @contextlib.contextmanager
    def installed(self):
        """Routes the SDK's HTTP client through this fake inside the block."""
        previous = http.set_transport(self)
        try:
            yield self
        finally:
            http.set_transport(previous)


def failure_of(call: Callable, *args, **kwargs) -> "wit.Failure":
    """Runs `call` and returns the failure it raised; AssertionError if none."""
    try:
        result = call(*args, **kwargs)
    except AdapterFailure as f:
        return f.to_wit()
    except wit.Err as e:
        return e.value
    raise AssertionError(f"expected a failure, got {result!r}")


def ctx(settings: Union[dict, str], handover_id: str = "h-1") -> "wit.CallContext":
    text = settings if isinstance(settings, str) else json.dumps(settings)
    return wit.CallContext(handover_id=handover_id, settings=text)


def entry(author: str, text: str, timestamp_ms: int = 1_700_000_000_000) -> "wit.TranscriptEntry":
    return wit.TranscriptEntry(author=wit.Author[author.upper()], text=text, timestamp_ms=timestamp_ms)


def pairs(mapping: Dict[str, str]) -> List["wit.KeyValue"]:
    return [wit.KeyValue(key=k, value=v) for k, v in mapping.items()]


def conversation(channel: str = "webchat", handover_id: str = "h-1", **fields) -> "wit.Conversation":
    """A conversation with one user entry; keyword arguments replace fields."""
    base = dict(
        handover_id=handover_id, session_id="s-1", user_id="u-1", channel=channel, locale="en-US",
        user_profile=[], transcript=[entry("user", "I need a human")],
        routing=wit.Routing(skills=["support"], language="en", priority=None, queue=None, custom=[]),
        context="{}",
    )
    base.update(fields)
    return wit.Conversation(**base)


def user_input(text: str, kind: str = "text", id: str = "m-1") -> "wit.UserInput":
    """User input (with the host's message `id` under contract 0.2.0)."""
    fields = dict(kind=wit.InputKind[kind.upper()], text=text, attachments=[])
    if VERSION == "0.2.0":
        fields["id"] = id
    return wit.UserInput(**fields)


def request(body: Union[dict, bytes], headers: Optional[Dict[str, str]] = None,
            path: str = "/v1/webhooks/ep") -> "wit.HttpRequest":
    """A webhook request; a dict body is sent as JSON."""
    data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
    return wit.HttpRequest(method="POST", path=path, headers=pairs(headers or {}), body=bytes(data))
