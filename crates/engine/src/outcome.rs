//! The typed results of the bot-side operations: a handover's view, what a
//! create answers, what became of an input or a close, availability.
//!
//! Owns what each answer means. Must never choose a JSON shape or an HTTP
//! status: `handover-api` owns every wire type and serializes these.

use handover_core::model;
use handover_core::store::{HandoverRow, Status};

/// How an ended handover ended: the product spec's final object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalOutcome {
    Completed,
    Cancelled,
    /// Ended with an error; `reason` is the spec's error reason
    /// (`error`, `unsupported`, …).
    Error {
        reason: String,
        message: String,
    },
}

impl FinalOutcome {
    /// The final object of `row`; `None` while the handover is open.
    pub fn of(row: &HandoverRow) -> Option<FinalOutcome> {
        match row.status {
            Status::Completed => Some(FinalOutcome::Completed),
            Status::Cancelled => Some(FinalOutcome::Cancelled),
            Status::Error => Some(FinalOutcome::Error {
                reason: row.error_reason.clone().unwrap_or_else(|| "error".into()),
                message: row.error_message.clone().unwrap_or_default(),
            }),
            Status::Requested | Status::Queued | Status::Active => None,
        }
    }
}

/// One handover as the bot may see it (the spec's Handover Status answer).
#[derive(Debug, Clone, PartialEq)]
pub struct HandoverView {
    pub handover_id: String,
    pub endpoint_id: String,
    pub tenant: String,
    pub session_id: String,
    pub status: Status,
    pub queue_position: Option<u32>,
    pub estimated_wait_seconds: Option<u32>,
    /// The current agent as stored (`{"id","name"}`), if any.
    pub agent: Option<serde_json::Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub agent_joined_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub end_reason: Option<String>,
    /// The final object; `None` while open.
    pub result: Option<FinalOutcome>,
    /// What a contract 0.2.0 adapter reported beyond the status (hand-back
    /// `variables`, `wrap_up`, `survey`, `references`), a JSON object.
    pub extras: Option<serde_json::Value>,
}

impl From<&HandoverRow> for HandoverView {
    fn from(row: &HandoverRow) -> Self {
        HandoverView {
            handover_id: row.id.clone(),
            endpoint_id: row.endpoint_id.clone(),
            tenant: row.tenant.clone(),
            session_id: row.session_id.clone(),
            status: row.status,
            queue_position: row.queue_position,
            estimated_wait_seconds: row.estimated_wait_seconds,
            agent: row.agent.clone(),
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
            agent_joined_at_ms: row.agent_joined_at_ms,
            ended_at_ms: row.ended_at_ms,
            end_reason: row.end_reason.clone(),
            result: FinalOutcome::of(row),
            extras: row.extras.clone(),
        }
    }
}

/// A message the bot shows its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotMessage {
    Text {
        text: String,
    },
    /// A button whose press sends `payload` back as quick-reply input.
    QuickReply {
        text: String,
        payload: String,
    },
}

/// What a create answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub handover: HandoverView,
    /// The session's open handover (or an idempotent replay) answered:
    /// nothing new was opened.
    pub already_in_progress: bool,
    /// What the bot shows now (the accepted message and a cancel button);
    /// empty once the handover has ended.
    pub messages: Vec<BotMessage>,
}

impl Created {
    pub(crate) fn of(row: &HandoverRow, already_in_progress: bool) -> Created {
        let handover = HandoverView::from(row);
        let mut messages = vec![];
        if handover.result.is_none() {
            let req = &row.request;
            messages.push(BotMessage::Text {
                text: req["accepted_message"].as_str().unwrap_or_default().into(),
            });
            if let Some(b) = req["cancel_button_text"].as_str().filter(|b| !b.is_empty()) {
                messages.push(BotMessage::QuickReply {
                    text: b.into(),
                    payload: b.into(),
                });
            }
        }
        Created {
            handover,
            already_in_progress,
            messages,
        }
    }
}

/// What became of a user's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputOutcome {
    /// Given to the provider (the agent, or the queue).
    Forwarded,
    /// A cancel while no agent was active: the handover ended cancelled.
    Cancelled,
    /// Forwarding failed (after up to three attempts while the provider
    /// could not be reached at all): the handover ended with an error.
    Error,
}

/// The answer to an input: its outcome and the handover after it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputResult {
    pub outcome: InputOutcome,
    /// The id the message was forwarded under (the bot's own
    /// `message_id`, or one the host gave it): receipts name it.
    pub message_id: Option<String>,
    pub handover: HandoverView,
}

/// The answer to the user's typing signal.
#[derive(Debug, Clone, PartialEq)]
pub struct TypingResult {
    /// The adapter told the provider.
    pub forwarded: bool,
    /// Why not, when it was not (the adapter or its contract cannot, or
    /// the provider refused); never ends the handover.
    pub detail: Option<String>,
    pub handover: HandoverView,
}

/// The answer to a bot-side close.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseOutcome {
    /// The handover had already ended; nothing changed.
    AlreadyEnded { handover: HandoverView },
    /// Ended now. `provider_closed`: the provider was told; otherwise
    /// `detail` says why the handover ended on the host only.
    Closed {
        provider_closed: bool,
        detail: Option<String>,
        handover: HandoverView,
    },
}

/// Whether agents are available, as far as the adapter can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// The adapter cannot check availability; `message` says so.
    Unsupported { message: String },
    /// The provider's answer.
    Supported(model::Availability),
}
