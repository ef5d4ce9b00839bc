//! The endpoint's settings (see `settings.schema.json`) and the MIAW URLs
//! built from them. No secrets: the access token is per conversation.

use handover_adapter_sdk::Failure;
use handover_adapter_sdk::http::path_segment;
use handover_adapter_sdk::settings::{self, Validate};
use serde::Deserialize;

/// The longest SSE read a poll may be configured for; `describe` declares
/// it as the long-poll wait, so the host's wall limit covers it.
pub const MAX_POLL_WAIT_MS: u32 = 20_000;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The org's Messaging (SCRT) URL, e.g. `https://acme.my.salesforce-scrt.com`.
    pub base_url: String,
    /// The org id, 15 or 18 characters starting with `00D`.
    pub org_id: String,
    /// The API name of the Embedded Service deployment.
    pub es_developer_name: String,
    #[serde(default = "default_capabilities_version")]
    pub capabilities_version: String,
    #[serde(default = "default_platform")]
    pub platform: String,
    /// Names of the hidden pre-chat fields that receive the handover's
    /// routing (`routing.custom` pairs are always passed as they are).
    #[serde(default)]
    pub routing_fields: RoutingFields,
    /// First line of every transcript message ("" for none).
    #[serde(default = "default_transcript_header")]
    pub transcript_header: String,
    /// Longest a poll reads the event stream.
    #[serde(default = "default_poll_wait_ms")]
    pub poll_wait_ms: u32,
    /// A poll returns once the stream has been quiet this long after an event.
    #[serde(default = "default_poll_idle_ms")]
    pub poll_idle_ms: u32,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RoutingFields {
    pub skills: Option<String>,
    pub language: Option<String>,
    pub priority: Option<String>,
    pub queue: Option<String>,
    /// Receives the handover id (for correlation in flows and reports).
    pub handover_id: Option<String>,
}

fn default_capabilities_version() -> String {
    "1".into()
}

fn default_platform() -> String {
    "Web".into()
}

fn default_transcript_header() -> String {
    "Conversation with the bot before the handover:".into()
}

fn default_poll_wait_ms() -> u32 {
    5_000
}

fn default_poll_idle_ms() -> u32 {
    300
}

impl Validate for Settings {
    /// Checks parsed settings; failures name the field to fix.
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.base_url = settings::require_http_url("base_url", &s.base_url)?;
        s.org_id = s.org_id.trim().to_string();
        let org_ok = s.org_id.starts_with("00D")
            && matches!(s.org_id.len(), 15 | 18)
            && s.org_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !org_ok {
            return Err(settings::invalid(
                "org_id",
                format!(
                    "must be a Salesforce org id (15 or 18 letters and digits starting with 00D), got {:?}",
                    s.org_id
                ),
            ));
        }
        s.es_developer_name = s.es_developer_name.trim().to_string();
        let name_ok = !s.es_developer_name.is_empty()
            && s.es_developer_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(settings::invalid(
                "es_developer_name",
                format!(
                    "must be the deployment's API name (letters, digits, _), got {:?}",
                    s.es_developer_name
                ),
            ));
        }
        for (field, value) in [
            ("capabilities_version", &s.capabilities_version),
            ("platform", &s.platform),
        ] {
            if value.trim().is_empty() {
                return Err(settings::invalid(field, "must not be empty"));
            }
        }
        let r = &s.routing_fields;
        for (field, value) in [
            ("skills", &r.skills),
            ("language", &r.language),
            ("priority", &r.priority),
            ("queue", &r.queue),
            ("handover_id", &r.handover_id),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                let path = format!("routing_fields.{field}");
                return Err(settings::invalid(&path, "must name a pre-chat field"));
            }
        }
        if !(100..=MAX_POLL_WAIT_MS).contains(&s.poll_wait_ms) {
            return Err(settings::invalid(
                "poll_wait_ms",
                format!(
                    "must be between 100 and {MAX_POLL_WAIT_MS}, got {}",
                    s.poll_wait_ms
                ),
            ));
        }
        if s.poll_idle_ms > s.poll_wait_ms {
            return Err(settings::invalid(
                "poll_idle_ms",
                format!(
                    "must not exceed poll_wait_ms ({}), got {}",
                    s.poll_wait_ms, s.poll_idle_ms
                ),
            ));
        }
        Ok(())
    }
}

impl Settings {
    pub fn token_url(&self) -> String {
        format!(
            "{}/iamessage/api/v2/authorization/unauthenticated/access-token",
            self.base_url
        )
    }

    pub fn conversations_url(&self) -> String {
        format!("{}/iamessage/api/v2/conversation", self.base_url)
    }

    pub fn message_url(&self, conversation_id: &str) -> String {
        format!(
            "{}/{}/message",
            self.conversations_url(),
            path_segment(conversation_id)
        )
    }

    /// Typing indicators and other non-message entries.
    pub fn entry_url(&self, conversation_id: &str) -> String {
        format!(
            "{}/{}/entry",
            self.conversations_url(),
            path_segment(conversation_id)
        )
    }

    /// `DELETE` closes the conversation.
    pub fn close_url(&self, conversation_id: &str) -> String {
        format!(
            "{}/{}?esDeveloperName={}",
            self.conversations_url(),
            path_segment(conversation_id),
            path_segment(&self.es_developer_name)
        )
    }

    pub fn sse_url(&self) -> String {
        format!("{}/eventrouter/v1/sse", self.base_url)
    }
}
