//! The MIAW HTTP API the adapter calls (behind the simulator's gate, which
//! records every request and answers scripted faults).
// Handler helpers return axum's `Response` as their error: it is what
// the handler answers with.
#![allow(clippy::result_large_err)]

use super::{MAX_TEXT_CHARS, MiawConversation, MiawMessage, Shared};
use crate::kit::{self, Answer};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

type S = State<Arc<Shared>>;

/// How often an idle stream gets a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/iamessage/api/v2/authorization/unauthenticated/access-token",
            post(access_token),
        )
        .route("/iamessage/api/v2/conversation", post(create))
        .route("/iamessage/api/v2/conversation/{id}", delete(close))
        .route("/iamessage/api/v2/conversation/{id}/message", post(message))
        .route("/iamessage/api/v2/conversation/{id}/entry", post(entry))
        .route("/eventrouter/v1/sse", get(sse))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .with_state(shared)
}

/// Salesforce's error body: `{"code": status, "message": …}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"code": status.as_u16(), "message": message.into()});
    (status, Json(body)).into_response()
}

/// The JSON body as `T`, or a 400.
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// The subject of the request's `Authorization: Bearer` token, or a 401.
fn subject(shared: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "missing Bearer access token"))?;
    shared
        .lock()
        .identities
        .iter()
        .find(|(t, _)| t == token)
        .map(|(_, s)| s.clone())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "invalid access token"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    org_id: String,
    es_developer_name: String,
    capabilities_version: String,
    platform: String,
}

async fn access_token(State(shared): S, body: Bytes) -> Answer {
    let req: TokenRequest = parse(&body)?;
    let mut st = shared.lock();
    if req.org_id != st.org_id {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("unknown orgId {}", req.org_id),
        ));
    }
    if req.es_developer_name != st.es_developer_name {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("no deployment named {}", req.es_developer_name),
        ));
    }
    if req.capabilities_version.is_empty() || req.platform.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "capabilitiesVersion and platform are required",
        ));
    }
    let n = st.identities.len() + 1;
    let subject = format!("v2/iamessage/UNAUTH/NA/uid:sim-{n}");
    let signature = kit::unix_ms() ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let token = format!("eyJhbGciOiJSUzI1NiJ9.sim-{n}.{signature:016x}");
    st.identities.push((token.clone(), subject));
    let last = st.last_event_id();
    Ok(Json(json!({
        "accessToken": token,
        "lastEventId": last.to_string(),
        "context": {"configuration": {"embeddedServiceConfig": {"name": st.es_developer_name}}},
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewConversation {
    conversation_id: String,
    es_developer_name: String,
    #[serde(default)]
    routing_attributes: Map<String, Value>,
}

/// A UUID in canonical lowercase form, as MIAW requires.
fn is_lowercase_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

async fn create(State(shared): S, headers: HeaderMap, body: Bytes) -> Answer {
    let subject = subject(&shared, &headers)?;
    let req: NewConversation = parse(&body)?;
    if !is_lowercase_uuid(&req.conversation_id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "conversationId must be a lowercase UUID",
        ));
    }
    if let Some((k, _)) = req.routing_attributes.iter().find(|(_, v)| !v.is_string()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("routingAttributes.{k} must be a string"),
        ));
    }
    let mut st = shared.lock();
    if req.es_developer_name != st.es_developer_name {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "esDeveloperName does not match",
        ));
    }
    if st.conversations.iter().any(|c| c.id == req.conversation_id) {
        return Err(error(StatusCode::CONFLICT, "conversation already exists"));
    }
    // The MessagingSession Salesforce opens for the conversation.
    let session_record = format!("0MwSIM{:09}AAA", st.conversations.len() + 1);
    st.conversations.push(MiawConversation {
        id: req.conversation_id.clone(),
        subject,
        routing_attributes: req.routing_attributes,
        messages: Vec::new(),
        agents: Vec::new(),
        closed: false,
        session_record,
        user_typing: Vec::new(),
    });
    let failure = st.routing_failure.clone();
    let wait = st.estimated_wait.map_or(-1, i64::from);
    let payload = json!({
        "entryType": "RoutingResult",
        "routingType": "Initial",
        "failureType": failure.as_deref().unwrap_or("None"),
        "failureReason": failure.as_ref().map(|_| "no agent can take the conversation"),
        "estimatedWaitTime": {"isEWTRequested": wait >= 0, "estimatedWaitTimeInSeconds": wait},
    });
    let _ = st.emit(
        &req.conversation_id,
        "CONVERSATION_ROUTING_RESULT",
        "RoutingResult",
        ("Router", "router", "Omni-Channel"),
        payload,
    );
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewMessage {
    message: MessageBody,
    es_developer_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageBody {
    id: String,
    message_type: String,
    static_content: StaticContent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticContent {
    format_type: String,
    text: String,
}

/// The conversation `id` of `subject`, or 404 / 403.
fn owned<'a>(
    st: &'a mut super::State,
    id: &str,
    subject: &str,
) -> Result<&'a mut MiawConversation, Response> {
    let c = st
        .conversation_mut(id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown conversation {id}")))?;
    if c.subject != subject {
        return Err(error(
            StatusCode::FORBIDDEN,
            "not a participant of this conversation",
        ));
    }
    Ok(c)
}

async fn message(
    State(shared): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let subject = subject(&shared, &headers)?;
    let req: NewMessage = parse(&body)?;
    let m = &req.message;
    if m.message_type != "StaticContentMessage" || m.static_content.format_type != "Text" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "only StaticContentMessage / Text is simulated",
        ));
    }
    let chars = m.static_content.text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("text must have 1 to {MAX_TEXT_CHARS} characters, got {chars}"),
        ));
    }
    if m.id.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "message.id is required"));
    }
    let mut st = shared.lock();
    if req.es_developer_name != st.es_developer_name {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "esDeveloperName does not match",
        ));
    }
    let c = owned(&mut st, &id, &subject)?;
    if c.closed {
        return Err(error(StatusCode::CONFLICT, "the conversation is closed"));
    }
    let accepted =
        json!({"conversationEntries": [{"id": m.id, "clientTimestamp": kit::unix_ms()}]});
    if c.messages.iter().any(|x| x.id == m.id) {
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    }
    c.messages.push(MiawMessage {
        id: m.id.clone(),
        text: m.static_content.text.clone(),
        delivered: false,
        read: false,
    });
    let _ = st.emit(
        &id,
        "CONVERSATION_MESSAGE",
        "Message",
        ("EndUser", &subject, "Guest"),
        json!({"entryType": "Message", "id": m.id, "abstractMessage": {
            "messageType": "StaticContentMessage", "id": m.id,
            "staticContent": {"formatType": "Text", "text": m.static_content.text}}}),
    );
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewEntry {
    entry_type: String,
    #[serde(default)]
    id: Option<String>,
}

/// The end user's typing indicators (other entry types are not simulated).
async fn entry(
    State(shared): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let subject = subject(&shared, &headers)?;
    let req: NewEntry = parse(&body)?;
    let on = match req.entry_type.as_str() {
        "TypingStartedIndicator" => true,
        "TypingStoppedIndicator" => false,
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "entryType must be TypingStartedIndicator or TypingStoppedIndicator, got {other:?}"
                ),
            ));
        }
    };
    if req.id.as_deref().is_some_and(str::is_empty) {
        return Err(error(StatusCode::BAD_REQUEST, "id must not be empty"));
    }
    let mut st = shared.lock();
    let c = owned(&mut st, &id, &subject)?;
    if c.closed {
        return Err(error(StatusCode::CONFLICT, "the conversation is closed"));
    }
    c.user_typing.push(on);
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn close(
    State(shared): S,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Answer {
    let subject = subject(&shared, &headers)?;
    let mut st = shared.lock();
    if q.get("esDeveloperName") != Some(&st.es_developer_name) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "esDeveloperName query parameter does not match",
        ));
    }
    let c = owned(&mut st, &id, &subject)?;
    if !c.closed {
        c.closed = true;
        // Sent when the end user closes the conversation.
        let _ = st.emit(
            &id,
            "CONVERSATION_CLOSE_CONVERSATION",
            "CloseConversation",
            ("EndUser", &subject, "Guest"),
            json!({"entryType": "CloseConversation"}),
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One event in `text/event-stream` framing.
fn frame(id: u64, name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {name}\ndata: {data}\n\n"))
}

async fn sse(State(shared): S, headers: HeaderMap) -> Answer {
    let subject = subject(&shared, &headers)?;
    let org = headers.get("x-org-id").and_then(|v| v.to_str().ok());
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (start, per_connection) = {
        let mut st = shared.lock();
        match org {
            None => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "X-Org-Id header is required",
                ));
            }
            Some(o) if o != st.org_id => {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    "X-Org-Id does not match the token's org",
                ));
            }
            Some(_) => {}
        }
        let start = match last.as_deref().map(str::parse::<u64>) {
            None => st.last_event_id(),
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "Last-Event-Id must be an event id",
                ));
            }
        };
        st.sse_connections.push(last);
        (start, st.events_per_connection)
    };
    let mut changed = shared.subscribe();
    let stream = async_stream::stream! {
        let mut cursor = start;
        let mut sent = 0usize;
        'open: loop {
            let batch: Vec<(u64, String, Value)> = shared
                .lock()
                .events
                .iter()
                .filter(|e| e.subject == subject && e.id > cursor)
                .map(|e| (e.id, e.name.clone(), e.data.clone()))
                .collect();
            if shared.closing() {
                break;
            }
            for (id, name, data) in batch {
                if per_connection.is_some_and(|n| sent >= n) {
                    break 'open;
                }
                cursor = id;
                sent += 1;
                yield Ok::<Bytes, Infallible>(frame(id, &name, &data));
            }
            if per_connection.is_some_and(|n| sent >= n) {
                break;
            }
            match tokio::time::timeout(KEEP_ALIVE, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => yield Ok(Bytes::from_static(b": keep-alive\n\n")),
            }
        }
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}
