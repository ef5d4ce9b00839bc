//! Sunshine Conversations v2 documents (`openapi.yaml`) and their mapping
//! to and from the WIT types.

use crate::settings::{MAX_TEXT, Settings};
use handover_adapter_sdk::v0_2::{self, Action};
use handover_adapter_sdk::{
    Agent, Attachment, Author, Conversation, Failure, error, events, transcript,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Metadata flag of the transcript messages the adapter posts, so that it
/// never takes its own business-authored lines for agent replies.
pub const TRANSCRIPT_FLAG: &str = "handover_transcript";
/// Metadata key of the user messages the adapter posts: the host's id of
/// the message, which read receipts name.
pub const MESSAGE_ID_KEY: &str = "handover_message_id";
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
/// 4096 characters, then one image or file message per attachment. A
/// quick reply's text is its payload, which Sunshine's reply-button
/// responses also carry as the text message's `payload`.
pub fn user_contents(text_in: &str, attachments: &[Attachment], quick_reply: bool) -> Vec<Value> {
    let mut out: Vec<Value> = if text_in.is_empty() && !attachments.is_empty() {
        Vec::new()
    } else if quick_reply && text_in.chars().count() <= MAX_TEXT {
        vec![json!({"type": "text", "text": text_in, "payload": text_in})]
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
    /// When Sunshine received it (`YYYY-MM-DDThh:mm:ss.SSSZ`).
    #[serde(default)]
    pub received: Option<String>,
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

    /// When Sunshine received it, in ms since the epoch.
    pub fn received_ms(&self) -> Option<u64> {
        self.received.as_deref().and_then(iso_ms)
    }

    /// The message's `reply` actions as quick replies and its `link`
    /// actions (and `webview` actions, by the `fallback` URI Sunshine opens
    /// on channels without webviews) as links, in order; then the types of
    /// the actions left out, which have no equivalent (`postback`, `buy`,
    /// `locationRequest`, or one missing its payload or URI).
    pub fn actions(&self) -> (Vec<Action>, Vec<String>) {
        let (mut out, mut dropped) = (Vec::new(), Vec::new());
        for a in self.content["actions"].as_array().into_iter().flatten() {
            let text = a["text"].as_str().unwrap_or_default();
            let field = |k: &str| a[k].as_str().filter(|v| !v.is_empty());
            let kind = a["type"].as_str().unwrap_or_default();
            let action = match kind {
                "reply" => field("payload").map(|p| v0_2::quick_reply(text, p)),
                "link" => field("uri").map(|u| v0_2::link(text, u)),
                "webview" => field("fallback")
                    .or(field("uri"))
                    .map(|u| v0_2::link(text, u)),
                _ => None,
            };
            match action {
                Some(action) => out.push(action),
                None => dropped.push(kind.to_string()),
            }
        }
        (out, dropped)
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
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
}

impl Event {
    /// When the event happened at Sunshine, in ms since the epoch.
    pub fn created_ms(&self) -> Option<u64> {
        self.created_at.as_deref().and_then(iso_ms)
    }

    /// Whether the event's activity (typing, read) is the business side's.
    pub fn by_business(&self) -> bool {
        self.payload["activity"]["author"]["type"] == "business"
    }

    /// The switchboard event's `metadata` as hand-back variables: the flat
    /// object as given, `{}` when there is none.
    pub fn variables(&self) -> Value {
        match &self.payload["metadata"] {
            Value::Object(m) => Value::Object(m.clone()),
            _ => json!({}),
        }
    }

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

/// Milliseconds since the epoch of a UTC datetime as Sunshine writes it,
/// `YYYY-MM-DDThh:mm:ss[.fraction]Z`; `None` for anything else.
pub fn iso_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let rest = s.get(19..)?;
    let rest = rest.strip_suffix('Z')?;
    let ms = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            let mut digits: String = f.chars().take(3).collect();
            while digits.len() < 3 {
                digits.push('0');
            }
            digits.parse::<i64>().ok()?
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = ((days * 24 + h) * 60 + mi) * 60 + sec;
    u64::try_from(total * 1000 + ms).ok()
}
