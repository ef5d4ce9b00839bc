// Settings parsing with messages that name the field path and the problem,
// e.g. "settings: `base_url`: must start with http:// or https://, got \"ftp://x\"".
// `parse(text, read)` hands a Fields reader of the top-level object to
// `read`, which returns the adapter's typed settings; every reader method
// and check throws a Failure (reason `error`) naming the field. Unknown
// fields are ignored.

import { Failure, error } from "./failure";

/** Parses the endpoint's settings (a JSON object as text; blank = `{}`). */
export function parse<S>(settings: string, read: (fields: Fields) => S): S {
  const source = settings.trim() === "" ? "{}" : settings;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (e) {
    throw error(`settings: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(value)) throw error(`settings: must be a JSON object, got ${describe(value)}`);
  return read(new Fields(value, ""));
}

/** A failure naming a settings field: "settings: `field`: problem". */
export function invalid(field: string, problem: string): Failure {
  return error(`settings: \`${field}\`: ${problem}`);
}

/** Checks an absolute http(s) URL with a host; returns it without a trailing `/`. */
export function requireHttpUrl(field: string, value: string): string {
  const url = value.trim();
  const rest = url.startsWith("http://") ? url.slice(7) : url.startsWith("https://") ? url.slice(8) : undefined;
  if (rest === undefined) throw invalid(field, `must start with http:// or https://, got ${JSON.stringify(url)}`);
  if (rest === "" || rest.startsWith("/")) throw invalid(field, `has no host: ${JSON.stringify(url)}`);
  return url.replace(/\/+$/, "");
}

/** Checks that an optional number is at least `min`. */
export function requireMin(field: string, value: number | undefined, min: number): void {
  if (value !== undefined && value < min) throw invalid(field, `must be at least ${min}, got ${value}`);
}

/** Checks that an optional number is at most `max` (`why` explains the limit). */
export function requireMax(field: string, value: number | undefined, max: number, why?: string): void {
  if (value !== undefined && value > max) {
    throw invalid(field, `must be at most ${max}${why ? ` (${why})` : ""}, got ${value}`);
  }
}

/** Checks that a list is not empty and has no blank entry. */
export function requireList(field: string, list: string[], noun: string): void {
  if (list.length === 0) throw invalid(field, `must list at least one ${noun}`);
  const blank = list.findIndex((entry) => entry.trim() === "");
  if (blank >= 0) throw invalid(`${field}[${blank}]`, "must not be empty");
}

interface IntOptions {
  min?: number;
  max?: number;
}

/** A reader of one settings object; `path` prefixes the field names it reports. */
export class Fields {
  constructor(
    private readonly values: Record<string, unknown>,
    private readonly path: string,
  ) {}

  /** The full path of a field, e.g. `auth.token`. */
  name(field: string): string {
    return this.path === "" ? field : `${this.path}.${field}`;
  }

  /** The raw value (undefined when absent or null). */
  raw(field: string): unknown {
    const value = this.values[field];
    return value === null ? undefined : value;
  }

  has(field: string): boolean {
    return this.raw(field) !== undefined;
  }

  private required(field: string): unknown {
    const value = this.raw(field);
    if (value === undefined) throw invalid(this.name(field), "is required");
    return value;
  }

  private typed<T>(field: string, value: unknown, ok: boolean, what: string): T {
    if (!ok) throw invalid(this.name(field), `must be ${what}, got ${describe(value)}`);
    return value as T;
  }

  string(field: string): string {
    const value = this.required(field);
    return this.typed(field, value, typeof value === "string", "a string");
  }

  optString(field: string): string | undefined {
    return this.has(field) ? this.string(field) : undefined;
  }

  /** A required http(s) URL, returned without a trailing `/`. */
  httpUrl(field: string): string {
    return requireHttpUrl(this.name(field), this.string(field));
  }

  bool(field: string, fallback?: boolean): boolean {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const value = this.required(field);
    return this.typed(field, value, typeof value === "boolean", "true or false");
  }

  /** An integer, `fallback` when absent (required when no fallback). */
  int(field: string, fallback?: number, limits: IntOptions = {}): number {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const value = this.required(field);
    const n = this.typed<number>(field, value, Number.isSafeInteger(value), "an integer");
    if (limits.min !== undefined) requireMin(this.name(field), n, limits.min);
    if (limits.max !== undefined) requireMax(this.name(field), n, limits.max);
    return n;
  }

  optInt(field: string, limits: IntOptions = {}): number | undefined {
    return this.has(field) ? this.int(field, undefined, limits) : undefined;
  }

  /** One of `choices`, `fallback` when absent (required when no fallback). */
  oneOf<C extends string>(field: string, choices: readonly C[], fallback?: C): C {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const value = this.string(field);
    if (!(choices as readonly string[]).includes(value)) {
      const expected = choices.map((c) => `\`${c}\``).join(" or ");
      throw invalid(this.name(field), `unknown value ${JSON.stringify(value)}, expected ${expected}`);
    }
    return value as C;
  }

  /** A non-empty list of non-blank strings (`noun` names one entry in messages). */
  list(field: string, noun = "entry"): string[] {
    const value = this.required(field);
    const list = this.typed<unknown[]>(field, value, Array.isArray(value), "a list of strings");
    list.forEach((entry, i) => {
      if (typeof entry !== "string") {
        throw invalid(`${this.name(field)}[${i}]`, `must be a string, got ${describe(entry)}`);
      }
    });
    requireList(this.name(field), list as string[], noun);
    return list as string[];
  }

  optList(field: string, noun = "entry"): string[] | undefined {
    return this.has(field) ? this.list(field, noun) : undefined;
  }

  /** The optional `channels` setting: when given, a non-empty list of channel names. */
  channels(): string[] | undefined {
    return this.optList("channels", "channel");
  }

  /** A nested object read by `read` (its fields are reported as `field.x`). */
  object<T>(field: string, read: (fields: Fields) => T): T {
    const value = this.required(field);
    const object = this.typed<Record<string, unknown>>(field, value, isObject(value), "an object");
    return read(new Fields(object, this.name(field)));
  }

  optObject<T>(field: string, read: (fields: Fields) => T): T | undefined {
    return this.has(field) ? this.object(field, read) : undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of a JSON value for messages: `42`, `"x"`, `a list`. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isObject(value)) return "an object";
  const json = JSON.stringify(value);
  return json.length > 40 ? `${json.slice(0, 40)}…` : json;
}
