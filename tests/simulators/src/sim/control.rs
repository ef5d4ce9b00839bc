//! The `/_sim/` control routes: the [`super::SimProvider`] calls over HTTP
//! for curl-driven demos. Bodies are optional JSON objects; missing fields
//! take defaults. Event routes answer the emitted event.

use super::api::error;
use super::events::{self, Payload};
use super::state::Shared;
use super::types::{Attachment, Delivery};
use crate::kit::Answer;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/conversations", get(conversations))
        .route("/conversations/{id}", get(conversation))
        .route("/conversations/{id}/{action}", post(conversation_action))
        .route("/fail_next", post(fail_next))
        .route("/availability", post(availability))
        .route("/queue_position", post(queue_position))
        .route("/webhook", post(set_webhook))
        .route("/duplicate_webhooks", post(duplicate))
        .route("/hold_webhooks", post(hold))
        .route("/release_held", post(release_held))
        .route(
            "/requests",
            get(|State(s): S| async move { Json(s.gate.requests()) }),
        )
        .route(
            "/deliveries",
            get(|State(s): S| async move { Json(Delivery::all(&s.outbox)) }),
        )
        .with_state(shared)
}

/// The body as a JSON object (`{}` when empty), or a 400.
fn body(bytes: &Bytes) -> Result<Value, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let bad = |message: String| Err(error(StatusCode::BAD_REQUEST, message));
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => bad("body must be a JSON object".into()),
        Err(e) => bad(format!("bad JSON body: {e}")),
    }
}

/// The body's `on` switch (default true).
fn on(bytes: &Bytes) -> Result<bool, Response> {
    Ok(body(bytes)?["on"].as_bool().unwrap_or(true))
}

fn str_or<'a>(v: &'a Value, key: &str, default: &'a str) -> &'a str {
    v[key].as_str().unwrap_or(default)
}

fn u32_of(v: &Value, key: &str) -> Option<u32> {
    v[key].as_u64().and_then(|n| u32::try_from(n).ok())
}

fn ok() -> Answer {
    Ok(Json(json!({})).into_response())
}

async fn conversations(State(shared): S) -> Response {
    let st = shared.lock();
    let all: Vec<_> = st.convs.iter().map(|c| &c.record).collect();
    Json(json!({ "conversations": all })).into_response()
}

async fn conversation(State(shared): S, Path(id): Path<String>) -> Response {
    let st = shared.lock();
    match st.conv(&id) {
        Some(c) => Json(json!({ "conversation": c.record, "events": c.events })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("unknown conversation {id}")),
    }
}

/// `agent_join`, `agent_message`, `agent_typing`, `agent_leave`,
/// `transfer`, `end` and `queue_update` on conversation `id`.
async fn conversation_action(
    State(shared): S,
    Path((id, action)): Path<(String, String)>,
    bytes: Bytes,
) -> Answer {
    let b = body(&bytes)?;
    let payload: Payload = match action.as_str() {
        "agent_join" => {
            events::agent_joined(str_or(&b, "agent_id", "a-1"), str_or(&b, "name", "Agent"))
        }
        "agent_message" => {
            let attachments: Vec<Attachment> =
                serde_json::from_value(b["attachments"].clone()).unwrap_or_default();
            events::agent_message(str_or(&b, "text", ""), &attachments)
        }
        "agent_typing" => events::agent_typing(b["on"].as_bool().unwrap_or(true)),
        "agent_leave" => events::agent_left(),
        "transfer" => events::transferred(str_or(&b, "to_queue", "default")),
        "end" => events::ended(str_or(&b, "reason", "agent_closed")),
        "queue_update" => events::queued(u32_of(&b, "position"), u32_of(&b, "wait_s")),
        other => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("unknown action {other:?}"),
            ));
        }
    };
    match shared.emit(&id, payload.0, payload.1) {
        Ok(event) => Ok(Json(event).into_response()),
        Err(e) => Err(error(StatusCode::NOT_FOUND, e.to_string())),
    }
}

async fn fail_next(State(shared): S, bytes: Bytes) -> Answer {
    let b = body(&bytes)?;
    let status = b["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(500);
    let count = u32_of(&b, "count").unwrap_or(1);
    let prefix = str_or(&b, "path_prefix", "/");
    shared.gate.faults().add_prefix(prefix, status, count);
    ok()
}

async fn availability(State(shared): S, bytes: Bytes) -> Answer {
    let b = body(&bytes)?;
    shared.lock().availability = json!({
        "agents_available": b["agents_available"].as_bool().unwrap_or(true),
        "open": b["open"].as_bool().unwrap_or(true),
        "estimated_wait_seconds": u32_of(&b, "estimated_wait_seconds"),
    });
    ok()
}

async fn queue_position(State(shared): S, bytes: Bytes) -> Answer {
    let b = body(&bytes)?;
    let mut st = shared.lock();
    st.queue_position = u32_of(&b, "position");
    st.queue_wait = u32_of(&b, "wait_s");
    drop(st);
    ok()
}

async fn set_webhook(State(shared): S, bytes: Bytes) -> Answer {
    let url = body(&bytes)?["url"].as_str().map(String::from);
    shared.outbox.set_url(url);
    ok()
}

async fn duplicate(State(shared): S, bytes: Bytes) -> Answer {
    shared.outbox.set_duplicate(on(&bytes)?);
    ok()
}

async fn hold(State(shared): S, bytes: Bytes) -> Answer {
    shared.outbox.set_hold(on(&bytes)?);
    ok()
}

async fn release_held(State(shared): S, bytes: Bytes) -> Answer {
    let reverse = body(&bytes)?["reverse"].as_bool().unwrap_or(false);
    let released = shared.outbox.release_held(reverse).await;
    Ok(Json(json!({ "released": released })).into_response())
}
