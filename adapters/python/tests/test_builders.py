"""Event, failure, channel, describe and signature builders produce the
contract's types."""

import _setup  # noqa: F401
import unittest

from handover_sdk import channels, describe, error, events, signature, unsupported, wit
from handover_sdk.failure import AdapterFailure


class Events(unittest.TestCase):
    def test_each_case_of_the_event_variant(self):
        ann = events.agent("a-1", "Ann")
        self.assertEqual(events.queued(3, 60), wit.Event_Queued(wit.QueueInfo(3, 60)))
        self.assertEqual(events.queued().value.position, None)
        self.assertEqual(events.agent_joined(ann), wit.Event_AgentJoined(wit.Agent("a-1", "Ann")))
        msg = events.agent_message(ann, "hi", [events.attachment("http://f/a.png", "image/png")])
        self.assertEqual(msg.value.attachments[0].name, None)
        self.assertEqual(events.agent_message(None, "x").value, wit.AgentMessage(None, "x", []))
        self.assertEqual(events.typing(True), wit.Event_AgentTyping(True))
        self.assertEqual(events.agent_left(ann), wit.Event_AgentLeft(ann))
        self.assertEqual(events.transferred("q2").value, wit.Transfer("q2", None))
        self.assertEqual(events.ended(events.AGENT_CLOSED), wit.Event_Ended(wit.EndReason_AgentClosed()))
        self.assertEqual(events.ended(events.other("spam")).value, wit.EndReason_Other("spam"))


class Failures(unittest.TestCase):
    def test_reasons_and_wit_form(self):
        self.assertEqual(error("x").to_wit(), wit.Failure(wit.FailureReason.ERROR, "x"))
        err = unsupported("y").to_err()
        self.assertIsInstance(err, wit.Err)
        self.assertEqual(err.value.reason, wit.FailureReason.UNSUPPORTED)


class Channels(unittest.TestCase):
    def test_configured_list_wins_over_defaults(self):
        channels.check("sms", None, ["webchat", "sms"], "sim")
        with self.assertRaises(AdapterFailure) as only:
            channels.check("sms", ["webchat"], ["webchat", "sms"], "sim")
        self.assertEqual(only.exception.reason, wit.FailureReason.UNSUPPORTED)
        self.assertEqual(only.exception.message, 'channel "sms" is not served by this sim endpoint (allowed: webchat)')
        channels.check("voice", None, ["*"], "any")

    def test_fixed_channels(self):
        channels.require("webchat", ["webchat"], "X chat")
        with self.assertRaises(AdapterFailure) as fixed:
            channels.require("sms", ["webchat", "in-app"], "X chat")
        self.assertEqual(fixed.exception.message, 'channel "sms" is not served by X chat (served: webchat, in-app)')


class Describe(unittest.TestCase):
    def test_capabilities_and_polling(self):
        self.assertTrue(all(vars(describe.ALL).values()))
        self.assertFalse(any(vars(describe.NONE).values()))
        caps = describe.capabilities(typing=True)
        self.assertTrue(caps.typing and not caps.attachments)
        self.assertFalse(describe.capabilities(all=True, typing=False).typing)
        with self.assertRaises(TypeError):
            describe.capabilities(telepathy=True)
        self.assertEqual(describe.periodic(200), wit.Polling(wit.PollMode.PERIODIC, 200, 0))
        self.assertEqual(describe.long_poll(0, 20000).max_wait_ms, 20000)
        info = describe.info("x", "1.0.0", ("webchat",))
        self.assertEqual((info.channels, info.polling.mode, info.webhook_signature), (["webchat"], wit.PollMode.NONE, None))

    def test_signatures(self):
        sig = signature.hmac_sha256("X-Sim-Signature", prefix="sha256=", signed=signature.timestamp_then_body("."),
                                    timestamp_header="X-Sim-Timestamp", delivery_id_header="X-Sim-Delivery")
        self.assertEqual(sig, wit.WebhookSignature(wit.SignatureAlgorithm.HMAC_SHA256, "X-Sim-Signature",
                                                   wit.SignatureEncoding.HEX, "sha256=",
                                                   wit.SignedContent_TimestampThenBody("."),
                                                   "X-Sim-Timestamp", "X-Sim-Delivery"))
        self.assertEqual(signature.hmac_sha1("H", encoding="base64").encoding, wit.SignatureEncoding.BASE64)
        self.assertEqual(signature.shared_secret("X-API-Key").signed, wit.SignedContent_Body())
        self.assertEqual(signature.hmac_sha512("H", signed=signature.URL_THEN_BODY).signed, wit.SignedContent_UrlThenBody())
        with self.assertRaises(ValueError):
            signature.hmac_sha256("H", encoding="base32")


if __name__ == "__main__":
    unittest.main()
