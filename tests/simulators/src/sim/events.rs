//! Builders of the event payloads (type and type-specific fields); the
//! envelope (`event_id`, `conversation_id`, `seq`) and, when absent, the
//! current `agent` are added by `Shared::emit`.

use super::types::Attachment;
use serde_json::{Map, Value, json};

pub(crate) type Payload = (&'static str, Map<String, Value>);

fn payload(kind: &'static str, fields: Value) -> Payload {
    (kind, super::api::into_map(fields))
}

pub(crate) fn queued(position: Option<u32>, wait_s: Option<u32>) -> Payload {
    payload(
        "queued",
        json!({ "position": position, "estimated_wait_seconds": wait_s }),
    )
}

pub(crate) fn agent_joined(id: &str, name: &str) -> Payload {
    payload(
        "agent_joined",
        json!({ "agent": { "id": id, "name": name } }),
    )
}

pub(crate) fn agent_message(text: &str, attachments: &[Attachment]) -> Payload {
    payload(
        "agent_message",
        json!({ "text": text, "attachments": attachments }),
    )
}

pub(crate) fn agent_typing(on: bool) -> Payload {
    payload("agent_typing", json!({ "typing": on }))
}

pub(crate) fn agent_left() -> Payload {
    payload("agent_left", json!({}))
}

pub(crate) fn transferred(to_queue: &str) -> Payload {
    payload("transferred", json!({ "to_queue": to_queue }))
}

pub(crate) fn ended(reason: &str) -> Payload {
    payload("ended", json!({ "reason": reason }))
}
