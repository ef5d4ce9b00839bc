//! LivePerson Messaging JSON: Send API requests and responses, webhook
//! notifications and their mapping to normalized events.

use handover_adapter_sdk::{Attachment, EndReason, Event, Failure, error, events};
use serde::Deserialize;
use serde_json::{Value, json};

/// One Send API request (`{"kind":"req","id":…,"type":…,"body":…}`).
pub fn request(id: &str, kind: &str, body: Value) -> Value {
    json!({"kind": "req", "id": id, "type": kind, "body": body})
}

/// A Send API response (`{"kind":"resp","reqId":…,"code":…,"body":…,"type":…}`).
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct Response {
    pub req_id: Option<String>,
    pub code: Option<u16>,
    pub body: Value,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Response {
    /// Fails unless the embedded `code` is 200 (or absent).
    pub fn ok(self, what: &str) -> Result<Value, Failure> {
        match self.code {
            None | Some(200..=299) => Ok(self.body),
            Some(code) => {
                let detail = match &self.body {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let detail: String = detail.chars().take(200).collect();
                Err(error(format!(
                    "{what}: LivePerson answered code {code} ({}): {detail}",
                    self.kind
                )))
            }
        }
    }
}

/// `POST {idp}/api/account/{account}/consumer` response.
#[derive(Deserialize)]
pub struct ConsumerToken {
    pub token: String,
}

/// A webhook body: `{"kind":"notification","type":…,"body":{"changes":[…]}}`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: String,
    pub body: NotificationBody,
}

#[derive(Deserialize, Default)]
pub struct NotificationBody {
    #[serde(default)]
    pub changes: Vec<Value>,
}

pub const MESSAGING: &str = "ms.MessagingEventNotification";
pub const CONVERSATION: &str = "cqm.ExConversationChangeNotification";

impl Notification {
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        serde_json::from_slice(body).map_err(|e| error(format!("malformed webhook body: {e}")))
    }

    /// The conversation a change concerns.
    pub fn conversation_of(&self, change: &Value) -> Option<String> {
        let id = match self.kind.as_str() {
            MESSAGING => change
                .get("dialogId")
                .or_else(|| change.get("conversationId")),
            CONVERSATION => change.pointer("/result/convId"),
            _ => None,
        };
        id.and_then(Value::as_str).map(str::to_string)
    }
}

/// One `ms.MessagingEventNotification` change.
#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
pub struct MessagingChange {
    pub originator_id: Option<String>,
    pub originator_metadata: Option<Originator>,
    pub event: Value,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Originator {
    pub id: String,
    pub role: String,
}

impl MessagingChange {
    fn role(&self) -> &str {
        self.originator_metadata.as_ref().map_or("", |o| &o.role)
    }

    /// Agents, managers and the assigned agent speak for the agent side;
    /// the consumer (our own messages) and the controller (system) do not.
    fn is_agent(&self) -> bool {
        matches!(self.role(), "ASSIGNED_AGENT" | "AGENT" | "MANAGER")
    }

    fn agent(&self) -> handover_adapter_sdk::Agent {
        let id = self
            .originator_metadata
            .as_ref()
            .map(|o| o.id.clone())
            .filter(|id| !id.is_empty())
            .or_else(|| self.originator_id.clone())
            .unwrap_or_default();
        events::agent(id, "Agent")
    }

    /// The normalized event, if this change is one for the bot.
    pub fn to_event(&self) -> Option<Event> {
        if !self.is_agent() {
            return None;
        }
        let kind = self.event.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "ContentEvent" => {
                let text = match self.event.get("message") {
                    Some(Value::String(s)) => s.clone(),
                    // A shared file: only its caption reaches the bot.
                    Some(file) => file
                        .get("caption")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .unwrap_or("[file]")
                        .to_string(),
                    None => String::new(),
                };
                Some(events::agent_message(Some(self.agent()), text, Vec::new()))
            }
            "RichContentEvent" => {
                let content = self.event.get("content").unwrap_or(&Value::Null);
                let (mut texts, mut images) = (Vec::new(), Vec::new());
                rich_fallback(content, &mut texts, &mut images);
                Some(events::agent_message(
                    Some(self.agent()),
                    texts.join("\n"),
                    images,
                ))
            }
            "ChatStateEvent" => {
                let state = self.event.get("chatState").and_then(Value::as_str);
                Some(events::typing(state == Some("COMPOSING")))
            }
            // AcceptStatusEvent (read receipts) and anything newer.
            _ => None,
        }
    }
}

/// Text fallback of structured content: texts and button titles in
/// order, images as attachments.
fn rich_fallback(node: &Value, texts: &mut Vec<String>, images: &mut Vec<Attachment>) {
    match node {
        Value::Array(items) => items.iter().for_each(|i| rich_fallback(i, texts, images)),
        Value::Object(map) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
            let field = |name: &str| {
                map.get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            match kind {
                "text" => texts.extend(field("text").map(str::to_string)),
                "button" => texts.extend(field("title").map(|t| format!("[{t}]"))),
                "image" => {
                    if let Some(url) = field("url") {
                        images.push(Attachment {
                            url: url.to_string(),
                            content_type: image_type(url).into(),
                            name: field("caption").map(str::to_string),
                        });
                    }
                }
                _ => {}
            }
            if let Some(children) = map.get("elements") {
                rich_fallback(children, texts, images);
            }
        }
        _ => {}
    }
}

fn image_type(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        _ => "image/jpeg",
    }
}

/// One `cqm.ExConversationChangeNotification` change (the parts used).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConversationChange {
    #[serde(rename = "type")]
    pub kind: String,
    pub result: Option<ChangeResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeResult {
    #[serde(default)]
    pub conversation_details: Details,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Details {
    pub participants: Vec<Participant>,
    pub state: String,
    pub close_reason: Option<String>,
    pub skill_id: Option<Value>,
    pub meta_data_last_update_ts: Option<i64>,
}

#[derive(Deserialize)]
pub struct Participant {
    pub id: String,
    pub role: String,
}

impl Details {
    pub fn assigned_agent(&self) -> Option<&str> {
        self.participants
            .iter()
            .find(|p| p.role == "ASSIGNED_AGENT")
            .map(|p| p.id.as_str())
    }

    pub fn skill(&self) -> Option<String> {
        match &self.skill_id {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn end_reason(&self, had_agent: bool) -> EndReason {
        match self.close_reason.as_deref() {
            Some("AGENT") => EndReason::AgentClosed,
            Some("CONSUMER") => EndReason::Other("consumer_closed".into()),
            Some("SYSTEM") => EndReason::ProviderClosed,
            Some(other) => EndReason::Other(other.to_ascii_lowercase()),
            None if had_agent => EndReason::AgentClosed,
            None => EndReason::ProviderClosed,
        }
    }
}

/// A delivery id for bodies that carry none: FNV-1a 64 of the body, so a
/// redelivered notification (same bytes) is dropped by the host.
pub fn body_id(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("lp-{hash:016x}")
}
