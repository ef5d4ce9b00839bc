//! The Genesys Cloud routes the adapter calls (behind the OAuth gate,
//! which records requests and answers scripted faults).

use super::{Conversation, Inbound, Shared};
use crate::kit::{self, Answer, Call, json_response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route(
            "/api/v2/conversations/messages/{id}/inbound/open/message",
            post(inbound_message),
        )
        .route(
            "/api/v2/conversations/messages/{id}/inbound/open/event",
            post(inbound_event),
        )
        .route("/api/v2/conversations/messages/{id}", get(conversation))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not.found", "no such route") })
        .with_state(shared)
}

/// Genesys' error document.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"message": message, "code": code, "status": status.as_u16(), "contextId": kit::new_id()}),
    )
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "bad.credentials",
        "Invalid login credentials.",
    )
}

async fn token(State(shared): S, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared
        .tokens()
        .token_response(&headers, uri.query().unwrap_or(""), &body)
}

/// An inbound document to this integration with a valid token: the
/// document, its sender's `channel.from.id` and its `channel.time`; else
/// the 401, 404 or 400 to answer.
fn inbound(shared: &Shared, call: &Call) -> Result<(Value, String, String), Response> {
    if !shared.tokens().check(&call.headers, false) {
        return Err(unauthorized());
    }
    if call.param != shared.cfg.integration_id {
        let e = error(StatusCode::NOT_FOUND, "not.found", "integration not found");
        return Err(e);
    }
    let bad = |m: &str| Err(error(StatusCode::BAD_REQUEST, "bad.request", m));
    let Ok(body) = serde_json::from_slice::<Value>(&call.body) else {
        return bad("malformed JSON");
    };
    let from = &body["channel"]["from"];
    let id = from["id"].as_str().unwrap_or("").to_string();
    if id.is_empty() || from["idType"].as_str().unwrap_or("").is_empty() {
        return bad("channel.from.id and channel.from.idType are required");
    }
    let time = body["channel"]["time"].as_str().unwrap_or("").to_string();
    if time.len() < 20 || !time.ends_with('Z') {
        return bad("channel.time must be an ISO-8601 UTC date time");
    }
    Ok((body, id, time))
}

async fn inbound_message(State(shared): S, call: Call) -> Answer {
    let (body, user_id, time) = inbound(&shared, &call)?;
    let text = body["text"].as_str().unwrap_or("").to_string();
    let content = body.get("content").cloned().unwrap_or(json!([]));
    if text.is_empty() && content.as_array().is_none_or(Vec::is_empty) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "text or content is required",
        ));
    }
    let message_id = body["channel"]["messageId"]
        .as_str()
        .map_or_else(kit::new_id, str::to_string);
    let attributes: BTreeMap<String, String> = body["channel"]["metadata"]["customAttributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let conversation_id = {
        let mut st = shared.lock();
        let open = st
            .convs
            .iter_mut()
            .rfind(|c| c.user_id == user_id && c.customer_connected);
        let conv = match open {
            Some(c) => c,
            None => {
                // The first message of this user: a new conversation, which
                // the inbound message flow routes to a queue.
                st.convs.push(Conversation {
                    id: kit::new_id(),
                    from: body["channel"]["from"].clone(),
                    user_id: user_id.clone(),
                    attributes: BTreeMap::new(),
                    inbound: Vec::new(),
                    user_events: Vec::new(),
                    agents: Vec::new(),
                    customer_connected: true,
                });
                st.convs.last_mut().expect("just pushed")
            }
        };
        conv.attributes.extend(attributes);
        conv.inbound.push(Inbound {
            message_id: message_id.clone(),
            text: text.clone(),
            content: content.clone(),
            time: time.clone(),
        });
        conv.id.clone()
    };
    shared.bump();
    let cfg = &shared.cfg;
    let mut answer = json!({
        "id": kit::new_id(),
        "channel": {
            "id": cfg.integration_id, "platform": "Open", "type": "Private",
            "messageId": message_id, "to": {"id": cfg.integration_id},
            "from": body["channel"]["from"], "time": time,
        },
        "type": "Text", "text": text, "content": content, "direction": "Inbound",
    });
    if call.uri.query().is_some_and(|q| {
        kit::form(q)
            .get("prefetchConversationId")
            .is_some_and(|v| v == "true")
    }) {
        answer["conversationId"] = conversation_id.into();
    }
    Ok(json_response(StatusCode::ACCEPTED, answer))
}

async fn inbound_event(State(shared): S, call: Call) -> Answer {
    let (body, user_id, _) = inbound(&shared, &call)?;
    let mut st = shared.lock();
    let open = st
        .convs
        .iter_mut()
        .rfind(|c| c.user_id == user_id && c.customer_connected);
    let Some(c) = open else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not.found",
            "no open conversation",
        ));
    };
    c.user_events.push(body.clone());
    Ok(json_response(StatusCode::ACCEPTED, body))
}

async fn conversation(State(shared): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !shared.tokens().check(&headers, false) {
        return unauthorized();
    }
    let st = shared.lock();
    let Some(c) = st.convs.iter().find(|c| c.id == id) else {
        return error(StatusCode::NOT_FOUND, "not.found", "conversation not found");
    };
    let state = |on: bool| if on { "connected" } else { "disconnected" };
    let mut participants = vec![json!({
        "id": kit::new_id(), "name": c.from["nickname"], "purpose": "customer",
        "state": state(c.customer_connected), "address": c.user_id,
    })];
    let waiting = c.customer_connected && c.agent().is_none();
    participants.push(json!({
        "id": kit::new_id(), "name": "Support queue", "purpose": "acd",
        "state": state(waiting), "queue": {"id": "queue-1"},
    }));
    for a in &c.agents {
        participants.push(json!({
            "id": kit::new_id(), "name": a.name, "purpose": "agent",
            "state": state(a.connected), "user": {"id": a.user_id},
        }));
    }
    json_response(
        StatusCode::OK,
        json!({"id": c.id, "participants": participants}),
    )
}
