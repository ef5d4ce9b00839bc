//! MIAW's JSON: request bodies of the Messaging API v2 and the server-sent
//! events, parsed into [`Incoming`] (what happened, before the state decides
//! which normalized events it means).

use crate::settings::Settings;
use handover_adapter_sdk::v0_2::{self, Action};
use handover_adapter_sdk::{Conversation, Failure, error};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `POST …/authorization/unauthenticated/access-token` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest<'a> {
    org_id: &'a str,
    es_developer_name: &'a str,
    capabilities_version: &'a str,
    platform: &'a str,
    context: TokenContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenContext {
    app_name: &'static str,
    client_version: &'static str,
}

impl<'a> TokenRequest<'a> {
    pub fn new(s: &'a Settings) -> Self {
        TokenRequest {
            org_id: &s.org_id,
            es_developer_name: &s.es_developer_name,
            capabilities_version: &s.capabilities_version,
            platform: &s.platform,
            context: TokenContext {
                app_name: "handover-host",
                client_version: env!("CARGO_PKG_VERSION"),
            },
        }
    }
}

/// The access-token response (other fields are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub access_token: String,
    /// Where the event stream of this new identity starts (string or number).
    #[serde(default)]
    pub last_event_id: Option<Value>,
}

impl Token {
    pub fn last_event_id(&self) -> String {
        match &self.last_event_id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }
}

/// `POST /iamessage/api/v2/conversation` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewConversation<'a> {
    conversation_id: &'a str,
    es_developer_name: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    routing_attributes: BTreeMap<String, String>,
}

impl<'a> NewConversation<'a> {
    pub fn new(s: &'a Settings, conversation_id: &'a str, c: &Conversation) -> Self {
        NewConversation {
            conversation_id,
            es_developer_name: &s.es_developer_name,
            routing_attributes: routing_attributes(s, c),
        }
    }
}

/// The handover's routing as hidden pre-chat fields: every `routing.custom`
/// pair as it is, then skills / language / priority / queue under the names
/// the settings give them, and the handover id if a field is named for it
/// (a custom pair of the same name wins).
pub fn routing_attributes(s: &Settings, c: &Conversation) -> BTreeMap<String, String> {
    let r = &c.routing;
    let mut out = r.custom_map();
    let f = &s.routing_fields;
    let language = r.language.clone().or_else(|| {
        let locale = c.locale.trim();
        (!locale.is_empty()).then(|| locale.to_string())
    });
    let named = [
        (
            &f.skills,
            (!r.skills.is_empty()).then(|| r.skills.join(",")),
        ),
        (&f.language, language),
        (&f.priority, r.priority.map(|p| p.to_string())),
        (&f.queue, r.queue.clone()),
        (&f.handover_id, Some(c.handover_id.clone())),
    ];
    for (name, value) in named {
        if let (Some(name), Some(value)) = (name, value) {
            out.entry(name.clone()).or_insert(value);
        }
    }
    out
}

/// `POST /iamessage/api/v2/conversation/{id}/message` body: a text message.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage<'a> {
    message: MessageBody<'a>,
    es_developer_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageBody<'a> {
    id: &'a str,
    message_type: &'static str,
    static_content: StaticText<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StaticText<'a> {
    format_type: &'static str,
    text: &'a str,
}

impl<'a> NewMessage<'a> {
    pub fn text(s: &'a Settings, id: &'a str, text: &'a str) -> Self {
        NewMessage {
            message: MessageBody {
                id,
                message_type: "StaticContentMessage",
                static_content: StaticText {
                    format_type: "Text",
                    text,
                },
            },
            es_developer_name: &s.es_developer_name,
        }
    }
}

/// `POST /iamessage/api/v2/conversation/{id}/entry` body: the end user's
/// typing indicator (`TypingStartedIndicator` / `TypingStoppedIndicator`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEntry<'a> {
    entry_type: &'static str,
    id: &'a str,
}

impl<'a> NewEntry<'a> {
    pub fn typing(on: bool, id: &'a str) -> Self {
        NewEntry {
            entry_type: if on {
                "TypingStartedIndicator"
            } else {
                "TypingStoppedIndicator"
            },
            id,
        }
    }
}

// ---- server-sent events ----

/// The `data` of a conversation event.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EventData {
    conversation_id: Option<String>,
    conversation_entry: Option<Entry>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    sender_display_name: Option<String>,
    /// A JSON document serialised as a string (sometimes sent as an object).
    entry_payload: Option<Value>,
    #[serde(default)]
    sender: Participant,
    /// Salesforce records of the conversation (the MessagingSession).
    #[serde(default)]
    related_records: Vec<Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Participant {
    role: Option<String>,
    subject: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MessagePayload {
    abstract_message: Option<AbstractMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbstractMessage {
    message_type: Option<String>,
    static_content: Option<StaticContent>,
    /// A `ChoicesMessage`'s buttons or quick replies.
    choices: Option<Choices>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticContent {
    format_type: Option<String>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<FileAttachment>,
    /// `RichLink`: the link and its title.
    link_item: Option<LinkItem>,
    /// `WebView`: the page and its title.
    url: Option<String>,
    title: Option<TitleItem>,
}

/// `ChoicesMessage` content (`formatType` `Buttons`, `QuickReplies`, …).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Choices {
    format_type: Option<String>,
    text: Option<String>,
    #[serde(default)]
    option_items: Vec<OptionItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptionItem {
    option_identifier: Option<String>,
    title_item: Option<TitleItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitleItem {
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkItem {
    url: Option<String>,
    title_item: Option<TitleItem>,
}

/// `DeliveryAcknowledgement` / `ReadAcknowledgement` payloads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AckPayload {
    acknowledged_conversation_entry_identifier: Option<String>,
    acknowledgement_timestamp: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileAttachment {
    name: Option<String>,
    mime_type: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ParticipantPayload {
    #[serde(default)]
    entries: Vec<ParticipantEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParticipantEntry {
    operation: String,
    display_name: Option<String>,
    #[serde(default)]
    participant: Participant,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RoutingPayload {
    routing_type: Option<String>,
    failure_type: Option<String>,
    failure_reason: Option<String>,
    estimated_wait_time: Option<EstimatedWait>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EstimatedWait {
    estimated_wait_time_in_seconds: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionPayload {
    session_status: Option<String>,
}

/// A human agent as MIAW names one: the participant's subject and display
/// name (the SDK's state type).
pub use handover_adapter_sdk::state::AgentRef;

/// What one server-sent event says, for the conversation at hand.
#[derive(Debug)]
pub enum Incoming {
    /// Routing succeeded (or was requested); the estimated wait if known.
    Routed {
        wait_seconds: Option<u32>,
    },
    /// Routing failed: nobody will take the conversation.
    RoutingFailed {
        reason: String,
    },
    /// A transfer to another queue or agent began.
    TransferStarted,
    AgentJoined(AgentRef),
    AgentLeft(AgentRef),
    AgentText {
        agent: AgentRef,
        text: String,
        attachments: Vec<handover_adapter_sdk::Attachment>,
        /// Buttons / quick replies (payload: the option's identifier) and links.
        actions: Vec<Action>,
    },
    AgentTyping(bool),
    /// The agent's side acknowledged the end user's entry `entry_id`:
    /// delivered, or read (`read`).
    Acknowledged {
        entry_id: String,
        read: bool,
        timestamp_ms: Option<u64>,
    },
    /// The MessagingSession record the conversation entry names.
    SessionRecord(String),
    /// `CONVERSATION_CLOSE_CONVERSATION`.
    Closed,
    /// `CONVERSATION_SESSION_STATUS_CHANGED` to `Ended`.
    SessionEnded,
    /// An event this adapter passes over, and why (for the log).
    Ignored(String),
}

/// Roles whose participants are human agents (supervisors only watch).
fn is_agent(role: Option<&str>) -> bool {
    role.is_some_and(|r| r.eq_ignore_ascii_case("agent"))
}

/// Parses one event of `conversation_id`'s stream; `None` for events of
/// other conversations, of the end user (echoes) and of kinds this adapter
/// does not act on. Malformed data is a failure (the poll is retried).
pub fn parse_event(
    name: &str,
    data: &str,
    conversation_id: &str,
) -> Result<Vec<Incoming>, Failure> {
    let known = [
        "CONVERSATION_MESSAGE",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_ROUTING_RESULT",
        "CONVERSATION_TYPING_STARTED_INDICATOR",
        "CONVERSATION_TYPING_STOPPED_INDICATOR",
        "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
        "CONVERSATION_READ_ACKNOWLEDGEMENT",
        "CONVERSATION_CLOSE_CONVERSATION",
        "CONVERSATION_SESSION_STATUS_CHANGED",
    ];
    if !known.contains(&name) {
        // New event types appear over time; MIAW asks clients to ignore them.
        return Ok(Vec::new());
    }
    let d: EventData = serde_json::from_str(data)
        .map_err(|e| error(format!("malformed MIAW {name} event: {e}")))?;
    if let Some(id) = &d.conversation_id
        && !id.eq_ignore_ascii_case(conversation_id)
    {
        return Ok(vec![Incoming::Ignored(format!(
            "{name} of another conversation {id}"
        ))]);
    }
    let entry = d.conversation_entry.unwrap_or_default();
    let sender_agent = || AgentRef {
        id: entry.sender.subject.clone().unwrap_or_default(),
        name: entry
            .sender_display_name
            .clone()
            .unwrap_or_else(|| "Agent".into()),
    };
    let from_agent = is_agent(entry.sender.role.as_deref());
    let from_end_user = entry
        .sender
        .role
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("enduser"));
    let mut incoming: Vec<Incoming> = session_record(&entry.related_records)
        .map(Incoming::SessionRecord)
        .into_iter()
        .collect();
    incoming.extend(match name {
        "CONVERSATION_MESSAGE" if from_agent => {
            let p: MessagePayload = payload(name, &entry.entry_payload)?;
            match message_content(p) {
                Ok(c) => vec![Incoming::AgentText {
                    agent: sender_agent(),
                    text: c.text,
                    attachments: c.attachments,
                    actions: c.actions,
                }],
                Err(why) => vec![Incoming::Ignored(why)],
            }
        }
        // Acknowledgements of the agent's messages by the end user (this
        // adapter sends none) are not receipts of the user's messages.
        "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT" | "CONVERSATION_READ_ACKNOWLEDGEMENT"
            if !from_end_user =>
        {
            let p: AckPayload = payload(name, &entry.entry_payload)?;
            match p.acknowledged_conversation_entry_identifier {
                Some(entry_id) if !entry_id.is_empty() => vec![Incoming::Acknowledged {
                    entry_id,
                    read: name == "CONVERSATION_READ_ACKNOWLEDGEMENT",
                    timestamp_ms: p.acknowledgement_timestamp,
                }],
                _ => vec![Incoming::Ignored(format!(
                    "{name} without acknowledgedConversationEntryIdentifier"
                ))],
            }
        }
        "CONVERSATION_TYPING_STARTED_INDICATOR" if from_agent => vec![Incoming::AgentTyping(true)],
        "CONVERSATION_TYPING_STOPPED_INDICATOR" if from_agent => {
            vec![Incoming::AgentTyping(false)]
        }
        "CONVERSATION_PARTICIPANT_CHANGED" => {
            let p: ParticipantPayload = payload(name, &entry.entry_payload)?;
            p.entries
                .into_iter()
                .filter(|e| is_agent(e.participant.role.as_deref()))
                .filter_map(|e| {
                    let agent = AgentRef {
                        id: e.participant.subject.unwrap_or_default(),
                        name: e.display_name.unwrap_or_else(|| "Agent".into()),
                    };
                    match e.operation.to_ascii_lowercase().as_str() {
                        "add" => Some(Incoming::AgentJoined(agent)),
                        "remove" => Some(Incoming::AgentLeft(agent)),
                        _ => None,
                    }
                })
                .collect()
        }
        "CONVERSATION_ROUTING_RESULT" => {
            let p: RoutingPayload = payload(name, &entry.entry_payload)?;
            let failed = p
                .failure_type
                .as_deref()
                .is_some_and(|f| !f.eq_ignore_ascii_case("none"));
            let transfer = p
                .routing_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("transfer"));
            if failed {
                let reason = p
                    .failure_reason
                    .or(p.failure_type)
                    .unwrap_or_else(|| "routing failed".into());
                vec![Incoming::RoutingFailed { reason }]
            } else if transfer {
                vec![Incoming::TransferStarted]
            } else {
                let wait_seconds = p
                    .estimated_wait_time
                    .and_then(|w| w.estimated_wait_time_in_seconds)
                    .and_then(|s| u32::try_from(s).ok());
                vec![Incoming::Routed { wait_seconds }]
            }
        }
        "CONVERSATION_CLOSE_CONVERSATION" => vec![Incoming::Closed],
        "CONVERSATION_SESSION_STATUS_CHANGED" => {
            let p: SessionPayload = payload(name, &entry.entry_payload)?;
            match p.session_status.as_deref() {
                Some(s) if s.eq_ignore_ascii_case("ended") => vec![Incoming::SessionEnded],
                _ => Vec::new(),
            }
        }
        _ => Vec::new(), // end-user echoes, bot and system entries
    });
    Ok(incoming)
}

/// The MessagingSession among an entry's `relatedRecords` (record ids of
/// that object start with `0Mw`; an entry may name it as a string or as an
/// object with an `id`).
fn session_record(records: &[Value]) -> Option<String> {
    records.iter().find_map(|r| {
        let id = match r {
            Value::String(s) => s.as_str(),
            Value::Object(o) => o.get("id").or_else(|| o.get("recordId"))?.as_str()?,
            _ => return None,
        };
        let ok = id.starts_with("0Mw")
            && matches!(id.len(), 15 | 18)
            && id.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| id.to_string())
    })
}

/// Parses `entryPayload`, a JSON document usually serialised into a string.
fn payload<T: DeserializeOwned + Default>(event: &str, raw: &Option<Value>) -> Result<T, Failure> {
    let parsed = match raw {
        None | Some(Value::Null) => return Ok(T::default()),
        Some(Value::String(text)) => serde_json::from_str(text),
        Some(other) => serde_json::from_value(other.clone()),
    };
    parsed.map_err(|e| error(format!("malformed entryPayload in MIAW {event} event: {e}")))
}

/// What an agent message carries for the user.
pub struct Content {
    pub text: String,
    pub attachments: Vec<handover_adapter_sdk::Attachment>,
    pub actions: Vec<Action>,
}

fn title_of(t: &Option<TitleItem>) -> Option<String> {
    t.as_ref()
        .and_then(|t| t.title.clone())
        .filter(|t| !t.trim().is_empty())
}

/// Text, files and actions of an agent message, or why there are none:
/// `StaticContentMessage` (`Text`, `Attachments`, `RichLink`, `WebView`)
/// and `ChoicesMessage` (`Buttons`, `QuickReplies`: each option a quick
/// reply whose payload is its `optionIdentifier`); other kinds (forms, …)
/// are passed over.
fn message_content(p: MessagePayload) -> Result<Content, String> {
    let message = p
        .abstract_message
        .ok_or("an agent message without abstractMessage")?;
    let mut out = Content {
        text: String::new(),
        attachments: Vec::new(),
        actions: Vec::new(),
    };
    let format = if let Some(choices) = message.choices {
        out.text = choices.text.unwrap_or_default();
        for item in choices.option_items {
            let title = title_of(&item.title_item);
            let payload = item
                .option_identifier
                .filter(|id| !id.is_empty())
                .or_else(|| title.clone());
            if let (Some(title), Some(payload)) = (title, payload) {
                out.actions.push(v0_2::quick_reply(title, payload));
            }
        }
        choices.format_type
    } else if let Some(content) = message.static_content {
        out.attachments = content
            .attachments
            .into_iter()
            .filter_map(|a| {
                Some(handover_adapter_sdk::Attachment {
                    url: a.url?,
                    content_type: a
                        .mime_type
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    name: a.name,
                })
            })
            .collect();
        if let Some(link) = &content.link_item
            && let Some(url) = link.url.clone().filter(|u| !u.is_empty())
        {
            let title = title_of(&link.title_item).unwrap_or_else(|| url.clone());
            out.actions.push(v0_2::link(title, url));
        }
        if let Some(url) = content.url.clone().filter(|u| !u.is_empty()) {
            let title = title_of(&content.title).unwrap_or_else(|| url.clone());
            out.actions.push(v0_2::link(title, url));
        }
        out.text = content.text.unwrap_or_default();
        content.format_type
    } else {
        return Err(format!(
            "an agent message of type {:?}",
            message.message_type
        ));
    };
    if out.text.is_empty() && out.attachments.is_empty() && out.actions.is_empty() {
        return Err(format!(
            "an agent message of format {format:?} without text"
        ));
    }
    Ok(out)
}
