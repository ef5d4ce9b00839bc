//! Sunshine Conversations v2 documents (`openapi.yaml`) and their mapping
//! to and from the WIT types.

use crate::settings::{MAX_TEXT, Settings};
use handover_adapter_sdk::{
    Agent, Attachment, Author, Conversation, Failure, error, events, transcript,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Metadata flag of the transcript messages the adapter posts, so that it
/// never takes its own business-authored lines for agent replies.
pub const TRANSCRIPT_FLAG: &str = "handover_transcript";
/// Sunshine's limit on a metadata object.
const MAX_METADATA_BYTES: usize = 4096;

/// Who the user is for Sunshine: `context.sunshine_user_id` (a Sunshine
/// user id), else the handover's `user_id` as the user's `externalId`.
#[derive(Serialize, Deserialize, Clone, Default, Debug, PartialEq)]
pub struct UserAuthor {
    #[serde(rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(rename = "userExternalId", skip_serializing_if = "Option::is_none")]
    pub user_external_id: Option<String>,
}

/// The Sunshine conversation and user of a handover, from the flow's
/// context: `sunshine_conversation_id` (else the session id: bots connected
/// to Sunshine use its conversation id as their session) and
/// `sunshine_user_id` (else `user_id` as external id).
pub fn identify(c: &Conversation) -> Result<(String, UserAuthor), Failure> {
    let context: Value = serde_json::from_str(&c.context).unwrap_or(Value::Null);
    let text = |key: &str| {
        context[key]
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let conversation = text("sunshine_conversation_id")
        .or_else(|| Some(c.session_id.trim().to_string()).filter(|s| !s.is_empty()))
        .ok_or_else(|| {
            error("no Sunshine conversation id: set context.sunshine_conversation_id or the session id")
        })?;
    let author = match text("sunshine_user_id") {
        Some(id) => UserAuthor {
            user_id: Some(id),
            user_external_id: None,
        },
        None if !c.user_id.is_empty() => UserAuthor {
            user_id: None,
            user_external_id: Some(c.user_id.clone()),
        },
        None => {
            return Err(error(
                "no Sunshine user: set context.sunshine_user_id or the user id",
            ));
        }
    };
    Ok((conversation, author))
}

/// `messagePost` from the user: `content` is a `textMessage`,
/// `imageMessage` or `fileMessage`.
pub fn user_post(author: &UserAuthor, content: Value) -> Value {
    let mut a = serde_json::to_value(author).expect("author");
    a["type"] = json!("user");
    json!({"author": a, "content": content})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// The user's input as message contents: the text in pieces of at most
/// 4096 characters, then one image or file message per attachment.
pub fn user_contents(text_in: &str, attachments: &[Attachment]) -> Vec<Value> {
    let mut out: Vec<Value> = if text_in.is_empty() && !attachments.is_empty() {
        Vec::new()
    } else {
        transcript::chunk_text(text_in, MAX_TEXT)
            .into_iter()
            .map(text)
            .collect()
    };
    for a in attachments {
        let kind = if a.content_type.starts_with("image/") {
            "image"
        } else {
            "file"
        };
        let mut content = json!({"type": kind, "mediaUrl": a.url});
        if let Some(name) = &a.name {
            content["altText"] = json!(name.chars().take(128).collect::<String>());
        }
        out.push(content);
    }
    out
}

/// The transcript as `messagePost`s: user lines authored by the user, the
/// others by the business under `bot_name` (agent/system lines labelled),
/// each at most `chunk` characters and flagged in `metadata`.
pub fn transcript_posts(s: &Settings, c: &Conversation, author: &UserAuthor) -> Vec<Value> {
    transcript::chunk(&c.transcript, s.transcript_chunk())
        .into_iter()
        .map(|entry| {
            let mut post = match entry.author {
                Author::User => user_post(author, text(&entry.text)),
                other => {
                    let name = match other {
                        Author::Agent => "Agent",
                        Author::System => "System",
                        _ => s.bot_name(),
                    };
                    json!({"author": {"type": "business", "displayName": name}, "content": text(&entry.text)})
                }
            };
            post["metadata"] = json!({ TRANSCRIPT_FLAG: true, "handover_id": c.handover_id });
            post
        })
        .collect()
}

/// passControl `metadata`: flat strings, numbers and booleans with the
/// handover and its routing (skills comma-separated, custom keys as given),
/// at most 4 KB.
pub fn routing_metadata(c: &Conversation) -> Result<Map<String, Value>, Failure> {
    let mut m = Map::new();
    m.insert("handover_id".into(), json!(c.handover_id));
    m.insert("channel".into(), json!(c.channel));
    m.insert("locale".into(), json!(c.locale));
    let r = &c.routing;
    if !r.skills.is_empty() {
        m.insert("skills".into(), json!(r.skills.join(",")));
    }
    if let Some(l) = &r.language {
        m.insert("language".into(), json!(l));
    }
    if let Some(p) = r.priority {
        m.insert("priority".into(), json!(p));
    }
    if let Some(q) = &r.queue {
        m.insert("queue".into(), json!(q));
    }
    for kv in &r.custom {
        m.insert(kv.key.clone(), json!(kv.value));
    }
    let size = Value::Object(m.clone()).to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(error(format!(
            "routing metadata is {size} bytes; Sunshine Conversations accepts at most {MAX_METADATA_BYTES}"
        )));
    }
    Ok(m)
}

// ---- responses and webhooks ----

/// `messagePostResponse`.
#[derive(Deserialize)]
pub struct Posted {
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// `messageListResponse`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub meta: PageMeta,
}

#[derive(Deserialize, Default)]
pub struct PageMeta {
    #[serde(default, rename = "hasMore")]
    pub has_more: bool,
}

/// A `message` (API) or `messageWebhook`.
#[derive(Deserialize)]
pub struct Message {
    pub id: String,
    #[serde(default)]
    pub author: Value,
    #[serde(default)]
    pub content: Value,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub activity: Option<Value>,
}

impl Message {
    /// Written by the business side and not a system activity nor one of
    /// the adapter's own transcript lines: an agent's reply.
    pub fn is_reply(&self) -> bool {
        let activity = self.activity.is_some()
            || self.author["subtypes"]
                .as_array()
                .is_some_and(|s| s.iter().any(|t| t == "activity"));
        let ours = self
            .metadata
            .as_ref()
            .is_some_and(|m| m[TRANSCRIPT_FLAG] == true);
        self.author["type"] == "business" && !activity && !ours
    }

    /// The agent, by display name (business authors have no id).
    pub fn agent(&self) -> Option<Agent> {
        let name = self.author["displayName"].as_str()?;
        Some(events::agent(name, name))
    }

    pub fn text(&self) -> String {
        self.content["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Image and file messages as attachments.
    pub fn attachments(&self) -> Vec<Attachment> {
        let Some(url) = self.content["mediaUrl"].as_str() else {
            return Vec::new();
        };
        let kind = self.content["type"].as_str().unwrap_or_default();
        let content_type = self.content["mediaType"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| {
                if kind == "image" {
                    "image/*".into()
                } else {
                    "application/octet-stream".into()
                }
            });
        vec![Attachment {
            url: url.into(),
            content_type,
            name: self.content["altText"].as_str().map(String::from),
        }]
    }
}

/// The v2 webhook body: `{app, webhook, events: [...]}`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Webhook {
    pub app: Value,
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub payload: Value,
}

impl Event {
    pub fn conversation(&self) -> Option<&str> {
        self.payload["conversation"]["id"].as_str()
    }

    /// The `activeSwitchboardIntegration` of the event's conversation.
    pub fn active(&self) -> Option<&Value> {
        self.payload["conversation"]
            .get("activeSwitchboardIntegration")
            .filter(|v| v.is_object())
    }
}

pub fn parse_webhook(body: &[u8]) -> Result<Webhook, Failure> {
    serde_json::from_slice(body).map_err(|e| error(format!("malformed Sunshine webhook body: {e}")))
}

/// Whether switchboard integration `si` is the one `reference` names (by
/// id, name or integration type, like passControl resolves it).
pub fn names(si: &Value, reference: &str) -> bool {
    ["id", "name", "integrationType", "integrationId"]
        .iter()
        .any(|k| si[*k].as_str() == Some(reference))
}
