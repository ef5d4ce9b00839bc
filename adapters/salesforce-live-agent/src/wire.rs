//! Live Agent's JSON: the session, `ChasitorInit`, chat messages, the
//! long-polled `Messages` batches (parsed into [`Incoming`]) and visitor
//! availability.

use crate::settings::Settings;
use handover_adapter_sdk::transcript::pack;
use handover_adapter_sdk::{Conversation, KeyValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The pre-chat detail carrying the handover id (for correlation).
pub const HANDOVER_ID_LABEL: &str = "Handover ID";

/// Most transcript details in one `ChasitorInit`.
const MAX_TRANSCRIPT_DETAILS: usize = 20;

/// `GET System/SessionId` response.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub key: String,
    pub affinity_token: String,
    pub id: String,
}

/// `POST Chasitor/ChasitorInit` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChasitorInit<'a> {
    organization_id: &'a str,
    deployment_id: &'a str,
    button_id: &'a str,
    session_id: &'a str,
    user_agent: &'static str,
    language: &'a str,
    screen_resolution: &'static str,
    visitor_name: &'a str,
    prechat_details: Vec<PrechatDetail>,
    prechat_entities: Vec<Value>,
    receive_queue_updates: bool,
    is_post: bool,
}

/// One pre-chat detail: shown to the agent, saved nowhere.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrechatDetail {
    pub label: String,
    pub value: String,
    entity_maps: Vec<Value>,
    transcript_fields: Vec<String>,
    display_to_agent: bool,
}

impl PrechatDetail {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        PrechatDetail {
            label: label.into(),
            value: value.into(),
            entity_maps: Vec::new(),
            transcript_fields: Vec::new(),
            display_to_agent: true,
        }
    }
}

impl<'a> ChasitorInit<'a> {
    pub fn new(s: &'a Settings, session_id: &'a str, c: &'a Conversation) -> Self {
        let r = &c.routing;
        let language = r.language.as_deref().unwrap_or(&c.locale);
        let visitor_name = profile(&c.user_profile, "name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&s.visitor_name);
        ChasitorInit {
            organization_id: &s.organization_id,
            deployment_id: &s.deployment_id,
            button_id: s.button_for(r.queue.as_deref()),
            session_id,
            user_agent: "handover-host",
            language,
            screen_resolution: "",
            visitor_name,
            prechat_details: prechat_details(s, c),
            prechat_entities: Vec::new(),
            receive_queue_updates: true,
            is_post: true,
        }
    }
}

fn profile<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key.eq_ignore_ascii_case(key))
        .map(|kv| kv.value.as_str())
}

/// What the agent sees before accepting: the handover id, the routing
/// (custom pairs as they are, then skills, priority and a queue no button
/// is mapped to) and the bot transcript packed into details of at most
/// `transcript_chunk` characters.
pub fn prechat_details(s: &Settings, c: &Conversation) -> Vec<PrechatDetail> {
    let r = &c.routing;
    let mut details = vec![PrechatDetail::new(HANDOVER_ID_LABEL, &c.handover_id)];
    details.extend(
        r.custom
            .iter()
            .map(|kv| PrechatDetail::new(&kv.key, &kv.value)),
    );
    if !r.skills.is_empty() {
        details.push(PrechatDetail::new("Skills", r.skills.join(", ")));
    }
    if let Some(p) = r.priority {
        details.push(PrechatDetail::new("Priority", p.to_string()));
    }
    if let Some(q) = &r.queue
        && !s.queue_buttons.contains_key(q)
    {
        details.push(PrechatDetail::new("Queue", q));
    }
    let parts = pack(&c.transcript, s.transcript_chunk, MAX_TRANSCRIPT_DETAILS);
    let n = parts.len();
    details.extend(parts.into_iter().enumerate().map(|(i, text)| {
        let label = match n {
            1 => "Transcript".to_string(),
            _ => format!("Transcript ({}/{n})", i + 1),
        };
        PrechatDetail::new(label, text)
    }));
    details
}

/// `POST Chasitor/ChatMessage` body.
#[derive(Serialize)]
pub struct ChatMessage<'a> {
    pub text: &'a str,
}

/// `POST Chasitor/ChatEnd` body: the visitor ends the chat.
#[derive(Serialize)]
pub struct ChatEnd {
    pub reason: &'static str,
}

/// A `System/Messages` batch (HTTP 200).
#[derive(Deserialize, Default)]
pub struct Messages {
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The batch's sequence; sent back as `ack` on the next request.
    pub sequence: Option<i64>,
}

#[derive(Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message: Value,
}

/// A human agent as Live Agent names one (the SDK's state type).
pub use handover_adapter_sdk::state::AgentRef;

/// What one message of a batch says.
#[derive(Debug)]
pub enum Incoming {
    Queued {
        position: Option<u32>,
        wait_seconds: Option<u32>,
    },
    /// `ChatRequestFail`: no agent will take the chat.
    RequestFailed(String),
    Established(AgentRef),
    Text {
        agent: Option<AgentRef>,
        text: String,
    },
    Typing(bool),
    Transferred(AgentRef),
    AgentDisconnected,
    Ended(String),
    /// A message this adapter passes over, and why (for the log).
    Ignored(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Body {
    queue_position: Option<Value>,
    position: Option<Value>,
    estimated_wait_time: Option<Value>,
    name: Option<String>,
    user_id: Option<String>,
    agent_id: Option<String>,
    text: Option<String>,
    reason: Option<String>,
}

/// A non-negative whole number sent as a number or a numeric string.
fn count(v: &Option<Value>) -> Option<u32> {
    match v.as_ref()? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn body<T: DeserializeOwned + Default>(m: &Message) -> Result<T, String> {
    match &m.message {
        Value::Null => Ok(T::default()),
        v => serde_json::from_value(v.clone()).map_err(|e| format!("malformed {}: {e}", m.kind)),
    }
}

impl Message {
    pub fn parse(&self) -> Incoming {
        let b: Body = match body(self) {
            Ok(b) => b,
            Err(why) => return Incoming::Ignored(why),
        };
        let agent = |id: &Option<String>| AgentRef {
            id: id.clone().unwrap_or_default(),
            name: b.name.clone().unwrap_or_else(|| "Agent".into()),
        };
        match self.kind.as_str() {
            "ChatRequestSuccess" | "QueueUpdate" => Incoming::Queued {
                position: count(&b.queue_position).or(count(&b.position)),
                wait_seconds: count(&b.estimated_wait_time),
            },
            "ChatRequestFail" => {
                Incoming::RequestFailed(b.reason.unwrap_or_else(|| "unspecified".into()))
            }
            "ChatEstablished" => Incoming::Established(agent(&b.user_id)),
            "ChatMessage" => Incoming::Text {
                agent: b
                    .name
                    .is_some()
                    .then(|| agent(&b.agent_id.clone().or(b.user_id.clone()))),
                text: b.text.clone().unwrap_or_default(),
            },
            "AgentTyping" => Incoming::Typing(true),
            "AgentNotTyping" => Incoming::Typing(false),
            "ChatTransferred" => Incoming::Transferred(agent(&b.user_id)),
            "AgentDisconnect" => Incoming::AgentDisconnected,
            "ChatEnded" => Incoming::Ended(b.reason.unwrap_or_else(|| "agent".into())),
            other => Incoming::Ignored(format!("message type {other}")),
        }
    }
}

/// `GET Visitor/Availability` response.
#[derive(Deserialize, Default)]
pub struct AvailabilityResponse {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize, Default)]
struct AvailabilityBody {
    #[serde(default)]
    results: Vec<AvailabilityResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailabilityResult {
    id: String,
    /// Absent when no agent is available.
    #[serde(default)]
    is_available: bool,
    estimated_wait_time: Option<Value>,
}

/// Whether `button` is available, and the estimated wait; `None` when the
/// response does not mention the button.
pub fn button_availability(r: &AvailabilityResponse, button: &str) -> Option<(bool, Option<u32>)> {
    // Ids come back in 15- or 18-character form: compare the first 15.
    let short = |id: &str| id.chars().take(15).collect::<String>();
    r.messages
        .iter()
        .filter(|m| m.kind == "Availability")
        .filter_map(|m| body::<AvailabilityBody>(m).ok())
        .flat_map(|b| b.results)
        .find(|res| short(&res.id) == short(button))
        .map(|res| (res.is_available, count(&res.estimated_wait_time)))
}
