"""The JSON HTTP client over a fake transport: headers (content-length
always with a body), timeouts, typed responses and error messages."""

import _setup  # noqa: F401
import unittest
from dataclasses import dataclass
from typing import Optional

from handover_sdk import http
from handover_sdk.testing import FakeTransport
from handover_sdk.transport import RawResponse


@dataclass
class Created:
    id: str
    queue_position: Optional[int] = None


def failing(call, *args, **kwargs) -> http.HttpError:
    try:
        call(*args, **kwargs)
    except http.HttpError as e:
        return e
    raise AssertionError("no HttpError")


class Requests(unittest.TestCase):
    def setUp(self):
        self.fake = FakeTransport()
        self.previous = http.set_transport(self.fake)

    def tearDown(self):
        http.set_transport(self.previous)

    def test_post_json_sends_content_length_and_parses(self):
        self.fake.on("POST", "/conversations", 201, {"id": "c-1", "queue_position": 2})
        created = http.post_json("http://p:1/conversations?x=1", {"text": "ü"}, into=Created)
        self.assertEqual(created, Created("c-1", 2))
        sent = self.fake.requests[0]
        self.assertEqual((sent.method, sent.path, sent.body), ("POST", "/conversations?x=1", '{"text":"ü"}'.encode()))
        self.assertEqual(sent.headers["content-length"], str(len(sent.body)))
        self.assertEqual(sent.headers["content-type"], "application/json")
        self.assertEqual(sent.headers["accept"], "application/json")
        self.assertEqual(sent.timeout_s, http.DEFAULT_TIMEOUT_S)

    def test_get_has_no_body_and_post_without_body_says_zero(self):
        self.fake.then(FakeTransport.answer(200, {"ok": True})).then(FakeTransport.answer(204))
        self.assertEqual(http.get_json("https://p/availability", {"Accept": "text/json"}, timeout=2.5), {"ok": True})
        get = self.fake.requests[0]
        self.assertEqual((get.body, get.timeout_s, get.headers["accept"]), (None, 2.5, "text/json"))
        self.assertNotIn("content-length", get.headers)
        self.assertEqual(http.send("POST", "https://p/x").status, 204)
        self.assertEqual(self.fake.requests[1].headers["content-length"], "0")

    def test_caller_cannot_send_a_wrong_length_or_chunked(self):
        self.fake.then(FakeTransport.answer(200))
        http.fetch("PUT", "http://p/x", [("Content-Length", "99"), ("Transfer-Encoding", "chunked")], b"abc")
        headers = self.fake.requests[0].headers
        self.assertEqual(headers, {"content-length": "3"})

    def test_status_errors_say_what_happened(self):
        self.fake.on("POST", "/conversations", 503, b"  down\n  for maintenance ")
        e = failing(http.post_json, "https://user:pw@p/conversations?key=secret", {})
        self.assertEqual(str(e.message), "POST /conversations: provider unavailable or failing (HTTP 503): down for maintenance")
        self.assertEqual((e.status, e.kind), (503, "status"))
        self.fake.on("GET", "/a", 429)
        self.assertEqual(failing(http.get_json, "http://p/a").message, "GET /a: provider rate limit hit, retry later (HTTP 429)")
        self.fake.on("GET", "/b", 401, {"error": "no"})
        self.assertIn("rejected the credentials (HTTP 401): {", failing(http.get_json, "http://p/b").message)
        self.assertIn("does not know this resource (HTTP 404)", failing(http.get_json, "http://p/none").message)
        self.assertEqual(http.fetch("GET", "http://p/none").status, 404)

    def test_decode_errors_name_the_field(self):
        self.fake.on("POST", "/c", 201, {"queue_position": 1})
        e = failing(http.post_json, "http://p/c", {}, into=Created)
        self.assertEqual(e.message, 'POST /c: unexpected response (HTTP 201): `id`: required field is missing; body: {"queue_position": 1}')
        self.fake.on("GET", "/html", 200, b"<html>")
        self.assertIn("GET /html: unexpected response (HTTP 200): Expecting value", failing(http.get_json, "http://p/html").message)
        self.fake.on("GET", "/empty", 200, b" ")
        self.assertIsNone(http.get_json("http://p/empty"))

    def test_transport_and_request_errors(self):
        self.fake.fail("POST", "/c", "ConnectionRefused")
        e = failing(http.post_json, "http://p/c", {})
        self.assertEqual((e.message, e.kind, e.status), ("POST /c: provider unreachable: ConnectionRefused", "transport", None))
        self.assertEqual(failing(http.get_json, "ftp://p/x").kind, "invalid_request")
        self.assertEqual(self.fake.requests[-1].path, "/c")

    def test_response_headers_and_helpers(self):
        self.fake.then(RawResponse(200, [("X-Next", "2")], b"{}"))
        self.assertEqual(http.send("GET", "http://p/x").header("x-next"), "2")
        self.assertEqual(http.path_segment("a/b c"), "a%2Fb%20c")
        self.assertEqual(http.path_segment("c-1_a.b~"), "c-1_a.b~")
        self.assertEqual(http.target("GET", "https://u:p@h/a/b?key=s"), "GET /a/b")
        self.assertTrue(http.excerpt(b"a" * 500).endswith("…"))


class NoTransport(unittest.TestCase):
    def test_outside_a_component_there_is_no_network(self):
        previous = http.set_transport(None)
        try:
            e = failing(http.get_json, "http://p/x")
        finally:
            http.set_transport(previous)
        self.assertIn("no wasi:http outside a component", e.message)


if __name__ == "__main__":
    unittest.main()
