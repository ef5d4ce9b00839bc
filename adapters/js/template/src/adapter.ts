// Glue between the contract and `provider.ts` — never edited by an adapter
// author. The SDK's typed layer (`defineAdapter`) parses the settings with
// `provider.parseSettings`, loads and saves the State below and turns
// failures into the export's `err`; each export calls one provider
// function. The build (adapters/js/build.sh) exports `adapter` from the
// component after installing the host's HTTP transport and log; unit tests
// import this file directly and install a fake transport instead.
//
// The name `describe` reports is the package name without `adapter-`
// (package.json beside src/), the version its version (or ADAPTER_VERSION
// at build time): the build defines both.

import { adapterInfo, defineAdapter, webhooks } from "handover-adapter-sdk";
import * as provider from "./provider";

declare const __ADAPTER_NAME__: string;
declare const __ADAPTER_VERSION__: string;

/** What the host keeps between calls: the provider's conversation id plus whatever `provider.ts` needs. */
export interface State {
  conversationId: string;
  /** `provider.Extra`: kept by `openConversation`, updated in place by `webhookEvents`. */
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
    provider.sendMessage(cx.settings, state.conversationId, input);
  },

  cancel(cx, state) {
    provider.endConversation(cx.settings, state.conversationId, "cancel");
  },

  close(cx, state) {
    provider.endConversation(cx.settings, state.conversationId, "close");
  },

  routeWebhook(_settings, request) {
    const route = provider.routeWebhook(request.body);
    return webhooks.route([route.conversationId], route.deliveryId, webhooks.jsonResponse(200, {}));
  },

  handleWebhook(_cx, state, request) {
    return provider.webhookEvents(request.body, state.extra);
  },
});
