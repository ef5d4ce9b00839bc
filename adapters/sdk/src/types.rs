//! Friendly paths for the WIT types of `handover:provider/types` and the
//! log level, so adapters never spell out the generated module tree.

pub use crate::bindings::handover::provider::log::Level;
pub use crate::bindings::handover::provider::types::{
    AdapterInfo, Agent, AgentMessage, Attachment, Author, Availability, CallContext, Capabilities,
    Conversation, EndReason, Event, Failure, FailureReason, HttpRequest, HttpResponse, InputKind,
    KeyValue, PollMode, Polling, QueueInfo, Routing, SignatureAlgorithm, SignatureEncoding,
    SignedContent, Step, TranscriptEntry, Transfer, UserInput, WebhookRoute, WebhookSignature,
};

impl KeyValue {
    /// Builds a key-value pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Polling {
    /// The provider pushes webhooks; the host never calls `poll`.
    pub const NONE: Polling = Polling {
        mode: PollMode::None,
        interval_ms: 0,
        max_wait_ms: 0,
    };

    /// The host calls `poll` every `interval_ms` milliseconds.
    pub const fn periodic(interval_ms: u32) -> Polling {
        Polling {
            mode: PollMode::Periodic,
            interval_ms,
            max_wait_ms: 0,
        }
    }
}

impl Polling {
    /// Each `poll` holds a request open for up to `max_wait_ms` (long poll or
    /// a server-sent event read); `interval_ms` paces retries after failed
    /// polls (the base of the host's backoff).
    pub const fn long_poll(interval_ms: u32, max_wait_ms: u32) -> Polling {
        Polling {
            mode: PollMode::LongPoll,
            interval_ms,
            max_wait_ms,
        }
    }
}

impl AdapterInfo {
    /// A self-description of adapter `name` serving `channels`, with no
    /// capabilities, no webhooks, no polling and an empty settings schema;
    /// complete it with [`with`](AdapterInfo::with) and
    /// [`signed`](AdapterInfo::signed). `version` is usually
    /// [`adapter_version!()`](crate::adapter_version).
    pub fn new(name: &str, version: &str, channels: &[&str]) -> Self {
        AdapterInfo {
            name: name.into(),
            version: version.into(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            capabilities: Capabilities::NONE,
            webhook_signature: None,
            polling: Polling::NONE,
            settings_schema: "{}".into(),
        }
    }

    /// The same with these capabilities, polling and settings schema (JSON
    /// Schema text, usually `include_str!("../settings.schema.json")`).
    pub fn with(mut self, capabilities: Capabilities, polling: Polling, schema: &str) -> Self {
        self.capabilities = capabilities;
        self.polling = polling;
        self.settings_schema = schema.into();
        self
    }

    /// The same, declaring how the provider signs its webhooks.
    pub fn signed(mut self, signature: WebhookSignature) -> Self {
        self.webhook_signature = Some(signature);
        self
    }
}

impl Capabilities {
    /// Every capability switched on.
    pub const ALL: Capabilities = Capabilities {
        attachments: true,
        typing: true,
        queue_position: true,
        availability_check: true,
        bot_side_close: true,
        transcript: true,
    };

    /// Every capability switched off.
    pub const NONE: Capabilities = Capabilities {
        attachments: false,
        typing: false,
        queue_position: false,
        availability_check: false,
        bot_side_close: false,
        transcript: false,
    };
}
