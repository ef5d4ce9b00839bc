//! The endpoint's settings (see `settings.schema.json`) and the URLs built
//! from them. The API token is never a setting: the host adds the
//! `api_access_token` header to requests to `base_url` (auth rule).

use handover_adapter_sdk::{Failure, settings, unsupported};
use serde::Deserialize;

/// Channels served when the settings do not list their own. An API-channel
/// inbox takes any text channel the bot relays.
pub const DEFAULT_CHANNELS: [&str; 6] = [
    "webchat",
    "whatsapp",
    "sms",
    "messenger",
    "telegram",
    "line",
];
/// Chatwoot rejects message content longer than this many characters.
pub const MAX_CONTENT: usize = 150_000;
/// Transcript notes are at most this long unless the settings say otherwise.
pub const DEFAULT_TRANSCRIPT_CHUNK: usize = 4000;
/// Room for the transcript header and a speaker label.
const MIN_TRANSCRIPT_CHUNK: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub base_url: String,
    pub account_id: u64,
    pub inbox_id: u64,
    pub channels: Option<Vec<String>>,
    /// Team every conversation goes to unless routing names a queue.
    pub team_id: Option<u64>,
    /// Agent every conversation is assigned to (skips Chatwoot's assignment).
    pub assignee_id: Option<u64>,
    /// Labels added to every conversation (routing skills are added too).
    #[serde(default)]
    pub labels: Vec<String>,
    pub transcript_chunk: Option<usize>,
}

impl Settings {
    /// Parses and checks settings; failures name the field to fix.
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let mut s: Settings = settings::parse(text)?;
        s.base_url = settings::require_http_url("base_url", &s.base_url)?;
        settings::require_min("account_id", Some(s.account_id), 1)?;
        settings::require_min("inbox_id", Some(s.inbox_id), 1)?;
        settings::require_min("team_id", s.team_id, 1)?;
        settings::require_min("assignee_id", s.assignee_id, 1)?;
        settings::require_min("transcript_chunk", s.transcript_chunk, MIN_TRANSCRIPT_CHUNK)?;
        if s.transcript_chunk.is_some_and(|c| c > MAX_CONTENT) {
            return Err(settings::invalid(
                "transcript_chunk",
                format!("must be at most {MAX_CONTENT} (Chatwoot's message limit)"),
            ));
        }
        if let Some(channels) = &s.channels {
            non_empty_list("channels", channels)?;
        }
        if !s.labels.is_empty() {
            non_empty_list("labels", &s.labels)?;
        }
        Ok(s)
    }

    pub fn transcript_chunk(&self) -> usize {
        self.transcript_chunk.unwrap_or(DEFAULT_TRANSCRIPT_CHUNK)
    }

    /// Fails with `unsupported` unless this endpoint serves `channel`.
    pub fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        let allowed: Vec<&str> = match &self.channels {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_CHANNELS.to_vec(),
        };
        if allowed.contains(&channel) {
            return Ok(());
        }
        Err(unsupported(format!(
            "channel {channel:?} is not served by this Chatwoot endpoint (allowed: {})",
            allowed.join(", ")
        )))
    }

    /// `{base}/api/v1/accounts/{account_id}/{rest}`.
    pub fn url(&self, rest: &str) -> String {
        format!(
            "{}/api/v1/accounts/{}/{rest}",
            self.base_url, self.account_id
        )
    }

    /// `{base}/api/v1/accounts/{account_id}/conversations/{id}/{rest}`.
    pub fn conversation_url(&self, id: u64, rest: &str) -> String {
        self.url(&format!("conversations/{id}/{rest}"))
    }

    /// The correlation key of a Chatwoot conversation.
    pub fn key(&self, conversation_id: u64) -> String {
        format!("chatwoot:{}:{conversation_id}", self.account_id)
    }
}

fn non_empty_list(field: &str, list: &[String]) -> Result<(), Failure> {
    if list.is_empty() {
        return Err(settings::invalid(field, "must list at least one entry"));
    }
    match list.iter().position(|c| c.trim().is_empty()) {
        Some(i) => Err(settings::invalid(
            &format!("{field}[{i}]"),
            "must not be empty",
        )),
        None => Ok(()),
    }
}
