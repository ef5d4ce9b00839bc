//! The endpoint's settings (see `settings.schema.json`) and the Live Agent
//! URLs built from them. No secrets: Live Agent's chat API is the visitor's,
//! authenticated per chat by the session key it hands out.

use handover_adapter_sdk::Failure;
use handover_adapter_sdk::http::path_segment;
use handover_adapter_sdk::settings::{self, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Live Agent API endpoint, e.g. `https://d.la1-c2-ia2.salesforceliveagent.com`
    /// (a trailing `/chat` is accepted).
    pub base_url: String,
    /// The org id (`00D…`).
    pub organization_id: String,
    /// The deployment id (`572…`).
    pub deployment_id: String,
    /// The chat button (`573…`) requests are routed to by default.
    pub button_id: String,
    /// `X-LIVEAGENT-API-VERSION`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Buttons by `routing.queue` name, for handovers that name a queue.
    #[serde(default)]
    pub queue_buttons: BTreeMap<String, String>,
    /// `visitorName` when the user profile has no `name`.
    #[serde(default = "default_visitor_name")]
    pub visitor_name: String,
    /// Most characters of transcript per pre-chat detail.
    #[serde(default = "default_transcript_chunk")]
    pub transcript_chunk: usize,
}

fn default_api_version() -> String {
    "58".into()
}

fn default_visitor_name() -> String {
    "Chat visitor".into()
}

fn default_transcript_chunk() -> usize {
    1_000
}

/// Checks a Salesforce record id: 15 or 18 letters and digits with `prefix`.
fn require_id(field: &str, value: &str, prefix: &str, what: &str) -> Result<String, Failure> {
    let value = value.trim();
    let ok = value.starts_with(prefix)
        && matches!(value.len(), 15 | 18)
        && value.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(settings::invalid(
            field,
            format!(
                "must be a {what} id (15 or 18 letters and digits starting with {prefix}), got {value:?}"
            ),
        ));
    }
    Ok(value.to_string())
}

impl Validate for Settings {
    /// Checks parsed settings; failures name the field to fix.
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        let base = settings::require_http_url("base_url", &s.base_url)?;
        s.base_url = base.strip_suffix("/chat").unwrap_or(&base).to_string();
        s.organization_id = require_id("organization_id", &s.organization_id, "00D", "org")?;
        s.deployment_id = require_id("deployment_id", &s.deployment_id, "572", "deployment")?;
        s.button_id = require_id("button_id", &s.button_id, "573", "chat button")?;
        for (queue, button) in s.queue_buttons.iter_mut() {
            let field = format!("queue_buttons.{queue}");
            *button = require_id(&field, button, "573", "chat button")?;
        }
        let version_ok =
            !s.api_version.is_empty() && s.api_version.bytes().all(|b| b.is_ascii_digit());
        if !version_ok {
            return Err(settings::invalid(
                "api_version",
                format!(
                    "must be a Live Agent API version number such as \"58\", got {:?}",
                    s.api_version
                ),
            ));
        }
        if s.visitor_name.trim().is_empty() {
            return Err(settings::invalid("visitor_name", "must not be empty"));
        }
        settings::require_min("transcript_chunk", Some(s.transcript_chunk), 100)
    }
}

impl Settings {
    /// `{base}/chat/rest/{resource}`.
    pub fn url(&self, resource: &str) -> String {
        format!("{}/chat/rest/{resource}", self.base_url)
    }

    /// The button a handover is routed to: the queue's if the settings
    /// map it, else the default.
    pub fn button_for(&self, queue: Option<&str>) -> &str {
        queue
            .and_then(|q| self.queue_buttons.get(q))
            .map_or(self.button_id.as_str(), String::as_str)
    }

    /// `Visitor/Availability` for the default button, with the wait estimate.
    pub fn availability_url(&self) -> String {
        format!(
            "{}?org_id={}&deployment_id={}&Availability.ids={}&Availability.needEstimatedWaitTime=1",
            self.url("Visitor/Availability"),
            path_segment(&self.organization_id),
            path_segment(&self.deployment_id),
            path_segment(&self.button_id)
        )
    }
}
