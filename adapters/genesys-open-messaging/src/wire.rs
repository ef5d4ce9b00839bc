//! Genesys Cloud Open Messaging JSON documents: the inbound
//! `OpenInboundNormalizedMessage`, the outbound webhook's
//! `OpenMessageNormalizedMessage` and the participants of
//! `GET /api/v2/conversations/messages/{conversationId}`.

use handover_adapter_sdk::{Attachment, Failure, error};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `channel.from` of inbound messages (`OpenMessagingFromRecipient`); also
/// kept in the handover state so every message comes from the same user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub id: String,
    pub id_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `POST …/inbound/open/message` request body.
#[derive(Serialize)]
pub struct InboundMessage<'a> {
    pub channel: InboundChannel<'a>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub text: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<InboundContent>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundChannel<'a> {
    pub message_id: String,
    pub from: &'a Recipient,
    /// ISO-8601, e.g. `2024-05-01T13:01:14.462Z`.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ChannelMetadata>,
}

/// `channel.metadata`: custom attributes become participant data that an
/// inbound message flow can route on.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelMetadata {
    pub custom_attributes: BTreeMap<String, String>,
}

/// One attachment of an inbound message (`OpenInboundMessageContent`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundContent {
    content_type: &'static str,
    attachment: InboundAttachment,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundAttachment {
    media_type: &'static str,
    url: String,
    mime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
}

impl From<&Attachment> for InboundContent {
    fn from(a: &Attachment) -> Self {
        let media_type = match a.content_type.split('/').next().unwrap_or("") {
            "image" => "Image",
            "video" => "Video",
            "audio" => "Audio",
            _ => "File",
        };
        InboundContent {
            content_type: "Attachment",
            attachment: InboundAttachment {
                media_type,
                url: a.url.clone(),
                mime: a.content_type.clone(),
                filename: a.name.clone(),
            },
        }
    }
}

/// The inbound call's response (`OpenMessageNormalizedMessage`); with
/// `prefetchConversationId=true` it names the conversation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Posted {
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// The outbound webhook body (`OpenMessageNormalizedMessage`, direction
/// `Outbound`): an agent's text or structured message, or typing events.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbound {
    #[serde(default)]
    pub id: Option<String>,
    pub channel: OutboundChannel,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub content: Vec<OutboundContent>,
    #[serde(default)]
    pub events: Vec<OutboundEvent>,
    #[serde(default)]
    pub direction: Option<String>,
    /// `Human` (an agent) or `Bot` (a flow or bot).
    #[serde(default)]
    pub originating_entity: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OutboundChannel {
    pub message_id: Option<String>,
    pub time: Option<String>,
    pub to: Option<To>,
    pub from: Option<Sender>,
}

#[derive(Deserialize)]
pub struct To {
    pub id: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Sender {
    pub id: String,
    pub nickname: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OutboundContent {
    pub content_type: String,
    pub attachment: Option<OutboundAttachment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OutboundAttachment {
    pub url: String,
    pub mime: Option<String>,
    pub filename: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OutboundEvent {
    pub event_type: String,
    pub typing: Option<Typing>,
}

#[derive(Deserialize)]
pub struct Typing {
    /// `On` (documented) or `Off`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Outbound {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        serde_json::from_slice(body).map_err(|e| error(format!("malformed webhook body: {e}")))
    }

    /// The external user the message is for (our `channel.from.id`).
    pub fn to_id(&self) -> Option<&str> {
        self.channel.to.as_ref().map(|t| t.id.as_str())
    }

    /// `channel.time` (empty if missing: sorts first).
    pub fn time(&self) -> &str {
        self.channel.time.as_deref().unwrap_or("")
    }

    pub fn is_outbound(&self) -> bool {
        self.direction.as_deref().is_none_or(|d| d == "Outbound")
    }

    /// Who sent it: the agent's name when the sender carries one, else
    /// the nickname Genesys gives (often the integration's name).
    pub fn sender(&self) -> (String, String) {
        let Some(from) = &self.channel.from else {
            return (String::new(), "Agent".into());
        };
        let full = [&from.first_name, &from.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let name = if full.is_empty() {
            from.nickname.clone().unwrap_or_else(|| "Agent".into())
        } else {
            full
        };
        (from.id.clone(), name)
    }

    pub fn attachments(&self) -> Vec<Attachment> {
        self.content
            .iter()
            .filter(|c| c.content_type == "Attachment")
            .filter_map(|c| c.attachment.as_ref())
            .filter(|a| !a.url.is_empty())
            .map(|a| Attachment {
                url: a.url.clone(),
                content_type: a
                    .mime
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                name: a.filename.clone(),
            })
            .collect()
    }
}

/// `GET /api/v2/conversations/messages/{conversationId}` (the parts used).
#[derive(Deserialize)]
pub struct Conversation {
    #[serde(default)]
    pub participants: Vec<Participant>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Participant {
    pub id: String,
    pub name: Option<String>,
    /// `customer`, `agent`, `acd`, `workflow`, …
    pub purpose: String,
    /// `alerting`, `connected`, `disconnected`, `terminated`, …
    pub state: String,
    pub user: Option<UserRef>,
}

#[derive(Deserialize)]
pub struct UserRef {
    pub id: String,
}

impl Participant {
    pub fn is_connected(&self) -> bool {
        self.state == "connected"
    }

    pub fn is_gone(&self) -> bool {
        self.state == "disconnected" || self.state == "terminated"
    }

    /// The agent's user id (else the participant id) and name.
    pub fn agent(&self) -> (String, String) {
        let id = self.user.as_ref().map_or(&self.id, |u| &u.id).clone();
        let name = self
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Agent".into());
        (id, name)
    }
}

/// `2024-05-01T13:01:14.462Z` for `ms` since the Unix epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}
