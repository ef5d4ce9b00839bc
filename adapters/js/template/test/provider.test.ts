// Unit tests of the adapter under plain Node (adapters/js/test.sh DIR):
// the glue in src/adapter.ts runs for real, the provider's HTTP calls go to
// a FakeTransport. They pass as generated; replace the "not implemented"
// checks with the provider's calls as you fill in src/provider.ts, e.g.
//   const fake = new FakeTransport().reply(201, { id: "c-1" }).install();
//   const step = ok(await adapter.start(ctx(SETTINGS), conversation()));
//   assert.equal(fake.requests[0].url, "http://provider.test/conversations");
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeTransport, conversation, ctx, err } from "handover-adapter-sdk/testing";
import { adapter } from "../src/adapter";
import { parseSettings } from "../src/provider";

const SETTINGS = { base_url: "http://provider.test/" };

test("describe names the adapter after its package", () => {
  const info = adapter.describe();
  assert.equal(info.name, "template");
  assert.ok(info.channels.length > 0);
});

test("settings: the base URL is checked and normalised; failures name the field", async () => {
  assert.equal(parseSettings(JSON.stringify(SETTINGS)).baseUrl, "http://provider.test");
  assert.equal(err(await adapter.validateSettings("{}")).message, "settings: `base_url`: is required");
  const bad = err(await adapter.validateSettings('{"base_url": 42}'));
  assert.equal(bad.message, "settings: `base_url`: must be a string, got 42");
});

test("start fails until openConversation is implemented, without calling the provider", async () => {
  const fake = new FakeTransport().install();
  try {
    const failure = err(await adapter.start(ctx(SETTINGS), conversation()));
    assert.deepEqual(failure, { reason: "error", message: "template adapter: openConversation is not implemented yet" });
    assert.equal(fake.requests.length, 0);
  } finally {
    fake.restore();
  }
});

test("calls the template does not implement report unsupported", async () => {
  const state = new TextEncoder().encode('{"conversationId":"c-1","extra":{}}');
  assert.equal(err(await adapter.cancel(ctx(SETTINGS), state)).reason, "unsupported");
  assert.equal(err(await adapter.poll(ctx(SETTINGS), state)).message, "this adapter does not poll");
});
