"""The typed layer: settings per call, state load/check/save, failures as
Err(Failure), bugs as `error` failures, unsupported defaults."""

import _setup  # noqa: F401
import unittest
from dataclasses import dataclass

from handover_sdk import error, events, state, wit
from handover_sdk.stubs import LOG
from handover_sdk.testing import conversation, ctx, failure_of, request, user_input
from handover_sdk.typed import Output, TypedAdapter


@dataclass
class Settings:
    base_url: str


@dataclass
class State:
    conversation_id: str = ""
    count: int = 0

    def check(self):
        state.require(bool(self.conversation_id), "conversation id")


class Counter(TypedAdapter):
    Settings = Settings
    State = State

    def on_start(self, cx, st, conv):
        st.conversation_id = f"c-{cx.handover_id}"
        return Output([events.queued(1)]).with_key(st.conversation_id)

    def on_user_message(self, cx, st, user_input):
        if user_input.text == "boom":
            return {}["missing"]
        if user_input.text == "fail":
            raise error("provider said no")
        if user_input.text == "count":
            st.count += 1
        return [events.typing(False)]


OK = {"base_url": "http://p"}


class Typed(unittest.TestCase):
    def test_start_saves_the_state_and_keys(self):
        step = Counter().start(ctx(OK, "h-9"), conversation())
        self.assertEqual(step.state, b'{"conversation_id":"c-h-9","count":0}')
        self.assertEqual((step.events, step.correlation_keys), ([events.queued(1)], ["c-h-9"]))

    def test_unchanged_state_returns_the_hosts_bytes(self):
        host_bytes = b'{ "conversation_id": "c-1" }'
        same = Counter().user_message(ctx(OK), host_bytes, user_input("hi"))
        self.assertEqual(same.state, host_bytes)
        self.assertEqual(same.events, [events.typing(False)])
        changed = Counter().user_message(ctx(OK), host_bytes, user_input("count"))
        self.assertEqual(changed.state, b'{"conversation_id":"c-1","count":1}')

    def test_failures_become_err_failure(self):
        a = Counter()
        self.assertEqual(failure_of(a.user_message, ctx(OK), b'{"conversation_id":"c"}', user_input("fail")),
                         wit.Failure(wit.FailureReason.ERROR, "provider said no"))
        self.assertEqual(failure_of(a.user_message, ctx({}), b'{"conversation_id":"c"}', user_input("x")).message,
                         "settings: `base_url`: required field is missing")
        self.assertEqual(failure_of(a.user_message, ctx(OK), b"{}", user_input("x")).message,
                         "no conversation id in the handover state")
        self.assertIsNone(a.validate_settings('{"base_url": "x"}'))
        self.assertIn("`base_url`", failure_of(a.validate_settings, "{}").message)

    def test_a_bug_is_an_error_failure_and_logged(self):
        LOG.clear()
        f = failure_of(Counter().user_message, ctx(OK), b'{"conversation_id":"c"}', user_input("boom"))
        self.assertEqual(f, wit.Failure(wit.FailureReason.ERROR, "adapter bug in user-message: KeyError: 'missing'"))
        self.assertEqual(LOG[-1][:2], ("error", "user-message raised KeyError"))
        self.assertIn("Traceback", LOG[-1][2]["traceback"])

    def test_optional_calls_are_unsupported(self):
        a, c, st = Counter(), ctx(OK), b'{"conversation_id":"c"}'
        for call, args, text in [
            (a.cancel, (c, st), "this adapter cannot cancel a conversation"),
            (a.close, (c, st), "this provider cannot close a conversation from the bot side"),
            (a.check_availability, (c, b""), "this adapter cannot check availability"),
            (a.route_webhook, ('{"base_url":"x"}', request({})), "this adapter receives no webhooks"),
            (a.handle_webhook, (c, st, request({})), "this adapter receives no webhooks"),
            (a.poll, (c, st), "this adapter does not poll"),
        ]:
            self.assertEqual(failure_of(call, *args), wit.Failure(wit.FailureReason.UNSUPPORTED, text))


if __name__ == "__main__":
    unittest.main()
