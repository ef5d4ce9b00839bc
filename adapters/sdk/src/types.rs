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
