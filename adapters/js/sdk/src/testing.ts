// Helpers for adapters' unit tests under plain Node (no host, no component):
// contract values with defaults, a fake HTTP transport that records requests
// and plays back responses, log capture, and checks on results and failures.

import { Failure, toFailure } from "./failure";
import { setTransport, TransportError, type ClientRequest, type ClientResponse, type Transport } from "./http";
import { decode, encode, text, utf8 } from "./json";
import { setLogSink } from "./log";
import type { CallContext, Conversation, FailureReason, FailureRecord, HttpRequest, KeyValue, Level, WitResult } from "./types";

/** A call context for `settings` (an object is serialised) and handover `h-1`. */
export function ctx(settings: unknown = {}, handoverId = "h-1"): CallContext {
  return { handoverId, settings: typeof settings === "string" ? settings : JSON.stringify(settings) };
}

/** A webchat conversation with one user line; `overrides` replace fields. */
export function conversation(overrides: Partial<Conversation> = {}): Conversation {
  return {
    handoverId: "h-1",
    sessionId: "s-1",
    userId: "u-1",
    channel: "webchat",
    locale: "en-US",
    userProfile: [],
    transcript: [{ author: "user", text: "I need a human", timestampMs: 1700000000000n }],
    routing: { skills: [], custom: [] },
    context: "{}",
    ...overrides,
  };
}

/** A webhook request with a JSON (or raw string) body. */
export function request(body: unknown, headers: Record<string, string> = {}, path = "/hooks/ep1"): HttpRequest {
  const bytes = typeof body === "string" ? utf8(body) : encode(body);
  const list: KeyValue[] = Object.entries(headers).map(([key, value]) => ({ key, value }));
  return { method: "POST", path, headers: list, body: bytes };
}

/** A recorded request, with its body as text and JSON. */
export interface Recorded extends ClientRequest {
  text: string;
  json: unknown;
  header(name: string): string | undefined;
}

type Responder = (request: Recorded) => ClientResponse;

/**
 * A transport for tests: `reply(...)` queues responses (first in, first
 * out), `fail(...)` queues a transport error, `on(fn)` answers every request
 * left; every request is recorded in `requests`. `install()` makes it the
 * SDK's transport until `restore()`.
 */
export class FakeTransport {
  readonly requests: Recorded[] = [];
  private queue: Responder[] = [];
  private fallback?: Responder;
  private previous?: Transport;

  /** `body`: bytes, a string (sent as is), anything else as JSON; none = empty. */
  reply(status: number, body?: unknown, headers: Record<string, string> = {}): this {
    const bytes =
      body === undefined ? new Uint8Array(0) : ArrayBuffer.isView(body) ? (body as Uint8Array) : typeof body === "string" ? utf8(body) : encode(body);
    this.queue.push(() => ({ status, headers: Object.entries(headers), body: bytes }));
    return this;
  }

  fail(message = "connection-refused"): this {
    this.queue.push(() => {
      throw new TransportError("transport", message);
    });
    return this;
  }

  on(responder: Responder): this {
    this.fallback = responder;
    return this;
  }

  install(): this {
    this.previous = setTransport((req) => this.send(req));
    return this;
  }

  restore(): void {
    if (this.previous) setTransport(this.previous);
    this.previous = undefined;
  }

  private send(req: ClientRequest): ClientResponse {
    const body = text(req.body ?? new Uint8Array(0));
    let json: unknown;
    try {
      json = body === "" ? undefined : decode(req.body ?? new Uint8Array(0));
    } catch {
      json = undefined;
    }
    const header = (name: string) => req.headers.find(([k]) => k === name.toLowerCase())?.[1];
    const recorded: Recorded = { ...req, text: body, json, header };
    this.requests.push(recorded);
    const next = this.queue.shift() ?? this.fallback;
    if (!next) throw new Error(`FakeTransport: no response queued for ${req.method} ${req.url}`);
    return next(recorded);
  }
}

/** Log lines captured until `restore()`. */
export function captureLogs(): { lines: { level: Level; message: string; fields: KeyValue[] }[]; restore(): void } {
  const lines: { level: Level; message: string; fields: KeyValue[] }[] = [];
  const previous = setLogSink((level, message, fields) => lines.push({ level, message, fields }));
  return { lines, restore: () => void setLogSink(previous) };
}

/** The `ok` value of an export's result; throws with the failure's message otherwise. */
export function ok<T>(result: WitResult<T>): T {
  if (result.tag === "err") throw new Error(`expected ok, got ${result.val.reason}: ${result.val.message}`);
  return result.val;
}

/** The `err` value of an export's result; throws if it succeeded. */
export function err<T>(result: WitResult<T>): FailureRecord {
  if (result.tag === "ok") throw new Error("expected a failure, got ok");
  return result.val;
}

/** Runs `f`, expecting a Failure with `reason` whose message contains `part`; returns it. */
export function failsWith(f: () => unknown, reason: FailureReason, part: string): FailureRecord {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`expected a ${reason} failure containing ${JSON.stringify(part)}, got none`);
  if (!(thrown instanceof Failure)) throw thrown;
  const failure = toFailure(thrown);
  if (failure.reason !== reason || !failure.message.includes(part)) {
    throw new Error(`expected ${reason} containing ${JSON.stringify(part)}, got ${failure.reason}: ${failure.message}`);
  }
  return failure;
}

/** State bytes as the JSON object they hold. */
export function stateOf(bytes: Uint8Array): Record<string, unknown> {
  return decode(bytes) as Record<string, unknown>;
}
