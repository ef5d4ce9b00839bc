// `handover-adapter-sdk` for JavaScript/TypeScript: everything a provider
// adapter needs besides its provider logic. The typed layer (`defineAdapter`)
// turns an adapter into the WIT export; the modules below are the helpers.
// `host.ts` (the wasi:http transport and host log) is not re-exported here:
// only the component glue imports it, so unit tests run under plain Node.

export { defineAdapter, type AdapterSpec, type Cx, type Output, type Reply } from "./adapter";
export { Failure, error, unsupported, toFailure } from "./failure";
export * as settings from "./settings";
export * as state from "./state";
export * as events from "./events";
export { endReason } from "./events";
export * as channels from "./channels";
export * as http from "./http";
export * as log from "./log";
export * as webhooks from "./webhooks";
export * as transcript from "./transcript";
export * as json from "./json";
export { adapterInfo, capabilities, polling, signed, hmac, sharedSecret } from "./describe";
export type { Fields } from "./settings";
export type { Json } from "./json";
export type * from "./types";
