// A JSON HTTP client for provider calls. Synchronous: the transport blocks
// inside the export. The transport is a seam: inside the component the glue
// installs the wasi:http one (`host.ts`, which always sends
// `content-length`, never a chunked body, and enforces the timeouts);
// unit tests install a fake (`testing.ts`). Errors are HttpError, a Failure
// with reason `error` whose message names "METHOD /path" (never the host,
// query or credentials), says what happened and quotes the body.

import { Failure } from "./failure";
import { decode, encode, text, utf8 } from "./json";

/** Timeouts in milliseconds. */
export interface Timeouts {
  /** To establish the connection. */
  connectMs: number;
  /** From sending the request to the response headers. */
  firstByteMs: number;
  /** Between two chunks of the response body. */
  betweenBytesMs: number;
}

/** What the transport is asked to send. Header names are lower case. */
export interface ClientRequest {
  method: string;
  url: string;
  headers: [string, string][];
  /** Present for every method but GET/HEAD (empty if none); `headers` then hold its `content-length`. */
  body?: Uint8Array;
  timeouts: Timeouts;
}

export interface ClientResponse {
  status: number;
  /** Names are lower case. */
  headers: [string, string][];
  body: Uint8Array;
}

/** Thrown by a transport: the request could not be built, or no response came. */
export class TransportError extends Error {
  constructor(
    readonly kind: "invalid" | "transport",
    message: string,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

/** Sends one request and returns the response whatever its status. */
export type Transport = (request: ClientRequest) => ClientResponse;

/**
 * The host's wall-time limit per call is 5 s by default: the defaults leave
 * room for the rest of the call. Change them with `setDefaultTimeouts`.
 */
export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 2000, firstByteMs: 4000, betweenBytesMs: 2000 };

let transport: Transport = () => {
  throw new TransportError("transport", "no HTTP transport installed (outside the component, install a fake with setTransport)");
};
let defaults: Timeouts = { ...DEFAULT_TIMEOUTS };

/** Replaces the transport; returns the previous one (tests restore it). */
export function setTransport(next: Transport): Transport {
  const previous = transport;
  transport = next;
  return previous;
}

/** Sets the timeouts used when a call gives none. */
export function setDefaultTimeouts(timeouts: Partial<Timeouts>): void {
  defaults = { ...defaults, ...timeouts };
}

/** Why a provider call failed; a Failure (reason `error`) with a readable message. */
export class HttpError extends Failure {
  constructor(
    message: string,
    readonly target: string,
    /** The provider's status, when it answered. */
    readonly status?: number,
  ) {
    super("error", message);
    this.name = "HttpError";
  }
}

export interface CallOptions {
  /** Extra headers; a header set here wins over the client's defaults. */
  headers?: Record<string, string>;
  timeouts?: Partial<Timeouts>;
}

/** Sends one request and returns the response whatever its status; throws HttpError only without a response. */
export function request(method: string, url: string, body?: Uint8Array, options: CallOptions = {}): ClientResponse {
  const upper = method.toUpperCase();
  const headers = Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
  const sendsBody = body !== undefined || (upper !== "GET" && upper !== "HEAD");
  const bytes = sendsBody ? (body ?? new Uint8Array(0)) : undefined;
  if (bytes !== undefined && !headers.some(([k]) => k === "content-length")) {
    headers.push(["content-length", String(bytes.length)]);
  }
  const at = target(upper, url);
  try {
    return transport({ method: upper, url, headers, body: bytes, timeouts: { ...defaults, ...options.timeouts } });
  } catch (e) {
    if (e instanceof TransportError) {
      const what = e.kind === "invalid" ? "invalid request" : "provider unreachable";
      throw new HttpError(`${at}: ${what}: ${e.message}`, at);
    }
    throw e;
  }
}

/** Like `request`, but a status outside 2xx is an HttpError. */
export function send(method: string, url: string, body?: Uint8Array, options: CallOptions = {}): ClientResponse {
  const response = request(method, url, body, options);
  if (response.status < 200 || response.status > 299) {
    const at = target(method.toUpperCase(), url);
    const quoted = excerpt(response.body);
    const what = statusText(response.status);
    throw new HttpError(`${at}: ${what} (HTTP ${response.status})${quoted ? `: ${quoted}` : ""}`, at, response.status);
  }
  return response;
}

/** A JSON call: `body` (if any) sent as JSON, the response parsed (empty body = null). */
export function json<T = unknown>(method: string, url: string, body?: unknown, options: CallOptions = {}): T {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const merged = { ...options, headers: { ...headers, ...lower(options.headers ?? {}) } };
  const response = send(method, url, body === undefined ? undefined : encode(body), merged);
  return parseJson<T>(response, target(method.toUpperCase(), url));
}

/** `GET url`, parse the JSON response. */
export function getJson<T = unknown>(url: string, options?: CallOptions): T {
  return json<T>("GET", url, undefined, options);
}

/** `POST url` with a JSON body, parse the JSON response. */
export function postJson<T = unknown>(url: string, body: unknown, options?: CallOptions): T {
  return json<T>("POST", url, body, options);
}

/** Form fields: a value `undefined`/`null` is left out, an array repeats the name. */
export type FormFields = Record<string, string | number | boolean | null | undefined | readonly (string | number | boolean)[]>;

/** One name or value form-encoded: unreserved characters kept, space as `+`, the rest `%XX` (UTF-8). */
function formComponent(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** The fields as an `application/x-www-form-urlencoded` body, in the order given. */
export function formEncode(fields: FormFields): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) parts.push(`${formComponent(name)}=${formComponent(String(v))}`);
  }
  return parts.join("&");
}

/**
 * A form call (Twilio-style APIs): `fields` sent as `application/x-www-form-urlencoded`
 * (with its content-length, like every body), the response parsed as JSON (empty = null).
 */
export function form<T = unknown>(method: string, url: string, fields: FormFields, options: CallOptions = {}): T {
  const headers = { accept: "application/json", "content-type": "application/x-www-form-urlencoded" };
  const merged = { ...options, headers: { ...headers, ...lower(options.headers ?? {}) } };
  const response = send(method, url, utf8(formEncode(fields)), merged);
  return parseJson<T>(response, target(method.toUpperCase(), url));
}

/** `POST url` with a form body, parse the JSON response. */
export function postForm<T = unknown>(url: string, fields: FormFields, options?: CallOptions): T {
  return form<T>("POST", url, fields, options);
}

/** Parses a response body as JSON; an empty or blank body parses as null. */
export function parseJson<T>(response: ClientResponse, at: string): T {
  const body = text(response.body);
  if (body.trim() === "") return null as T;
  try {
    return decode(response.body) as T;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new HttpError(`${at}: unexpected response (HTTP ${response.status}): ${why}; body: ${excerpt(response.body)}`, at, response.status);
  }
}

/** Percent-encodes one URL path segment (e.g. a provider id). */
export function pathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "METHOD /path": no scheme, host, query, fragment or credentials. */
export function target(method: string, url: string): string {
  const scheme = url.indexOf("://");
  const rest = scheme >= 0 ? url.slice(scheme + 3) : url;
  const slash = rest.indexOf("/");
  const path = slash >= 0 ? rest.slice(slash).split(/[?#]/)[0] : "/";
  return `${method} ${path}`;
}

/** Most characters of a response body quoted in an error message. */
const EXCERPT_CHARS = 200;

/** The first EXCERPT_CHARS characters of a body, whitespace collapsed. */
export function excerpt(body: Uint8Array): string {
  const collapsed = text(body).split(/\s+/).filter(Boolean).join(" ");
  const chars = Array.from(collapsed);
  return chars.length > EXCERPT_CHARS ? `${chars.slice(0, EXCERPT_CHARS).join("")}…` : collapsed;
}

function statusText(status: number): string {
  if (status === 429) return "provider rate limit hit, retry later";
  if (status >= 500 && status <= 599) return "provider unavailable or failing";
  if (status === 401 || status === 403) return "provider rejected the credentials";
  if (status === 404) return "provider does not know this resource";
  return "provider rejected the request";
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
