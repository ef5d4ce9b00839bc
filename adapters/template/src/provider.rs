//! Provider logic — the only file to fill in for a new adapter. Every
//! TODO below is a provider call or a mapping; the glue in `lib.rs` handles
//! state, settings plumbing and the contract (through the SDK's typed layer). Credentials never go here:
//! the host adds them to requests (see the README's `[[endpoints.auth]]`).

use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::{
    Capabilities, Conversation, Event, Failure, Polling, UserInput, WebhookSignature, error,
};
use serde::Deserialize;

/// TODO: the channels the provider serves ("*" for any).
pub const CHANNELS: &[&str] = &["webchat"];
/// TODO: switch on what the adapter implements.
pub const CAPABILITIES: Capabilities = Capabilities::NONE;
/// TODO: `Polling::periodic(ms)` if the host must poll instead of receiving webhooks.
pub const POLLING: Polling = Polling::NONE;

/// TODO: how the provider signs webhooks, if it sends any.
pub fn webhook_signature() -> Option<WebhookSignature> {
    None
}

/// The endpoint's settings, parsed by the SDK (errors name the field).
/// TODO: add the provider's fields.
#[derive(Deserialize)]
pub struct Settings {
    pub base_url: String,
}

/// TODO: check the fields (`settings::require_min`, `settings::invalid`, …).
impl Validate for Settings {
    fn validate(&mut self) -> Result<(), Failure> {
        self.base_url = settings::require_http_url("base_url", &self.base_url)?;
        Ok(())
    }
}

/// A conversation the provider opened.
pub struct Opened {
    pub id: String,
    /// Reported right away (e.g. `events::queued(position, wait)`).
    pub events: Vec<Event>,
    /// Anything else to keep in the state.
    pub extra: serde_json::Value,
}

/// TODO: the provider's "create conversation" call (send the transcript and
/// routing), e.g. `let created: Created = http::post_json(&url, &[], &body)?;`.
pub fn open_conversation(
    settings: &Settings,
    conversation: &Conversation,
) -> Result<Opened, Failure> {
    let _ = (&settings.base_url, &conversation.handover_id);
    Err(error(
        "template adapter: open_conversation is not implemented yet",
    ))
}

/// TODO: the provider's "send message" call.
pub fn send_message(
    settings: &Settings,
    conversation_id: &str,
    input: &UserInput,
) -> Result<(), Failure> {
    let _ = (&settings.base_url, conversation_id, &input.text);
    Err(error(
        "template adapter: send_message is not implemented yet",
    ))
}

pub enum Ending {
    Cancel,
    Close,
}

/// TODO: cancel / close at the provider (return `unsupported(..)` if it cannot).
pub fn end_conversation(
    settings: &Settings,
    conversation_id: &str,
    ending: Ending,
) -> Result<(), Failure> {
    let _ = (
        &settings.base_url,
        conversation_id,
        matches!(ending, Ending::Cancel),
    );
    Err(handover_adapter_sdk::unsupported(
        "template adapter: ending a conversation is not implemented yet",
    ))
}

/// Which conversation a webhook concerns.
pub struct Route {
    pub conversation_id: String,
    pub delivery_id: Option<String>,
}

/// TODO: read the conversation id and delivery id from a webhook body.
pub fn route_webhook(body: &[u8]) -> Result<Route, Failure> {
    let _ = body;
    Err(error(
        "template adapter: route_webhook is not implemented yet",
    ))
}

/// TODO: turn a webhook body into events (`events::agent_joined`, …);
/// `extra` is the state kept by `open_conversation` (e.g. a sequence number).
pub fn webhook_events(body: &[u8], extra: &mut serde_json::Value) -> Result<Vec<Event>, Failure> {
    let _ = (body, extra);
    Err(error(
        "template adapter: webhook_events is not implemented yet",
    ))
}
