// Provider state: the host stores the opaque `state` bytes (Uint8Array);
// adapters keep a plain object and the SDK stores it as UTF-8 JSON. Empty
// bytes (a fresh handover, or a call outside any handover) give the
// adapter's initial state.

import { error } from "./failure";
import { decode, encode } from "./json";
import type { Agent } from "./types";

/**
 * Parses the state given by the host over `initial()` (so fields added in
 * a newer adapter version get their initial values); empty bytes give
 * `initial()`. Fails with `error` "corrupt adapter state: …".
 */
export function load<T extends object>(bytes: Uint8Array, initial: () => T): T {
  const fresh = initial();
  if (bytes.length === 0) return fresh;
  let parsed: unknown;
  try {
    parsed = decode(bytes);
  } catch (e) {
    throw error(`corrupt adapter state: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw error("corrupt adapter state: not a JSON object");
  }
  return { ...fresh, ...parsed } as T;
}

/** Serialises state as UTF-8 JSON (BigInt values as numbers). */
export function save(state: unknown): Uint8Array {
  return encode(state);
}

/** For a state check: fails with "no {what} in the handover state" unless `present`. */
export function require(present: boolean, what: string): void {
  if (!present) throw error(`no ${what} in the handover state`);
}

/** An agent as an adapter keeps one in its state. */
export type AgentRef = Agent;

/** Two byte strings are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
