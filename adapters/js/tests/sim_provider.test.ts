// Unit tests of the sim provider filled into the template (run on the copy
// tests/make-sim-copy.sh makes: test.sh DEST): the glue and provider run
// under Node, the sim's HTTP API is a FakeTransport.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeTransport, conversation, ctx, err, ok, request, stateOf } from "handover-adapter-sdk/testing";
import { adapter } from "../src/adapter";

const SETTINGS = ctx({ base_url: "http://sim.test/" });
const STATE = new TextEncoder().encode('{"conversationId":"c 1","extra":{"last_seq":1}}');
const hook = (seq: number, type: string, more: object = {}) =>
  request({ event_id: `e-${seq}`, conversation_id: "c 1", seq, type, ...more });

test("describe declares the sim's webhook signature", () => {
  const info = adapter.describe();
  assert.equal(info.name, "my-provider");
  assert.equal(info.webhookSignature?.header, "X-Sim-Signature");
  assert.deepEqual(info.webhookSignature?.signed, { tag: "timestamp-then-body", val: "." });
});

test("start posts the conversation and reports queued", async () => {
  const fake = new FakeTransport().reply(201, { id: "c 1", queue_position: 2 }).install();
  try {
    const step = ok(await adapter.start(SETTINGS, conversation()));
    const [req] = fake.requests;
    assert.equal(req.url, "http://sim.test/conversations");
    assert.deepEqual(req.json, {
      handover_id: "h-1", session_id: "s-1", user_id: "u-1", channel: "webchat", locale: "en-US",
      transcript: [{ author: "user", text: "I need a human", ts: 1700000000000 }], routing: { skills: [] },
    });
    assert.equal(req.header("content-length"), String(req.body?.length));
    assert.deepEqual(step.events, [{ tag: "queued", val: { position: 2, estimatedWaitSeconds: undefined } }]);
    assert.deepEqual(step.correlationKeys, ["c 1"]);
    assert.deepEqual(stateOf(step.state), { conversationId: "c 1", extra: { last_seq: 1 } });
  } finally {
    fake.restore();
  }
});

test("a 5xx on start is an error failure naming the call", async () => {
  const fake = new FakeTransport().reply(503, "down").install();
  try {
    const failure = err(await adapter.start(SETTINGS, conversation()));
    assert.equal(failure.message, "POST /conversations: provider unavailable or failing (HTTP 503): down");
  } finally {
    fake.restore();
  }
});

test("user input and cancel go to the conversation's URLs", async () => {
  const fake = new FakeTransport().reply(202).reply(200).install();
  try {
    const sent = ok(await adapter.userMessage(SETTINGS, STATE, { kind: "text", text: "hi", attachments: [] }));
    assert.equal(sent.state, STATE);
    ok(await adapter.cancel(SETTINGS, STATE));
    assert.equal(fake.requests[0].url, "http://sim.test/conversations/c%201/messages");
    assert.equal(fake.requests[1].url, "http://sim.test/conversations/c%201/cancel");
  } finally {
    fake.restore();
  }
});

test("webhooks: routed by conversation and event id, applied once, in order", async () => {
  const route = ok(await adapter.routeWebhook(SETTINGS.settings, hook(2, "agent_joined", { agent: { id: "a", name: "Ann" } })));
  assert.deepEqual(route.correlationKeys, ["c 1"]);
  assert.equal(route.deliveryId, "e-2");
  const joined = ok(await adapter.handleWebhook(SETTINGS, STATE, hook(2, "agent_joined", { agent: { id: "a", name: "Ann" } })));
  assert.deepEqual(joined.events, [{ tag: "agent-joined", val: { id: "a", name: "Ann" } }]);
  const stale = ok(await adapter.handleWebhook(SETTINGS, joined.state, hook(2, "agent_message", { text: "x" })));
  assert.deepEqual(stale.events, []);
  assert.equal(stale.state, joined.state);
  const ended = ok(await adapter.handleWebhook(SETTINGS, joined.state, hook(3, "ended", { reason: "no_agent" })));
  assert.deepEqual(ended.events, [{ tag: "ended", val: { tag: "no-agent-available" } }]);
  assert.equal(err(await adapter.routeWebhook(SETTINGS.settings, request("{"))).message.startsWith("malformed webhook body"), true);
  assert.equal(err(await adapter.routeWebhook(SETTINGS.settings, request({ seq: 1 }))).message, "malformed webhook body: missing field `event_id`");
});

test("webhooks that arrive early are held until the gap fills", async () => {
  const msg = (seq: number) => hook(seq, "agent_message", { text: `m${seq}` });
  const texts = (step: { events: { tag: string; val: unknown }[] }) => step.events.map((e) => (e.val as { text: string }).text);
  const third = ok(await adapter.handleWebhook(SETTINGS, STATE, msg(4)));
  assert.deepEqual(third.events, []);
  const again = ok(await adapter.handleWebhook(SETTINGS, third.state, msg(4)));
  assert.equal(again.state, third.state);
  const second = ok(await adapter.handleWebhook(SETTINGS, third.state, msg(3)));
  assert.deepEqual(second.events, []);
  const first = ok(await adapter.handleWebhook(SETTINGS, second.state, msg(2)));
  assert.deepEqual(texts(first), ["m2", "m3", "m4"]);
  assert.deepEqual(stateOf(first.state), { conversationId: "c 1", extra: { last_seq: 4 } });
});
