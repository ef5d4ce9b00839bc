// The contract's types (wit/v0.1.0/handover.wit, `handover:provider/types`)
// as componentize-js gives and takes them in JavaScript: record fields in
// camelCase, variants as `{ tag, val }` with kebab-case tags, enums as
// kebab-case strings, `option<T>` as `T | undefined` (null is accepted on
// the way out), `list<u8>` as Uint8Array, `u64` as BigInt, other integers
// as numbers.

export interface KeyValue {
  key: string;
  value: string;
}

export type FailureReason = "unsupported" | "error";

/** The WIT `failure` record (what an export's `err` carries). */
export interface FailureRecord {
  reason: FailureReason;
  message: string;
}

export type Author = "user" | "bot" | "agent" | "system";

export interface TranscriptEntry {
  author: Author;
  text: string;
  /** `u64`: a BigInt. */
  timestampMs: bigint;
}

export interface Routing {
  skills: string[];
  language?: string;
  priority?: number;
  queue?: string;
  custom: KeyValue[];
}

export interface Conversation {
  handoverId: string;
  sessionId: string;
  userId: string;
  channel: string;
  locale: string;
  userProfile: KeyValue[];
  transcript: TranscriptEntry[];
  routing: Routing;
  /** Free-form JSON document as text ("{}" if none). */
  context: string;
}

export interface Attachment {
  url: string;
  contentType: string;
  name?: string;
}

export interface Agent {
  id: string;
  name: string;
}

export interface QueueInfo {
  position?: number;
  estimatedWaitSeconds?: number;
}

export interface AgentMessage {
  agent?: Agent;
  text: string;
  attachments: Attachment[];
}

export interface Transfer {
  toQueue?: string;
  toAgent?: Agent;
}

export type EndReason =
  | { tag: "agent-closed" }
  | { tag: "agent-left" }
  | { tag: "provider-closed" }
  | { tag: "no-agent-available" }
  | { tag: "other"; val: string };

export type Event =
  | { tag: "queued"; val: QueueInfo }
  | { tag: "agent-joined"; val: Agent }
  | { tag: "agent-message"; val: AgentMessage }
  | { tag: "agent-typing"; val: boolean }
  | { tag: "agent-left"; val: Agent }
  | { tag: "transferred"; val: Transfer }
  | { tag: "ended"; val: EndReason };

export type InputKind = "text" | "intent" | "quick-reply";

export interface UserInput {
  kind: InputKind;
  text: string;
  attachments: Attachment[];
}

export interface Step {
  state: Uint8Array;
  events: Event[];
  correlationKeys: string[];
}

export interface CallContext {
  handoverId: string;
  /** The endpoint's settings, a JSON object as text. */
  settings: string;
}

/** A webhook request as the host received it. */
export interface HttpRequest {
  method: string;
  path: string;
  headers: KeyValue[];
  body: Uint8Array;
}

export interface HttpResponse {
  status: number;
  headers: KeyValue[];
  body: Uint8Array;
}

export interface WebhookRoute {
  response: HttpResponse;
  deliveryId?: string;
  correlationKeys: string[];
}

export interface Availability {
  agentsAvailable: boolean;
  open: boolean;
  estimatedWaitSeconds?: number;
  message?: string;
}

export interface Capabilities {
  attachments: boolean;
  typing: boolean;
  queuePosition: boolean;
  availabilityCheck: boolean;
  botSideClose: boolean;
  transcript: boolean;
}

export type SignatureAlgorithm = "hmac-sha256" | "hmac-sha1" | "hmac-sha512" | "shared-secret";

export type SignatureEncoding = "hex" | "base64";

export type SignedContent =
  | { tag: "body" }
  | { tag: "timestamp-then-body"; val: string }
  | { tag: "url-then-body" };

export interface WebhookSignature {
  algorithm: SignatureAlgorithm;
  header: string;
  encoding: SignatureEncoding;
  prefix?: string;
  signed: SignedContent;
  timestampHeader?: string;
  deliveryIdHeader?: string;
}

export type PollMode = "none" | "periodic" | "long-poll";

export interface Polling {
  mode: PollMode;
  intervalMs: number;
  maxWaitMs: number;
}

export interface AdapterInfo {
  name: string;
  version: string;
  channels: string[];
  capabilities: Capabilities;
  webhookSignature?: WebhookSignature;
  polling: Polling;
  settingsSchema: string;
}

export type Level = "trace" | "debug" | "info" | "warn" | "error";

/** What an export returning `result<T, failure>` hands to componentize-js. */
export type WitResult<T> = { tag: "ok"; val: T } | { tag: "err"; val: FailureRecord };

/** The `handover:provider/adapter` export as componentize-js expects it. */
export interface AdapterExports {
  describe(): AdapterInfo;
  validateSettings(settings: string): Promise<WitResult<undefined>>;
  start(ctx: CallContext, conversation: Conversation): Promise<WitResult<Step>>;
  userMessage(ctx: CallContext, state: Uint8Array, input: UserInput): Promise<WitResult<Step>>;
  cancel(ctx: CallContext, state: Uint8Array): Promise<WitResult<Step>>;
  close(ctx: CallContext, state: Uint8Array): Promise<WitResult<Step>>;
  checkAvailability(ctx: CallContext, state: Uint8Array): Promise<WitResult<Availability>>;
  routeWebhook(settings: string, request: HttpRequest): Promise<WitResult<WebhookRoute>>;
  handleWebhook(ctx: CallContext, state: Uint8Array, request: HttpRequest): Promise<WitResult<Step>>;
  poll(ctx: CallContext, state: Uint8Array): Promise<WitResult<Step>>;
}
