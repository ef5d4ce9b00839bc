"""The seam between the HTTP client and the network: a transport is any
callable `(Request) -> RawResponse` that raises `TransportError` when no
response came. The real one is `handover_sdk.wasi_http.send`; unit tests
install `handover_sdk.testing.FakeTransport` with `http.set_transport`.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

MAX_RESPONSE_BYTES = 16 << 20
"""Largest response body read; beyond it the call fails."""


@dataclass
class Request:
    method: str
    url: str
    """Absolute http(s) URL."""
    headers: List[Tuple[str, str]]
    """Lower-case names, sent as given (the client adds content-length)."""
    body: Optional[bytes]
    timeout_s: float
    """The whole exchange, connect to last body byte."""


@dataclass
class RawResponse:
    status: int
    headers: List[Tuple[str, str]] = field(default_factory=list)
    """Lower-case names."""
    body: bytes = b""


class TransportError(Exception):
    """No response: connection refused, DNS, denied by the host, timeout.
    `message` is the wasi:http error (e.g. "ConnectionRefused")."""

    def __init__(self, message: str, invalid_request: bool = False):
        super().__init__(message)
        self.message = message
        self.invalid_request = invalid_request
