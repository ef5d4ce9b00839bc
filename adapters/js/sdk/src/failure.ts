// Failures: the product's error model has exactly two reasons, `unsupported`
// (channel or capability) and `error` (talking to the provider). A Failure
// is thrown by provider code and becomes the export's `err` value. It also
// carries componentize-js's own convention (an own `payload` property is
// what a thrown value becomes as `err`), so it works without the glue too.

import type { FailureReason, FailureRecord } from "./types";

export class Failure extends Error {
  readonly reason: FailureReason;
  /** `{ reason, message }`: the WIT `failure` record. */
  readonly payload: FailureRecord;

  constructor(reason: FailureReason, message: string) {
    super(message);
    this.name = "Failure";
    this.reason = reason;
    this.payload = { reason, message };
  }
}

/** The channel or a capability is not supported by the provider or adapter. */
export function unsupported(message: string): Failure {
  return new Failure("unsupported", message);
}

/** Something went wrong talking to the provider (or with its data). */
export function error(message: string): Failure {
  return new Failure("error", message);
}

/**
 * The failure record for anything a call threw: a Failure (or any
 * `{ reason, message }` object) as it is; anything else, which is a bug in
 * the adapter, as `error` "internal adapter error: …".
 */
export function toFailure(thrown: unknown): FailureRecord {
  if (thrown instanceof Failure) return thrown.payload;
  if (isFailureRecord(thrown)) return { reason: thrown.reason, message: thrown.message };
  const text = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
  return { reason: "error", message: `internal adapter error: ${text}` };
}

function isFailureRecord(value: unknown): value is FailureRecord {
  if (typeof value !== "object" || value === null) return false;
  const { reason, message } = value as Record<string, unknown>;
  return (reason === "error" || reason === "unsupported") && typeof message === "string";
}
