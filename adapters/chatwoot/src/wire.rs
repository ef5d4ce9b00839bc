//! Chatwoot's JSON documents (Application API, `swagger.json`) and their
//! mapping to and from the WIT types. Responses are read leniently: only
//! the fields used, with the shapes both the spec and Chatwoot's views use.

use crate::settings::Settings;
use handover_adapter_sdk::v0_2::{self, Action};
use handover_adapter_sdk::{Agent, Attachment, Author, Conversation, KeyValue, events, transcript};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

// ---- requests ----

/// `POST /contacts` (`contact_create_payload`).
#[derive(Serialize)]
pub struct NewContact {
    inbox_id: u64,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    additional_attributes: Map<String, Value>,
}

impl NewContact {
    /// The contact for `c`'s user: `identifier` is the user id; profile keys
    /// `name` (or `first_name` + `last_name`), `email` and `phone`/`phone_number`
    /// (E.164) fill the contact, the others go to `additional_attributes`.
    pub fn new(inbox_id: u64, c: &Conversation) -> Self {
        let get = |k: &str| c.profile(k).map(|v| v.trim().to_string());
        let full = [get("first_name"), get("last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = get("name")
            .or((!full.is_empty()).then_some(full))
            .unwrap_or_else(|| c.user_id.clone());
        const USED: [&str; 6] = [
            "name",
            "first_name",
            "last_name",
            "email",
            "phone",
            "phone_number",
        ];
        let additional_attributes = c
            .user_profile
            .iter()
            .filter(|kv| !USED.contains(&kv.key.as_str()))
            .map(|kv| (kv.key.clone(), json!(kv.value)))
            .collect();
        NewContact {
            inbox_id,
            name,
            identifier: (!c.user_id.is_empty()).then(|| c.user_id.clone()),
            email: get("email").filter(|e| e.contains('@')),
            phone_number: get("phone_number")
                .or_else(|| get("phone"))
                .filter(|p| p.starts_with('+')),
            additional_attributes,
        }
    }
}

/// `POST /conversations` (`conversation_create_payload`).
#[derive(Serialize)]
pub struct NewConversation {
    pub source_id: String,
    pub inbox_id: u64,
    pub contact_id: u64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    pub custom_attributes: Map<String, Value>,
    pub additional_attributes: Map<String, Value>,
}

impl NewConversation {
    pub fn new(s: &Settings, c: &Conversation, contact: &ContactRef, team_id: Option<u64>) -> Self {
        let custom_attributes = map(&c.routing.custom);
        let mut additional = Map::new();
        for (k, v) in [
            ("handover_id", &c.handover_id),
            ("session_id", &c.session_id),
            ("channel", &c.channel),
            ("locale", &c.locale),
        ] {
            additional.insert(k.into(), json!(v));
        }
        if let Some(language) = &c.routing.language {
            additional.insert("language".into(), json!(language));
        }
        NewConversation {
            source_id: contact.source_id.clone(),
            inbox_id: s.inbox_id,
            contact_id: contact.id,
            status: "open",
            team_id,
            assignee_id: s.assignee_id,
            custom_attributes,
            additional_attributes: additional,
        }
    }
}

fn map(pairs: &[KeyValue]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|kv| (kv.key.clone(), json!(kv.value)))
        .collect()
}

/// `POST /conversations/{id}/messages` (`conversation_message_create_payload`).
#[derive(Serialize)]
pub struct NewMessage<'a> {
    content: &'a str,
    message_type: &'static str,
    private: bool,
    content_type: &'static str,
}

impl<'a> NewMessage<'a> {
    /// A message from the contact.
    pub fn incoming(content: &'a str) -> Self {
        NewMessage {
            content,
            message_type: "incoming",
            private: false,
            content_type: "text",
        }
    }

    /// A private note: agents see it, the contact never does, and the
    /// adapter ignores its webhook.
    pub fn note(content: &'a str) -> Self {
        NewMessage {
            content,
            message_type: "outgoing",
            private: true,
            content_type: "text",
        }
    }
}

/// Chatwoot's priority for WIT's "larger is more urgent": 1 low, 2 medium,
/// 3 high, 4 and above urgent; 0 sets none.
pub fn priority(p: u32) -> &'static str {
    match p {
        0 => "none",
        1 => "low",
        2 => "medium",
        3 => "high",
        _ => "urgent",
    }
}

/// The transcript as private notes of at most `max` characters each: a
/// header, then one `Speaker: text` line per entry (long entries split).
pub fn transcript_notes(c: &Conversation, max: usize) -> Vec<String> {
    if c.transcript.is_empty() {
        return Vec::new();
    }
    const HEADER: &str = "Conversation with the bot before the handover:";
    const LABEL: usize = "System: ".len();
    let mut notes = Vec::new();
    let mut note = HEADER.to_string();
    for entry in transcript::chunk(&c.transcript, max - LABEL) {
        let speaker = match entry.author {
            Author::User => "User",
            Author::Bot => "Bot",
            Author::Agent => "Agent",
            Author::System => "System",
        };
        let line = format!("{speaker}: {}", entry.text);
        if note.chars().count() + 1 + line.chars().count() > max {
            notes.push(std::mem::replace(&mut note, line));
        } else {
            note.push('\n');
            note.push_str(&line);
        }
    }
    notes.push(note);
    notes
}

/// What the user sent, with attachments as links (the JSON API cannot
/// upload files).
pub fn user_text(text: &str, attachments: &[Attachment]) -> String {
    let mut out = text.to_string();
    for a in attachments {
        if !out.is_empty() {
            out.push('\n');
        }
        match &a.name {
            Some(name) => out.push_str(&format!("{name}: {}", a.url)),
            None => out.push_str(&a.url),
        }
    }
    out
}

// ---- responses ----

#[derive(Deserialize)]
pub struct Id {
    pub id: u64,
}

/// `POST /conversations/{id}/messages`: the message created.
#[derive(Deserialize)]
pub struct Created {
    pub id: u64,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Value,
}

#[derive(Deserialize)]
pub struct InboxRef {
    pub id: u64,
}

#[derive(Deserialize)]
pub struct ContactInbox {
    pub source_id: String,
    pub inbox: Option<InboxRef>,
}

/// A contact as `GET /contacts/search` and `POST /contacts` show it.
#[derive(Deserialize)]
pub struct Contact {
    pub id: u64,
    pub identifier: Option<String>,
    #[serde(default)]
    pub contact_inboxes: Vec<ContactInbox>,
}

impl Contact {
    /// The source id of this contact in `inbox`.
    pub fn source_in(&self, inbox: u64) -> Option<String> {
        self.contact_inboxes
            .iter()
            .find(|ci| ci.inbox.as_ref().is_some_and(|i| i.id == inbox))
            .map(|ci| ci.source_id.clone())
    }
}

/// The contact and its source id in the endpoint's inbox.
pub struct ContactRef {
    pub id: u64,
    pub source_id: String,
}

#[derive(Deserialize)]
pub struct ContactList {
    #[serde(default)]
    pub payload: Vec<Contact>,
}

/// `POST /contacts`: Chatwoot answers `{payload: {contact, contact_inbox}}`;
/// the spec describes `{payload: [contact]}`. Both are read.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum CreatedContact {
    View { payload: CreatedView },
    Spec { payload: Vec<Contact> },
}

#[derive(Deserialize)]
pub struct CreatedView {
    contact: Contact,
    contact_inbox: Option<ContactInbox>,
}

impl CreatedContact {
    pub fn into_ref(self, inbox: u64) -> Option<ContactRef> {
        let (contact, direct) = match self {
            CreatedContact::View { payload } => (payload.contact, payload.contact_inbox),
            CreatedContact::Spec { payload } => (payload.into_iter().next()?, None),
        };
        let source_id = direct
            .map(|ci| ci.source_id)
            .or_else(|| contact.source_in(inbox))?;
        Some(ContactRef {
            id: contact.id,
            source_id,
        })
    }
}

#[derive(Deserialize)]
pub struct Team {
    pub id: u64,
    pub name: String,
}

#[derive(Deserialize)]
pub struct Members {
    #[serde(default)]
    pub payload: Vec<Member>,
}

#[derive(Deserialize)]
pub struct Member {
    pub availability_status: Option<String>,
}

/// `GET /conversations/{id}/messages`.
#[derive(Deserialize)]
pub struct MessagePage {
    #[serde(default)]
    pub payload: Vec<Message>,
}

/// A message from the API list (`message_type` an integer) or a webhook
/// (`message_type` a name).
#[derive(Deserialize)]
pub struct Message {
    pub id: u64,
    #[serde(default)]
    pub content: Option<String>,
    pub message_type: Value,
    #[serde(default)]
    pub private: bool,
    pub sender: Option<Value>,
    #[serde(default)]
    pub attachments: Vec<Value>,
    /// `text`, `input_select`, `cards`, `article`, `form`, …
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_attributes: Value,
    /// `sent`, `delivered`, `read` or `failed` (the API's `message.status`).
    #[serde(default)]
    pub status: Option<String>,
    /// Unix seconds (the API's `message.updated_at`), when given.
    #[serde(default)]
    pub updated_at: Value,
}

impl Message {
    /// An outgoing, public message: what an agent (or agent bot) says to
    /// the contact. Incoming messages, private notes and activities are not.
    pub fn is_reply(&self) -> bool {
        let outgoing = self.message_type == json!(1) || self.message_type == json!("outgoing");
        outgoing && !self.private
    }

    pub fn agent(&self) -> Option<Agent> {
        sender_agent(self.sender.as_ref()?)
    }

    /// A message from the contact (the user's side).
    pub fn is_incoming(&self) -> bool {
        self.message_type == json!(0) || self.message_type == json!("incoming")
    }

    /// How far the message got: 0 sent (or unknown), 1 delivered, 2 read.
    pub fn progress(&self) -> u8 {
        match self.status.as_deref() {
            Some("read") => 2,
            Some("delivered") => 1,
            _ => 0,
        }
    }

    /// The buttons and links of an interactive message (Chatwoot's
    /// "interactive messages"): `input_select` items (`title`, `value`) are
    /// quick replies; `cards` items' actions are links (`link`: `text`,
    /// `uri`) or quick replies (`postback`: `text`, `payload`); `article`
    /// items (`title`, `link`) are links. Other types have none.
    pub fn actions(&self) -> Vec<Action> {
        let items = self.content_attributes["items"].as_array();
        let items = items.map(Vec::as_slice).unwrap_or_default();
        let text = |v: &Value, k: &str| v[k].as_str().map(str::to_string);
        match self.content_type.as_deref() {
            Some("input_select") => items
                .iter()
                .filter_map(|i| {
                    let value = text(i, "value")?;
                    let title = text(i, "title").unwrap_or_else(|| value.clone());
                    Some(v0_2::quick_reply(title, value))
                })
                .collect(),
            Some("cards") => items
                .iter()
                .flat_map(|card| card["actions"].as_array().into_iter().flatten())
                .filter_map(|a| {
                    let title = text(a, "text").unwrap_or_default();
                    match a["type"].as_str()? {
                        "link" => Some(v0_2::link(title, text(a, "uri")?)),
                        "postback" => Some(v0_2::quick_reply(title, text(a, "payload")?)),
                        _ => None,
                    }
                })
                .collect(),
            Some("article") => items
                .iter()
                .filter_map(|i| Some(v0_2::link(text(i, "title")?, text(i, "link")?)))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn attachments(&self) -> Vec<Attachment> {
        self.attachments
            .iter()
            .filter_map(|a| {
                let url = a["data_url"].as_str()?.to_string();
                let ext = a["extension"].as_str().map(str::to_ascii_lowercase);
                Some(Attachment {
                    content_type: mime(a["file_type"].as_str(), ext.as_deref()).into(),
                    name: url
                        .rsplit('/')
                        .next()
                        .filter(|n| n.contains('.'))
                        .map(String::from),
                    url,
                })
            })
            .collect()
    }
}

/// An agent from a sender / assignee object (`type` `user` or `agent_bot`).
pub fn sender_agent(sender: &Value) -> Option<Agent> {
    let id = match &sender["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let name = sender["available_name"]
        .as_str()
        .or(sender["name"].as_str())
        .unwrap_or_default();
    match sender["type"].as_str() {
        Some("contact") => None,
        Some("agent_bot") => Some(events::agent(format!("bot:{id}"), name)),
        _ => Some(events::agent(id, name)),
    }
}

/// A MIME type for a Chatwoot attachment.
fn mime(file_type: Option<&str>, ext: Option<&str>) -> &'static str {
    match ext {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga") => "audio/ogg",
        Some("wav") => "audio/wav",
        Some("mp4") => "video/mp4",
        Some("txt") => "text/plain",
        _ => match file_type {
            Some("image") => "image/*",
            Some("audio") => "audio/*",
            Some("video") => "video/*",
            _ => "application/octet-stream",
        },
    }
}
