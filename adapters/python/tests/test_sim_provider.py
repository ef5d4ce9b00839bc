"""The template's app.py with sim_provider.py as its provider.py, run with
plain CPython against a fake sim provider (adapters/sim/PROTOCOL.md)."""

import _setup
import json
import unittest

import sim_provider
from handover_sdk import events, wit
from handover_sdk.testing import FakeTransport, conversation, ctx, failure_of, request, user_input

app = _setup.template_app(sim_provider)
SETTINGS = {"base_url": "http://sim:8081/"}
STATE = b'{"conversation_id":"c-1","extra":{"last_seq":1}}'


def hook(seq, kind, **fields):
    return request({"event_id": f"e-{seq}", "conversation_id": "c-1", "seq": seq, "type": kind, **fields},
                   {"X-Sim-Delivery": f"e-{seq}"})


class Sim(unittest.TestCase):
    def test_describe_declares_the_sim_signature(self):
        info = app.Adapter().describe()
        self.assertEqual((info.name, info.channels), ("my-provider", ["webchat", "sms"]))
        sig = info.webhook_signature
        self.assertEqual((sig.header, sig.prefix, sig.signed), ("X-Sim-Signature", "sha256=", wit.SignedContent_TimestampThenBody(".")))

    def test_start_opens_the_conversation(self):
        fake = FakeTransport().on("POST", "/conversations", 201, {"id": "c-1", "queue_position": 3})
        with fake.installed():
            step = app.Adapter().start(ctx(SETTINGS), conversation())
        self.assertEqual(json.loads(step.state), {"conversation_id": "c-1", "extra": {"last_seq": 1}})
        self.assertEqual((step.events, step.correlation_keys), ([events.queued(3, None)], ["c-1"]))
        sent = fake.requests[0]
        self.assertEqual(sent.url, "http://sim:8081/conversations")
        self.assertEqual(sent.headers["content-length"], str(len(sent.body)))
        self.assertEqual(sent.json()["transcript"], [{"author": "user", "text": "I need a human", "ts": 1_700_000_000_000}])

    def test_start_failures(self):
        with FakeTransport().on("POST", "/conversations", 503, {"error": "down"}).installed():
            failure = failure_of(app.Adapter().start, ctx(SETTINGS), conversation())
        self.assertEqual(failure.message, 'POST /conversations: provider unavailable or failing (HTTP 503): {"error": "down"}')
        fax = failure_of(app.Adapter().start, ctx(SETTINGS), conversation(channel="fax"))
        self.assertEqual(fax.reason, wit.FailureReason.UNSUPPORTED)

    def test_messages_and_endings_keep_the_state(self):
        fake = FakeTransport().then(FakeTransport.answer(202)).then(FakeTransport.answer(200, {}))
        with fake.installed():
            sent = app.Adapter().user_message(ctx(SETTINGS), STATE, user_input("my parcel"))
            cancelled = app.Adapter().cancel(ctx(SETTINGS), STATE)
        self.assertEqual((sent.state, cancelled.state, sent.events), (STATE, STATE, []))
        self.assertEqual([r.path for r in fake.requests], ["/conversations/c-1/messages", "/conversations/c-1/cancel"])
        self.assertEqual(fake.requests[0].json(), {"text": "my parcel", "kind": "text", "attachments": []})

    def test_webhooks(self):
        a = app.Adapter()
        route = a.route_webhook(json.dumps(SETTINGS), hook(2, "agent_joined", agent={"id": "a-1", "name": "Ann"}))
        self.assertEqual((route.correlation_keys, route.delivery_id, route.response.status), (["c-1"], "e-2", 200))
        malformed = failure_of(a.route_webhook, json.dumps(SETTINGS), request(b"{"))
        self.assertTrue(malformed.message.startswith("malformed webhook body: "))
        joined = a.handle_webhook(ctx(SETTINGS), STATE, hook(2, "agent_joined", agent={"id": "a-1", "name": "Ann"}))
        self.assertEqual(joined.events, [events.agent_joined(events.agent("a-1", "Ann"))])
        self.assertEqual(json.loads(joined.state)["extra"], {"last_seq": 2, "held": []})
        stale = a.handle_webhook(ctx(SETTINGS), joined.state, hook(2, "agent_message", text="again"))
        self.assertEqual((stale.events, stale.state), ([], joined.state))
        said = a.handle_webhook(ctx(SETTINGS), joined.state, hook(3, "agent_message", text="Hello"))
        self.assertEqual(said.events, [events.agent_message(None, "Hello")])
        ended = a.handle_webhook(ctx(SETTINGS), said.state, hook(4, "ended", reason="no_agent"))
        self.assertEqual(ended.events, [events.ended(events.NO_AGENT_AVAILABLE)])

    def test_early_webhooks_wait_for_the_gap(self):
        a = app.Adapter()
        third = a.handle_webhook(ctx(SETTINGS), STATE, hook(4, "agent_message", text="third"))
        self.assertEqual(third.events, [])
        self.assertEqual([h["seq"] for h in json.loads(third.state)["extra"]["held"]], [4])
        second = a.handle_webhook(ctx(SETTINGS), third.state, hook(3, "agent_message", text="second"))
        again = a.handle_webhook(ctx(SETTINGS), second.state, hook(3, "agent_message", text="second"))
        self.assertEqual((again.events, again.state), ([], second.state))
        first = a.handle_webhook(ctx(SETTINGS), second.state, hook(2, "agent_message", text="first"))
        self.assertEqual([e.value.text for e in first.events], ["first", "second", "third"])
        self.assertEqual(json.loads(first.state)["extra"], {"last_seq": 4, "held": []})


if __name__ == "__main__":
    unittest.main()
