// The JSON HTTP client over a fake transport: headers, content-length,
// timeouts and the error messages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { http, webhooks } from "../src/index";
import { FakeTransport, failsWith } from "../src/testing";

test("postJson sends JSON with content-length and parses the response", () => {
  const fake = new FakeTransport().reply(201, { id: "c-1" }).install();
  try {
    const created = http.postJson<{ id: string }>("http://h/api/conversations", { text: "héllo", n: 1n });
    assert.equal(created.id, "c-1");
    const [req] = fake.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.text, '{"text":"héllo","n":1}');
    assert.equal(req.header("content-length"), String(req.body?.length));
    assert.equal(req.header("content-length"), "23"); // bytes, not characters
    assert.equal(req.header("content-type"), "application/json");
    assert.equal(req.header("accept"), "application/json");
    assert.deepEqual(req.timeouts, http.DEFAULT_TIMEOUTS);
  } finally {
    fake.restore();
  }
});

test("a POST without body still sends content-length 0; a GET sends none", () => {
  const fake = new FakeTransport().reply(202).reply(200, "  ").install();
  try {
    http.send("POST", "http://h/x");
    assert.equal(http.getJson("http://h/y", { headers: { Accept: "text/plain" }, timeouts: { firstByteMs: 50 } }), null);
    assert.equal(fake.requests[0].header("content-length"), "0");
    assert.equal(fake.requests[1].body, undefined);
    assert.equal(fake.requests[1].header("content-length"), undefined);
    assert.equal(fake.requests[1].header("accept"), "text/plain");
    assert.equal(fake.requests[1].timeouts.firstByteMs, 50);
  } finally {
    fake.restore();
  }
});

test("failures name the call, never the host or query, and quote the body", () => {
  const fake = new FakeTransport()
    .reply(503, "  down \n for  maintenance ")
    .reply(429)
    .reply(200, "<html>")
    .fail("connection-refused")
    .install();
  try {
    failsWith(() => http.postJson("https://u:p@h/conversations?key=s", {}), "error",
      "POST /conversations: provider unavailable or failing (HTTP 503): down for maintenance");
    const limited = failsWith(() => http.getJson("http://h/a"), "error", "GET /a: provider rate limit hit, retry later (HTTP 429)");
    assert.equal(limited.message.endsWith("(HTTP 429)"), true);
    failsWith(() => http.getJson("http://h/b"), "error", "GET /b: unexpected response (HTTP 200):");
    failsWith(() => http.getJson("http://h/c"), "error", "GET /c: provider unreachable: connection-refused");
  } finally {
    fake.restore();
  }
});

test("HttpError keeps the status; helpers", () => {
  const fake = new FakeTransport().reply(404, "x".repeat(300)).install();
  try {
    http.getJson("http://h/z");
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof http.HttpError);
    assert.equal(e.status, 404);
    assert.equal(e.reason, "error");
    assert.ok(e.message.endsWith("…"));
  } finally {
    fake.restore();
  }
  assert.equal(http.pathSegment("a/b c'd"), "a%2Fb%20c%27d");
  assert.equal(http.target("GET", "http://h"), "GET /");
});

test("without a transport, calls fail with a clear message", () => {
  failsWith(() => http.getJson("http://h/"), "error", "no HTTP transport installed");
});

test("postForm sends a form body with content-length and parses the JSON response", () => {
  const fake = new FakeTransport().reply(201, { sid: "IM1" }).install();
  try {
    const created = http.postForm<{ sid: string }>("http://h/v1/Conversations/CH1/Messages", {
      Author: "user one",
      Body: "héllo & bye=1 (ok)*",
      Skipped: undefined,
      Nothing: null,
      Index: 3,
      Flag: true,
      Tag: ["a", "b"],
    });
    assert.equal(created.sid, "IM1");
    const [req] = fake.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.text, "Author=user+one&Body=h%C3%A9llo+%26+bye%3D1+%28ok%29%2A&Index=3&Flag=true&Tag=a&Tag=b");
    assert.equal(req.header("content-type"), "application/x-www-form-urlencoded");
    assert.equal(req.header("content-length"), String(req.body?.length));
    assert.equal(req.header("accept"), "application/json");
  } finally {
    fake.restore();
  }
});

test("form failures read like the JSON client's; formEncode of nothing is empty", () => {
  const fake = new FakeTransport().reply(400, { code: 20001, message: "bad" }).install();
  try {
    failsWith(() => http.postForm("http://h/v1/Interactions", { Channel: "{}" }), "error",
      "POST /v1/Interactions: provider rejected the request (HTTP 400)");
    assert.equal(fake.requests[0].text, "Channel=%7B%7D");
    assert.equal(fake.requests[0].header("content-length"), "14");
    assert.equal(http.formEncode({}), "");
  } finally {
    fake.restore();
  }
});

test("webhooks.bodyForm decodes form bodies and refuses bad escapes", () => {
  const body = new TextEncoder().encode("EventType=onMessageAdded&Body=h%C3%A9llo+there%21&Index=2&Empty=&Flag");
  assert.deepEqual(webhooks.bodyForm(body), {
    EventType: "onMessageAdded", Body: "héllo there!", Index: "2", Empty: "", Flag: "",
  });
  const round = new TextEncoder().encode(http.formEncode({ A: "x y", B: "1+1" }));
  assert.deepEqual(webhooks.bodyForm(round), { A: "x y", B: "1+1" });
  failsWith(() => webhooks.bodyForm(new TextEncoder().encode("A=%E0%A4%A")), "error", "malformed webhook body");
});
