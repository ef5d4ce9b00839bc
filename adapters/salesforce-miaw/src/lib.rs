//! `salesforce-miaw`: Salesforce Messaging for In-App and Web (MIAW, also
//! "Enhanced Chat"), the Messaging API v2 a custom client speaks.
//!
//! - `start`: an unauthenticated access token (a per-conversation JWT the
//!   state keeps), a conversation with a client-made UUID derived from the
//!   handover id, then the bot transcript as messages of at most 3,000
//!   characters (MIAW's limit).
//! - agent → user: server-sent events on `/eventrouter/v1/sse`, read by the
//!   host's long polls: each `poll` opens the stream with `Last-Event-Id`
//!   from the state and reads until the stream goes quiet or the wait ends.
//! - end: `CONVERSATION_CLOSE_CONVERSATION` is not always sent, so the last
//!   agent leaving (a participant change outside a transfer) also ends it.
//!
//! Contract 0.2.0:
//! - `user-typing`: `POST …/conversation/{id}/entry` with entryType
//!   `TypingStartedIndicator` / `TypingStoppedIndicator`;
//! - `receipt`: `CONVERSATION_DELIVERY_ACKNOWLEDGEMENT` / `_READ_` name the
//!   acknowledged entry; the user's messages are sent with the host's
//!   `user-input.id` as MIAW message id when it is a lowercase UUID (else a
//!   derived one), and the state maps them back until they are read;
//! - agent `actions`: `ChoicesMessage` options (quick replies whose payload
//!   is the `optionIdentifier`; pressing one sends its title as text),
//!   `RichLink` / `WebView` links;
//! - `provider-reference`: the MessagingSession record (`0Mw…`) the entries'
//!   `relatedRecords` name, kind `messaging_session`;
//! - no hand-back, wrap-up or survey: MIAW's client events carry none.
//!
//! Modules: `provider` (the WIT calls and the state), `settings`, `wire`
//! (MIAW's JSON), `sse` (the event-stream framing), `ids` (UUIDs),
//! `transcript` (packing the transcript into messages).

mod ids;
mod provider;
mod settings;
mod sse;
mod transcript;
mod wire;

#[cfg(test)]
mod tests;

use provider::Miaw;

handover_adapter_sdk::export!(Miaw);
