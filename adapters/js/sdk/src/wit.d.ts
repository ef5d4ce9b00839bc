// Types of the component imports `host.ts` uses, as componentize-js binds
// them (jco conventions: camelCase, resources as classes, a `result` return
// throws its `err` payload, `option` is `T | undefined`, u64 is BigInt).
// Only the members used are declared. These modules exist only inside the
// component: nothing that unit tests load may import them.

declare module "handover:provider/log@0.1.0" {
  export function log(
    level: "trace" | "debug" | "info" | "warn" | "error",
    message: string,
    fields: { key: string; value: string }[],
  ): void;
}

declare module "wasi:io/poll@0.2.12" {
  export class Pollable {
    block(): void;
  }
  /** Indices of the ready pollables. */
  export function poll(pollables: Pollable[]): Uint32Array;
}

declare module "wasi:clocks/monotonic-clock@0.2.12" {
  import type { Pollable } from "wasi:io/poll@0.2.12";
  export function now(): bigint;
  export function subscribeInstant(when: bigint): Pollable;
}

declare module "wasi:io/streams@0.2.12" {
  import type { Pollable } from "wasi:io/poll@0.2.12";
  /** Throws `{ tag: "closed" }` or `{ tag: "last-operation-failed", val }` (as ComponentError payload). */
  export class InputStream {
    read(len: bigint): Uint8Array;
    subscribe(): Pollable;
  }
  export class OutputStream {
    /** At most 4096 bytes per call. */
    blockingWriteAndFlush(contents: Uint8Array): void;
  }
}

declare module "wasi:http/types@0.2.12" {
  import type { Pollable } from "wasi:io/poll@0.2.12";
  import type { InputStream, OutputStream } from "wasi:io/streams@0.2.12";
  export type Method = { tag: "get" | "head" | "post" | "put" | "delete" | "connect" | "options" | "trace" | "patch" } | { tag: "other"; val: string };
  export type Scheme = { tag: "HTTP" | "HTTPS" } | { tag: "other"; val: string };
  export type ErrorCode = { tag: string; val?: unknown };
  type Result<T, E> = { tag: "ok"; val: T } | { tag: "err"; val: E };
  export class Fields {
    static fromList(entries: [string, Uint8Array][]): Fields;
    entries(): [string, Uint8Array][];
  }
  export class RequestOptions {
    constructor();
    setConnectTimeout(ns: bigint | undefined): void;
    setFirstByteTimeout(ns: bigint | undefined): void;
    setBetweenBytesTimeout(ns: bigint | undefined): void;
  }
  export class OutgoingRequest {
    constructor(headers: Fields);
    body(): OutgoingBody;
    setMethod(method: Method): void;
    setScheme(scheme: Scheme | undefined): void;
    setAuthority(authority: string | undefined): void;
    setPathWithQuery(path: string | undefined): void;
  }
  export class OutgoingBody {
    write(): OutputStream;
    static finish(body: OutgoingBody, trailers: Fields | undefined): void;
  }
  export class IncomingResponse {
    status(): number;
    headers(): Fields;
    consume(): IncomingBody;
  }
  export class IncomingBody {
    stream(): InputStream;
  }
  export class FutureIncomingResponse {
    subscribe(): Pollable;
    get(): Result<Result<IncomingResponse, ErrorCode>, undefined> | undefined;
  }
}

declare module "wasi:http/outgoing-handler@0.2.12" {
  import type { FutureIncomingResponse, OutgoingRequest, RequestOptions } from "wasi:http/types@0.2.12";
  export function handle(request: OutgoingRequest, options: RequestOptions | undefined): FutureIncomingResponse;
}
