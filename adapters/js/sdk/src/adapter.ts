// The typed layer: `defineAdapter(spec)` turns an adapter written against
// parsed settings and a plain state object into the WIT `adapter` export.
// For every call it parses the settings (failures name the field), loads
// and checks the state (`start` gets `initialState()`), runs the call,
// saves the state the call left (the host's bytes unchanged when the call
// left it as loaded) and returns `{ tag: "ok", val }` or, for anything
// thrown, `{ tag: "err", val: { reason, message } }`, so no exception ever
// reaches componentize-js (a thrown Error without `payload` would trap).
// It performs no I/O and passes events, keys and failures through as given.

import { toFailure, unsupported } from "./failure";
import * as log from "./log";
import * as state from "./state";
import type {
  AdapterExports, AdapterInfo, Availability, CallContext, Conversation, Event, HttpRequest, Step,
  UserInput, WebhookRoute, WitResult,
} from "./types";

/** What a call that concerns a handover needs besides its state. */
export interface Cx<S> {
  /** The endpoint's settings, parsed and checked. */
  settings: S;
  handoverId: string;
}

/** What a call reports: events and new correlation keys. */
export interface Output {
  events?: Event[];
  correlationKeys?: string[];
}

/** A handover call's result: an Output, just the events, or nothing. */
export type Reply = Output | Event[] | void;

type Async<T> = T | Promise<T>;

/** One provider adapter, typed. `state` is mutated in place (like Rust's `&mut State`). */
export interface AdapterSpec<S, T extends object> {
  /** Static self-description. Must not perform I/O. */
  describe(): AdapterInfo;
  /** Parses and checks the settings text; throws a Failure naming the field. */
  settings(text: string): S;
  /** A fresh handover's state (empty state bytes load as it). */
  initialState(): T;
  /** Runs after every load (not at `start`); throws when the state cannot serve a call. */
  checkState?(state: T): void;
  start(cx: Cx<S>, state: T, conversation: Conversation): Async<Reply>;
  userMessage(cx: Cx<S>, state: T, input: UserInput): Async<Reply>;
  cancel?(cx: Cx<S>, state: T): Async<Reply>;
  close?(cx: Cx<S>, state: T): Async<Reply>;
  /** Outside any handover: no state. */
  checkAvailability?(settings: S): Async<Availability>;
  /** Webhook phase one, before any handover is known: no state. */
  routeWebhook?(settings: S, request: HttpRequest): Async<WebhookRoute>;
  handleWebhook?(cx: Cx<S>, state: T, request: HttpRequest): Async<Reply>;
  poll?(cx: Cx<S>, state: T): Async<Reply>;
}

/** The WIT export object for `spec` (export it as `adapter`). */
export function defineAdapter<S, T extends object>(spec: AdapterSpec<S, T>): AdapterExports {
  const cx = (ctx: CallContext): Cx<S> => ({ settings: spec.settings(ctx.settings), handoverId: ctx.handoverId });
  const withState = (ctx: CallContext, bytes: Uint8Array, call: (cx: Cx<S>, st: T) => Async<Reply>) =>
    guard(async (): Promise<Step> => {
      const c = cx(ctx);
      const st = state.load(bytes, () => spec.initialState());
      spec.checkState?.(st);
      const loaded = state.save(st);
      const out = await call(c, st);
      const saved = state.save(st);
      return step(state.sameBytes(saved, loaded) ? bytes : saved, out);
    });
  return {
    describe: () => spec.describe(),
    validateSettings: (text) => guard(() => void spec.settings(text)),
    start: (ctx, conversation) =>
      guard(async () => {
        const c = cx(ctx);
        const st = spec.initialState();
        const out = await spec.start(c, st, conversation);
        return step(state.save(st), out);
      }),
    userMessage: (ctx, bytes, input) => withState(ctx, bytes, (c, st) => spec.userMessage(c, st, input)),
    cancel: (ctx, bytes) =>
      withState(ctx, bytes, (c, st) => (spec.cancel ? spec.cancel(c, st) : fail("this adapter cannot cancel a conversation"))),
    close: (ctx, bytes) =>
      withState(ctx, bytes, (c, st) =>
        spec.close ? spec.close(c, st) : fail("this provider cannot close a conversation from the bot side"),
      ),
    checkAvailability: (ctx) =>
      guard(() => {
        const settings = spec.settings(ctx.settings);
        return spec.checkAvailability ? spec.checkAvailability(settings) : fail("this adapter cannot check availability");
      }),
    routeWebhook: (text, request) =>
      guard(() => {
        const settings = spec.settings(text);
        return spec.routeWebhook ? spec.routeWebhook(settings, request) : fail("this adapter receives no webhooks");
      }),
    handleWebhook: (ctx, bytes, request) =>
      withState(ctx, bytes, (c, st) =>
        spec.handleWebhook ? spec.handleWebhook(c, st, request) : fail("this adapter receives no webhooks"),
      ),
    poll: (ctx, bytes) => withState(ctx, bytes, (c, st) => (spec.poll ? spec.poll(c, st) : fail("this adapter does not poll"))),
  };
}

function fail(message: string): never {
  throw unsupported(message);
}

function step(bytes: Uint8Array, out: Reply): Step {
  if (Array.isArray(out)) return { state: bytes, events: out, correlationKeys: [] };
  return { state: bytes, events: out?.events ?? [], correlationKeys: out?.correlationKeys ?? [] };
}

/** Runs a call; anything it throws becomes the `err` value. */
async function guard<V>(call: () => Async<V>): Promise<WitResult<V>> {
  try {
    return { tag: "ok", val: await call() };
  } catch (e) {
    const failure = toFailure(e);
    if (failure.message.startsWith("internal adapter error:")) {
      log.error(failure.message, { stack: e instanceof Error ? String(e.stack ?? "") : "" });
    }
    return { tag: "err", val: failure };
  }
}
