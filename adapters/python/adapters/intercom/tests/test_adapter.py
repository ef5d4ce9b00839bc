"""Unit tests of the Intercom adapter with plain CPython (no host, no
component): `PYTHONDONTWRITEBYTECODE=1 python3 -m unittest` in the adapter
folder. They go through app.Adapter, the glue the component exports, with
HTTP answered by a FakeTransport; request bodies are shaped like the
operations of Intercom's OpenAPI description (tests/kit/providers/intercom).
"""

import json
import unittest

from handover_sdk import events, wit
from handover_sdk.testing import FakeTransport, conversation, ctx, entry, failure_of, pairs, request, user_input

import app

SETTINGS = {"base_url": "https://api.intercom.io/", "admin_id": "991267001"}
CONTACT = "6762f2971bb69f9f2193bc49"
AGENT = "991267943"


def state(**extra):
    base = {"last_part": 0, "start_parts": 0, "early_seen": [], "held": [], "agent": None, "reorder_window": 8}
    base.update(extra)
    return json.dumps({"conversation_id": "215", "extra": base}).encode()


def notification(topic, count, *parts, conversation_id="215", notif="notif_1"):
    return request({
        "type": "notification_event", "app_id": "ecahpwf5", "id": notif, "topic": topic,
        "delivery_attempts": 1, "first_sent_at": 1734537900, "created_at": 1734537900,
        "data": {"type": "notification_event_data", "item": {
            "type": "conversation", "id": conversation_id, "open": True, "state": "open",
            "admin_assignee_id": int(AGENT), "custom_attributes": {"handover_id": "h-1"},
            "source": {"type": "conversation", "author": {"type": "user", "id": CONTACT}},
            "statistics": {"type": "conversation_statistics", "count_conversation_parts": count},
            "conversation_parts": {"type": "conversation_part.list", "total_count": len(parts),
                                   "conversation_parts": list(parts)}}}}, {"X-Hub-Signature": "sha1=0"})


def part(part_type, body=None, author_type="admin", author_id=AGENT, name="Ann", **more):
    p = {"type": "conversation_part", "id": "1", "part_type": part_type, "body": body,
         "author": {"type": author_type, "id": author_id, "name": name, "email": "ann@example.com"},
         "attachments": [], "redacted": False}
    p.update(more)
    return p


def assignment(to=AGENT, to_type="admin", author_id=AGENT):
    return part("assignment", assigned_to={"type": to_type, "id": to}, author_id=author_id)


def comment(text, **kw):
    return part("comment", text, **kw)


def step_events(step):
    return list(step.events)


class DescribeAndSettings(unittest.TestCase):
    def test_describe_declares_intercoms_signature(self):
        info = app.Adapter().describe()
        self.assertIn("webchat", info.channels)
        self.assertNotIn("voice", info.channels)
        sig = info.webhook_signature
        self.assertEqual((sig.algorithm, sig.header, sig.prefix, sig.encoding),
                         (wit.SignatureAlgorithm.HMAC_SHA1, "X-Hub-Signature", "sha1=", wit.SignatureEncoding.HEX))
        self.assertEqual(sig.signed, wit.SignedContent_Body())
        self.assertIsNone(sig.timestamp_header)
        caps = info.capabilities
        self.assertTrue(caps.bot_side_close and caps.transcript and caps.attachments)
        self.assertFalse(caps.typing or caps.queue_position)

    def test_settings_are_checked_and_errors_name_the_field(self):
        adapter = app.Adapter()
        self.assertIsNone(adapter.validate_settings(json.dumps(SETTINGS)))
        self.assertEqual(failure_of(adapter.validate_settings, "{}").message,
                         "settings: `base_url`: required field is missing")
        self.assertIn("`base_url`", failure_of(adapter.validate_settings, '{"base_url": 42}').message)
        self.assertEqual(failure_of(adapter.validate_settings, '{"base_url": "https://api.intercom.io"}').message,
                         "settings: `admin_id`: required field is missing")
        blank = dict(SETTINGS, admin_id=" ")
        self.assertEqual(failure_of(adapter.validate_settings, json.dumps(blank)).message,
                         "settings: `admin_id`: must not be empty")
        wide = dict(SETTINGS, reorder_window=100)
        self.assertIn("`reorder_window`: must be at most 64", failure_of(adapter.validate_settings, json.dumps(wide)).message)
        self.assertIn("`channels`", failure_of(adapter.validate_settings, json.dumps(dict(SETTINGS, channels=[]))).message)


def opening(fake=None, contact_status=200):
    fake = fake or FakeTransport()
    if contact_status == 200:
        fake.on("GET", "/contacts/find_by_external_id/u-1", 200, {"type": "contact", "id": CONTACT})
    else:
        fake.on("GET", "/contacts/find_by_external_id/u-1", contact_status,
                {"type": "error.list", "errors": [{"code": "not_found", "message": "User Not Found"}]})
    fake.on("POST", "/conversations", 200, {"type": "user_message", "id": "403918330", "created_at": 1734537884,
                                            "body": "I need a human", "message_type": "inapp",
                                            "conversation_id": "215"})
    return fake


class Start(unittest.TestCase):
    def test_start_creates_the_conversation_and_tags_it_with_the_handover_id(self):
        fake = opening().on("PUT", "/conversations/215", 200, {
            "type": "conversation", "id": "215", "statistics": {"count_conversation_parts": 1}})
        transcript = [entry("user", "where is my parcel?"), entry("bot", "Let me get a person."),
                      entry("user", "I need a human")]
        with fake.installed():
            step = app.Adapter().start(ctx(SETTINGS), conversation(transcript=transcript))
        self.assertEqual(step.correlation_keys, ["215"])
        self.assertEqual(step.events, [events.queued()])
        saved = json.loads(step.state)
        self.assertEqual(saved["conversation_id"], "215")
        self.assertEqual(saved["extra"], {"last_part": 1, "start_parts": 1, "early_seen": [], "held": [],
                                          "agent": None, "reorder_window": 8})
        self.assertEqual([(r.method, r.path) for r in fake.requests], [
            ("GET", "/contacts/find_by_external_id/u-1"), ("POST", "/conversations"), ("PUT", "/conversations/215")])
        for r in fake.requests:
            headers = {k.lower(): v for k, v in r.headers.items()}
            self.assertEqual(headers["intercom-version"], "2.16")
            self.assertNotIn("authorization", headers)
        created = fake.requests[1].json()
        self.assertEqual(created["from"], {"type": "user", "id": CONTACT})
        self.assertTrue(created["body"].startswith("User: where is my parcel?\nBot: Let me get a person.\nUser: I need a human\n\n"),
                        created["body"])
        self.assertIn("skills: support", created["body"])
        self.assertEqual(set(created), {"from", "body"})
        self.assertEqual(fake.requests[2].json(), {"custom_attributes": {"handover_id": "h-1"}})

    def test_a_missing_contact_is_created(self):
        fake = opening(contact_status=404).on("POST", "/contacts", 200, {"type": "contact", "id": CONTACT})
        fake.on("PUT", "/conversations/215", 200, {"type": "conversation", "id": "215"})
        profile = pairs({"name": "Ann User", "email": "ann@example.com"})
        with fake.installed():
            step = app.Adapter().start(ctx(SETTINGS), conversation(user_profile=profile))
        self.assertEqual(step.correlation_keys, ["215"])
        self.assertEqual(fake.requests[1].json(), {"role": "user", "external_id": "u-1", "name": "Ann User",
                                                   "email": "ann@example.com"})
        self.assertEqual(json.loads(step.state)["extra"]["last_part"], 0)

    def test_a_missing_contact_without_create_contacts_fails(self):
        with opening(contact_status=404).installed():
            failure = failure_of(app.Adapter().start, ctx(dict(SETTINGS, create_contacts=False)), conversation())
        self.assertEqual(failure.reason, wit.FailureReason.ERROR)
        self.assertIn("no contact with external_id 'u-1'", failure.message)

    def test_a_failed_update_fails_the_start_and_closes_the_orphan(self):
        fake = opening().on("PUT", "/conversations/215", 503, {"errors": []})
        fake.on("POST", "/conversations/215/parts", 200, {"type": "conversation", "id": "215"})
        with fake.installed():
            failure = failure_of(app.Adapter().start, ctx(SETTINGS), conversation())
        self.assertEqual(failure.reason, wit.FailureReason.ERROR)
        self.assertTrue(failure.message.startswith("PUT /conversations/215: provider unavailable or failing (HTTP 503)"),
                        failure.message)
        close = fake.requests[-1]
        self.assertEqual((close.method, close.path), ("POST", "/conversations/215/parts"))
        self.assertEqual(close.json()["message_type"], "close")

    def test_start_failures(self):
        with FakeTransport().on("GET", "/contacts/find_by_external_id/u-1", 401, {"errors": []}).installed():
            failure = failure_of(app.Adapter().start, ctx(SETTINGS), conversation())
        self.assertIn("provider rejected the credentials (HTTP 401)", failure.message)
        with FakeTransport().installed() as fake:
            voice = failure_of(app.Adapter().start, ctx(SETTINGS), conversation(channel="voice"))
        self.assertEqual(voice.reason, wit.FailureReason.UNSUPPORTED)
        self.assertEqual(fake.requests, [])
        with FakeTransport().installed():
            nobody = failure_of(app.Adapter().start, ctx(SETTINGS), conversation(user_id=""))
        self.assertIn("no user_id", nobody.message)


class UserSide(unittest.TestCase):
    def test_a_message_is_a_reply_as_the_conversations_contact(self):
        fake = FakeTransport().on("GET", "/conversations/215", 200, {
            "type": "conversation", "id": "215", "source": {"author": {"type": "user", "id": CONTACT}}})
        fake.on("POST", "/conversations/215/reply", 200, {"type": "conversation", "id": "215"})
        with fake.installed():
            step = app.Adapter().user_message(ctx(SETTINGS), state(), user_input("my parcel is late"))
        self.assertEqual((step.state, step.events), (state(), []))
        self.assertEqual(fake.requests[1].json(), {"message_type": "comment", "type": "user",
                                                   "intercom_user_id": CONTACT, "body": "my parcel is late"})

    def test_attachments_and_a_contact_from_the_contact_list(self):
        fake = FakeTransport().on("GET", "/conversations/215", 200, {
            "type": "conversation", "id": "215", "source": {"author": {"type": "admin", "id": "1"}},
            "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": CONTACT}]}})
        fake.on("POST", "/conversations/215/reply", 200, {"type": "conversation", "id": "215"})
        said = user_input("")
        said.attachments = [events.attachment("https://files.example/a.png", "image/png", "a.png")]
        with fake.installed():
            app.Adapter().user_message(ctx(SETTINGS), state(), said)
        sent = fake.requests[1].json()
        self.assertEqual((sent["intercom_user_id"], sent["body"], sent["attachment_urls"]),
                         (CONTACT, "(attachment)", ["https://files.example/a.png"]))

    def test_no_contact_is_an_error(self):
        fake = FakeTransport().on("GET", "/conversations/215", 200, {"type": "conversation", "id": "215"})
        with fake.installed():
            failure = failure_of(app.Adapter().user_message, ctx(SETTINGS), state(), user_input("hi"))
        self.assertIn("has no contact", failure.message)

    def test_cancel_and_close_close_the_conversation_as_the_admin(self):
        fake = FakeTransport().on("POST", "/conversations/215/parts", 200, {"type": "conversation", "id": "215"})
        with fake.installed():
            cancelled = app.Adapter().cancel(ctx(SETTINGS), state())
            closed = app.Adapter().close(ctx(SETTINGS), state())
        self.assertEqual((cancelled.state, closed.state), (state(), state()))
        bodies = [r.json() for r in fake.requests]
        for b in bodies:
            self.assertEqual((b["message_type"], b["type"], b["admin_id"]), ("close", "admin", "991267001"))
        self.assertIn("cancelled", bodies[0]["body"])
        self.assertIn("closed", bodies[1]["body"])


class Webhooks(unittest.TestCase):
    def handle(self, st, hook):
        step = app.Adapter().handle_webhook(ctx(SETTINGS), st, hook)
        return step_events(step), step.state

    def test_routing_by_conversation_and_notification_id(self):
        route = app.Adapter().route_webhook(json.dumps(SETTINGS), notification("conversation.admin.replied", 2,
                                                                              comment("hi"), notif="notif_9"))
        self.assertEqual((route.correlation_keys, route.delivery_id, route.response.status), (["215"], "notif_9", 200))
        ping = request({"type": "notification_event", "id": "notif_p", "topic": "ping",
                        "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "hi"}}})
        self.assertEqual(app.Adapter().route_webhook(json.dumps(SETTINGS), ping).correlation_keys, [""])
        malformed = failure_of(app.Adapter().route_webhook, json.dumps(SETTINGS), request(b"{"))
        self.assertTrue(malformed.message.startswith("malformed webhook body: "))

    def test_join_message_close(self):
        joined, st = self.handle(state(), notification("conversation.admin.assigned", 1, assignment()))
        self.assertEqual(joined, [events.agent_joined(events.agent(AGENT, "Ann"))])
        said, st = self.handle(st, notification("conversation.admin.replied", 2, comment("Hello, how can I help?")))
        self.assertEqual(said, [events.agent_message(events.agent(AGENT, "Ann"), "Hello, how can I help?")])
        ended, st = self.handle(st, notification("conversation.admin.closed", 3, part("close")))
        self.assertEqual(ended, [events.ended(events.AGENT_CLOSED)])
        self.assertEqual(json.loads(st)["extra"]["last_part"], 3)

    def test_out_of_order_parts_wait_for_the_gap(self):
        _, st = self.handle(state(), notification("conversation.admin.assigned", 1, assignment()))
        third, st = self.handle(st, notification("conversation.admin.replied", 4, comment("third")))
        second, st = self.handle(st, notification("conversation.admin.replied", 3, comment("second")))
        self.assertEqual((third, second), ([], []))
        self.assertEqual([h["n"] for h in json.loads(st)["extra"]["held"]], [3, 4])
        first, st = self.handle(st, notification("conversation.admin.replied", 2, comment("first")))
        self.assertEqual([e.value.text for e in first], ["first", "second", "third"])
        self.assertEqual(json.loads(st)["extra"], {"last_part": 4, "start_parts": 0, "early_seen": [], "held": [],
                                                   "agent": {"id": AGENT, "name": "Ann"}, "reorder_window": 8})

    def test_parts_without_an_event_fill_gaps_and_repeats_are_dropped(self):
        # The user's own reply (conversation.user.replied) is part 2.
        _, st = self.handle(state(), notification("conversation.admin.assigned", 1, assignment()))
        agent, st = self.handle(st, notification("conversation.admin.replied", 3, comment("after yours")))
        self.assertEqual(agent, [])
        user, st = self.handle(st, notification("conversation.user.replied", 2,
                                                comment("mine", author_type="user", author_id=CONTACT)))
        self.assertEqual([e.value.text for e in user], ["after yours"])
        again, st = self.handle(st, notification("conversation.admin.replied", 3, comment("after yours"),
                                                 notif="notif_other"))
        self.assertEqual(again, [])

    def test_parts_from_before_the_handover_id_pass_once_whenever_they_come(self):
        # The update that set the handover id answered with 2 parts (an
        # assignment rule's, then the attribute update); the assignment's
        # notification comes after.
        st = state(last_part=2, start_parts=2)
        said, st = self.handle(st, notification("conversation.admin.replied", 3, comment("hello")))
        self.assertEqual([type(e).__name__ for e in said], ["Event_AgentJoined", "Event_AgentMessage"])
        joined, st = self.handle(st, notification("conversation.admin.assigned", 1, assignment()))
        self.assertEqual(joined, [])  # the agent has joined already, by replying
        again, st = self.handle(st, notification("conversation.admin.assigned", 1, assignment(), notif="n2"))
        self.assertEqual(again, [])
        self.assertEqual(json.loads(st)["extra"]["early_seen"], [1])
        fresh = state(last_part=2, start_parts=2)
        joined, _ = self.handle(fresh, notification("conversation.admin.assigned", 1, assignment()))
        self.assertEqual(joined, [events.agent_joined(events.agent(AGENT, "Ann"))])

    def test_a_gap_that_never_fills_is_given_up_past_the_window(self):
        st = state(last_part=1, agent={"id": AGENT, "name": "Ann"}, reorder_window=2)
        for n in (3, 4):
            got, st = self.handle(st, notification("conversation.admin.replied", n, comment(f"m{n}")))
            self.assertEqual(got, [])
        # A third waiting notification is one too many: part 2 is given up.
        got, st = self.handle(st, notification("conversation.admin.replied", 5, comment("m5")))
        self.assertEqual([e.value.text for e in got], ["m3", "m4", "m5"])
        self.assertEqual(json.loads(st)["extra"]["held"], [])

    def test_html_bodies_attachments_and_parts_without_events(self):
        st = state(last_part=1, agent={"id": AGENT, "name": "Ann"})
        html_part = comment("<p>Hello &amp; welcome</p><p>line two<br>three</p>",
                            attachments=[{"type": "upload", "name": "a.pdf", "url": "https://f/a.pdf",
                                          "content_type": "application/pdf"}])
        said, st = self.handle(st, notification("conversation.admin.replied", 2, html_part))
        self.assertEqual(said[0].value.text, "Hello & welcome\nline two\nthree")
        self.assertEqual(said[0].value.attachments, [events.attachment("https://f/a.pdf", "application/pdf", "a.pdf")])
        quiet = [part("note", "internal"), comment("bot says", author_type="bot", author_id="7"),
                 part("snoozed"), part("conversation_attribute_updated_by_admin")]
        for n, p in enumerate(quiet, start=3):
            got, st = self.handle(st, notification("conversation.admin.noted", n, p))
            self.assertEqual(got, [], p["part_type"])
        closed, _ = self.handle(st, notification("conversation.admin.closed", 7, part("close", author_type="bot")))
        self.assertEqual(closed, [events.ended(events.PROVIDER_CLOSED)])

    def test_a_reply_before_any_assignment_joins_and_reassignment_transfers(self):
        said, st = self.handle(state(), notification("conversation.admin.replied", 1, comment("hi there")))
        self.assertEqual(said, [events.agent_joined(events.agent(AGENT, "Ann")),
                                events.agent_message(events.agent(AGENT, "Ann"), "hi there")])
        moved, st = self.handle(st, notification("conversation.admin.assigned", 2, assignment(to="42", author_id=AGENT)))
        self.assertEqual(moved, [events.transferred(to_agent=events.agent("42", ""))])
        team, st = self.handle(st, notification("conversation.admin.assigned", 3, assignment(to="8", to_type="team")))
        self.assertEqual(team, [events.transferred(to_queue="8")])

    def test_a_team_assignment_before_the_agent_is_silent(self):
        got, _ = self.handle(state(), notification("conversation.admin.assigned", 1, assignment(to="8", to_type="team")))
        self.assertEqual(got, [])

    def test_parts_without_a_count_pass_as_they_come(self):
        hook = json.loads(notification("conversation.admin.replied", 1, comment("x")).body)
        del hook["data"]["item"]["statistics"]
        got, _ = self.handle(state(), request(hook))
        self.assertEqual([type(e).__name__ for e in got], ["Event_AgentJoined", "Event_AgentMessage"])


if __name__ == "__main__":
    unittest.main()
