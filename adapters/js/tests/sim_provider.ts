// Provider logic for the sim reference provider (adapters/sim/PROTOCOL.md),
// filled into the TypeScript template's src/provider.ts — the counterpart of
// FILLED_PROVIDER in host/tests/all/template.rs. `tests/make-sim-copy.sh`
// builds a copy of the template with this file as its provider.

import {
  capabilities, events, endReason, error, hmac, http, polling, settings, signed, webhooks,
  type Capabilities, type Conversation, type Event, type Json, type Polling, type UserInput,
  type WebhookSignature,
} from "handover-adapter-sdk";

export const CHANNELS: readonly string[] = ["webchat", "sms"];
export const CAPABILITIES: Capabilities = capabilities.NONE;
export const POLLING: Polling = polling.none();

export function webhookSignature(): WebhookSignature | undefined {
  return hmac("hmac-sha256", "X-Sim-Signature", {
    encoding: "hex",
    prefix: "sha256=",
    signed: signed.timestampThenBody("."),
    timestampHeader: "X-Sim-Timestamp",
    deliveryIdHeader: "X-Sim-Delivery",
  });
}

export interface Settings {
  baseUrl: string;
}

export function parseSettings(text: string): Settings {
  return settings.parse(text, (f) => ({ baseUrl: f.httpUrl("base_url") }));
}

export type Extra = { [key: string]: Json };

export interface Opened {
  id: string;
  events: Event[];
  extra: Extra;
}

interface Created {
  id: string;
  queue_position?: number | null;
  estimated_wait_seconds?: number | null;
}

export function openConversation(s: Settings, c: Conversation): Opened {
  const body = {
    handover_id: c.handoverId,
    session_id: c.sessionId,
    user_id: c.userId,
    channel: c.channel,
    locale: c.locale,
    transcript: c.transcript.map((t) => ({ author: "user", text: t.text, ts: t.timestampMs })),
    routing: { skills: c.routing.skills },
  };
  const created = http.postJson<Created>(`${s.baseUrl}/conversations`, body);
  return {
    id: created.id,
    events: [events.queued(created.queue_position, created.estimated_wait_seconds)],
    extra: { last_seq: 1 },
  };
}

export function sendMessage(s: Settings, id: string, input: UserInput): void {
  const url = `${s.baseUrl}/conversations/${http.pathSegment(id)}/messages`;
  http.postJson(url, { text: input.text, kind: "text", attachments: [] });
}

export type Ending = "cancel" | "close";

export function endConversation(s: Settings, id: string, ending: Ending): void {
  http.postJson(`${s.baseUrl}/conversations/${http.pathSegment(id)}/${ending}`, {});
}

export interface Route {
  conversationId: string;
  deliveryId?: string;
}

interface Hook {
  event_id: string;
  conversation_id: string;
  seq: number;
  type: string;
  agent?: { id: string; name: string };
  text?: string;
  reason?: string;
}

function parse(body: Uint8Array): Hook {
  const h = webhooks.bodyJson<Hook>(body);
  const missing = (["event_id", "conversation_id", "seq", "type"] as const).find((k) => h?.[k] === undefined);
  if (missing) throw error(`malformed webhook body: missing field \`${missing}\``);
  return h;
}

export function routeWebhook(body: Uint8Array): Route {
  const h = parse(body);
  return { conversationId: h.conversation_id, deliveryId: h.event_id };
}

/** Most events held while an earlier one is missing (then the gap is skipped). */
const MAX_HELD = 32;

/**
 * Applies webhooks in `seq` order: a repeated or stale one is dropped, an
 * early one is held in `extra.held` until the gap before it fills.
 */
export function webhookEvents(body: Uint8Array, extra: Extra): Event[] {
  const h = parse(body);
  const last = Number(extra.last_seq ?? 0);
  const earlier = (extra.held ?? []) as unknown as Hook[];
  if (h.seq <= last || earlier.some((e) => e.seq === h.seq)) return []; // stale or repeated
  const held = [...earlier, h].sort((a, b) => a.seq - b.seq);
  const out: Event[] = [];
  let seq = last;
  while (held.length > 0 && (held[0].seq === seq + 1 || held.length > MAX_HELD)) {
    const next = held.shift()!;
    out.push(...normalize(next));
    seq = next.seq;
  }
  extra.last_seq = seq;
  if (held.length > 0) extra.held = held as unknown as Json[];
  else delete extra.held;
  return out;
}

function normalize(h: Hook): Event[] {
  const agent = h.agent ? events.agent(h.agent.id, h.agent.name) : undefined;
  switch (h.type) {
    case "agent_joined":
      return [events.agentJoined(agent ?? events.agent("", ""))];
    case "agent_message":
      return [events.agentMessage(agent, h.text ?? "")];
    case "ended":
      return [events.ended(h.reason === "no_agent" ? endReason.noAgentAvailable : endReason.agentClosed)];
    default:
      return [];
  }
}
