// Provider logic for Twilio Flex Conversations (a copy of the TypeScript
// template with this file filled in; `adapter.ts` is the template's glue
// with the settings and state passed to the calls that need them).
//
// - start: `POST {flex_api_url}/v1/Interactions` (form: `Channel` and
//   `Routing` as JSON strings) opens a Conversation with the user as a chat
//   participant and a TaskRouter task in the configured workspace/workflow;
//   the conversation sid is read from the task's attributes
//   (`conversationSid`). The transcript goes in as one message by `bot`.
// - user messages: `POST {conversations_url}/v1/Conversations/{sid}/Messages`
//   (`Author` = the user's identity, `Body`); cancel/close:
//   `POST …/v1/Conversations/{sid}` with `State=closed`.
// - agent side: Conversations webhooks, form-encoded, signed
//   `X-Twilio-Signature` (the host verifies: url-then-body, HMAC-SHA1,
//   base64, the auth token as the secret). `onParticipantAdded` → agent
//   joined (once per participant sid); `onMessageAdded` → the messages after
//   the last one delivered are fetched in index order, so duplicated, late
//   or reordered webhooks still give each agent message once, in order;
//   `onConversationStateUpdated` with `StateTo=closed` → ended.
// Credentials (HTTP Basic AccountSid:AuthToken) are the host's.

import {
  capabilities, channels, endReason, error, events, hmac, http, polling, settings, signed, transcript,
  webhooks, type Capabilities, type Conversation, type Event, type HttpRequest, type Json, type Polling,
  type UserInput, type WebhookSignature,
} from "handover-adapter-sdk";

export const CHANNELS: readonly string[] = ["webchat"];
export const CAPABILITIES: Capabilities = capabilities.NONE;
export const POLLING: Polling = polling.none();

export function webhookSignature(): WebhookSignature | undefined {
  return hmac("hmac-sha1", "X-Twilio-Signature", {
    encoding: "base64",
    signed: signed.urlThenBody,
    deliveryIdHeader: "I-Twilio-Idempotency-Token",
  });
}

export interface Settings {
  /** `https://flex-api.twilio.com` in production. */
  flexApiUrl: string;
  /** `https://conversations.twilio.com` in production. */
  conversationsUrl: string;
  workspaceSid: string;
  workflowSid: string;
  /** The TaskRouter task channel (default `chat`). */
  taskChannel: string;
  /** The Interactions channel type (default `web`). */
  channelType: string;
}

function sidOf(f: { string(field: string): string }, field: string, prefix: string): string {
  const value = f.string(field);
  if (!new RegExp(`^${prefix}[0-9a-fA-F]{32}$`).test(value)) {
    throw settings.invalid(field, `must be a Twilio sid (${prefix} and 32 hex digits), got ${JSON.stringify(value)}`);
  }
  return value;
}

export function parseSettings(text: string): Settings {
  return settings.parse(text, (f) => ({
    flexApiUrl: f.httpUrl("flex_api_url"),
    conversationsUrl: f.httpUrl("conversations_url"),
    workspaceSid: sidOf(f, "workspace_sid", "WS"),
    workflowSid: sidOf(f, "workflow_sid", "WW"),
    taskChannel: f.optString("task_channel") ?? "chat",
    channelType: f.optString("channel_type") ?? "web",
  }));
}

/**
 * What the state keeps: `identity` (the user's chat identity, the author of
 * their messages), `last_index` (the highest message index handled),
 * `participants` (agent participant sid → identity), `names` (identity →
 * display name), `ended`.
 */
export type Extra = { [key: string]: Json };

export interface Opened {
  id: string;
  events: Event[];
  extra: Extra;
}

/** The author of the transcript message. */
const BOT = "bot";
/** Longest message body sent. */
const MAX_BODY = 1600;

interface Interaction {
  sid?: string;
  routing?: { properties?: { attributes?: Json } } | null;
}

export function openConversation(s: Settings, c: Conversation): Opened {
  channels.require(c.channel, CHANNELS, "this Twilio Flex adapter");
  const identity = `handover-${c.handoverId}`;
  const profile: { [key: string]: Json } = {};
  for (const kv of c.userProfile) profile[kv.key] = kv.value;
  const custom: { [key: string]: Json } = {};
  for (const kv of c.routing.custom) custom[kv.key] = kv.value;
  const attributes: { [key: string]: Json } = {
    handover_id: c.handoverId,
    session_id: c.sessionId,
    user_id: c.userId,
    from: identity,
    customerName: (profile.name as string | undefined) ?? c.userId,
    channel: c.channel,
    language: c.routing.language ?? c.locale,
    skills: c.routing.skills,
    ...custom,
  };
  if (c.routing.queue) attributes.queue = c.routing.queue;
  if (c.routing.priority !== undefined) attributes.handover_priority = c.routing.priority;
  const routing: { [key: string]: Json } = {
    workspace_sid: s.workspaceSid,
    workflow_sid: s.workflowSid,
    task_channel_unique_name: s.taskChannel,
    attributes,
  };
  const created = http.postForm<Interaction>(`${s.flexApiUrl}/v1/Interactions`, {
    Channel: JSON.stringify({ type: s.channelType, initiated_by: "api", participants: [{ identity }] }),
    Routing: JSON.stringify({ properties: routing }),
  });
  const conversationSid = conversationOf(created);
  const lines = c.transcript.map((t) => `${t.author}: ${t.text}`).join("\n");
  if (lines !== "") {
    for (const body of transcript.chunkText(lines, MAX_BODY)) {
      postMessage(s, conversationSid, BOT, body);
    }
  }
  return {
    id: conversationSid,
    events: [events.queued()],
    extra: { identity, last_index: -1, participants: {}, names: {}, ended: false },
  };
}

/** The conversation sid in the created interaction's task attributes (a JSON string or object). */
export function conversationOf(created: Interaction | null): string {
  let attributes = created?.routing?.properties?.attributes;
  if (typeof attributes === "string") {
    try {
      attributes = JSON.parse(attributes) as Json;
    } catch {
      attributes = null;
    }
  }
  const sid = attributes && typeof attributes === "object" && !Array.isArray(attributes)
    ? attributes.conversationSid
    : undefined;
  if (typeof sid !== "string" || sid === "") {
    throw error(`POST /v1/Interactions: unexpected response: no conversationSid in routing.properties.attributes (interaction ${created?.sid ?? "?"})`);
  }
  return sid;
}

function messagesUrl(s: Settings, conversationSid: string): string {
  return `${s.conversationsUrl}/v1/Conversations/${http.pathSegment(conversationSid)}/Messages`;
}

function postMessage(s: Settings, conversationSid: string, author: string, body: string): void {
  http.postForm(messagesUrl(s, conversationSid), { Author: author, Body: body });
}

export function sendMessage(s: Settings, conversationSid: string, extra: Extra, input: UserInput): void {
  const identity = String(extra.identity ?? "");
  for (const body of transcript.chunkText(input.text, MAX_BODY)) {
    postMessage(s, conversationSid, identity, body);
  }
}

export type Ending = "cancel" | "close";

/** Both endings close the conversation (Flex then cancels or wraps up the task). */
export function endConversation(s: Settings, conversationSid: string, ending: Ending): void {
  void ending;
  http.postForm(`${s.conversationsUrl}/v1/Conversations/${http.pathSegment(conversationSid)}`, { State: "closed" });
}

export interface Route {
  conversationId: string;
  deliveryId?: string;
}

function form(request: HttpRequest): Record<string, string> {
  const f = webhooks.bodyForm(request);
  for (const k of ["EventType", "ConversationSid"]) {
    if (!f[k]) throw error(`malformed webhook body: missing field \`${k}\``);
  }
  return f;
}

export function routeWebhook(request: HttpRequest): Route {
  const f = form(request);
  const token = webhooks.header(request, "I-Twilio-Idempotency-Token");
  const fallback = f.MessageSid ?? f.ParticipantSid ?? (f.StateTo ? `${f.EventType}:${f.StateTo}` : undefined);
  return { conversationId: f.ConversationSid, deliveryId: token || (fallback ? `${f.ConversationSid}:${fallback}` : undefined) };
}

interface Message {
  sid: string;
  index: number;
  author: string | null;
  body: string | null;
}

interface MessagePage {
  messages: Message[];
  meta?: { next_page_url?: string | null };
}

/** Most pages read back (newest first) to find the messages after `last_index`. */
const MAX_PAGES = 10;
const PAGE_SIZE = 50;

/** The messages with an index above `after`, in index order. */
function messagesAfter(s: Settings, conversationSid: string, after: number): Message[] {
  const found: Message[] = [];
  let url: string | null = `${messagesUrl(s, conversationSid)}?Order=desc&PageSize=${PAGE_SIZE}`;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const got: MessagePage = http.getJson<MessagePage>(url);
    const messages = got?.messages ?? [];
    let older = false;
    for (const m of messages) {
      if (m.index > after) found.push(m);
      else older = true;
    }
    if (older || messages.length === 0) break;
    const next = got?.meta?.next_page_url ?? null;
    url = next ? rebase(next, s.conversationsUrl) : null;
  }
  return found.sort((a, b) => a.index - b.index);
}

/** A page URL the API gave, on the configured base (the API names its public host). */
function rebase(url: string, base: string): string {
  const at = url.indexOf("/v1/");
  return at >= 0 ? `${base}${url.slice(at)}` : url;
}

function objectOf(extra: Extra, key: string): { [key: string]: Json } {
  const v = extra[key];
  if (v && typeof v === "object" && !Array.isArray(v)) return v;
  const fresh: { [key: string]: Json } = {};
  extra[key] = fresh;
  return fresh;
}

function agentNamed(extra: Extra, identity: string) {
  const names = objectOf(extra, "names");
  const name = names[identity];
  return events.agent(identity, typeof name === "string" && name !== "" ? name : identity);
}

/** Events of one webhook; `extra` is updated in place. */
export function webhookEvents(s: Settings, conversationSid: string, request: HttpRequest, extra: Extra): Event[] {
  const f = form(request);
  if (f.ConversationSid !== conversationSid || extra.ended === true) return [];
  const identity = String(extra.identity ?? "");
  switch (f.EventType) {
    case "onParticipantAdded": {
      const participants = objectOf(extra, "participants");
      const sid = f.ParticipantSid ?? f.Identity ?? "";
      if (!f.Identity || f.Identity === identity || sid in participants) return [];
      participants[sid] = f.Identity;
      let name = f.Identity;
      try {
        const attributes = JSON.parse(f.Attributes || "{}") as { friendly_name?: unknown; full_name?: unknown };
        const named = attributes.friendly_name ?? attributes.full_name;
        if (typeof named === "string" && named !== "") name = named;
      } catch {
        // Attributes that are not JSON leave the identity as the name.
      }
      objectOf(extra, "names")[f.Identity] = name;
      return [events.agentJoined(events.agent(f.Identity, name))];
    }
    case "onMessageAdded": {
      const last = Number(extra.last_index ?? -1);
      const index = Number(f.Index);
      if (Number.isFinite(index) && index <= last) return []; // repeated or already fetched
      const out: Event[] = [];
      let highest = last;
      for (const m of messagesAfter(s, conversationSid, last)) {
        highest = Math.max(highest, m.index);
        const author = m.author ?? "";
        if (author === identity || author === BOT || author === "system" || author === "") continue;
        out.push(events.agentMessage(agentNamed(extra, author), m.body ?? ""));
      }
      extra.last_index = highest;
      return out;
    }
    case "onConversationStateUpdated": {
      if (f.StateTo !== "closed") return [];
      extra.ended = true;
      return [events.ended(endReason.agentClosed)];
    }
    default:
      return [];
  }
}
