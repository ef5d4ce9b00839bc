"""The SDK built for contract 0.2.0 (run by test_contract_v0_2.py in a
process of its own with HANDOVER_CONTRACT=0.2.0, so the stand-ins are
0.2.0's): the new capabilities, declarations, events and `user-typing`."""

import _setup  # noqa: F401
import json
import unittest
from dataclasses import dataclass

from handover_sdk import contract, describe, events, v0_2, wit
from handover_sdk.testing import ctx, failure_of, user_input
from handover_sdk.typed import TypedAdapter


@dataclass
class Settings:
    base_url: str


@dataclass
class State:
    typing: int = 0


class Typist(TypedAdapter):
    Settings = Settings
    State = State

    def on_user_typing(self, cx, st, typing):
        st.typing += 1
        return [v0_2.receipt([cx.handover_id], read=typing)]


class Contract02(unittest.TestCase):
    def test_the_build_is_0_2_0(self):
        self.assertEqual(contract.VERSION, "0.2.0")

    def test_describe_declares_needs_routing_and_the_new_flags(self):
        caps = describe.capabilities(user_typing=True, hand_back=True)
        self.assertTrue(caps.user_typing and caps.hand_back and not caps.receipts)
        self.assertTrue(describe.capabilities(all=True).rich_messages)
        routing = v0_2.json_routing("/conversation/id", "conv:", "/id", '{"ok":true}')
        info = describe.info("p", "1.0.0", ["webchat"], caps, needs_egress=["{base_url}"],
                             needs_secrets=["token"], routing=routing)
        self.assertEqual((info.permissions.egress, info.permissions.secrets), (["{base_url}"], ["token"]))
        self.assertEqual(info.webhook_routing.correlation_key, wit.Locator_JsonPointer("/conversation/id"))
        self.assertEqual(info.webhook_routing.response.body, b'{"ok":true}')
        self.assertEqual(describe.info("p", "1", ["webchat"]).permissions, wit.Permissions(egress=[], secrets=[]))

    def test_events(self):
        self.assertEqual(events.agent_message(None, "hi").value.actions, [])
        rich = v0_2.rich_message(None, "pick", [v0_2.quick_reply("Yes", "yes"), v0_2.link("T", "https://t")])
        self.assertEqual(rich.value.actions[0], wit.Action_QuickReply(wit.QuickReply(title="Yes", payload="yes")))
        back = v0_2.returned_to_bot({"plan": "gold"}, "over to you")
        self.assertEqual(json.loads(back.value.variables), {"plan": "gold"})
        with self.assertRaises(TypeError):
            v0_2.returned_to_bot(["not", "a", "dict"])
        self.assertEqual(v0_2.receipt(["m-1"], read=False).value.status, wit.ReceiptStatus.DELIVERED)
        self.assertEqual(v0_2.survey(4, 5).value.scale_max, 5)
        self.assertEqual(v0_2.wrap_up("resolved").value.disposition, "resolved")
        self.assertEqual(v0_2.provider_reference("case", "C-1").value.kind, "case")
        self.assertEqual(user_input("hi", id="m-7").id, "m-7")

    def test_user_typing_runs_the_hook_with_the_state(self):
        step = Typist().user_typing(ctx({"base_url": "http://p"}, "h-3"), b"{}", True)
        self.assertEqual(step.state, b'{"typing":1}')
        self.assertEqual(step.events[0].value.message_ids, ["h-3"])
        f = failure_of(TypedAdapter().user_typing, ctx({}), b"{}", True)
        self.assertEqual(f.reason, wit.FailureReason.UNSUPPORTED)


if __name__ == "__main__":
    unittest.main()
