// Glue between the contract and `provider.ts`: the template's, with the
// settings, the conversation sid and the state's `extra` passed to the calls
// that need them (Twilio's webhooks are routed by their form body and an
// idempotency header, and the user's messages carry the user's identity).

import { adapterInfo, defineAdapter, webhooks } from "handover-adapter-sdk";
import * as provider from "./provider";

declare const __ADAPTER_NAME__: string;
declare const __ADAPTER_VERSION__: string;

/** What the host keeps between calls: the conversation sid plus `provider.Extra`. */
export interface State {
  conversationId: string;
  extra: provider.Extra;
}

export const adapter = defineAdapter<provider.Settings, State>({
  describe: () =>
    adapterInfo(__ADAPTER_NAME__, __ADAPTER_VERSION__, provider.CHANNELS, {
      capabilities: provider.CAPABILITIES,
      polling: provider.POLLING,
      webhookSignature: provider.webhookSignature(),
    }),
  settings: provider.parseSettings,
  initialState: () => ({ conversationId: "", extra: {} as provider.Extra }),

  start(cx, state, conversation) {
    const opened = provider.openConversation(cx.settings, conversation);
    state.conversationId = opened.id;
    state.extra = opened.extra;
    return { events: opened.events, correlationKeys: [opened.id] };
  },

  userMessage(cx, state, input) {
    provider.sendMessage(cx.settings, state.conversationId, state.extra, input);
  },

  cancel(cx, state) {
    provider.endConversation(cx.settings, state.conversationId, "cancel");
  },

  close(cx, state) {
    provider.endConversation(cx.settings, state.conversationId, "close");
  },

  routeWebhook(_settings, request) {
    const route = provider.routeWebhook(request);
    return webhooks.route([route.conversationId], route.deliveryId, { status: 200, headers: [], body: new Uint8Array(0) });
  },

  handleWebhook(cx, state, request) {
    return provider.webhookEvents(cx.settings, state.conversationId, request, state.extra);
  },
});
