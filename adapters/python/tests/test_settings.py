"""Settings parsing: every error names the field; validate() hooks; helpers."""

import _setup  # noqa: F401
import enum
import unittest
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional

from handover_sdk import settings, wit
from handover_sdk.failure import AdapterFailure


class Mode(enum.Enum):
    WEBHOOK = "webhook"
    POLL = "poll"


@dataclass
class Nested:
    count: int


@dataclass
class Example:
    base_url: str
    mode: Literal["webhook", "poll"] = "webhook"
    kind: Mode = Mode.WEBHOOK
    channels: Optional[List[str]] = None
    nested: Optional[Nested] = None
    ratio: float = 1.0
    labels: Dict[str, str] = field(default_factory=dict)
    enabled: bool = True

    def validate(self):
        self.base_url = settings.require_http_url("base_url", self.base_url)
        settings.require_channels(self.channels)


def message(text):
    try:
        settings.parse(Example, text)
    except AdapterFailure as f:
        assert f.reason == wit.FailureReason.ERROR
        return f.message
    raise AssertionError(f"{text} was accepted")


class Parse(unittest.TestCase):
    def test_values_and_defaults(self):
        s = settings.parse(Example, '{"base_url": "http://h:1/", "mode": "poll", "kind": "poll", '
                                    '"nested": {"count": 2}, "ratio": 2, "unknown": 1}')
        self.assertEqual((s.base_url, s.mode, s.kind, s.nested.count, s.ratio), ("http://h:1", "poll", Mode.POLL, 2, 2.0))
        self.assertIsNone(s.channels)

    def test_errors_name_the_field(self):
        self.assertEqual(message("{}"), "settings: `base_url`: required field is missing")
        self.assertEqual(message(""), "settings: `base_url`: required field is missing")
        self.assertEqual(message('{"base_url": 42}'), "settings: `base_url`: expected a string, got integer 42")
        self.assertEqual(message('{"base_url": "http://h", "nested": {"count": "a"}}'),
                         'settings: `nested.count`: expected an integer, got string "a"')
        self.assertEqual(message('{"base_url": "http://h", "mode": "push"}'),
                         "settings: `mode`: unknown variant `push`, expected `webhook` or `poll`")
        self.assertEqual(message('{"base_url": "http://h", "kind": "x"}'),
                         "settings: `kind`: unknown variant `x`, expected `webhook` or `poll`")
        self.assertEqual(message('{"base_url": "http://h", "channels": ["a", 1]}'),
                         "settings: `channels[1]`: expected a string, got integer 1")
        self.assertEqual(message('{"base_url": "http://h", "enabled": 1}'),
                         "settings: `enabled`: expected a boolean, got integer 1")
        self.assertEqual(message('{"base_url": "http://h", "labels": {"a": null}}'),
                         "settings: `labels.a`: expected a string, got null")
        self.assertEqual(message("[1]"), "settings: expected an object, got a list")
        self.assertTrue(message("{").startswith("settings: not valid JSON: "))

    def test_validate_runs_after_parsing(self):
        self.assertEqual(message('{"base_url": "ftp://x"}'),
                         'settings: `base_url`: must start with http:// or https://, got "ftp://x"')
        self.assertEqual(message('{"base_url": "https://"}'), 'settings: `base_url`: has no host: "https://"')
        self.assertEqual(message('{"base_url": "http://h", "channels": []}'),
                         "settings: `channels`: must list at least one channel")
        self.assertEqual(message('{"base_url": "http://h", "channels": ["a", " "]}'),
                         "settings: `channels[1]`: must not be empty")


class Helpers(unittest.TestCase):
    def test_limits(self):
        settings.require_min("n", None, 1)
        settings.require_max("n", 4, 4)
        with self.assertRaises(AdapterFailure) as low:
            settings.require_min("n", 0, 1)
        self.assertEqual(low.exception.message, "settings: `n`: must be at least 1, got 0")
        with self.assertRaises(AdapterFailure) as high:
            settings.require_max("n", 5, 4, why="why", echo=True)
        self.assertEqual(high.exception.message, "settings: `n`: must be at most 4 (why), got 5")
        self.assertEqual(settings.invalid("f", "bad").message, "settings: `f`: bad")


if __name__ == "__main__":
    unittest.main()
