"""Unit tests of this adapter with plain CPython (no host, no component):
`python3 -m unittest` in the adapter folder. They go through app.Adapter,
the same glue the component exports, with HTTP answered by a
FakeTransport. Extend them as provider.py gets filled in."""

import unittest

from handover_sdk import wit
from handover_sdk.testing import FakeTransport, conversation, ctx, failure_of

import app

SETTINGS = {"base_url": "https://provider.example/"}


class DescribeAndSettings(unittest.TestCase):
    def test_describe(self):
        info = app.Adapter().describe()
        self.assertEqual(info.name, "template")
        self.assertTrue(info.channels)
        self.assertEqual(info.settings_schema, "{}")

    def test_settings_are_checked_and_errors_name_the_field(self):
        adapter = app.Adapter()
        self.assertIsNone(adapter.validate_settings('{"base_url": "https://provider.example/"}'))
        missing = failure_of(adapter.validate_settings, "{}")
        self.assertEqual(missing.reason, wit.FailureReason.ERROR)
        self.assertEqual(missing.message, "settings: `base_url`: required field is missing")
        bad = failure_of(adapter.validate_settings, '{"base_url": "ftp://x"}')
        self.assertTrue(bad.message.startswith("settings: `base_url`: must start with http://"), bad.message)
        self.assertIn("`base_url`", failure_of(adapter.validate_settings, '{"base_url": 42}').message)


class Calls(unittest.TestCase):
    def test_start_reports_a_failure_not_a_crash(self):
        # As generated, open_conversation is a TODO: replace this test with one
        # like the example below once it calls the provider.
        with FakeTransport().installed() as fake:
            failure = failure_of(app.Adapter().start, ctx(SETTINGS), conversation())
        self.assertEqual(failure.reason, wit.FailureReason.ERROR)
        self.assertIn("not implemented", failure.message)
        self.assertEqual(fake.requests, [])

    @unittest.skip("example: enable once open_conversation calls the provider")
    def test_start_opens_the_conversation(self):
        fake = FakeTransport().on("POST", "/conversations", 201, {"id": "c-1"})
        with fake.installed():
            step = app.Adapter().start(ctx(SETTINGS), conversation())
        self.assertEqual(step.correlation_keys, ["c-1"])
        self.assertEqual(fake.requests[0].json()["handover_id"], "h-1")


if __name__ == "__main__":
    unittest.main()
