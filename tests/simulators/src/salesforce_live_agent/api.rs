//! The Live Agent REST API the adapter calls (behind the simulator's gate,
//! which records every request and answers scripted faults).
// Handler helpers return axum's `Response` as their error: it is what
// the handler answers with.
#![allow(clippy::result_large_err)]

use super::{
    BUTTON_ID, DEPLOYMENT_ID, Detail, LiveAgentChat, ORG_ID, Session, Shared, State, VIP_BUTTON_ID,
};
use crate::kit::{self, Answer, header_str};
use axum::body::Bytes;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

type S = Extract<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/chat/rest/System/SessionId", get(session_id))
        .route("/chat/rest/System/Messages", get(messages))
        .route("/chat/rest/Chasitor/ChasitorInit", post(chasitor_init))
        .route("/chat/rest/Chasitor/ChatMessage", post(chat_message))
        .route("/chat/rest/Chasitor/ChatEnd", post(chat_end))
        .route("/chat/rest/Visitor/Availability", get(availability))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(shared)
}

/// Live Agent answers errors in plain text.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

/// The plain `OK` of a Chasitor call that was acted on.
fn ok() -> Answer {
    Ok((StatusCode::OK, "OK").into_response())
}

/// Every call names the API version it speaks.
fn require_version(headers: &HeaderMap) -> Result<(), Response> {
    match header_str(headers, "x-liveagent-api-version") {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "X-LIVEAGENT-API-VERSION header is required",
        )),
    }
}

/// The session of the request's key and affinity: 401 without a key, 403
/// for a key or affinity the server does not know.
fn session<'a>(st: &'a mut State, headers: &HeaderMap) -> Result<&'a mut Session, Response> {
    require_version(headers)?;
    let key = header_str(headers, "x-liveagent-session-key").ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "X-LIVEAGENT-SESSION-KEY is required",
        )
    })?;
    let affinity = header_str(headers, "x-liveagent-affinity").unwrap_or_default();
    let s = st
        .sessions
        .iter_mut()
        .find(|s| s.chat.key == key)
        .ok_or_else(|| error(StatusCode::FORBIDDEN, "invalid session key"))?;
    if s.chat.affinity != affinity {
        return Err(error(
            StatusCode::FORBIDDEN,
            "affinity token does not match the session",
        ));
    }
    Ok(s)
}

/// The request's `X-LIVEAGENT-SEQUENCE`, which must be the session's next.
fn next_sequence(s: &Session, headers: &HeaderMap) -> Result<u64, Response> {
    let n: u64 = header_str(headers, "x-liveagent-sequence")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "X-LIVEAGENT-SEQUENCE is required"))?;
    let expected = s.chat.sequence + 1;
    if n != expected {
        return Err(error(
            StatusCode::CONFLICT,
            format!("X-LIVEAGENT-SEQUENCE {n} is out of order: expected {expected}"),
        ));
    }
    Ok(n)
}

/// A Chasitor call: its session, its sequence number (the session's next)
/// and its JSON body, checked in that order.
fn chasitor<'a, T: for<'de> Deserialize<'de>>(
    st: &'a mut State,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(&'a mut Session, u64, T), Response> {
    let s = session(st, headers)?;
    let n = next_sequence(s, headers)?;
    let parsed = parse(body)?;
    Ok((s, n, parsed))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

async fn session_id(Extract(shared): S, headers: HeaderMap) -> Answer {
    require_version(&headers)?;
    if header_str(&headers, "x-liveagent-affinity") != Some("null") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "X-LIVEAGENT-AFFINITY must be null for a new session",
        ));
    }
    let mut st = shared.lock();
    let n = st.next();
    let id = format!("5503f854-0ba1-4a0f-a3ab-{n:012x}");
    let secret = kit::unix_ms().wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n;
    let chat = LiveAgentChat {
        key: format!("{id}!{secret:016x}"),
        affinity: format!("{:08x}", secret >> 32),
        id: id.clone(),
        sequence: 0,
        requested: false,
        button_id: String::new(),
        visitor_name: String::new(),
        language: String::new(),
        prechat_details: Vec::new(),
        user_messages: Vec::new(),
        status: "waiting".into(),
        agent: None,
    };
    let body = json!({
        "key": chat.key,
        "id": id,
        "clientPollTimeout": 40,
        "affinityToken": chat.affinity,
    });
    st.sessions.push(Session {
        chat,
        messages: Vec::new(),
        delivered: 0,
    });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Init {
    organization_id: String,
    deployment_id: String,
    button_id: String,
    session_id: String,
    visitor_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    prechat_details: Vec<InitDetail>,
    #[serde(default)]
    prechat_entities: Vec<Value>,
    #[serde(default)]
    receive_queue_updates: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitDetail {
    label: String,
    value: String,
    #[serde(default)]
    transcript_fields: Vec<String>,
    #[serde(default)]
    display_to_agent: bool,
}

async fn chasitor_init(Extract(shared): S, headers: HeaderMap, body: Bytes) -> Answer {
    let mut st = shared.lock();
    let (available, position, wait) = (st.agents_available, st.queue_position, st.estimated_wait);
    let (s, n, init) = chasitor::<Init>(&mut st, &headers, &body)?;
    let problem = if init.organization_id != ORG_ID {
        Some("organizationId is not this org".to_string())
    } else if init.deployment_id != DEPLOYMENT_ID {
        Some("deploymentId is not a deployment of this org".into())
    } else if ![BUTTON_ID, VIP_BUTTON_ID].contains(&init.button_id.as_str()) {
        Some(format!("buttonId {} is not a chat button", init.button_id))
    } else if init.session_id != s.chat.id {
        Some("sessionId is not the session of this key".into())
    } else if init.visitor_name.trim().is_empty() {
        Some("visitorName is required".into())
    } else if s.chat.requested {
        Some("the chat was already requested".into())
    } else {
        init.prechat_details
            .iter()
            .find(|d| !d.display_to_agent && d.transcript_fields.is_empty())
            .map(|d| format!("prechat detail {:?} is neither shown nor saved", d.label))
    };
    if let Some(problem) = problem {
        return Err(error(StatusCode::BAD_REQUEST, problem));
    }
    let _ = (&init.prechat_entities, init.receive_queue_updates);
    s.chat.sequence = n;
    s.chat.requested = true;
    s.chat.button_id = init.button_id;
    s.chat.visitor_name = init.visitor_name;
    s.chat.language = init.language;
    s.chat.prechat_details = init
        .prechat_details
        .into_iter()
        .map(|d| Detail {
            label: d.label,
            value: d.value,
        })
        .collect();
    let id = s.chat.id.clone();
    if available {
        s.chat.status = "queued".into();
        let _ = st.push(
            &id,
            "ChatRequestSuccess",
            json!({"queuePosition": position, "estimatedWaitTime": wait, "geoLocation": {},
                "url": "", "customDetails": [], "visitorId": format!("visitor-{id}")}),
        );
    } else {
        s.chat.status = "failed".into();
        let _ = st.push(
            &id,
            "ChatRequestFail",
            json!({"reason": "Unavailable", "postChatUrl": ""}),
        );
    }
    ok()
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

async fn chat_message(Extract(shared): S, headers: HeaderMap, body: Bytes) -> Answer {
    let mut st = shared.lock();
    let (s, n, msg) = chasitor::<Text>(&mut st, &headers, &body)?;
    if !s.chat.requested || s.chat.is_over() {
        return Err(error(StatusCode::BAD_REQUEST, "no chat in progress"));
    }
    s.chat.sequence = n;
    s.chat.user_messages.push(msg.text);
    ok()
}

#[derive(Deserialize)]
struct End {
    reason: String,
}

async fn chat_end(Extract(shared): S, headers: HeaderMap, body: Bytes) -> Answer {
    let mut st = shared.lock();
    let (s, n, end) = chasitor::<End>(&mut st, &headers, &body)?;
    if end.reason != "client" {
        return Err(error(StatusCode::BAD_REQUEST, "reason must be \"client\""));
    }
    s.chat.sequence = n;
    if !s.chat.is_over() {
        s.chat.status = "ended_by_client".into();
    }
    ok()
}

async fn messages(
    Extract(shared): S,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Answer {
    let ack = match q.get("ack").map(|a| a.parse::<i64>()) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => return Err(error(StatusCode::BAD_REQUEST, "ack must be a number")),
    };
    let mut changed = shared.subscribe();
    let deadline = {
        let mut st = shared.lock();
        let hold = st.hold;
        session(&mut st, &headers)?;
        Instant::now() + hold
    };
    loop {
        {
            if shared.closing() {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            let mut st = shared.lock();
            let s = session(&mut st, &headers)?;
            let after = ack.unwrap_or(s.delivered);
            let batch: Vec<Value> = s
                .messages
                .iter()
                .filter(|m| m.seq > after)
                .map(|m| json!({"type": m.kind, "message": m.message}))
                .collect();
            if let Some(last) = s.messages.last().filter(|_| !batch.is_empty()) {
                let sequence = last.seq;
                s.delivered = s.delivered.max(sequence);
                let body = json!({"messages": batch, "sequence": sequence, "offset": sequence});
                return Ok(Json(body).into_response());
            }
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
}

async fn availability(
    Extract(shared): S,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Answer {
    require_version(&headers)?;
    if q.get("org_id").map(String::as_str) != Some(ORG_ID)
        || q.get("deployment_id").map(String::as_str) != Some(DEPLOYMENT_ID)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "org_id and deployment_id must name this deployment",
        ));
    }
    let Some(ids) = q.get("Availability.ids") else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Availability.ids is required",
        ));
    };
    let need_wait = q
        .get("Availability.needEstimatedWaitTime")
        .map(String::as_str)
        == Some("1");
    let st = shared.lock();
    let results: Vec<Value> = ids
        .split(',')
        .filter(|id| [BUTTON_ID, VIP_BUTTON_ID].contains(id))
        .map(|id| match (st.agents_available, need_wait) {
            (true, true) => {
                json!({"id": id, "isAvailable": true, "estimatedWaitTime": st.estimated_wait})
            }
            (true, false) => json!({"id": id, "isAvailable": true}),
            // Unavailable buttons carry only their id.
            (false, _) => json!({"id": id}),
        })
        .collect();
    Ok(
        Json(json!({"messages": [{"type": "Availability", "message": {"results": results}}]}))
            .into_response(),
    )
}
