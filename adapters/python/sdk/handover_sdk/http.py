"""A JSON HTTP client for provider calls (blocking inside an export).

`get_json`, `post_json`, `request_json`, `send` (2xx or `HttpError`) and
`fetch` (any status). Every request with a body carries `content-length`
(the host's wasi:http would otherwise stream it chunked, which some
providers and proxies refuse) plus `content-type: application/json` for
JSON, and every request `accept: application/json` unless set. Each call
has a timeout (`DEFAULT_TIMEOUT_S`, or `timeout=` seconds).

Failures are `HttpError`, an `AdapterFailure` (reason `error`) whose
message says what happened without hosts, queries or credentials:
``POST /conversations: provider unavailable or failing (HTTP 503): <excerpt>``.
The network goes through a transport (see `handover_sdk.transport`);
`set_transport` swaps it for tests.
"""

import json
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote, urlsplit

from handover_sdk.convert import Invalid, from_json
from handover_sdk.failure import AdapterFailure
from handover_sdk import wit
from handover_sdk.transport import RawResponse, Request, TransportError

try:  # the real transport exists only inside a componentize-py build
    from handover_sdk import wasi_http as _wasi
except ImportError:
    _wasi = None

DEFAULT_TIMEOUT_S = 10.0
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_NO_BODY = object()
Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]


class Response(RawResponse):
    """A provider's response (header names lower case)."""

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def json(self, target: str = "response", into: Any = None) -> Any:
        """The body as JSON (empty → None), converted to `into` if given."""
        text = bytes(self.body).strip()
        try:
            value = json.loads(text) if text else None
            return from_json(into, value) if into is not None else value
        except (ValueError, Invalid) as e:
            detail = e.located() if isinstance(e, Invalid) else str(e)
            raise HttpError("decode", target, self.status, detail, excerpt(self.body)) from None


def _problem(status: int) -> str:
    if status == 429:
        return "provider rate limit hit, retry later"
    if 500 <= status <= 599:
        return "provider unavailable or failing"
    if status in (401, 403):
        return "provider rejected the credentials"
    if status == 404:
        return "provider does not know this resource"
    return "provider rejected the request"


class HttpError(AdapterFailure):
    """Why a provider call failed. `kind`: "invalid_request", "transport",
    "status" or "decode"; `target`: "METHOD /path"; `status` when answered."""

    def __init__(self, kind: str, target: str, status: Optional[int], detail: str = "", body_excerpt: str = ""):
        self.kind, self.target, self.status = kind, target, status
        self.detail, self.excerpt = detail, body_excerpt
        if kind == "invalid_request":
            text = f"{target}: invalid request: {detail}"
        elif kind == "transport":
            text = f"{target}: provider unreachable: {detail}"
        elif kind == "status":
            text = f"{target}: {_problem(status)} (HTTP {status})" + (f": {body_excerpt}" if body_excerpt else "")
        else:
            text = f"{target}: unexpected response (HTTP {status}): {detail}; body: {body_excerpt}"
        super().__init__(wit.FailureReason.ERROR, text)


def target(method: str, url: str) -> str:
    """"METHOD /path" without scheme, host, query or credentials."""
    return f"{method} {urlsplit(url).path or '/'}"


def excerpt(body: bytes, chars: int = 200) -> str:
    """The start of a body, whitespace collapsed, for error messages."""
    text = " ".join(bytes(body).decode("utf-8", "replace").split())
    return text if len(text) <= chars else text[:chars] + "…"


def path_segment(segment: str) -> str:
    """Percent-encodes one URL path segment (e.g. a provider id)."""
    return quote(segment, safe="-._~")


_transport = None


def set_transport(transport) -> Any:
    """Routes every request through `transport` (None: the real wasi:http
    one); returns the previous transport, to restore it."""
    global _transport
    previous, _transport = _transport, transport
    return previous


def _pairs(headers: Headers) -> List[Tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return [(str(k).lower(), str(v)) for k, v in items]


def fetch(method: str, url: str, headers: Headers = None, body: Optional[bytes] = None,
          timeout: Optional[float] = None) -> Response:
    """Sends one request and returns the response whatever its status."""
    method = method.upper()
    where = target(method, url)
    pairs = [(k, v) for k, v in _pairs(headers) if k not in ("content-length", "transfer-encoding")]
    if body is None and method in _BODY_METHODS:
        body = b""
    if body is not None:
        pairs.append(("content-length", str(len(body))))
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise HttpError("invalid_request", where, None, "URL must be absolute http:// or https://")
    request = Request(method, url, pairs, body, DEFAULT_TIMEOUT_S if timeout is None else timeout)
    transport = _transport or (_wasi.send if _wasi else None)
    if transport is None:
        raise HttpError("transport", where, None, "no wasi:http outside a component (use http.set_transport in tests)")
    try:
        raw = transport(request)
    except TransportError as e:
        raise HttpError("invalid_request" if e.invalid_request else "transport", where, None, e.message) from None
    return Response(raw.status, [(k.lower(), v) for k, v in raw.headers], bytes(raw.body))


def send(method: str, url: str, headers: Headers = None, body: Optional[bytes] = None,
         timeout: Optional[float] = None) -> Response:
    """Like `fetch`, but a status outside 2xx is an `HttpError`."""
    response = fetch(method, url, headers, body, timeout)
    if not 200 <= response.status < 300:
        raise HttpError("status", target(method.upper(), url), response.status, body_excerpt=excerpt(response.body))
    return response


def request_json(method: str, url: str, body: Any = _NO_BODY, headers: Headers = None, *,
                 into: Any = None, timeout: Optional[float] = None) -> Any:
    """Sends `body` as JSON (if given), requires 2xx and returns the parsed
    JSON response (empty → None), converted to `into` (e.g. a dataclass)."""
    pairs = _pairs(headers)
    names = {k for k, _ in pairs}
    if "accept" not in names:
        pairs.append(("accept", "application/json"))
    data = None
    if body is not _NO_BODY:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        if "content-type" not in names:
            pairs.append(("content-type", "application/json"))
    response = send(method, url, pairs, data, timeout)
    return response.json(target(method.upper(), url), into)


def get_json(url: str, headers: Headers = None, *, into: Any = None, timeout: Optional[float] = None) -> Any:
    """`GET url` and parse the JSON response."""
    return request_json("GET", url, headers=headers, into=into, timeout=timeout)


def post_json(url: str, body: Any, headers: Headers = None, *, into: Any = None,
              timeout: Optional[float] = None) -> Any:
    """`POST url` with a JSON body and parse the JSON response."""
    return request_json("POST", url, body, headers, into=into, timeout=timeout)
