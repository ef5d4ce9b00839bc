"""Provider state as JSON bytes: load, save, checks."""

import _setup  # noqa: F401
import unittest
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from handover_sdk import state
from handover_sdk.failure import AdapterFailure


@dataclass
class S:
    conversation_id: str = ""
    seq: int = 0
    agent: Optional[state.AgentRef] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class State(unittest.TestCase):
    def test_empty_bytes_give_the_default(self):
        self.assertEqual(state.load(S, b""), S())

    def test_round_trip(self):
        s = S("c-1", 3, state.AgentRef("a-1", "Ann"), {"k": [1, "ü"]})
        data = state.save(s)
        self.assertEqual(data, '{"conversation_id":"c-1","seq":3,"agent":{"id":"a-1","name":"Ann"},"extra":{"k":[1,"ü"]}}'.encode())
        self.assertEqual(state.load(S, data), s)
        self.assertEqual(s.agent.to_agent().name, "Ann")

    def test_corrupt_state_is_an_error(self):
        with self.assertRaises(AdapterFailure) as bad_json:
            state.load(S, b"{")
        self.assertTrue(bad_json.exception.message.startswith("corrupt adapter state: "))
        with self.assertRaises(AdapterFailure) as bad_field:
            state.load(S, b'{"seq": "x"}')
        self.assertEqual(bad_field.exception.message, 'corrupt adapter state: `seq`: expected an integer, got string "x"')

    def test_require_names_what_is_missing(self):
        state.require(True, "X room")
        with self.assertRaises(AdapterFailure) as missing:
            state.require(False, "X room")
        self.assertEqual(missing.exception.message, "no X room in the handover state")


if __name__ == "__main__":
    unittest.main()
