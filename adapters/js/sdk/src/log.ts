// Logging into the host's log. The sink is a seam: inside the component the
// glue installs the host's `log` import (`installHost`); elsewhere (unit
// tests under Node) lines go to a sink the test sets, or nowhere.

import type { KeyValue, Level } from "./types";

export type LogSink = (level: Level, message: string, fields: KeyValue[]) => void;

let sink: LogSink = () => {};

/** Replaces the sink; returns the previous one (tests restore it). */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink;
  sink = next;
  return previous;
}

/** Logs `message` with structured `fields` at `level`. Never log secrets or bodies with personal data. */
export function log(level: Level, message: string, fields: Record<string, string> = {}): void {
  sink(level, message, Object.entries(fields).map(([key, value]) => ({ key, value })));
}

export const trace = (message: string, fields?: Record<string, string>) => log("trace", message, fields);
export const debug = (message: string, fields?: Record<string, string>) => log("debug", message, fields);
export const info = (message: string, fields?: Record<string, string>) => log("info", message, fields);
export const warn = (message: string, fields?: Record<string, string>) => log("warn", message, fields);
export const error = (message: string, fields?: Record<string, string>) => log("error", message, fields);
