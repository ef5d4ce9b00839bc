//! The sim provider's JSON documents (see `PROTOCOL.md`) and their mapping
//! to and from the WIT types.

use handover_adapter_sdk::transcript;
use handover_adapter_sdk::{
    Author, Conversation, EndReason, Failure, InputKind, KeyValue, UserInput, error, events, log,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /conversations` request body.
#[derive(Serialize)]
pub struct NewConversation<'a> {
    handover_id: &'a str,
    session_id: &'a str,
    user_id: &'a str,
    channel: &'a str,
    locale: &'a str,
    profile: BTreeMap<&'a str, &'a str>,
    transcript: Vec<TranscriptLine>,
    routing: Routing<'a>,
}

#[derive(Serialize)]
struct TranscriptLine {
    author: &'static str,
    text: String,
    ts: u64,
}

#[derive(Serialize)]
struct Routing<'a> {
    skills: &'a [String],
    language: Option<&'a str>,
    priority: Option<u32>,
    queue: Option<&'a str>,
    custom: BTreeMap<&'a str, &'a str>,
}

impl<'a> NewConversation<'a> {
    /// The request for `c`, transcript entries split to `chunk` characters.
    pub fn new(c: &'a Conversation, chunk: usize) -> Self {
        let transcript = transcript::chunk(&c.transcript, chunk)
            .into_iter()
            .map(|entry| TranscriptLine {
                author: match entry.author {
                    Author::User => "user",
                    Author::Bot => "bot",
                    Author::Agent => "agent",
                    Author::System => "system",
                },
                text: entry.text,
                ts: entry.timestamp_ms,
            })
            .collect();
        let r = &c.routing;
        NewConversation {
            handover_id: &c.handover_id,
            session_id: &c.session_id,
            user_id: &c.user_id,
            channel: &c.channel,
            locale: &c.locale,
            profile: map(&c.user_profile),
            transcript,
            routing: Routing {
                skills: &r.skills,
                language: r.language.as_deref(),
                priority: r.priority,
                queue: r.queue.as_deref(),
                custom: map(&r.custom),
            },
        }
    }
}

fn map(pairs: &[KeyValue]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect()
}

/// `POST /conversations` response body.
#[derive(Deserialize)]
pub struct Created {
    pub id: String,
    pub queue_position: Option<u32>,
    pub estimated_wait_seconds: Option<u32>,
}

/// `POST /conversations/{id}/messages` request body.
#[derive(Serialize)]
pub struct NewMessage<'a> {
    text: &'a str,
    kind: &'static str,
    attachments: Vec<Attachment>,
}

impl<'a> NewMessage<'a> {
    pub fn new(input: &'a UserInput) -> Self {
        NewMessage {
            text: &input.text,
            kind: match input.kind {
                InputKind::Text => "text",
                InputKind::Intent => "intent",
                InputKind::QuickReply => "quick_reply",
            },
            attachments: input.attachments.iter().map(Attachment::from).collect(),
        }
    }
}

/// An attachment, both directions.
#[derive(Serialize, Deserialize, Clone)]
pub struct Attachment {
    url: String,
    content_type: String,
    #[serde(default)]
    name: Option<String>,
}

impl From<&handover_adapter_sdk::Attachment> for Attachment {
    fn from(a: &handover_adapter_sdk::Attachment) -> Self {
        Attachment {
            url: a.url.clone(),
            content_type: a.content_type.clone(),
            name: a.name.clone(),
        }
    }
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

#[derive(Deserialize, Serialize, Clone)]
struct Agent {
    id: String,
    name: String,
}

/// One provider event: a webhook body or an element of an [`EventPage`].
/// Serializable so events that arrive early can wait in the state.
#[derive(Deserialize, Serialize, Clone)]
pub struct Event {
    pub event_id: String,
    pub conversation_id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    kind: String,
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
}

impl Event {
    /// Parses a webhook body.
    pub fn parse_webhook(body: &[u8]) -> Result<Self, Failure> {
        serde_json::from_slice(body).map_err(|e| error(format!("malformed webhook body: {e}")))
    }

    /// The normalized event; `None` (logged) for types this adapter does not know.
    pub fn to_event(&self) -> Result<Option<handover_adapter_sdk::Event>, Failure> {
        let event = match self.kind.as_str() {
            "queued" => events::queued(self.position, self.estimated_wait_seconds),
            "agent_joined" => events::agent_joined(self.agent()?),
            "agent_message" => events::agent_message(
                self.agent.as_ref().map(|a| events::agent(&a.id, &a.name)),
                self.text.clone().unwrap_or_default(),
                self.attachments.iter().map(Attachment::to_wit).collect(),
            ),
            "agent_typing" => events::typing(self.typing.ok_or_else(|| self.missing("typing"))?),
            // The provider omits `agent` when no agent ever joined.
            "agent_left" => {
                events::agent_left(self.agent().unwrap_or_else(|_| events::agent("", "")))
            }
            // `agent` on a transfer is the agent handing over, not the target.
            "transferred" => events::transferred(
                self.to_queue.clone(),
                self.to_agent
                    .as_ref()
                    .map(|a| events::agent(&a.id, &a.name)),
            ),
            "ended" => events::ended(match self.reason.as_deref() {
                Some("agent_closed") => EndReason::AgentClosed,
                Some("agent_left") => EndReason::AgentLeft,
                Some("provider_closed") => EndReason::ProviderClosed,
                Some("no_agent") => EndReason::NoAgentAvailable,
                Some(other) => EndReason::Other(other.to_string()),
                None => EndReason::Other("unspecified".into()),
            }),
            other => {
                log::warn(&format!(
                    "ignoring sim event {} of unknown type {other:?}",
                    self.event_id
                ));
                return Ok(None);
            }
        };
        Ok(Some(event))
    }

    fn agent(&self) -> Result<handover_adapter_sdk::Agent, Failure> {
        let agent = self.agent.as_ref().ok_or_else(|| self.missing("agent"))?;
        Ok(events::agent(&agent.id, &agent.name))
    }

    fn missing(&self, field: &str) -> Failure {
        error(format!(
            "sim event {} ({}) has no `{field}`",
            self.event_id, self.kind
        ))
    }
}

impl Attachment {
    fn to_wit(&self) -> handover_adapter_sdk::Attachment {
        handover_adapter_sdk::Attachment {
            url: self.url.clone(),
            content_type: self.content_type.clone(),
            name: self.name.clone(),
        }
    }
}
