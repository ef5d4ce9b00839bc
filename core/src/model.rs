//! Host-side domain types: the contract's data as plain Rust values.
//!
//! The engine, store and API speak only these types; each supported WIT
//! version converts to and from them in `runtime::bindings`. Nothing here
//! knows about wasmtime, and nothing here performs I/O.

use serde::{Deserialize, Serialize};

/// The product's two failure reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    Unsupported,
    Error,
}

/// A failure in the product's error model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: FailureReason,
    pub message: String,
    /// `None`: the adapter's own failure. `Some(cause)`: the host stopped
    /// the call (`panic`, `trap`, `memory`, `fuel`, `deadline`,
    /// `egress_denied`, …: the causes of `adapter_traps_total`). Never
    /// stored or sent: it only labels the call's figures.
    #[serde(skip)]
    pub stopped_by: Option<&'static str>,
}

impl Failure {
    pub fn error(message: impl Into<String>) -> Self {
        Failure {
            reason: FailureReason::Error,
            message: message.into(),
            stopped_by: None,
        }
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Failure {
            reason: FailureReason::Unsupported,
            message: message.into(),
            stopped_by: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = match self.reason {
            FailureReason::Unsupported => "unsupported",
            FailureReason::Error => "error",
        };
        write!(f, "{reason}: {}", self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    #[default]
    User,
    Bot,
    Agent,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    #[serde(default)]
    pub author: Author,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub custom: Vec<(String, String)>,
}

/// The conversation handed over (the `conversation` record of the WIT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Conversation {
    pub handover_id: String,
    pub session_id: String,
    pub user_id: String,
    pub channel: String,
    pub locale: String,
    pub user_profile: Vec<(String, String)>,
    pub transcript: Vec<TranscriptEntry>,
    pub routing: Routing,
    /// Free-form JSON document as text.
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub url: String,
    pub content_type: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndReason {
    AgentClosed,
    AgentLeft,
    ProviderClosed,
    NoAgentAvailable,
    Other { detail: String },
}

impl EndReason {
    /// A stable snake_case code for logs and the `end_reason` field.
    pub fn code(&self) -> String {
        match self {
            EndReason::AgentClosed => "agent_closed".into(),
            EndReason::AgentLeft => "agent_left".into(),
            EndReason::ProviderClosed => "provider_closed".into(),
            EndReason::NoAgentAvailable => "no_agent_available".into(),
            EndReason::Other { detail } => format!("other:{detail}"),
        }
    }
}

/// A normalized provider event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderEvent {
    Queued {
        position: Option<u32>,
        estimated_wait_seconds: Option<u32>,
    },
    AgentJoined {
        agent: Agent,
    },
    AgentMessage {
        agent: Option<Agent>,
        text: String,
        attachments: Vec<Attachment>,
        /// Quick replies and links to render with the text (contract 0.2.0).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        actions: Vec<Action>,
    },
    AgentTyping {
        typing: bool,
    },
    AgentLeft {
        agent: Agent,
    },
    Transferred {
        to_queue: Option<String>,
        to_agent: Option<Agent>,
    },
    Ended {
        reason: EndReason,
    },
    /// The agent handed the conversation back to the bot (0.2.0).
    ReturnedToBot {
        /// A JSON object as text (checked by the runtime).
        variables: String,
        note: Option<String>,
    },
    /// What the agent recorded when wrapping up (0.2.0).
    WrapUp {
        disposition: Option<String>,
        resolution_code: Option<String>,
        notes: Option<String>,
    },
    /// A post-chat survey result (0.2.0).
    Survey {
        score: Option<u32>,
        scale_max: u32,
        comment: Option<String>,
    },
    /// Delivery or read of the user's messages at the provider (0.2.0).
    Receipt {
        message_ids: Vec<String>,
        status: ReceiptStatus,
        timestamp_ms: Option<u64>,
    },
    /// The provider's own record of the conversation (0.2.0).
    ProviderReference {
        kind: String,
        id: String,
        url: Option<String>,
    },
}

/// Something the user can act on, sent with an agent's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Pressing it sends `payload` as quick-reply input.
    QuickReply {
        title: String,
        payload: String,
    },
    Link {
        title: String,
        url: String,
    },
}

impl Action {
    fn text_bytes(&self) -> usize {
        match self {
            Action::QuickReply { title, payload: b } | Action::Link { title, url: b } => {
                title.len() + b.len()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Read,
}

impl ProviderEvent {
    /// The bytes of every string the event carries (text, names, ids, URLs,
    /// details): what the per-event and per-call event byte limits count.
    pub fn text_bytes(&self) -> usize {
        fn agent(a: &Agent) -> usize {
            a.id.len() + a.name.len()
        }
        let opt = |a: &Option<Agent>| a.as_ref().map_or(0, agent);
        match self {
            ProviderEvent::Queued { .. } | ProviderEvent::AgentTyping { .. } => 0,
            ProviderEvent::AgentJoined { agent: a } | ProviderEvent::AgentLeft { agent: a } => {
                agent(a)
            }
            ProviderEvent::AgentMessage {
                agent,
                text,
                attachments,
                actions,
            } => {
                opt(agent)
                    + text.len()
                    + actions.iter().map(Action::text_bytes).sum::<usize>()
                    + attachments
                        .iter()
                        .map(|a| {
                            a.url.len()
                                + a.content_type.len()
                                + a.name.as_ref().map_or(0, String::len)
                        })
                        .sum::<usize>()
            }
            ProviderEvent::Transferred { to_queue, to_agent } => {
                to_queue.as_ref().map_or(0, String::len) + opt(to_agent)
            }
            ProviderEvent::Ended { reason } => match reason {
                EndReason::Other { detail } => detail.len(),
                _ => 0,
            },
            ProviderEvent::ReturnedToBot { variables, note } => variables.len() + olen(note),
            ProviderEvent::WrapUp {
                disposition,
                resolution_code,
                notes,
            } => olen(disposition) + olen(resolution_code) + olen(notes),
            ProviderEvent::Survey { comment, .. } => olen(comment),
            ProviderEvent::Receipt { message_ids, .. } => message_ids.iter().map(String::len).sum(),
            ProviderEvent::ProviderReference { kind, id, url } => kind.len() + id.len() + olen(url),
        }
    }

    /// What is wrong with an event an adapter returned, beyond its size:
    /// the variables of a hand-back must be a JSON object; a survey's
    /// score must lie on its scale.
    pub fn check(&self) -> Result<(), String> {
        match self {
            ProviderEvent::ReturnedToBot { variables, .. } => {
                match serde_json::from_str::<serde_json::Value>(variables) {
                    Ok(serde_json::Value::Object(_)) => Ok(()),
                    Ok(_) => Err(
                        "returned-to-bot: `variables` must be a JSON object (\"{}\" for none)"
                            .into(),
                    ),
                    Err(e) => Err(format!("returned-to-bot: `variables` is not JSON: {e}")),
                }
            }
            ProviderEvent::Survey {
                score: Some(score),
                scale_max,
                ..
            } if score > scale_max => Err(format!(
                "survey: score {score} is above the scale's maximum {scale_max}"
            )),
            _ => Ok(()),
        }
    }
}

fn olen(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    #[default]
    Text,
    Intent,
    QuickReply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInput {
    /// The host's id of this message (receipts name it); empty when none
    /// was assigned.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub kind: InputKind,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// The result of a call that concerns one handover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    pub state: Vec<u8>,
    pub events: Vec<ProviderEvent>,
    pub correlation_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    pub handover_id: String,
    pub settings: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookRoute {
    pub response: HttpResponse,
    pub delivery_id: Option<String>,
    pub correlation_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub agents_available: bool,
    pub open: bool,
    pub estimated_wait_seconds: Option<u32>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Capabilities {
    pub attachments: bool,
    pub typing: bool,
    pub queue_position: bool,
    pub availability_check: bool,
    pub bot_side_close: bool,
    pub transcript: bool,
    /// Contract 0.2.0 features (always false for 0.1.0 adapters).
    #[serde(default)]
    pub hand_back: bool,
    #[serde(default)]
    pub wrap_up: bool,
    #[serde(default)]
    pub receipts: bool,
    #[serde(default)]
    pub user_typing: bool,
    #[serde(default)]
    pub rich_messages: bool,
}

/// What an adapter needs granted by its endpoint's configuration (0.2.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Permissions {
    /// Origins or `{setting}` templates.
    pub egress: Vec<String>,
    pub secrets: Vec<String>,
}

/// Where a value is in a webhook request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Locator {
    Header(String),
    JsonPointer(String),
}

/// Declared webhook routing: the host routes without an instance (0.2.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRouting {
    pub correlation_key: Locator,
    pub key_prefix: String,
    pub delivery_id: Option<Locator>,
    #[serde(skip)]
    pub response: HttpResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    HmacSha256,
    HmacSha1,
    HmacSha512,
    SharedSecret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignedContent {
    Body,
    TimestampThenBody { separator: String },
    UrlThenBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSignature {
    pub algorithm: SignatureAlgorithm,
    pub header: String,
    pub encoding: SignatureEncoding,
    pub prefix: Option<String>,
    pub signed: SignedContent,
    pub timestamp_header: Option<String>,
    pub delivery_id_header: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PollMode {
    #[default]
    None,
    Periodic,
    LongPoll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Polling {
    pub mode: PollMode,
    pub interval_ms: u32,
    pub max_wait_ms: u32,
}

/// What an adapter declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    pub name: String,
    pub version: String,
    pub channels: Vec<String>,
    pub capabilities: Capabilities,
    pub webhook_signature: Option<WebhookSignature>,
    pub polling: Polling,
    pub settings_schema: String,
    /// Declared by 0.2.0 adapters; `None` for 0.1.0 (nothing declared).
    #[serde(default)]
    pub permissions: Option<Permissions>,
    #[serde(default)]
    pub webhook_routing: Option<WebhookRouting>,
}

impl AdapterInfo {
    /// Whether the adapter declares support for `channel` ("*" = any).
    pub fn supports_channel(&self, channel: &str) -> bool {
        self.channels
            .iter()
            .any(|c| c == "*" || c.eq_ignore_ascii_case(channel))
    }
}

/// Log severity of the `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_0_2_events_are_named() {
        let back = |v: &str| ProviderEvent::ReturnedToBot {
            variables: v.into(),
            note: None,
        };
        assert_eq!(back("{}").check(), Ok(()));
        assert_eq!(back(r#"{"a":[1]}"#).check(), Ok(()));
        let e = back("[1]").check().unwrap_err();
        assert!(e.contains("must be a JSON object"), "{e}");
        let e = back("{oops").check().unwrap_err();
        assert!(e.contains("is not JSON"), "{e}");
        let survey = |score| ProviderEvent::Survey {
            score,
            scale_max: 5,
            comment: None,
        };
        assert_eq!(survey(Some(5)).check(), Ok(()));
        assert_eq!(survey(None).check(), Ok(()));
        let e = survey(Some(6)).check().unwrap_err();
        assert!(e.contains("above the scale's maximum 5"), "{e}");
        // Their text counts against the event byte limits.
        let r = ProviderEvent::ProviderReference {
            kind: "case".into(),
            id: "12345".into(),
            url: Some("https://x".into()),
        };
        assert_eq!(r.text_bytes(), 4 + 5 + 9);
    }
}
