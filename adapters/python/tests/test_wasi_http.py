"""handover_sdk.wasi_http against fake wasi:http / wasi:io modules: the
body is written within check-write's room, the response read to the end,
resources dropped children first, and the deadline enforced on a fake
monotonic clock."""

import _setup  # noqa: F401
import importlib
import sys
import types
import unittest
from dataclasses import dataclass

from componentize_py_types import Err, Ok

from handover_sdk.transport import Request, TransportError


class World:
    """Fake time (ns), the drop log, and the server's behaviour."""

    def __init__(self, latency_ns=1_000, status=200, chunks=(b'{"id":', b"", b'"c-1"}'), room=7):
        self.now, self.latency, self.status, self.chunks, self.room = 0, latency_ns, status, list(chunks), room
        self.dropped, self.written, self.sent, self.finished = [], b"", None, False


W = World()


class Resource:
    def __init__(self, parent=None):
        self.children, self.alive = [], True
        if parent is not None:
            parent.children.append(self)

    def __exit__(self, *exc):
        assert self.alive, f"{type(self).__name__} dropped twice"
        assert not any(c.alive for c in self.children), f"{type(self).__name__} dropped before its children"
        self.alive = False
        W.dropped.append(type(self).__name__)


class Pollable(Resource):
    def __init__(self, parent, ready_at):
        super().__init__(parent)
        self.ready_at = ready_at

    def ready(self):
        return W.now >= self.ready_at


def poll_poll(pollables):
    ready = [i for i, p in enumerate(pollables) if p.ready()]
    if not ready:
        W.now = min(p.ready_at for p in pollables)
        ready = [i for i, p in enumerate(pollables) if p.ready()]
    return ready


@dataclass
class StreamError_Closed:
    pass


@dataclass
class StreamError_LastOperationFailed:
    value: object


class OutputStream(Resource):
    def check_write(self):
        return W.room

    def write(self, data):
        assert 0 < len(data) <= W.room, "wrote more than check-write allowed"
        W.written += data

    def flush(self):
        pass

    def subscribe(self):
        return Pollable(self, 0)


class OutgoingBody(Resource):
    def write(self):
        return OutputStream(self)

    @classmethod
    def finish(cls, this, trailers):
        assert not any(c.alive for c in this.children), "body finished before its stream was dropped"
        this.alive, W.finished = False, True


class Fields(Resource):
    def __init__(self, entries=()):
        super().__init__()
        self.list = list(entries)

    @classmethod
    def from_list(cls, entries):
        return cls(entries)

    def entries(self):
        return self.list


class OutgoingRequest(Resource):
    def __init__(self, fields):
        super().__init__()
        self.fields, self.parts = fields, {}

    def body(self):
        return OutgoingBody()

    def __getattr__(self, name):
        if name.startswith("set_"):
            return lambda value: self.parts.__setitem__(name[4:], value)
        raise AttributeError(name)


class RequestOptions(Resource):
    def set_connect_timeout(self, ns):
        raise Err(None)  # unsupported: the deadline loop must still apply

    def set_first_byte_timeout(self, ns):
        pass

    def set_between_bytes_timeout(self, ns):
        pass


class InputStream(Resource):
    def read(self, n):
        if not W.chunks:
            raise Err(StreamError_Closed())
        return W.chunks.pop(0)

    def subscribe(self):
        return Pollable(self, W.now + 10)


class IncomingBody(Resource):
    def stream(self):
        return InputStream(self)


class IncomingResponse(Resource):
    def status(self):
        return W.status

    def headers(self):
        fields = Fields([("Content-Type", b"application/json")])
        self.children.append(fields)
        return fields

    def consume(self):
        return IncomingBody(self)


class FutureIncomingResponse(Resource):
    def __init__(self):
        super().__init__()
        self.ready_at, self.taken = W.now + W.latency, False

    def subscribe(self):
        return Pollable(self, self.ready_at)

    def get(self):
        if W.now < self.ready_at:
            return None
        if self.taken:
            return Err(None)
        self.taken = True
        return Ok(Ok(IncomingResponse()))


def handle(request, options):
    W.sent = request
    return FutureIncomingResponse()


def variant(name, fields=()):
    return dataclass(type(name, (), {"__annotations__": {f: object for f in fields}}))


def install_fakes():
    h = types.ModuleType("wit_world.imports.wasi_http_types")
    for name in ["Method_Get", "Method_Head", "Method_Post", "Method_Put", "Method_Delete", "Method_Patch",
                 "Method_Options", "Scheme_Http", "Scheme_Https"]:
        setattr(h, name, variant(name))
    h.Method_Other = variant("Method_Other", ["value"])
    for cls in (Fields, OutgoingRequest, OutgoingBody, RequestOptions):
        setattr(h, cls.__name__, cls)
    h.http_error_code = lambda err: None
    modules = {
        "wasi_http_types": h,
        "monotonic_clock": types.SimpleNamespace(now=lambda: W.now,
                                                 subscribe_duration=lambda d: Pollable(None, W.now + d)),
        "poll": types.SimpleNamespace(poll=poll_poll),
        "streams": types.SimpleNamespace(StreamError_Closed=StreamError_Closed,
                                         StreamError_LastOperationFailed=StreamError_LastOperationFailed),
        "outgoing_handler": types.SimpleNamespace(handle=handle),
    }
    imports = sys.modules["wit_world.imports"]
    for name, module in modules.items():
        setattr(imports, name, module)
        sys.modules[f"wit_world.imports.{name}"] = module
    sys.modules.pop("handover_sdk.wasi_http", None)
    return importlib.import_module("handover_sdk.wasi_http"), list(modules)


class WasiTransport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wasi, cls.names = install_fakes()

    @classmethod
    def tearDownClass(cls):
        for name in cls.names:
            sys.modules.pop(f"wit_world.imports.{name}", None)
            delattr(sys.modules["wit_world.imports"], name)
        sys.modules.pop("handover_sdk.wasi_http", None)

    def send(self, body=b"", timeout_s=1.0, **world):
        global W
        W = World(**world)
        headers = [("content-length", str(len(body)))] if body else []
        return self.wasi.send(Request("POST", "http://p:8/c?x=1", headers, body, timeout_s))

    def test_exchange(self):
        body = b'{"text":"a longer body than one write"}'
        response = self.send(body)
        self.assertEqual((response.status, response.body), (200, b'{"id":"c-1"}'))
        self.assertEqual(response.headers, [("content-type", "application/json")])
        self.assertEqual((W.written, W.finished), (body, True))
        self.assertEqual(W.sent.fields.list, [("content-length", str(len(body)).encode())])
        self.assertEqual(W.sent.parts["authority"], "p:8")
        self.assertEqual(W.sent.parts["path_with_query"], "/c?x=1")
        self.assertEqual(W.dropped[-5:], ["Pollable", "InputStream", "IncomingBody", "IncomingResponse",
                                          "FutureIncomingResponse"])

    def test_the_deadline_is_enforced(self):
        with self.assertRaises(TransportError) as late:
            self.send(timeout_s=0.5, latency_ns=2_000_000_000)
        self.assertEqual(late.exception.message, "timed out after 0.5 s waiting for the response")
        self.assertEqual(W.now, 500_000_000)
        self.assertEqual(W.dropped[-1], "FutureIncomingResponse")

    def test_bad_url_is_an_invalid_request(self):
        with self.assertRaises(TransportError) as bad:
            self.wasi.send(Request("GET", "ftp://p/x", [], None, 1.0))
        self.assertTrue(bad.exception.invalid_request)

    def test_error_code_text(self):
        code = variant("ErrorCode_InternalError", ["value"])("boom")
        self.assertEqual(self.wasi.error_code_text(code), "InternalError('boom')")
        self.assertEqual(self.wasi.error_code_text(variant("ErrorCode_ConnectionRefused")()), "ConnectionRefused")


if __name__ == "__main__":
    unittest.main()
