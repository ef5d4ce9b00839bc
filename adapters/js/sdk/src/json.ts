// JSON and UTF-8 helpers shared by state, settings and HTTP: BigInt values
// (the contract's u64, e.g. `timestampMs`) are written as exact JSON numbers
// instead of making JSON.stringify throw.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A string from UTF-8 bytes (invalid sequences become U+FFFD). */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

const MARK = "\u0000bigint:";

/** JSON.stringify that writes BigInt values as JSON numbers, digit for digit. */
export function stringify(value: unknown): string {
  const json = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "bigint" ? MARK + v.toString() : v,
  );
  if (json === undefined) return "null";
  return json.replace(/"\\u0000bigint:(-?\d+)"/g, "$1");
}

/** `stringify` as UTF-8 bytes. */
export function encode(value: unknown): Uint8Array {
  return utf8(stringify(value));
}

/** Parses UTF-8 JSON bytes (throws SyntaxError). */
export function decode(bytes: Uint8Array): unknown {
  return JSON.parse(text(bytes));
}

/** What JSON.parse gives back: plain data. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
