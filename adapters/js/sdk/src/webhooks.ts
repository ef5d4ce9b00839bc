// Webhook helpers: header lookup, the body as JSON (a malformed body is the
// `error` failure that makes the host answer 400), and the route with the
// response the host gives the provider.

import { error } from "./failure";
import { decode, encode, text } from "./json";
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

/**
 * The body parsed as an `application/x-www-form-urlencoded` form (Twilio's
 * webhooks): `+` is a space, `%XX` UTF-8; a repeated name keeps its last value.
 * Throws `error` "malformed webhook body: …" on a bad escape.
 */
export function bodyForm(request: HttpRequest | Uint8Array): Record<string, string> {
  const body = ArrayBuffer.isView(request) ? request : request.body;
  const out: Record<string, string> = {};
  for (const part of text(body).split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const [name, value] = eq >= 0 ? [part.slice(0, eq), part.slice(eq + 1)] : [part, ""];
    try {
      out[decodeFormComponent(name)] = decodeFormComponent(value);
    } catch (e) {
      throw error(`malformed webhook body: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

function decodeFormComponent(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, " "));
}

/** A JSON response with `content-type: application/json`. */
export function jsonResponse(status: number, value: unknown): HttpResponse {
  return { status, headers: [{ key: "content-type", value: "application/json" }], body: encode(value) };
}

/** The route of a webhook; the response defaults to `200 {"ok":true}`. */
export function route(correlationKeys: string[], deliveryId?: string, response?: HttpResponse): WebhookRoute {
  return { response: response ?? jsonResponse(200, { ok: true }), deliveryId, correlationKeys };
}
