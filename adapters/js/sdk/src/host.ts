// The component side of the SDK's seams: the wasi:http transport and the
// host log sink. The only module that imports the component's imports, so
// only the adapter glue imports it (unit tests never load it).
//
// The transport speaks `wasi:http/outgoing-handler` directly (not
// StarlingMonkey's `fetch`): synchronous inside the export, a body always
// with `content-length` (never chunked), timeouts enforced here with the
// monotonic clock (and passed to the host as request options).

import { log as hostLog } from "handover:provider/log@0.1.0";
import { handle } from "wasi:http/outgoing-handler@0.2.12";
import {
  Fields, OutgoingBody, OutgoingRequest, RequestOptions,
  type ErrorCode, type IncomingResponse, type Method,
} from "wasi:http/types@0.2.12";
import { poll, type Pollable } from "wasi:io/poll@0.2.12";
import { now, subscribeInstant } from "wasi:clocks/monotonic-clock@0.2.12";
import { TransportError, setTransport, type ClientRequest, type ClientResponse } from "./http";
import { setLogSink } from "./log";
import { stringify, text, utf8 } from "./json";

/** Largest response body read; beyond it the call fails. */
const MAX_RESPONSE_BYTES = 16 << 20;
/** Most bytes per `blocking-write-and-flush` (the wasi:io limit). */
const WRITE_CHUNK = 4096;

/** Installs the wasi:http transport and the host's log as the SDK's seams. */
export function installHost(): void {
  setTransport(wasiTransport);
  setLogSink(hostLog);
}

/** Sends one request over wasi:http and reads the whole response. */
export function wasiTransport(req: ClientRequest): ClientResponse {
  const { timeouts } = req;
  const outgoing = build(req);
  const options = requestOptions(req);
  const body = call(() => outgoing.body(), "invalid", "request body already taken");
  const started = now();
  const future = call(() => handle(outgoing, options), "transport");
  // A write error only matters if no response comes (the host may close
  // the body early, e.g. when the server answers at once).
  try {
    writeBody(body, req.body ?? new Uint8Array(0));
  } catch {
    // fall through to the response
  }
  const headersDeadline = started + ms(timeouts.firstByteMs);
  let got = future.get();
  while (got === undefined) {
    if (now() >= headersDeadline) throw new TransportError("transport", `no response within ${timeouts.firstByteMs} ms`);
    wait(future.subscribe(), headersDeadline);
    got = future.get();
  }
  if (got.tag === "err") throw new TransportError("transport", "response already taken");
  if (got.val.tag === "err") throw new TransportError("transport", errorCode(got.val.val));
  const response = got.val.val;
  const result = read(response, timeouts.betweenBytesMs);
  drop(response);
  drop(future);
  return result;
}

function build(req: ClientRequest): OutgoingRequest {
  const match = /^(https?):\/\/([^/?#]*)([^#]*)/i.exec(req.url);
  if (!match) throw new TransportError("invalid", "URL must start with http:// or https://");
  const authority = match[2].slice(match[2].lastIndexOf("@") + 1);
  if (authority === "") throw new TransportError("invalid", "URL has no host");
  const path = match[3] === "" ? "/" : match[3].startsWith("?") ? `/${match[3]}` : match[3];
  const headers = req.headers.map(([k, v]) => [k.toLowerCase(), utf8(v)] as [string, Uint8Array]);
  if (req.body !== undefined && !headers.some(([k]) => k === "content-length")) {
    headers.push(["content-length", utf8(String(req.body.length))]);
  }
  const fields = call(() => Fields.fromList(headers), "invalid", "bad header");
  const request = new OutgoingRequest(fields);
  call(() => request.setMethod(method(req.method)), "invalid", "bad method");
  call(() => request.setScheme({ tag: match[1].toLowerCase() === "https" ? "HTTPS" : "HTTP" }), "invalid", "bad scheme");
  call(() => request.setAuthority(authority), "invalid", "bad host");
  call(() => request.setPathWithQuery(path), "invalid", "bad path");
  return request;
}

/** The timeouts as request options; a setter the host does not support is skipped. */
function requestOptions(req: ClientRequest): RequestOptions {
  const options = new RequestOptions();
  const set = (f: () => void) => {
    try {
      f();
    } catch {
      // not supported by this host: the deadlines below still apply
    }
  };
  set(() => options.setConnectTimeout(ms(req.timeouts.connectMs)));
  set(() => options.setFirstByteTimeout(ms(req.timeouts.firstByteMs)));
  set(() => options.setBetweenBytesTimeout(ms(req.timeouts.betweenBytesMs)));
  return options;
}

function writeBody(body: OutgoingBody, bytes: Uint8Array): void {
  if (bytes.length > 0) {
    const stream = body.write();
    try {
      for (let at = 0; at < bytes.length; at += WRITE_CHUNK) {
        stream.blockingWriteAndFlush(bytes.subarray(at, at + WRITE_CHUNK));
      }
    } finally {
      drop(stream); // a child goes before its parent is finished
    }
  }
  OutgoingBody.finish(body, undefined);
}

function read(response: IncomingResponse, betweenBytesMs: number): ClientResponse {
  const status = response.status();
  const fields = response.headers();
  const headers = fields.entries().map(([k, v]) => [k.toLowerCase(), text(v)] as [string, string]);
  drop(fields); // a child of the response
  const incoming = call(() => response.consume(), "transport", "response body already taken");
  const stream = call(() => incoming.stream(), "transport", "response body stream already taken");
  const chunks: Uint8Array[] = [];
  let total = 0;
  let deadline = now() + ms(betweenBytesMs);
  for (;;) {
    let chunk: Uint8Array;
    try {
      chunk = stream.read(65536n);
    } catch (e) {
      const p = payload(e) as { tag?: string; val?: { toDebugString?: () => string } } | undefined;
      if (p?.tag === "closed") break;
      throw new TransportError("transport", `reading response body: ${p?.val?.toDebugString?.() ?? String(e)}`);
    }
    if (chunk.length > 0) {
      total += chunk.length;
      if (total > MAX_RESPONSE_BYTES) throw new TransportError("transport", `response body larger than ${MAX_RESPONSE_BYTES} bytes`);
      chunks.push(chunk);
      deadline = now() + ms(betweenBytesMs);
      continue;
    }
    if (now() >= deadline) throw new TransportError("transport", `response body stalled for ${betweenBytesMs} ms`);
    wait(stream.subscribe(), deadline);
  }
  drop(stream);
  drop(incoming);
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return { status, headers, body };
}

/** Blocks until `pollable` is ready or `deadline` (monotonic ns) passes. */
function wait(pollable: Pollable, deadline: bigint): void {
  const timer = subscribeInstant(deadline);
  poll([pollable, timer]);
  drop(timer);
  drop(pollable);
}

function method(name: string): Method {
  const known = ["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"] as const;
  const lower = name.toLowerCase();
  const tag = known.find((k) => k === lower);
  return tag ? { tag } : { tag: "other", val: name };
}

/** Runs a binding call; its thrown `err` becomes a TransportError. */
function call<T>(f: () => T, kind: "invalid" | "transport", what?: string): T {
  try {
    return f();
  } catch (e) {
    const detail = kind === "transport" && what === undefined ? errorCode(payload(e) as ErrorCode) : `${what}: ${stringify(payload(e))}`;
    throw new TransportError(kind, detail);
  }
}

/** A wasi:http error code as text, e.g. `connection-refused`, `HTTP-request-denied`. */
function errorCode(code: ErrorCode | undefined): string {
  if (code === undefined || typeof code !== "object") return String(code);
  return code.val === undefined ? code.tag : `${code.tag} ${stringify(code.val)}`;
}

/** What a binding threw: the ComponentError's payload, or the value itself. */
function payload(e: unknown): unknown {
  return typeof e === "object" && e !== null && "payload" in e ? (e as { payload: unknown }).payload : e;
}

const DISPOSE: symbol = (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for("dispose");

/** Drops a resource handle now (children must go before their parents). */
function drop(resource: unknown): void {
  const dispose = (resource as Record<symbol, unknown> | undefined)?.[DISPOSE];
  if (typeof dispose === "function") dispose.call(resource);
}

function ms(millis: number): bigint {
  return BigInt(Math.max(0, Math.round(millis))) * 1_000_000n;
}
