//! The Sunshine Conversations v2 routes the adapter uses, spelled like the
//! `paths` keys of `openapi.yaml` so the gate validates each body against
//! its operation.

use super::Shared;
use super::state::{AGENT, Conversation, Data};
use crate::kit::{self, Answer};
use crate::openapi::Violation;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;
type Params = Path<HashMap<String, String>>;

const CONV: &str = "/v2/apps/{appId}/conversations/{conversationId}";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{CONV}/passControl"), post(pass_control))
        .route(&format!("{CONV}/releaseControl"), post(release_control))
        .route(&format!("{CONV}/activity"), post(post_activity))
        .route(
            &format!("{CONV}/messages"),
            post(post_message).get(list_messages),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found: Resource not found") })
        .with_state(shared)
}

/// Sunshine's error body: `{"errors": [{"code", "title"}]}`; `message` is
/// `code: title` or just a title.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let (code, title) = message.split_once(": ").unwrap_or(match status.as_u16() {
        400 => ("bad_request", message),
        401 => ("unauthorized", message),
        404 => ("not_found", message),
        429 => ("too_many_requests", message),
        _ => ("internal_error", message),
    });
    (
        status,
        Json(json!({"errors": [{"code": code, "title": title}]})),
    )
        .into_response()
}

/// The conversation id after checking the app. An unknown conversation is
/// created unless `known_only` (the user's conversation exists at Sunshine
/// before the bot hands it over; the simulator does not model the channel
/// that created it).
fn scope(shared: &Shared, p: &HashMap<String, String>) -> Result<String, Response> {
    let mut data = shared.lock();
    if p.get("appId") != Some(&data.app_id) {
        return Err(error(StatusCode::NOT_FOUND, "app_not_found: App not found"));
    }
    let conv = p.get("conversationId").cloned().unwrap_or_default();
    if data.conversation(&conv).is_none() {
        if data.known_only {
            return Err(error(
                StatusCode::NOT_FOUND,
                "conversation_not_found: Conversation not found",
            ));
        }
        data.conversations.push(Conversation::new(&conv));
    }
    Ok(conv)
}

fn parse(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or(json!({}))
}

async fn pass_control(State(sh): S, Path(p): Params, bytes: Bytes) -> Answer {
    let conv = scope(&sh, &p)?;
    let body = parse(&bytes);
    let reference = body["switchboardIntegration"].as_str().unwrap_or_default();
    let mut data = sh.lock();
    let Some(target) = data.resolve(&conv, reference) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request: switchboardIntegration matches no switchboard integration",
        ));
    };
    let messages = data.messages.len();
    let c = data.conversation_mut(&conv).expect("scoped");
    c.active = Some(target);
    if target == AGENT {
        c.handover_metadata = body.get("metadata").cloned();
        c.handed_over_at = Some(messages);
        c.returned_by_api = false;
    } else {
        c.returned_by_api = true;
    }
    Ok(switchboard_event(
        &sh,
        &mut data,
        "passControl",
        &conv,
        &body,
    ))
}

async fn release_control(State(sh): S, Path(p): Params, bytes: Bytes) -> Answer {
    let conv = scope(&sh, &p)?;
    let body = parse(&bytes);
    let mut data = sh.lock();
    let c = data.conversation_mut(&conv).expect("scoped");
    c.active = None;
    c.returned_by_api = true;
    Ok(switchboard_event(
        &sh,
        &mut data,
        "releaseControl",
        &conv,
        &body,
    ))
}

/// Sends the webhook `switchboard:<action>` for `conv` (with the request's
/// `metadata`, if any) and answers the switchboard call.
fn switchboard_event(
    sh: &Shared,
    data: &mut Data,
    action: &str,
    conv: &str,
    body: &Value,
) -> Response {
    let mut payload = json!({"conversation": data.conversation_json(conv)});
    if let Some(m) = body.get("metadata") {
        payload["metadata"] = m.clone();
    }
    sh.emit(data, &format!("switchboard:{action}"), conv, payload);
    Json(json!({})).into_response()
}

/// `POST .../activity` (`activityPost`): typing and read activities. As
/// the spec says of `activityTypes.type`, "if the author type is `user`,
/// only `conversation:read` is supported": anything else from a user author
/// is refused (400) and recorded as a violation. An accepted activity is
/// recorded and sent to webhooks as `conversation:typing` or
/// `conversation:read`.
async fn post_activity(State(sh): S, Path(p): Params, bytes: Bytes) -> Answer {
    let conv = scope(&sh, &p)?;
    let body = parse(&bytes);
    let kind = body["type"].as_str().unwrap_or_default().to_string();
    let author = &body["author"];
    if author["type"] == "user" && kind != "conversation:read" {
        sh.gate.record_violation(Violation {
            what: format!("POST {CONV}/activity"),
            schema: "sunshine/openapi.yaml#/components/schemas/activityTypes".into(),
            errors: vec![format!(
                "`{kind}` from a user author: if the author type is `user`, only \
                 `conversation:read` is supported"
            )],
            body: body.to_string(),
        });
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request: if the author type is user, only conversation:read is supported",
        ));
    }
    let mut data = sh.lock();
    let c = data.conversation_mut(&conv).expect("scoped");
    c.activities.push(body.clone());
    if kind == "conversation:read" && author["type"] == "business" {
        c.business_last_read_ms = Some(kit::unix_ms());
    }
    let mut activity_author = json!({"type": author["type"]});
    if let Some(user) = author["userId"].as_str() {
        activity_author["userId"] = json!(user);
    }
    let activity =
        json!({"type": kind, "author": activity_author, "source": {"type": "api:conversations"}});
    let event = if kind == "conversation:read" {
        "conversation:read"
    } else {
        "conversation:typing"
    };
    let payload = json!({"conversation": data.conversation_json(&conv), "activity": activity});
    sh.emit(&mut data, event, &conv, payload);
    Ok(Json(json!({})).into_response())
}

async fn post_message(State(sh): S, Path(p): Params, bytes: Bytes) -> Answer {
    let conv = scope(&sh, &p)?;
    let body = parse(&bytes);
    let author = &body["author"];
    if author["type"] == "user" && author["userId"].is_null() && author["userExternalId"].is_null()
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request: a user author needs userId or userExternalId",
        ));
    }
    let mut data = sh.lock();
    // Stored (and echoed) the way Sunshine shows it: a user given by
    // externalId is shown with a userId.
    let mut author = author.clone();
    if let Some(external) = author
        .as_object_mut()
        .and_then(|a| a.remove("userExternalId"))
    {
        author["userId"] = json!(format!("user-{}", external.as_str().unwrap_or_default()));
    }
    let message = data.push_message(
        &conv,
        author,
        body["content"].clone(),
        body.get("metadata").cloned(),
        "api:conversations",
    );
    let payload = json!({"conversation": data.conversation_json(&conv), "message": message.json()});
    sh.emit(&mut data, "conversation:message", &conv, payload);
    Ok((
        StatusCode::CREATED,
        Json(json!({"messages": [message.json()]})),
    )
        .into_response())
}

async fn list_messages(
    State(sh): S,
    Path(p): Params,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let conv = scope(&sh, &p)?;
    let data = sh.lock();
    let all: Vec<_> = data
        .messages
        .iter()
        .filter(|m| m.conversation_id == conv)
        .collect();
    let position = |id: &String| all.iter().position(|m| &m.id == id);
    let (start, end) = match (q.get("page[after]"), q.get("page[before]")) {
        (Some(after), _) => {
            let Some(i) = position(after) else {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request: unknown page[after] cursor",
                ));
            };
            (i + 1, (i + 1 + 100).min(all.len()))
        }
        (None, Some(before)) => {
            let Some(i) = position(before) else {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request: unknown page[before] cursor",
                ));
            };
            (i.saturating_sub(100), i)
        }
        (None, None) => (all.len().saturating_sub(100), all.len()),
    };
    let page: Vec<Value> = all[start..end].iter().map(|m| m.json()).collect();
    let mut meta = json!({"hasMore": end < all.len()});
    if end < all.len() {
        meta["afterCursor"] = json!(all[end - 1].id);
    }
    if start > 0
        && let Some(first) = all.get(start)
    {
        meta["beforeCursor"] = json!(first.id);
    }
    Ok(Json(json!({"messages": page, "meta": meta})).into_response())
}
