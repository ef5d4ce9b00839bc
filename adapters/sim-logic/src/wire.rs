//! The sim provider's JSON documents that need no contract types (see
//! `sim/PROTOCOL.md`): responses, provider events and their mapping to
//! [`Normalized`] events. Request bodies built from the contract's types
//! live in `sim-adapter`.

use crate::{EndReason, Error, Normalized};
use serde::{Deserialize, Serialize};

/// `POST /conversations` response body.
#[derive(Deserialize)]
pub struct Created {
    pub id: String,
    pub queue_position: Option<u32>,
    pub estimated_wait_seconds: Option<u32>,
}

/// An attachment, both directions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub url: String,
    pub content_type: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// The body `{}` of `cancel` and `close`.
#[derive(Serialize)]
pub struct Empty {}

/// `GET /availability` response body.
#[derive(Deserialize)]
pub struct Availability {
    pub agents_available: bool,
    pub open: bool,
    pub estimated_wait_seconds: Option<u32>,
}

/// `GET /conversations/{id}/events?after=N` response body.
#[derive(Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
}

/// An agent as the provider names one.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: String,
    pub name: String,
}

/// One provider event: a webhook body or an element of an [`EventPage`].
/// Serializable so events that arrive early can wait in the state.
#[derive(Deserialize, Serialize, Clone, Debug)]
pub struct Event {
    pub event_id: String,
    pub conversation_id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    position: Option<u32>,
    estimated_wait_seconds: Option<u32>,
    agent: Option<Agent>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    typing: Option<bool>,
    to_queue: Option<String>,
    to_agent: Option<Agent>,
    reason: Option<String>,
    /// `agent_message`: buttons and links (contract 0.2.0 builds show them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    /// `returned_to_bot`: a JSON object for the bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variables: Option<serde_json::Value>,
    /// `returned_to_bot`: why, in the agent's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// `wrap_up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resolution_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    /// `survey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scale_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// `receipt`: the ids of the user's messages and `delivered` / `read`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    message_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<u64>,
    /// `ticket`: the provider's ticket for the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<Ticket>,
}

/// A button or a link sent with an agent's message.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    QuickReply { title: String, payload: String },
    Link { title: String, url: String },
}

/// The provider's ticket for a conversation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
}

impl Event {
    /// Parses a webhook body.
    pub fn parse_webhook(body: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(body).map_err(|e| Error(format!("malformed webhook body: {e}")))
    }

    /// The normalized event; `None` for types this adapter does not know.
    pub fn normalize(&self) -> Result<Option<Normalized>, Error> {
        let event = match self.kind.as_str() {
            "queued" => Normalized::Queued {
                position: self.position,
                estimated_wait_seconds: self.estimated_wait_seconds,
            },
            "agent_joined" => Normalized::AgentJoined(self.agent()?),
            "agent_message" => Normalized::AgentMessage {
                agent: self.agent.clone(),
                text: self.text.clone().unwrap_or_default(),
                attachments: self.attachments.clone(),
                actions: self.actions.clone(),
            },
            "returned_to_bot" => Normalized::ReturnedToBot {
                variables: match &self.variables {
                    None => serde_json::json!({}),
                    Some(v @ serde_json::Value::Object(_)) => v.clone(),
                    Some(_) => {
                        return Err(Error(format!(
                            "sim event {} (returned_to_bot): `variables` is not an object",
                            self.event_id
                        )));
                    }
                },
                note: self.note.clone(),
            },
            "wrap_up" => Normalized::WrapUp {
                disposition: self.disposition.clone(),
                resolution_code: self.resolution_code.clone(),
                notes: self.notes.clone(),
            },
            "survey" => Normalized::Survey {
                score: self.score,
                scale_max: self.scale_max.ok_or_else(|| self.missing("scale_max"))?,
                comment: self.comment.clone(),
            },
            "receipt" => Normalized::Receipt {
                message_ids: self.message_ids.clone(),
                read: match self.status.as_deref() {
                    Some("delivered") => false,
                    Some("read") => true,
                    _ => return Err(self.missing("status (delivered or read)")),
                },
                ts: self.ts,
            },
            "ticket" => {
                Normalized::Ticket(self.ticket.clone().ok_or_else(|| self.missing("ticket"))?)
            }
            "agent_typing" => {
                Normalized::AgentTyping(self.typing.ok_or_else(|| self.missing("typing"))?)
            }
            // The provider omits `agent` when no agent ever joined.
            "agent_left" => Normalized::AgentLeft(self.agent().unwrap_or_else(|_| Agent {
                id: String::new(),
                name: String::new(),
            })),
            // `agent` on a transfer is the agent handing over, not the target.
            "transferred" => Normalized::Transferred {
                to_queue: self.to_queue.clone(),
                to_agent: self.to_agent.clone(),
            },
            "ended" => Normalized::Ended(match self.reason.as_deref() {
                Some("agent_closed") => EndReason::AgentClosed,
                Some("agent_left") => EndReason::AgentLeft,
                Some("provider_closed") => EndReason::ProviderClosed,
                Some("no_agent") => EndReason::NoAgentAvailable,
                Some(other) => EndReason::Other(other.to_string()),
                None => EndReason::Other("unspecified".into()),
            }),
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    fn agent(&self) -> Result<Agent, Error> {
        self.agent.clone().ok_or_else(|| self.missing("agent"))
    }

    fn missing(&self, field: &str) -> Error {
        Error(format!(
            "sim event {} ({}) has no `{field}`",
            self.event_id, self.kind
        ))
    }
}
