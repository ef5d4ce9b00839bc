//! Public data types of the sim provider: configuration, the records the
//! simulator keeps for inspection, and the JSON documents it accepts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// How a [`crate::SimProvider`] starts.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// Where events are POSTed; `None` stores them for polling only.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key of the `X-Sim-Signature` header.
    pub webhook_secret: String,
    /// A scripted agent that answers every conversation on its own.
    pub auto_agent: Option<AutoAgent>,
}

/// A scripted agent: after `join_after_ms` it joins as agent `a-1` named
/// `agent_name` and sends `greeting`; it then replies `echo: <text>` to each
/// user message, and to `bye` (any case) replies `goodbye` and ends the
/// conversation with reason `agent_closed`.
#[derive(Clone, Debug)]
pub struct AutoAgent {
    pub join_after_ms: u64,
    pub agent_name: String,
    pub greeting: String,
}

impl Default for AutoAgent {
    fn default() -> Self {
        AutoAgent {
            join_after_ms: 100,
            agent_name: "Alex".into(),
            greeting: "Hi, I'm Alex. How can I help?".into(),
        }
    }
}

/// One line of the transcript sent with `POST /conversations`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub author: String,
    pub text: String,
    /// As sent (the adapter sends epoch milliseconds).
    #[serde(default)]
    pub ts: Value,
}

/// An attachment of a user or agent message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub url: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A message the adapter sent with `POST /conversations/{id}/messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    /// The message id the adapter sent (contract 0.2.0 builds), which a
    /// `receipt` event names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub text: String,
    /// `text`, `intent` or `quick_reply`.
    pub kind: String,
    pub attachments: Vec<Attachment>,
}

/// The agent currently (or last) handling a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
}

/// Everything the simulator knows about one conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationRecord {
    /// `c-<n>`.
    pub id: String,
    pub handover_id: String,
    pub session_id: String,
    pub user_id: String,
    pub channel: String,
    pub locale: Option<String>,
    pub profile: Map<String, Value>,
    /// `queued`, `active`, `cancelled`, `closed` or `ended`.
    pub status: String,
    pub transcript: Vec<TranscriptEntry>,
    pub user_messages: Vec<UserMessage>,
    /// The user's typing signals (`POST …/typing`), in order.
    pub user_typing: Vec<bool>,
    /// The `routing` object exactly as received (`null` when absent).
    pub routing: Value,
    /// The agent in the conversation, if one has joined and not left.
    pub agent: Option<AgentInfo>,
    /// The queue of the last `transferred` event.
    pub queue: Option<String>,
    /// Events emitted so far (the last `seq`).
    pub events_emitted: u64,
}

impl ConversationRecord {
    /// Whether the conversation was cancelled, closed or ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "cancelled" | "closed" | "ended")
    }
}

/// One provider API request as received (control routes are not recorded).
pub use crate::kit::RecordedRequest;

/// One webhook delivery (a duplicate is a delivery of its own).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub conversation_id: String,
    /// The last status received; `None` when no attempt got a response.
    pub status: Option<u16>,
    pub attempts: u32,
    /// Whether an attempt got a 2xx.
    pub ok: bool,
}

impl Delivery {
    /// Every finished delivery of `outbox`, in completion order.
    pub(crate) fn all(outbox: &crate::kit::Outbox) -> Vec<Delivery> {
        let deliveries = outbox.deliveries().into_iter();
        deliveries
            .map(|d| Delivery {
                event_id: d.id,
                conversation_id: d.conversation,
                status: d.status,
                attempts: d.attempts,
                ok: d.ok,
            })
            .collect()
    }
}

/// Failures of the fallible simulator calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    UnknownConversation(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownConversation(id) => write!(f, "unknown sim conversation {id:?}"),
        }
    }
}

impl std::error::Error for SimError {}
