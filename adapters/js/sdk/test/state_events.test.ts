// State as JSON bytes (BigInt kept exact), event and describe shapes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { adapterInfo, capabilities, endReason, events, hmac, json, polling, signed, state, transcript } from "../src/index";
import { failsWith } from "../src/testing";

test("state round-trips; empty bytes give the initial state; corrupt bytes fail", () => {
  const initial = () => ({ id: "", seq: 0, at: 0n });
  assert.deepEqual(state.load(new Uint8Array(0), initial), initial());
  const bytes = state.save({ id: "c-1", seq: 3, at: 12345678901234567890n });
  assert.equal(json.text(bytes), '{"id":"c-1","seq":3,"at":12345678901234567890}');
  assert.deepEqual(state.load(json.utf8('{"id":"c-2"}'), initial), { id: "c-2", seq: 0, at: 0n });
  failsWith(() => state.load(json.utf8("{"), initial), "error", "corrupt adapter state");
  failsWith(() => state.load(json.utf8("[]"), initial), "error", "corrupt adapter state: not a JSON object");
  failsWith(() => state.require(false, "X room"), "error", "no X room in the handover state");
});

test("events are the WIT variant's { tag, val } shapes", () => {
  const ann = events.agent("a-1", "Ann");
  assert.deepEqual(events.queued(3, null), { tag: "queued", val: { position: 3, estimatedWaitSeconds: undefined } });
  assert.deepEqual(events.agentJoined(ann), { tag: "agent-joined", val: { id: "a-1", name: "Ann" } });
  assert.deepEqual(events.agentMessage(ann, "hi"), { tag: "agent-message", val: { agent: ann, text: "hi", attachments: [] } });
  assert.deepEqual(events.typing(true), { tag: "agent-typing", val: true });
  assert.deepEqual(events.transferred("billing"), { tag: "transferred", val: { toQueue: "billing", toAgent: undefined } });
  assert.deepEqual(events.ended(endReason.agentClosed), { tag: "ended", val: { tag: "agent-closed" } });
  assert.deepEqual(events.ended(endReason.other("x")), { tag: "ended", val: { tag: "other", val: "x" } });
});

test("describe building blocks", () => {
  const sig = hmac("hmac-sha256", "X-Sim-Signature", { prefix: "sha256=", signed: signed.timestampThenBody("."), timestampHeader: "X-Sim-Timestamp" });
  assert.deepEqual(sig.signed, { tag: "timestamp-then-body", val: "." });
  assert.equal(sig.encoding, "hex");
  const info = adapterInfo("x", "1.0.0", ["webchat"], { capabilities: { ...capabilities.NONE, typing: true }, polling: polling.periodic(200), webhookSignature: sig });
  assert.equal(info.capabilities.typing, true);
  assert.deepEqual(info.polling, { mode: "periodic", intervalMs: 200, maxWaitMs: 0 });
  assert.equal(info.settingsSchema, "{}");
});

test("transcript chunks count code points", () => {
  assert.deepEqual(transcript.chunkText("ab😀cd", 2), ["ab", "😀c", "d"]);
  const entry = { author: "user" as const, text: "abc", timestampMs: 1n };
  assert.deepEqual(transcript.chunk([entry], 2).map((e) => e.text), ["ab", "c"]);
});
