//! The endpoint's settings (see `settings.schema.json`) and the URLs built
//! from them. The app key (id + secret) is never a setting: the host adds
//! HTTP Basic auth to requests to `base_url` (auth rule).

use handover_adapter_sdk::http::path_segment;
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::{Failure, channels};
use serde::Deserialize;

/// Channels Sunshine Conversations connects, served unless the settings
/// list their own.
pub const DEFAULT_CHANNELS: [&str; 8] = [
    "webchat",
    "whatsapp",
    "messenger",
    "sms",
    "telegram",
    "line",
    "viber",
    "instagram",
];
/// `textMessage.text` is at most 4096 characters.
pub const MAX_TEXT: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub base_url: String,
    pub app_id: String,
    /// Switchboard integration (id, name or integration type) that gets
    /// control, e.g. `zd-agentWorkspace`.
    pub switchboard_integration: String,
    /// The bot's own switchboard integration: cancel/close pass control
    /// back to it (else they release control), and control passed to it
    /// ends the handover.
    pub bot_switchboard_integration: Option<String>,
    pub channels: Option<Vec<String>>,
    /// Post the bot transcript into the conversation before passing
    /// control (default true).
    pub post_transcript: Option<bool>,
    /// Display name of the bot's transcript lines (default "Bot").
    pub bot_name: Option<String>,
    /// Most characters per transcript message (default and maximum 4096).
    pub transcript_chunk: Option<usize>,
}

impl Validate for Settings {
    /// Checks parsed settings; failures name the field to fix.
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.base_url = settings::require_http_url("base_url", &s.base_url)?;
        for (field, value) in [
            ("app_id", Some(&s.app_id)),
            ("switchboard_integration", Some(&s.switchboard_integration)),
            (
                "bot_switchboard_integration",
                s.bot_switchboard_integration.as_ref(),
            ),
            ("bot_name", s.bot_name.as_ref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(settings::invalid(field, "must not be empty"));
            }
        }
        settings::require_min("transcript_chunk", s.transcript_chunk, 1)?;
        let limit = Some("Sunshine's text limit");
        settings::require_max(
            "transcript_chunk",
            s.transcript_chunk,
            MAX_TEXT,
            limit,
            false,
        )?;
        settings::require_channels(s.channels.as_ref())
    }
}

impl Settings {
    pub fn transcript_chunk(&self) -> usize {
        self.transcript_chunk.unwrap_or(MAX_TEXT)
    }

    pub fn bot_name(&self) -> &str {
        self.bot_name.as_deref().unwrap_or("Bot")
    }

    /// Fails with `unsupported` unless this endpoint serves `channel`.
    pub fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        channels::check(
            channel,
            self.channels.as_ref(),
            &DEFAULT_CHANNELS,
            "Sunshine Conversations",
        )
    }

    /// `{base}/v2/apps/{app}/conversations/{id}/{action}`.
    pub fn url(&self, conversation: &str, action: &str) -> String {
        format!(
            "{}/v2/apps/{}/conversations/{}/{action}",
            self.base_url,
            path_segment(&self.app_id),
            path_segment(conversation)
        )
    }

    /// The correlation key of a conversation.
    pub fn key(&self, conversation: &str) -> String {
        format!("sunshine:{}:{conversation}", self.app_id)
    }
}
