//! `genesys-open-messaging`: hands conversations over to Genesys Cloud
//! through Open Messaging. The bot side plays the "messaging platform":
//!
//! - the user's messages (transcript first, packed into a few messages) go
//!   to `POST /api/v2/conversations/messages/{integrationId}/inbound/open/message`;
//!   the first one creates the conversation and an inbound message flow
//!   routes it (routing attributes travel as `channel.metadata.customAttributes`);
//! - agent messages and typing arrive as webhooks on the integration's
//!   outbound URL, signed `X-Hub-Signature-256: sha256=<base64 HMAC-SHA256(body)>`;
//! - Open Messaging has no "agent joined" and no "conversation ended"
//!   webhook: the first human-originated traffic (typing or a message)
//!   counts as the agent joining, and the end comes either from the host's
//!   inactivity timeout or, with `poll_conversation`, from polling the
//!   conversation's participants. The customer side cannot disconnect:
//!   `close` is `unsupported`, `cancel` leaves a note for the agent.
//!
//! The OAuth client-credentials token is added by the host (an
//! `oauth_client_credentials` auth rule for `api_url`): no secret is ever a
//! setting. Calls are in `provider.rs`, JSON documents in `wire.rs`.

mod provider;
mod wire;

#[cfg(test)]
mod tests;

use provider::Genesys;

handover_adapter_sdk::export!(Genesys);
