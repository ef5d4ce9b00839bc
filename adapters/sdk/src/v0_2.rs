//! What contract `handover:provider@0.2.0` adds (feature `contract-0-2`):
//! builders for its new events, rich agent messages, and the declarations
//! `describe` gains (the permissions the adapter needs, and where a
//! webhook's correlation key is so the host can route it without an
//! instance). The contract's text is `wit/v0.2.0/handover.wit`.

pub use crate::bindings::handover::provider::types::{
    Action, HandBack, Link, Locator, Permissions, ProviderReference, QuickReply, Receipt,
    ReceiptStatus, Survey, WebhookRouting, WrapUp,
};
use crate::types::{AdapterInfo, Agent, AgentMessage, Attachment, Event, HttpResponse};

/// An agent's message with buttons and links to render with it.
pub fn rich_message(
    agent: Option<Agent>,
    text: impl Into<String>,
    attachments: Vec<Attachment>,
    actions: Vec<Action>,
) -> Event {
    Event::AgentMessage(AgentMessage {
        agent,
        text: text.into(),
        attachments,
        actions,
    })
}

/// A quick-reply button: pressing it sends `payload` as the user's input.
pub fn quick_reply(title: impl Into<String>, payload: impl Into<String>) -> Action {
    Action::QuickReply(QuickReply {
        title: title.into(),
        payload: payload.into(),
    })
}

/// A link the user can open.
pub fn link(title: impl Into<String>, url: impl Into<String>) -> Action {
    Action::Link(Link {
        title: title.into(),
        url: url.into(),
    })
}

/// The agent handed the conversation back to the bot. `variables` is a
/// JSON object (anything else is refused by the host as a malformed event).
pub fn returned_to_bot(variables: &serde_json::Value, note: Option<String>) -> Event {
    Event::ReturnedToBot(HandBack {
        variables: variables.to_string(),
        note,
    })
}

/// The agent's wrap-up.
pub fn wrap_up(
    disposition: Option<String>,
    resolution_code: Option<String>,
    notes: Option<String>,
) -> Event {
    Event::WrapUp(WrapUp {
        disposition,
        resolution_code,
        notes,
    })
}

/// A post-chat survey result: `score` out of `scale_max`.
pub fn survey(score: Option<u32>, scale_max: u32, comment: Option<String>) -> Event {
    Event::Survey(Survey {
        score,
        scale_max,
        comment,
    })
}

/// The provider delivered (or the agent read) the user's messages of these
/// ids (`UserInput::id`).
pub fn receipt(
    message_ids: Vec<String>,
    status: ReceiptStatus,
    timestamp_ms: Option<u64>,
) -> Event {
    Event::Receipt(Receipt {
        message_ids,
        status,
        timestamp_ms,
    })
}

/// The provider's own record of the conversation (a ticket, a case).
pub fn provider_reference(
    kind: impl Into<String>,
    id: impl Into<String>,
    url: Option<String>,
) -> Event {
    Event::ProviderReference(ProviderReference {
        kind: kind.into(),
        id: id.into(),
        url,
    })
}

impl AdapterInfo {
    /// The same, declaring what the endpoint must grant: egress origins
    /// (`"https://api.example.com"`, or `"{base_url}"` for the origin of a
    /// top-level string setting) and the names of the secrets the host
    /// injects. The host names what is missing before the adapter serves.
    pub fn needs(mut self, egress: &[&str], secrets: &[&str]) -> Self {
        self.permissions = Permissions {
            egress: egress.iter().map(|e| e.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        };
        self
    }

    /// The same, declaring where a webhook's correlation key (and delivery
    /// id) are, so the host routes it without running `route-webhook`
    /// (which still runs for a request where the key is not found).
    pub fn routed_by(mut self, routing: WebhookRouting) -> Self {
        self.webhook_routing = Some(routing);
        self
    }
}

impl WebhookRouting {
    /// The key at JSON pointer `pointer` of the body, prefixed with
    /// `key_prefix`; the delivery id at `delivery`; answered with `200` and
    /// `response_body` as JSON.
    pub fn json(
        pointer: &str,
        key_prefix: &str,
        delivery: Option<Locator>,
        response_body: &str,
    ) -> Self {
        WebhookRouting {
            correlation_key: Locator::JsonPointer(pointer.into()),
            key_prefix: key_prefix.into(),
            delivery_id: delivery,
            response: HttpResponse::json(200, response_body),
        }
    }
}
