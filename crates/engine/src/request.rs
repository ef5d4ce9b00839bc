//! The inputs of create and user input (as the bot API sends them), and
//! their validation. Responses are typed results (`outcome`), written out by
//! the API layer.
//!
//! Validation errors name the field and say what to fix. Nothing here
//! touches the store or adapters.

use handover_core::model::{self, Attachment, InputKind, TranscriptEntry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RoutingRequest {
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
}

/// `POST /v1/endpoints/{endpoint}/handovers`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub session_id: String,
    pub user_id: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    pub user_profile: BTreeMap<String, String>,
    #[serde(default)]
    pub transcript: Vec<TranscriptEntry>,
    /// Free-form JSON.
    #[serde(default)]
    pub context: serde_json::Value,
    #[serde(default)]
    pub routing: RoutingRequest,
    /// The Handover Accepted Message shown to the user when accepted.
    pub accepted_message: String,
    /// The intent that cancels while no agent is active.
    #[serde(default)]
    pub cancel_intent: Option<String>,
    /// The quick-reply button text that cancels while no agent is active.
    #[serde(default)]
    pub cancel_button_text: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Capabilities the flow needs; missing ones end the handover as `unsupported`.
    #[serde(default)]
    pub required_capabilities: Vec<String>,
}

fn default_channel() -> String {
    "webchat".into()
}
fn default_locale() -> String {
    "en-US".into()
}

pub const CAPABILITY_NAMES: &[&str] = &[
    "attachments",
    "typing",
    "queue_position",
    "availability_check",
    "bot_side_close",
    "transcript",
];

impl CreateRequest {
    /// Field-level problems, each "field: what to fix".
    pub fn problems(&self) -> Vec<String> {
        let mut p = vec![];
        let nonempty = |v: &str, f: &str, p: &mut Vec<String>| {
            if v.trim().is_empty() {
                p.push(format!("{f}: must be a non-empty string"));
            } else if v.len() > 256 {
                p.push(format!("{f}: at most 256 characters"));
            }
        };
        nonempty(&self.session_id, "session_id", &mut p);
        nonempty(&self.user_id, "user_id", &mut p);
        nonempty(&self.channel, "channel", &mut p);
        if self.accepted_message.trim().is_empty() {
            p.push("accepted_message: must be a non-empty string (the Handover Accepted Message shown to the user)".into());
        }
        if self.cancel_intent.is_none() && self.cancel_button_text.is_none() {
            // Allowed: then the user cannot cancel; nothing to report.
        }
        if let Some(u) = &self.callback_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            p.push(format!(
                "callback_url: `{u}` must be an http:// or https:// URL"
            ));
        }
        if let Some(k) = &self.idempotency_key
            && (k.is_empty() || k.len() > 200)
        {
            p.push("idempotency_key: 1 to 200 characters".into());
        }
        for c in &self.required_capabilities {
            if !CAPABILITY_NAMES.contains(&c.as_str()) {
                p.push(format!(
                    "required_capabilities: unknown capability `{c}`; known: {}",
                    CAPABILITY_NAMES.join(", ")
                ));
            }
        }
        if self.transcript.len() > 1000 {
            p.push("transcript: at most 1000 entries".into());
        }
        p
    }

    pub fn conversation(&self, handover_id: &str) -> model::Conversation {
        model::Conversation {
            handover_id: handover_id.to_string(),
            session_id: self.session_id.clone(),
            user_id: self.user_id.clone(),
            channel: self.channel.clone(),
            locale: self.locale.clone(),
            user_profile: self
                .user_profile
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            transcript: self.transcript.clone(),
            routing: model::Routing {
                skills: self.routing.skills.clone(),
                language: self.routing.language.clone(),
                priority: self.routing.priority,
                queue: self.routing.queue.clone(),
                custom: self
                    .routing
                    .custom
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            context: if self.context.is_null() {
                "{}".into()
            } else {
                self.context.to_string()
            },
        }
    }
}

/// `POST /v1/handovers/{id}/input`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputRequest {
    /// The bot's id for this message (at most 128 characters); receipts
    /// name it. The host makes one when absent.
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub kind: InputKind,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `POST /v1/handovers/{id}/typing`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
    /// true: the user started typing; false: stopped.
    pub typing: bool,
}
