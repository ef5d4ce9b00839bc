//! The endpoint's settings (see `settings.schema.json`) and the URLs built
//! from them. The app key (id + secret) is never a setting: the host adds
//! HTTP Basic auth to requests to `base_url` (auth rule).

use handover_adapter_sdk::http::path_segment;
use handover_adapter_sdk::{Failure, settings, unsupported};
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

impl Settings {
    /// Parses and checks settings; failures name the field to fix.
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let mut s: Settings = settings::parse(text)?;
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
        if s.transcript_chunk.is_some_and(|c| c > MAX_TEXT) {
            return Err(settings::invalid(
                "transcript_chunk",
                format!("must be at most {MAX_TEXT} (Sunshine's text limit)"),
            ));
        }
        if let Some(channels) = &s.channels {
            if channels.is_empty() {
                return Err(settings::invalid(
                    "channels",
                    "must list at least one channel",
                ));
            }
            if let Some(i) = channels.iter().position(|c| c.trim().is_empty()) {
                return Err(settings::invalid(
                    &format!("channels[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(s)
    }

    pub fn transcript_chunk(&self) -> usize {
        self.transcript_chunk.unwrap_or(MAX_TEXT)
    }

    pub fn bot_name(&self) -> &str {
        self.bot_name.as_deref().unwrap_or("Bot")
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
            "channel {channel:?} is not served by this Sunshine Conversations endpoint (allowed: {})",
            allowed.join(", ")
        )))
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
