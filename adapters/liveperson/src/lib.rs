//! `liveperson`: hands conversations over to LivePerson Messaging through
//! the Connector API. The adapter is the connector, acting for a consumer:
//!
//! - `start` gets a ConsumerJWS for the handover
//!   (`POST {idp}/api/account/{account}/consumer`), opens the conversation
//!   with the batch `[userprofile.SetUserProfile, cm.ConsumerRequestConversation]`
//!   (`POST {messaging}/…/messaging/consumer/conversation?v=3`) and publishes
//!   the transcript as `ms.PublishEvent` ContentEvents
//!   (`POST {messaging}/…/conversation/send?v=3`, `X-LP-ON-BEHALF: <ConsumerJWS>`);
//! - webhooks bring `ms.MessagingEventNotification` (ContentEvent,
//!   RichContentEvent as text, ChatStateEvent as typing, AcceptStatusEvent
//!   ignored), applied in `sequence` order, and
//!   `cqm.ExConversationChangeNotification` (assigned agent = join, leave
//!   or transfer; state CLOSE = the end);
//! - `close` and `cancel` send `cm.UpdateConversationField` CLOSE.
//!
//! The AppJWT (OAuth client credentials) is added by the host; the
//! ConsumerJWS is handed out per consumer by LivePerson and kept in the
//! handover state. Calls are in `provider.rs`, JSON in `wire.rs`.

mod provider;
mod wire;

#[cfg(test)]
mod tests;

use provider::LivePerson;

handover_adapter_sdk::export!(LivePerson);
