// The typed layer: results as { tag, val }, settings and state handling,
// unchanged state bytes, unsupported defaults, thrown errors.
import assert from "node:assert/strict";
import { test } from "node:test";
import { adapterInfo, defineAdapter, error, events, settings, type Event } from "../src/index";
import { captureLogs, conversation, ctx, err, ok, request, stateOf } from "../src/testing";

interface State {
  id: string;
  seq: number;
}

const adapter = defineAdapter<{ baseUrl: string }, State>({
  describe: () => adapterInfo("t", "1.0.0", ["webchat"]),
  settings: (text) => settings.parse(text, (f) => ({ baseUrl: f.httpUrl("base_url") })),
  initialState: () => ({ id: "", seq: 0 }),
  checkState: (st) => {
    if (st.id === "") throw error("no conversation in the handover state");
  },
  start(cx, st, conv) {
    st.id = `c-${conv.handoverId}`;
    return { events: [events.queued(1)], correlationKeys: [st.id, cx.settings.baseUrl] };
  },
  userMessage(_cx, _st, input): Event[] {
    if (input.text === "boom") throw new TypeError("x is undefined");
    return [];
  },
  handleWebhook(_cx, st, req) {
    const seq = Number(JSON.parse(new TextDecoder().decode(req.body)).seq);
    if (seq <= st.seq) return;
    st.seq = seq;
    return [events.typing(true)];
  },
});

const good = ctx({ base_url: "http://h/" });

test("start: state saved, events and keys returned", async () => {
  const step = ok(await adapter.start(good, conversation()));
  assert.deepEqual(stateOf(step.state), { id: "c-h-1", seq: 0 });
  assert.deepEqual(step.correlationKeys, ["c-h-1", "http://h"]);
  assert.equal(step.events[0].tag, "queued");
});

test("settings and state failures are err values", async () => {
  assert.deepEqual(await adapter.validateSettings('{"base_url": "http://h"}'), { tag: "ok", val: undefined });
  assert.equal(err(await adapter.validateSettings("{}")).message, "settings: `base_url`: is required");
  const noState = err(await adapter.handleWebhook(good, new Uint8Array(0), request({ seq: 1 })));
  assert.deepEqual(noState, { reason: "error", message: "no conversation in the handover state" });
});

test("a call that leaves the state as loaded returns the host's bytes unchanged", async () => {
  const bytes = new TextEncoder().encode('{ "id": "c-1", "seq": 5 }');
  const stale = ok(await adapter.handleWebhook(good, bytes, request({ seq: 4 })));
  assert.equal(stale.state, bytes);
  assert.deepEqual(stale.events, []);
  const fresh = ok(await adapter.handleWebhook(good, bytes, request({ seq: 6 })));
  assert.deepEqual(stateOf(fresh.state), { id: "c-1", seq: 6 });
  assert.deepEqual(fresh.events, [{ tag: "agent-typing", val: true }]);
});

test("optional calls default to unsupported", async () => {
  const bytes = new TextEncoder().encode('{"id":"c-1","seq":0}');
  assert.deepEqual(err(await adapter.cancel(good, bytes)), { reason: "unsupported", message: "this adapter cannot cancel a conversation" });
  assert.equal(err(await adapter.poll(good, bytes)).reason, "unsupported");
  assert.equal(err(await adapter.checkAvailability(good, new Uint8Array(0))).reason, "unsupported");
  assert.equal(err(await adapter.routeWebhook("{}", request({}))).message, "settings: `base_url`: is required");
});

test("an unexpected exception becomes an error failure and is logged", async () => {
  const logs = captureLogs();
  try {
    const bytes = new TextEncoder().encode('{"id":"c-1","seq":0}');
    const input = { kind: "text" as const, text: "boom", attachments: [] };
    const failure = err(await adapter.userMessage(good, bytes, input));
    assert.deepEqual(failure, { reason: "error", message: "internal adapter error: TypeError: x is undefined" });
    assert.equal(logs.lines[0].level, "error");
  } finally {
    logs.restore();
  }
});

test("a thrown Failure carries componentize-js's payload convention", () => {
  const failure = error("nope");
  assert.ok(failure instanceof Error);
  assert.deepEqual(failure.payload, { reason: "error", message: "nope" });
});
