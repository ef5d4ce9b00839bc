// Settings parsing: every failure names the field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { settings } from "../src/index";
import { failsWith } from "../src/testing";

const read = (text: string) =>
  settings.parse(text, (f) => ({
    baseUrl: f.httpUrl("base_url"),
    mode: f.oneOf("mode", ["webhook", "poll"] as const, "webhook"),
    chunk: f.int("transcript_chunk", 1000, { min: 1 }),
    channels: f.channels(),
    auth: f.optObject("auth", (a) => ({ user: a.string("user") })),
  }));

test("valid settings parse with defaults; a trailing slash is dropped", () => {
  const s = read('{"base_url": "http://h:1/", "unknown": true}');
  assert.deepEqual(s, { baseUrl: "http://h:1", mode: "webhook", chunk: 1000, channels: undefined, auth: undefined });
  failsWith(() => read("  "), "error", "`base_url`: is required");
});

test("messages name the field", () => {
  failsWith(() => read("{}"), "error", "settings: `base_url`: is required");
  failsWith(() => read('{"base_url": 42}'), "error", "settings: `base_url`: must be a string, got 42");
  failsWith(() => read('{"base_url": "ftp://x"}'), "error", 'settings: `base_url`: must start with http:// or https://, got "ftp://x"');
  failsWith(() => read('{"base_url": "http://"}'), "error", "settings: `base_url`: has no host");
  failsWith(() => read('{"base_url": "http://h", "mode": "push"}'), "error", 'settings: `mode`: unknown value "push", expected `webhook` or `poll`');
  failsWith(() => read('{"base_url": "http://h", "transcript_chunk": 0}'), "error", "settings: `transcript_chunk`: must be at least 1, got 0");
  failsWith(() => read('{"base_url": "http://h", "transcript_chunk": 1.5}'), "error", "`transcript_chunk`: must be an integer");
  failsWith(() => read('{"base_url": "http://h", "channels": []}'), "error", "settings: `channels`: must list at least one channel");
  failsWith(() => read('{"base_url": "http://h", "channels": ["a", " "]}'), "error", "settings: `channels[1]`: must not be empty");
  failsWith(() => read('{"base_url": "http://h", "channels": ["a", 1]}'), "error", "settings: `channels[1]`: must be a string");
  failsWith(() => read('{"base_url": "http://h", "auth": {}}'), "error", "settings: `auth.user`: is required");
  failsWith(() => read("[1]"), "error", "settings: must be a JSON object, got a list");
  failsWith(() => read("{"), "error", "settings: not valid JSON");
});

test("checks usable on their own", () => {
  assert.equal(settings.requireHttpUrl("u", " https://h/x/ "), "https://h/x");
  failsWith(() => settings.requireMax("n", 5, 4, "why"), "error", "settings: `n`: must be at most 4 (why), got 5");
  settings.requireMax("n", undefined, 4);
  failsWith(() => settings.requireList("labels", [], "label"), "error", "must list at least one label");
});
