// Event builders: one short function per normalized event kind, giving the
// `{ tag, val }` shapes of the WIT `event` and `end-reason` variants.

import type { Agent, Attachment, EndReason, Event } from "./types";

/** Builds an agent. */
export function agent(id: string, name: string): Agent {
  return { id, name };
}

/** The conversation waits in the provider's queue. */
export function queued(position?: number | null, estimatedWaitSeconds?: number | null): Event {
  return { tag: "queued", val: { position: position ?? undefined, estimatedWaitSeconds: estimatedWaitSeconds ?? undefined } };
}

export function agentJoined(who: Agent): Event {
  return { tag: "agent-joined", val: who };
}

/** An agent sent a message (`who` undefined when the provider does not say). */
export function agentMessage(who: Agent | undefined, text: string, attachments: Attachment[] = []): Event {
  return { tag: "agent-message", val: { agent: who, text, attachments } };
}

/** An agent started (`true`) or stopped (`false`) typing. */
export function typing(on: boolean): Event {
  return { tag: "agent-typing", val: on };
}

export function agentLeft(who: Agent): Event {
  return { tag: "agent-left", val: who };
}

/** The conversation moved to another queue and/or agent. */
export function transferred(toQueue?: string, toAgent?: Agent): Event {
  return { tag: "transferred", val: { toQueue, toAgent } };
}

/** The provider side ended the conversation. */
export function ended(reason: EndReason): Event {
  return { tag: "ended", val: reason };
}

/** The end reasons of the WIT `end-reason` variant. */
export const endReason = {
  agentClosed: { tag: "agent-closed" } as EndReason,
  agentLeft: { tag: "agent-left" } as EndReason,
  providerClosed: { tag: "provider-closed" } as EndReason,
  noAgentAvailable: { tag: "no-agent-available" } as EndReason,
  other: (why: string): EndReason => ({ tag: "other", val: why }),
};

/** An attachment (`name` optional). */
export function attachment(url: string, contentType: string, name?: string): Attachment {
  return { url, contentType, name };
}
