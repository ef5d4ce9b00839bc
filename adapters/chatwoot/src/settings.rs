//! The endpoint's settings (see `settings.schema.json`) and the URLs built
//! from them. The API token is never a setting: the host adds the
//! `api_access_token` header to requests to `base_url` (auth rule).

use handover_adapter_sdk::http::path_segment;
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::{Failure, channels};
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
/// What the correlation keys webhooks are routed by start with (the
/// conversation's display id follows): declared in `describe`, so the host
/// finds a message webhook's handover at `/conversation/id` without an
/// instance. One endpoint is one account, so the id alone is unique.
pub const KEY_PREFIX: &str = "chatwoot:conversation:";
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
    /// The API inbox's `inbox_identifier` (Settings → Inboxes → the API
    /// inbox → Configuration): the contact's side of the public API, used to
    /// show the user's typing to the agent.
    pub inbox_identifier: Option<String>,
}

impl Validate for Settings {
    /// Checks parsed settings; failures name the field to fix.
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.base_url = settings::require_http_url("base_url", &s.base_url)?;
        settings::require_min("account_id", Some(s.account_id), 1)?;
        settings::require_min("inbox_id", Some(s.inbox_id), 1)?;
        settings::require_min("team_id", s.team_id, 1)?;
        settings::require_min("assignee_id", s.assignee_id, 1)?;
        settings::require_min("transcript_chunk", s.transcript_chunk, MIN_TRANSCRIPT_CHUNK)?;
        let limit = Some("Chatwoot's message limit");
        settings::require_max(
            "transcript_chunk",
            s.transcript_chunk,
            MAX_CONTENT,
            limit,
            false,
        )?;
        if let Some(channels) = &s.channels {
            settings::require_list("channels", channels, "entry")?;
        }
        if !s.labels.is_empty() {
            settings::require_list("labels", &s.labels, "entry")?;
        }
        if s.inbox_identifier
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(settings::invalid("inbox_identifier", "must not be empty"));
        }
        Ok(())
    }
}

impl Settings {
    pub fn transcript_chunk(&self) -> usize {
        self.transcript_chunk.unwrap_or(DEFAULT_TRANSCRIPT_CHUNK)
    }

    /// Fails with `unsupported` unless this endpoint serves `channel`.
    pub fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        channels::check(
            channel,
            self.channels.as_ref(),
            &DEFAULT_CHANNELS,
            "Chatwoot",
        )
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

    /// The correlation key of a Chatwoot conversation that `route-webhook`
    /// reports (every handover has it).
    pub fn key(&self, conversation_id: u64) -> String {
        format!("chatwoot:{}:{conversation_id}", self.account_id)
    }

    /// `{base}/public/api/v1/inboxes/{inbox_identifier}/contacts/{source_id}/conversations/{id}/{rest}`:
    /// the public (contact) API, acting as the contact of `source_id`;
    /// `None` without `inbox_identifier`.
    pub fn public_conversation_url(&self, source_id: &str, id: u64, rest: &str) -> Option<String> {
        let inbox = self.inbox_identifier.as_deref()?;
        Some(format!(
            "{}/public/api/v1/inboxes/{}/contacts/{}/conversations/{id}/{rest}",
            self.base_url,
            path_segment(inbox),
            path_segment(source_id)
        ))
    }
}

/// The correlation key declared routing finds (see [`KEY_PREFIX`]).
pub fn routed_key(conversation_id: u64) -> String {
    format!("{KEY_PREFIX}{conversation_id}")
}
