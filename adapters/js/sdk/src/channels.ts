// Channel checks: whether an endpoint serves the conversation's channel.
// Pure; the failure is the contract's `unsupported`.

import { unsupported } from "./failure";

/**
 * Throws `unsupported` unless `channel` is in `configured` (the endpoint's
 * `channels` setting) or, when that is undefined, `defaults`:
 * `channel "voice" is not served by this {provider} endpoint (allowed: a, b)`.
 */
export function check(channel: string, configured: readonly string[] | undefined, defaults: readonly string[], provider: string): void {
  const allowed = configured ?? defaults;
  if (allowed.includes(channel)) return;
  throw unsupported(`channel ${JSON.stringify(channel)} is not served by this ${provider} endpoint (allowed: ${allowed.join(", ")})`);
}

/** Throws `unsupported` unless `channel` is one of the fixed `served` channels. */
export function require(channel: string, served: readonly string[], what: string): void {
  if (served.includes(channel)) return;
  throw unsupported(`channel ${JSON.stringify(channel)} is not served by ${what} (served: ${served.join(", ")})`);
}
