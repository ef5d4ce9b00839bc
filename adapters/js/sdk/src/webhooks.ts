// Webhook helpers: header lookup, the body as JSON (a malformed body is the
// `error` failure that makes the host answer 400), and the route with the
// response the host gives the provider.

import { error } from "./failure";
import { decode, encode } from "./json";
import type { HttpRequest, HttpResponse, WebhookRoute } from "./types";

/** A request header's value (names compared case-insensitively), or undefined. */
export function header(request: HttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return request.headers.find((h) => h.key.toLowerCase() === wanted)?.value;
}

/** The body parsed as JSON; throws `error` "malformed webhook body: …". */
export function bodyJson<T = unknown>(request: HttpRequest | Uint8Array): T {
  // Not `instanceof Uint8Array`: the bindings' arrays may come from another realm.
  const body = ArrayBuffer.isView(request) ? request : request.body;
  try {
    return decode(body) as T;
  } catch (e) {
    throw error(`malformed webhook body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A JSON response with `content-type: application/json`. */
export function jsonResponse(status: number, value: unknown): HttpResponse {
  return { status, headers: [{ key: "content-type", value: "application/json" }], body: encode(value) };
}

/** The route of a webhook; the response defaults to `200 {"ok":true}`. */
export function route(correlationKeys: string[], deliveryId?: string, response?: HttpResponse): WebhookRoute {
  return { response: response ?? jsonResponse(200, { ok: true }), deliveryId, correlationKeys };
}
