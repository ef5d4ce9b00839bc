// `describe` building blocks: the adapter info record, capability sets,
// polling modes and webhook-signature declarations. All pure data: the
// host verifies signatures itself with the endpoint's secret.

import type {
  AdapterInfo, Capabilities, Polling, SignatureAlgorithm, SignatureEncoding, SignedContent,
  WebhookSignature,
} from "./types";

export const capabilities = {
  ALL: {
    attachments: true, typing: true, queuePosition: true,
    availabilityCheck: true, botSideClose: true, transcript: true,
  } as Readonly<Capabilities>,
  NONE: {
    attachments: false, typing: false, queuePosition: false,
    availabilityCheck: false, botSideClose: false, transcript: false,
  } as Readonly<Capabilities>,
};

export const polling = {
  /** The provider pushes webhooks; the host never calls `poll`. */
  none: (): Polling => ({ mode: "none", intervalMs: 0, maxWaitMs: 0 }),
  /** The host calls `poll` every `intervalMs`. */
  periodic: (intervalMs: number): Polling => ({ mode: "periodic", intervalMs, maxWaitMs: 0 }),
  /** Each `poll` holds a request open up to `maxWaitMs`; `intervalMs` paces retries. */
  longPoll: (intervalMs: number, maxWaitMs: number): Polling => ({ mode: "long-poll", intervalMs, maxWaitMs }),
};

/** What bytes the provider signs. */
export const signed = {
  body: { tag: "body" } as SignedContent,
  /** e.g. Chatwoot's "{timestamp}.{body}" is `timestampThenBody(".")`. */
  timestampThenBody: (separator: string): SignedContent => ({ tag: "timestamp-then-body", val: separator }),
  urlThenBody: { tag: "url-then-body" } as SignedContent,
};

export interface SignatureOptions {
  encoding?: SignatureEncoding;
  prefix?: string;
  signed?: SignedContent;
  timestampHeader?: string;
  deliveryIdHeader?: string;
}

/** An HMAC signature in `header` (default: hex over the raw body). */
export function hmac(algorithm: Exclude<SignatureAlgorithm, "shared-secret">, header: string, options: SignatureOptions = {}): WebhookSignature {
  return {
    algorithm,
    header,
    encoding: options.encoding ?? "hex",
    prefix: options.prefix,
    signed: options.signed ?? signed.body,
    timestampHeader: options.timestampHeader,
    deliveryIdHeader: options.deliveryIdHeader,
  };
}

/** The header carries the secret itself (compared in constant time). */
export function sharedSecret(header: string, deliveryIdHeader?: string): WebhookSignature {
  return { algorithm: "shared-secret", header, encoding: "hex", signed: signed.body, deliveryIdHeader };
}

export interface InfoOptions {
  capabilities?: Capabilities;
  polling?: Polling;
  webhookSignature?: WebhookSignature;
  /** JSON Schema of the settings, as text (documentation only). */
  settingsSchema?: string;
}

/** The adapter's self-description; defaults: no capabilities, no webhooks, no polling. */
export function adapterInfo(name: string, version: string, channels: readonly string[], options: InfoOptions = {}): AdapterInfo {
  return {
    name,
    version,
    channels: [...channels],
    capabilities: { ...(options.capabilities ?? capabilities.NONE) },
    webhookSignature: options.webhookSignature,
    polling: options.polling ?? polling.none(),
    settingsSchema: options.settingsSchema ?? "{}",
  };
}
