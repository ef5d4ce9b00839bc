"""The real transport: one HTTP exchange over `wasi:http/outgoing-handler`,
blocking on `wasi:io` pollables with a minimal loop of its own (each wait
polls the pollable together with a monotonic-clock timer for the call's
deadline).

Not componentize-py's `poll_loop` helper: it runs asyncio and imports
`wit_world.imports.types`, a name that does not exist in this world (two
interfaces are called `types`; the bindings name them
`wasi_http_types` and `handover_provider_types`).

Resources are dropped explicitly, children before parents (the host traps
on a parent dropped first): pollables, streams, bodies, responses, futures.
Importable only inside a componentize-py build (`handover_sdk.http` falls
back to "no transport" elsewhere).
"""

from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import monotonic_clock, outgoing_handler, poll, streams
from wit_world.imports import wasi_http_types as h

from handover_sdk.transport import MAX_RESPONSE_BYTES, RawResponse, Request, TransportError

_NS = 1_000_000_000
_CHUNK = 64 * 1024
_METHODS = {
    "GET": h.Method_Get, "HEAD": h.Method_Head, "POST": h.Method_Post, "PUT": h.Method_Put,
    "DELETE": h.Method_Delete, "PATCH": h.Method_Patch, "OPTIONS": h.Method_Options,
}


def _drop(resource) -> None:
    if resource is not None:
        resource.__exit__(None, None, None)


def _ready(pollable, deadline: int) -> bool:
    """Blocks until `pollable` is ready (True) or the deadline passes (False)."""
    remaining = deadline - monotonic_clock.now()
    if remaining <= 0:
        return pollable.ready()
    timer = monotonic_clock.subscribe_duration(remaining)
    try:
        return 0 in poll.poll([pollable, timer]) or pollable.ready()
    finally:
        _drop(timer)


def _wait(pollable, deadline: int, doing: str, timeout_s: float) -> None:
    """Waits on (and then drops) `pollable`; a passed deadline is a TransportError."""
    try:
        if not _ready(pollable, deadline):
            raise TransportError(f"timed out after {timeout_s:g} s {doing}")
    finally:
        _drop(pollable)


def error_code_text(code) -> str:
    """An `error-code` as text: "ConnectionRefused", "InternalError('...')"."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    value = getattr(code, "value", None)
    return f"{name}({value!r})" if value is not None else name


def _stream_error(err) -> str:
    if err is None:
        return "stream not available"
    if isinstance(err, streams.StreamError_Closed):
        return "stream closed"
    io_error = err.value
    try:
        code = h.http_error_code(io_error)
        return error_code_text(code) if code is not None else io_error.to_debug_string()
    finally:
        _drop(io_error)


def _build(req: Request):
    parts = urlsplit(req.url)
    scheme = {"http": h.Scheme_Http(), "https": h.Scheme_Https()}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise TransportError("URL must be absolute http:// or https://", invalid_request=True)
    try:
        fields = h.Fields.from_list([(k, v.encode()) for k, v in req.headers])
    except Err as e:
        raise TransportError(f"bad header: {type(e.value).__name__}", invalid_request=True) from None
    request = h.OutgoingRequest(fields)
    method = _METHODS.get(req.method)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        request.set_method(method() if method else h.Method_Other(req.method))
        request.set_scheme(scheme)
        request.set_authority(parts.netloc)
        request.set_path_with_query(path)
    except Err:
        _drop(request)
        raise TransportError(f"the host refused {req.method} {path}", invalid_request=True) from None
    return request


def _options(timeout_s: float):
    options = h.RequestOptions()
    ns = int(timeout_s * _NS)
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
        try:
            setter(ns)
        except Err:  # the host does not support this timeout: the deadline loop still applies
            pass
    return options


def _write_body(body, data: bytes, deadline: int, timeout_s: float) -> None:
    """Writes all of `data` (respecting check-write), flushes, finishes the body."""
    try:
        if data:
            out = body.write()
            try:
                offset = 0
                while offset < len(data):
                    room = out.check_write()
                    if room == 0:
                        _wait(out.subscribe(), deadline, "writing the request body", timeout_s)
                        continue
                    chunk = data[offset:offset + min(room, _CHUNK)]
                    out.write(chunk)
                    offset += len(chunk)
                out.flush()
                _wait(out.subscribe(), deadline, "flushing the request body", timeout_s)
                out.check_write()
            finally:
                _drop(out)
    except Err as e:
        _drop(body)
        raise TransportError(f"writing the request body: {_stream_error(e.value)}") from None
    except BaseException:
        _drop(body)
        raise
    try:
        h.OutgoingBody.finish(body, None)
    except Err as e:
        raise TransportError(f"finishing the request body: {error_code_text(e.value)}") from None


def _read_body(response, deadline: int, timeout_s: float) -> bytes:
    incoming = response.consume()
    stream = incoming.stream()
    chunks, total = [], 0
    try:
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    return b"".join(chunks)
                raise TransportError(f"reading the response body: {_stream_error(e.value)}") from None
            if not chunk:
                _wait(stream.subscribe(), deadline, "reading the response body", timeout_s)
                continue
            total += len(chunk)
            if total > MAX_RESPONSE_BYTES:
                raise TransportError(f"response body larger than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
    finally:
        _drop(stream)
        _drop(incoming)


def send(req: Request) -> RawResponse:
    """Sends `req` and reads the whole response, whatever its status."""
    deadline = monotonic_clock.now() + int(req.timeout_s * _NS)
    request = _build(req)
    body = request.body()
    try:
        future = outgoing_handler.handle(request, _options(req.timeout_s))
    except Err as e:
        _drop(body)
        raise TransportError(error_code_text(e.value)) from None
    try:
        write_error = None
        try:
            _write_body(body, req.body or b"", deadline, req.timeout_s)
        except TransportError as e:  # matters only if no response comes
            write_error = e
        _wait(future.subscribe(), deadline, "waiting for the response", req.timeout_s)
        got = future.get()
        if got is None or isinstance(got, Err):
            raise write_error or TransportError("response not available")
        inner = got.value if isinstance(got, Ok) else got
        if isinstance(inner, Err):
            raise TransportError(error_code_text(inner.value))
        response = inner.value if isinstance(inner, Ok) else inner
        try:
            fields = response.headers()
            headers = [(k.lower(), bytes(v).decode("utf-8", "replace")) for k, v in fields.entries()]
            _drop(fields)
            status = response.status()
            return RawResponse(status, headers, _read_body(response, deadline, req.timeout_s))
        finally:
            _drop(response)
    finally:
        _drop(future)
