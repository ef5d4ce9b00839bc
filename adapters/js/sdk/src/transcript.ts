// Transcript helpers: split long entries into chunks a provider accepts,
// counting Unicode code points (not UTF-16 units), as the Rust SDK does.

import type { TranscriptEntry } from "./types";

/** `text` in pieces of at most `max` code points (at least one piece). */
export function chunkText(text: string, max: number): string[] {
  const chars = Array.from(text);
  if (chars.length <= max) return [text];
  const out: string[] = [];
  for (let at = 0; at < chars.length; at += max) out.push(chars.slice(at, at + max).join(""));
  return out;
}

/** Entries with long texts split into several entries (same author and time). */
export function chunk(entries: readonly TranscriptEntry[], max: number): TranscriptEntry[] {
  return entries.flatMap((e) => chunkText(e.text, max).map((text) => ({ ...e, text })));
}
