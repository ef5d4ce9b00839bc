// Provider logic — the only file to fill in for a new adapter. Every TODO
// below is a provider call or a mapping; the glue in `adapter.ts` handles
// state, settings plumbing and the contract (through the SDK's typed
// layer). Throw `error(...)` / `unsupported(...)` to fail a call. Credentials
// never go here: the host adds them to requests (`[[endpoints.auth]]`).

import {
  capabilities, error, polling, settings, unsupported,
  type Capabilities, type Conversation, type Event, type Json, type Polling, type UserInput,
  type WebhookSignature,
} from "handover-adapter-sdk";

/** TODO: the channels the provider serves ("*" for any). */
export const CHANNELS: readonly string[] = ["webchat"];
/** TODO: switch on what the adapter implements (e.g. `{ ...capabilities.NONE, typing: true }`). */
export const CAPABILITIES: Capabilities = capabilities.NONE;
/** TODO: `polling.periodic(ms)` if the host must poll instead of receiving webhooks. */
export const POLLING: Polling = polling.none();

/** TODO: how the provider signs webhooks, if it sends any (e.g. `hmac("hmac-sha256", "X-Signature")`). */
export function webhookSignature(): WebhookSignature | undefined {
  return undefined;
}

/** The endpoint's settings. TODO: add the provider's fields. */
export interface Settings {
  baseUrl: string;
}

/** Parses and checks the settings; every failure names the field. TODO: read the provider's fields. */
export function parseSettings(text: string): Settings {
  return settings.parse(text, (f) => ({ baseUrl: f.httpUrl("base_url") }));
}

/** What the state keeps besides the conversation id (JSON). TODO: the provider's cursor, ids, … */
export type Extra = { [key: string]: Json };

/** A conversation the provider opened. */
export interface Opened {
  id: string;
  /** Reported right away (e.g. `events.queued(position, wait)`). */
  events: Event[];
  /** Kept in the state. */
  extra: Extra;
}

/**
 * TODO: the provider's "create conversation" call (send the transcript and
 * routing), e.g. `const created = http.postJson<Created>(`${s.baseUrl}/conversations`, body)`.
 */
export function openConversation(s: Settings, conversation: Conversation): Opened {
  void [s.baseUrl, conversation.handoverId];
  throw error("template adapter: openConversation is not implemented yet");
}

/** TODO: the provider's "send message" call. */
export function sendMessage(s: Settings, conversationId: string, input: UserInput): void {
  void [s.baseUrl, conversationId, input.text];
  throw error("template adapter: sendMessage is not implemented yet");
}

export type Ending = "cancel" | "close";

/** TODO: cancel / close at the provider (throw `unsupported(...)` if it cannot). */
export function endConversation(s: Settings, conversationId: string, ending: Ending): void {
  void [s.baseUrl, conversationId, ending];
  throw unsupported("template adapter: ending a conversation is not implemented yet");
}

/** Which conversation a webhook concerns. */
export interface Route {
  conversationId: string;
  deliveryId?: string;
}

/** TODO: read the conversation id and delivery id from a webhook body (`webhooks.bodyJson`). */
export function routeWebhook(body: Uint8Array): Route {
  void body;
  throw error("template adapter: routeWebhook is not implemented yet");
}

/**
 * TODO: turn a webhook body into events (`events.agentJoined`, …); `extra`
 * is the state kept by `openConversation`, changed in place (e.g. a sequence number).
 */
export function webhookEvents(body: Uint8Array, extra: Extra): Event[] {
  void [body, extra];
  throw error("template adapter: webhookEvents is not implemented yet");
}
