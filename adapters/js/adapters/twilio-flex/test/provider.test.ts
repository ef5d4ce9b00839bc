// Unit tests of the Twilio Flex adapter under plain Node
// (adapters/js/test.sh adapters/js/adapters/twilio-flex): the glue runs for
// real, Twilio's answers come from a FakeTransport.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeTransport, conversation, ctx, err, ok, stateOf } from "handover-adapter-sdk/testing";
import { http, webhooks } from "handover-adapter-sdk";
import { adapter } from "../src/adapter";
import { conversationOf, parseSettings } from "../src/provider";

const WS = "WS" + "0".repeat(29) + "f1e";
const WW = "WW" + "0".repeat(29) + "f1e";
const SETTINGS = {
  flex_api_url: "http://flex.test/",
  conversations_url: "http://conversations.test",
  workspace_sid: WS,
  workflow_sid: WW,
};
const CH = "CH" + "a".repeat(32);

function interaction(attributes: unknown = { handover_id: "h-1", conversationSid: CH }) {
  return {
    sid: "KD" + "b".repeat(32),
    channel: { type: "web", sid: "UO" + "c".repeat(32) },
    routing: { properties: { sid: "WT" + "d".repeat(32), attributes: JSON.stringify(attributes) } },
  };
}

function state(extra: Record<string, unknown> = {}): Uint8Array {
  const full = { identity: "handover-h-1", last_index: 0, participants: {}, names: {}, ended: false, ...extra };
  return new TextEncoder().encode(JSON.stringify({ conversationId: CH, extra: full }));
}

function hook(fields: Record<string, string>, headers: Record<string, string> = {}) {
  const body = new TextEncoder().encode(http.formEncode({ AccountSid: "AC1", ConversationSid: CH, ...fields }));
  const list = Object.entries({ "content-type": "application/x-www-form-urlencoded", ...headers })
    .map(([key, value]) => ({ key, value }));
  return { method: "POST", path: "/v1/webhooks/ep", headers: list, body };
}

function message(index: number, author: string, body: string) {
  return { sid: `IM${index}`, index, author, body };
}

test("describe: webchat, Twilio's signature scheme", () => {
  const info = adapter.describe();
  assert.equal(info.name, "twilio-flex");
  assert.deepEqual(info.channels, ["webchat"]);
  const sig = info.webhookSignature!;
  assert.equal(sig.algorithm, "hmac-sha1");
  assert.equal(sig.header, "X-Twilio-Signature");
  assert.equal(sig.encoding, "base64");
  assert.deepEqual(sig.signed, { tag: "url-then-body" });
  assert.equal(sig.deliveryIdHeader, "I-Twilio-Idempotency-Token");
});

test("settings: URLs and sids are checked; failures name the field", async () => {
  const s = parseSettings(JSON.stringify(SETTINGS));
  assert.equal(s.flexApiUrl, "http://flex.test");
  assert.equal(s.taskChannel, "chat");
  assert.equal(s.channelType, "web");
  assert.equal(err(await adapter.validateSettings("{}")).message, "settings: `flex_api_url`: is required");
  assert.match(err(await adapter.validateSettings('{"base_url": 42}')).message, /flex_api_url/);
  const bad = err(await adapter.validateSettings(JSON.stringify({ ...SETTINGS, workflow_sid: "WW1" })));
  assert.match(bad.message, /^settings: `workflow_sid`: must be a Twilio sid/);
});

test("start creates an interaction (form Channel + Routing), then posts the transcript", async () => {
  const fake = new FakeTransport().reply(200, interaction()).reply(201, message(0, "bot", "x")).install();
  try {
    const step = ok(await adapter.start(ctx(SETTINGS), conversation({
      routing: { skills: ["billing"], language: "de", custom: [{ key: "tier", value: "gold" }] },
    })));
    assert.deepEqual(step.correlationKeys, [CH]);
    assert.equal(step.events[0].tag, "queued");
    const [create, transcript] = fake.requests;
    assert.equal(create.url, "http://flex.test/v1/Interactions");
    assert.equal(create.header("content-type"), "application/x-www-form-urlencoded");
    assert.equal(create.header("content-length"), String(create.body?.length));
    const form = webhooks.bodyForm(create.body!);
    assert.deepEqual(JSON.parse(form.Channel), {
      type: "web", initiated_by: "api", participants: [{ identity: "handover-h-1" }],
    });
    const routing = JSON.parse(form.Routing).properties;
    assert.equal(routing.workspace_sid, WS);
    assert.equal(routing.workflow_sid, WW);
    assert.equal(routing.task_channel_unique_name, "chat");
    assert.equal(routing.attributes.handover_id, "h-1");
    assert.deepEqual(routing.attributes.skills, ["billing"]);
    assert.equal(routing.attributes.language, "de");
    assert.equal(routing.attributes.tier, "gold");
    assert.equal(transcript.url, `http://conversations.test/v1/Conversations/${CH}/Messages`);
    assert.equal(transcript.text, "Author=bot&Body=user%3A+I+need+a+human");
    const saved = stateOf(step.state) as { conversationId: string; extra: { identity: string; last_index: number } };
    assert.equal(saved.conversationId, CH);
    assert.equal(saved.extra.identity, "handover-h-1");
    assert.equal(saved.extra.last_index, -1);
  } finally {
    fake.restore();
  }
});

test("start: a 5xx is an error; another channel is unsupported; no conversationSid is an error", async () => {
  const fake = new FakeTransport().reply(503, { code: 20503, message: "down", status: 503 }).install();
  try {
    const failure = err(await adapter.start(ctx(SETTINGS), conversation()));
    assert.equal(failure.reason, "error");
    assert.match(failure.message, /POST \/v1\/Interactions: provider unavailable or failing \(HTTP 503\)/);
    assert.equal(err(await adapter.start(ctx(SETTINGS), conversation({ channel: "fax" }))).reason, "unsupported");
    assert.throws(() => conversationOf(interaction({ handover_id: "h-1" })), /no conversationSid/);
    assert.equal(conversationOf({ routing: { properties: { attributes: { conversationSid: CH } } } }), CH);
  } finally {
    fake.restore();
  }
});

test("user messages go out as the user's identity; cancel and close set State=closed", async () => {
  const fake = new FakeTransport().reply(201, message(1, "handover-h-1", "hi")).reply(200, {}).reply(200, {}).install();
  try {
    ok(await adapter.userMessage(ctx(SETTINGS), state(), { kind: "text", text: "my parcel", attachments: [] }));
    ok(await adapter.cancel(ctx(SETTINGS), state()));
    ok(await adapter.close(ctx(SETTINGS), state()));
    assert.equal(fake.requests[0].text, "Author=handover-h-1&Body=my+parcel");
    for (const r of fake.requests.slice(1)) {
      assert.equal(r.url, `http://conversations.test/v1/Conversations/${CH}`);
      assert.equal(r.text, "State=closed");
    }
  } finally {
    fake.restore();
  }
});

test("route-webhook: the conversation sid and the idempotency token (or the message sid)", async () => {
  const r = ok(await adapter.routeWebhook(JSON.stringify(SETTINGS), hook(
    { EventType: "onMessageAdded", MessageSid: "IM9", Index: "3" }, { "I-Twilio-Idempotency-Token": "tok-1" })));
  assert.deepEqual(r.correlationKeys, [CH]);
  assert.equal(r.deliveryId, "tok-1");
  assert.equal(r.response.status, 200);
  const plain = ok(await adapter.routeWebhook(JSON.stringify(SETTINGS), hook({ EventType: "onMessageAdded", MessageSid: "IM9" })));
  assert.equal(plain.deliveryId, `${CH}:IM9`);
  const bad = err(await adapter.routeWebhook(JSON.stringify(SETTINGS), hook({ Body: "x" })));
  assert.equal(bad.message, "malformed webhook body: missing field `EventType`");
});

test("participants: an agent joins once; the user's own participant is ignored", async () => {
  const joined = hook({ EventType: "onParticipantAdded", ParticipantSid: "MB1", Identity: "alex",
    Attributes: '{"member_type":"agent","friendly_name":"Alex"}' });
  const step = ok(await adapter.handleWebhook(ctx(SETTINGS), state(), joined));
  assert.deepEqual(step.events, [{ tag: "agent-joined", val: { id: "alex", name: "Alex" } }]);
  const again = ok(await adapter.handleWebhook(ctx(SETTINGS), step.state, joined));
  assert.deepEqual(again.events, []);
  const own = hook({ EventType: "onParticipantAdded", ParticipantSid: "MB0", Identity: "handover-h-1" });
  assert.deepEqual(ok(await adapter.handleWebhook(ctx(SETTINGS), state(), own)).events, []);
});

test("messages: fetched after the last index, in order, once; own and bot messages skipped", async () => {
  const page = { messages: [message(4, "alex", "third"), message(3, "handover-h-1", "mine"), message(2, "alex", "first"),
    message(1, "bot", "transcript")], meta: { next_page_url: null } };
  const fake = new FakeTransport().reply(200, page).install();
  try {
    // The third message's webhook arrives first (out of order).
    const late = hook({ EventType: "onMessageAdded", MessageSid: "IM4", Index: "4", Author: "alex", Body: "third" });
    const step = ok(await adapter.handleWebhook(ctx(SETTINGS), state({ names: { alex: "Alex" } }), late));
    assert.equal(fake.requests[0].url, `http://conversations.test/v1/Conversations/${CH}/Messages?Order=desc&PageSize=50`);
    assert.deepEqual(step.events.map((e) => e.tag === "agent-message" ? [e.val.text, e.val.agent?.name] : e.tag),
      [["first", "Alex"], ["third", "Alex"]]);
    assert.equal((stateOf(step.state) as { extra: { last_index: number } }).extra.last_index, 4);
    // The earlier ones (and duplicates) then bring nothing and fetch nothing.
    const early = hook({ EventType: "onMessageAdded", MessageSid: "IM2", Index: "2", Author: "alex", Body: "first" });
    assert.deepEqual(ok(await adapter.handleWebhook(ctx(SETTINGS), step.state, early)).events, []);
    assert.deepEqual(ok(await adapter.handleWebhook(ctx(SETTINGS), step.state, late)).events, []);
    assert.equal(fake.requests.length, 1);
  } finally {
    fake.restore();
  }
});

test("messages: older pages are read until the last index handled", async () => {
  const newest = { messages: [message(3, "alex", "c"), message(2, "alex", "b")],
    meta: { next_page_url: "https://conversations.twilio.com/v1/Conversations/CH/Messages?Order=desc&PageSize=2&Page=1" } };
  const older = { messages: [message(1, "alex", "a"), message(0, "bot", "t")], meta: { next_page_url: null } };
  const fake = new FakeTransport().reply(200, newest).reply(200, older).install();
  try {
    const step = ok(await adapter.handleWebhook(ctx(SETTINGS), state(), hook({ EventType: "onMessageAdded", Index: "3" })));
    assert.deepEqual(step.events.map((e) => e.tag === "agent-message" ? e.val.text : e.tag), ["a", "b", "c"]);
    assert.equal(fake.requests[1].url, "http://conversations.test/v1/Conversations/CH/Messages?Order=desc&PageSize=2&Page=1");
  } finally {
    fake.restore();
  }
});

test("the conversation closed by the agent ends the handover once", async () => {
  const closed = hook({ EventType: "onConversationStateUpdated", StateFrom: "active", StateTo: "closed" });
  const step = ok(await adapter.handleWebhook(ctx(SETTINGS), state(), closed));
  assert.deepEqual(step.events, [{ tag: "ended", val: { tag: "agent-closed" } }]);
  assert.deepEqual(ok(await adapter.handleWebhook(ctx(SETTINGS), step.state, closed)).events, []);
  const inactive = hook({ EventType: "onConversationStateUpdated", StateFrom: "active", StateTo: "inactive" });
  assert.deepEqual(ok(await adapter.handleWebhook(ctx(SETTINGS), state(), inactive)).events, []);
});
