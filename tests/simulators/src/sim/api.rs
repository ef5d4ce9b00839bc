//! The provider API the adapter calls (`/conversations…`, `/availability`),
//! behind the gate, which records every request and injects scripted faults.

use super::state::{Conv, Shared};
use super::types::{Attachment, ConversationRecord, TranscriptEntry, UserMessage};
use super::{auto_agent, events};
use crate::kit::Answer;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/conversations", post(create))
        .route("/conversations/{id}/messages", post(message))
        .route("/conversations/{id}/cancel", post(cancel))
        .route("/conversations/{id}/close", post(close))
        .route("/conversations/{id}/typing", post(typing))
        .route("/conversations/{id}/events", get(events))
        .route("/availability", get(availability))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The gate in front of the routes; every request is a change.
async fn record(State(shared): S, req: Request, next: Next) -> Response {
    let response = shared.gate.run(req, next).await;
    shared.bump();
    response
}

/// The body as `T`, or a 400.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

#[derive(Deserialize)]
struct NewConversation {
    handover_id: String,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    profile: Map<String, Value>,
    #[serde(default)]
    transcript: Vec<TranscriptEntry>,
    #[serde(default)]
    routing: Value,
}

const AUTHORS: [&str; 4] = ["user", "bot", "agent", "system"];
const KINDS: [&str; 3] = ["text", "intent", "quick_reply"];

async fn create(State(shared): S, body: Bytes) -> Answer {
    let new: NewConversation = parse(&body)?;
    if let Some(bad) = new
        .transcript
        .iter()
        .find(|t| !AUTHORS.contains(&t.author.as_str()))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown transcript author {:?}", bad.author),
        ));
    }
    let (id, position, wait) = {
        let mut st = shared.lock();
        let id = format!("c-{}", st.next_conv);
        st.next_conv += 1;
        let auto = shared
            .auto_agent
            .clone()
            .map(|cfg| auto_agent::spawn(&shared, &id, cfg));
        st.convs.push(Conv {
            record: ConversationRecord {
                id: id.clone(),
                handover_id: new.handover_id,
                session_id: new.session_id,
                user_id: new.user_id,
                channel: new.channel,
                locale: new.locale,
                profile: new.profile,
                status: "queued".into(),
                transcript: new.transcript,
                user_messages: Vec::new(),
                user_typing: Vec::new(),
                routing: new.routing,
                agent: None,
                queue: None,
                events_emitted: 0,
            },
            events: Vec::new(),
            auto_agent: auto,
            last_agent: None,
        });
        (id, st.queue_position, st.queue_wait)
    };
    let (kind, fields) = events::queued(position, wait);
    let _ = shared.emit(&id, kind, fields);
    let body = json!({ "id": id, "queue_position": position, "estimated_wait_seconds": wait });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[derive(Deserialize)]
struct NewMessage {
    /// The adapter's message id (contract 0.2.0 builds send one).
    #[serde(default)]
    id: Option<String>,
    text: String,
    #[serde(default = "text_kind")]
    kind: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

fn text_kind() -> String {
    "text".into()
}

async fn message(State(shared): S, Path(id): Path<String>, body: Bytes) -> Answer {
    let msg: NewMessage = parse(&body)?;
    if !KINDS.contains(&msg.kind.as_str()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown message kind {:?}", msg.kind),
        ));
    }
    {
        let mut st = shared.lock();
        let Some(c) = st.conv_mut(&id) else {
            return Err(unknown(&id));
        };
        if c.record.is_terminal() {
            return Err(error(
                StatusCode::CONFLICT,
                format!("conversation {id} is {}", c.record.status),
            ));
        }
        if let Some(tx) = &c.auto_agent {
            let _ = tx.send(msg.text.clone());
        }
        c.record.user_messages.push(UserMessage {
            id: msg.id,
            text: msg.text,
            kind: msg.kind,
            attachments: msg.attachments,
        });
    }
    shared.bump();
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Typing {
    typing: bool,
}

/// The user started or stopped typing: recorded in `user_typing`.
async fn typing(State(shared): S, Path(id): Path<String>, body: Bytes) -> Answer {
    let t: Typing = parse(&body)?;
    {
        let mut st = shared.lock();
        let Some(c) = st.conv_mut(&id) else {
            return Err(unknown(&id));
        };
        c.record.user_typing.push(t.typing);
    }
    shared.bump();
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

fn unknown(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("unknown conversation {id}"))
}

async fn cancel(state: S, Path(id): Path<String>) -> Response {
    finish(state, &id, "cancelled")
}

async fn close(state: S, Path(id): Path<String>) -> Response {
    finish(state, &id, "closed")
}

/// Marks the conversation `status` (a terminal one stays as it is) without
/// emitting an event; repeating it is harmless.
fn finish(State(shared): S, id: &str, status: &str) -> Response {
    {
        let mut st = shared.lock();
        let Some(c) = st.conv_mut(id) else {
            return unknown(id);
        };
        if !c.record.is_terminal() {
            c.record.status = status.into();
        }
        c.auto_agent = None;
    }
    shared.bump();
    Json(json!({})).into_response()
}

async fn events(
    State(shared): S,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let after = match q.get("after").map(|a| a.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`after` must be a non-negative integer",
            );
        }
    };
    let st = shared.lock();
    let Some(c) = st.conv(&id) else {
        return unknown(&id);
    };
    let events: Vec<&Value> = c
        .events
        .iter()
        .filter(|e| e["seq"].as_u64().is_some_and(|s| s > after))
        .collect();
    Json(json!({ "events": events })).into_response()
}

async fn availability(State(shared): S) -> Response {
    Json(shared.lock().availability.clone()).into_response()
}
