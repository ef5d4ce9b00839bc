//! Builders for adapters' native unit tests: call contexts, webhook
//! requests and conversations, so each adapter's tests hold only what is
//! particular to its provider. No I/O; never used by an export.

use crate::types::{
    Author, CallContext, Conversation, HttpRequest, KeyValue, Routing, TranscriptEntry,
};

/// A call context for handover `h-1` with `settings`.
pub fn ctx(settings: &str) -> CallContext {
    CallContext {
        handover_id: "h-1".into(),
        settings: settings.into(),
    }
}

/// A `POST` of `body` to `path` without headers (signatures are the
/// host's business).
pub fn request(path: &str, body: impl Into<Vec<u8>>) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        headers: Vec::new(),
        body: body.into(),
    }
}

/// A transcript entry.
pub fn entry(author: Author, text: impl Into<String>, timestamp_ms: u64) -> TranscriptEntry {
    TranscriptEntry {
        author,
        text: text.into(),
        timestamp_ms,
    }
}

/// Key-value pairs from string pairs.
pub fn pairs(list: &[(&str, &str)]) -> Vec<KeyValue> {
    list.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect()
}

/// Handover `h-1` (session `s-1`, user `u-1`) on `webchat` in `en-US`, with
/// no profile, transcript or routing and an empty context; tests fill in
/// what they need.
pub fn conversation() -> Conversation {
    Conversation {
        handover_id: "h-1".into(),
        session_id: "s-1".into(),
        user_id: "u-1".into(),
        channel: "webchat".into(),
        locale: "en-US".into(),
        user_profile: Vec::new(),
        transcript: Vec::new(),
        routing: Routing {
            skills: Vec::new(),
            language: None,
            priority: None,
            queue: None,
            custom: Vec::new(),
        },
        context: "{}".into(),
    }
}
