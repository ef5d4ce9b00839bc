//! Chatwoot's Application API routes the adapter uses, spelled exactly like
//! the `paths` keys of `swagger.json` so the gate validates each body
//! against its operation.

use super::Shared;
use super::state::{Contact, Conversation, Message, Sender};
use crate::kit::{self, Answer};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;
type Params = Path<HashMap<String, String>>;
type Q = Query<HashMap<String, String>>;

const ACC: &str = "/api/v1/accounts/{account_id}";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let conv = format!("{ACC}/conversations/{{conversation_id}}");
    Router::new()
        .route(&format!("{ACC}/contacts/search"), get(search_contacts))
        .route(&format!("{ACC}/contacts"), post(create_contact))
        .route(
            &format!("{ACC}/contacts/{{id}}/contact_inboxes"),
            post(create_contact_inbox),
        )
        .route(&format!("{ACC}/conversations"), post(create_conversation))
        .route(&conv, get(show_conversation))
        .route(
            &format!("{conv}/messages"),
            post(create_message).get(list_messages),
        )
        .route(&format!("{conv}/toggle_status"), post(toggle_status))
        .route(&format!("{conv}/toggle_priority"), post(toggle_priority))
        .route(&format!("{conv}/labels"), post(add_labels))
        .route(&format!("{ACC}/teams"), get(teams))
        .route(
            "/public/api/v1/inboxes/{inbox_identifier}/contacts/{contact_identifier}/conversations/{conversation_id}/toggle_typing",
            post(public_toggle_typing),
        )
        .route(
            &format!("{ACC}/inbox_members/{{inbox_id}}"),
            get(inbox_members),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Resource could not be found") })
        .with_state(shared)
}

/// Chatwoot's error body.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn unprocessable(message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "message": message, "attributes": [] })),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Resource could not be found")
}

/// The numeric path parameter `name`, or a 404.
fn id(p: &HashMap<String, String>, name: &str) -> Result<u64, Response> {
    p.get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(not_found)
}

/// Checks the account; returns the conversation id when the route has one.
fn scope(shared: &Shared, p: &HashMap<String, String>) -> Result<Option<u64>, Response> {
    if id(p, "account_id")? != shared.lock().account_id {
        return Err(not_found());
    }
    match p.get("conversation_id") {
        None => Ok(None),
        Some(_) => {
            let conv = id(p, "conversation_id")?;
            if shared.lock().conversation(conv).is_none() {
                return Err(not_found());
            }
            Ok(Some(conv))
        }
    }
}

/// The conversation of a conversation route (404 for any other).
fn conversation_in(shared: &Shared, p: &HashMap<String, String>) -> Result<u64, Response> {
    scope(shared, p)?.ok_or_else(not_found)
}

fn body(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

async fn search_contacts(State(sh): S, Path(p): Params, Query(q): Q) -> Answer {
    scope(&sh, &p)?;
    let needle = q.get("q").map(|s| s.to_lowercase()).unwrap_or_default();
    let data = sh.lock();
    let matches: Vec<Value> = data
        .contacts
        .iter()
        .filter(|c| {
            [
                Some(&c.name),
                c.identifier.as_ref(),
                c.email.as_ref(),
                c.phone_number.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|f| f.to_lowercase().contains(&needle))
        })
        .map(|c| data.contact_json(c))
        .collect();
    let count = matches.len();
    Ok(
        Json(json!({"meta": {"count": count, "current_page": "1"}, "payload": matches}))
            .into_response(),
    )
}

fn new_source_id(n: u64) -> String {
    format!(
        "{:08x}-sim-{n:04}-{:012x}",
        kit::unix_secs(),
        kit::unix_ms()
    )
}

async fn create_contact(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    scope(&sh, &p)?;
    let b = body(&bytes);
    let mut data = sh.lock();
    let identifier = str_field(&b, "identifier");
    if identifier.is_some() && data.contacts.iter().any(|c| c.identifier == identifier) {
        return Err(unprocessable("Identifier has already been taken"));
    }
    let inbox_id = b["inbox_id"].as_u64();
    if inbox_id != Some(data.inbox_id) {
        return Err(unprocessable("Inbox not found"));
    }
    let id = data.next_id();
    let source_id = new_source_id(id);
    let contact = Contact {
        id,
        name: str_field(&b, "name").unwrap_or_else(|| format!("contact-{id}")),
        identifier,
        email: str_field(&b, "email"),
        phone_number: str_field(&b, "phone_number"),
        additional_attributes: b.get("additional_attributes").cloned().unwrap_or(json!({})),
        custom_attributes: b.get("custom_attributes").cloned().unwrap_or(json!({})),
        contact_inboxes: vec![(data.inbox_id, source_id.clone())],
    };
    let rendered = data.contact_json(&contact);
    data.contacts.push(contact);
    Ok(Json(json!({"payload": {
        "contact": rendered,
        "contact_inbox": {"inbox": {"id": data.inbox_id, "name": "Handover API inbox", "channel_type": "Channel::Api"},
                          "source_id": source_id},
    }}))
    .into_response())
}

async fn create_contact_inbox(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    scope(&sh, &p)?;
    let contact_id = id(&p, "id")?;
    let b = body(&bytes);
    let mut data = sh.lock();
    let inbox = data.inbox_id;
    if b["inbox_id"].as_u64() != Some(inbox) {
        return Err(unprocessable("Inbox not found"));
    }
    let n = data.next_id();
    let source_id = str_field(&b, "source_id").unwrap_or_else(|| new_source_id(n));
    let Some(contact) = data.contacts.iter_mut().find(|c| c.id == contact_id) else {
        return Err(not_found());
    };
    contact.contact_inboxes.push((inbox, source_id.clone()));
    Ok(Json(json!({"source_id": source_id, "inbox": {"id": inbox, "name": "Handover API inbox", "channel_type": "Channel::Api"}}))
        .into_response())
}

async fn create_conversation(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    scope(&sh, &p)?;
    let b = body(&bytes);
    let mut data = sh.lock();
    if b["inbox_id"].as_u64() != Some(data.inbox_id) {
        return Err(unprocessable("Inbox not found"));
    }
    let source_id = str_field(&b, "source_id").unwrap_or_default();
    let Some(contact) = data
        .contacts
        .iter()
        .find(|c| c.contact_inboxes.iter().any(|(_, s)| *s == source_id))
    else {
        return Err(unprocessable("Contact inbox not found for source_id"));
    };
    let contact_id = contact.id;
    if b["contact_id"].as_u64().is_some_and(|c| c != contact_id) {
        return Err(unprocessable("contact_id does not own source_id"));
    }
    let team_id = b["team_id"].as_u64();
    if team_id.is_some_and(|t| !data.teams.iter().any(|x| x.id == t)) {
        return Err(unprocessable("Team not found"));
    }
    let assignee = b["assignee_id"].as_u64();
    if assignee.is_some_and(|a| data.agent(a).is_none()) {
        return Err(unprocessable("Assignee not found"));
    }
    let id = data.next_id();
    let updated_at = data.tick();
    let conversation = Conversation {
        id,
        inbox_id: data.inbox_id,
        contact_id,
        source_id,
        status: str_field(&b, "status").unwrap_or_else(|| "open".into()),
        priority: None,
        labels: Vec::new(),
        team_id,
        assignee,
        custom_attributes: b.get("custom_attributes").cloned().unwrap_or(json!({})),
        additional_attributes: b.get("additional_attributes").cloned().unwrap_or(json!({})),
        resolved_by_api: false,
        created_at: kit::unix_secs(),
        updated_at,
        agent_last_seen_at: 0,
        user_typing: Vec::new(),
    };
    let rendered = data.conversation_json(&conversation);
    data.conversations.push(conversation);
    data.conversation_event(sh.outbox(), "conversation_created", id, json!([]));
    if let Some(text) = b["message"]["content"].as_str() {
        let mid = push_message(&mut data, id, text, 0, false, Sender::Contact(contact_id));
        data.message_created(sh.outbox(), mid);
    }
    Ok(Json(rendered).into_response())
}

async fn show_conversation(State(sh): S, Path(p): Params) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let data = sh.lock();
    let c = data.conversation(conv).expect("scoped");
    Ok(Json(data.conversation_json(c)).into_response())
}

pub(crate) fn push_message(
    data: &mut super::state::Data,
    conv: u64,
    content: &str,
    message_type: u8,
    private: bool,
    sender: Sender,
) -> u64 {
    let id = data.next_id();
    data.messages.push(Message {
        id,
        conversation_id: conv,
        content: content.into(),
        message_type,
        private,
        content_type: "text".into(),
        sender,
        created_at: kit::unix_secs(),
        attachments: Vec::new(),
        content_attributes: json!({}),
        status: "sent".into(),
        updated_at: kit::unix_secs(),
    });
    id
}

async fn create_message(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let b = body(&bytes);
    let mut data = sh.lock();
    let incoming = b["message_type"].as_str() == Some("incoming");
    let private = b["private"].as_bool().unwrap_or(false);
    if incoming && private {
        return Err(unprocessable("incoming messages cannot be private"));
    }
    let c = data.conversation_mut(conv).expect("scoped");
    let contact = c.contact_id;
    let mut reopened = false;
    if incoming && c.status == "resolved" {
        // A contact's message reopens a resolved conversation.
        c.status = "open".into();
        c.resolved_by_api = false;
        reopened = true;
    }
    let (message_type, sender) = if incoming {
        (0, Sender::Contact(contact))
    } else {
        (1, Sender::ApiUser)
    };
    let content = str_field(&b, "content").unwrap_or_default();
    let id = push_message(&mut data, conv, &content, message_type, private, sender);
    if let Some(m) = data.messages.last_mut() {
        if let Some(t) = str_field(&b, "content_type") {
            m.content_type = t;
        }
        if let Some(a) = b.get("content_attributes").filter(|a| a.is_object()) {
            m.content_attributes = a.clone();
        }
    }
    if reopened {
        data.tick();
        data.conversation_event(
            sh.outbox(),
            "conversation_status_changed",
            conv,
            json!([{"status": {"previous_value": "resolved", "current_value": "open"}}]),
        );
    }
    data.message_created(sh.outbox(), id);
    let m = data.messages.last().expect("pushed").clone();
    Ok(Json(data.message_api_json(&m)).into_response())
}

async fn list_messages(State(sh): S, Path(p): Params, Query(q): Q) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let data = sh.lock();
    let all: Vec<&Message> = data
        .messages
        .iter()
        .filter(|m| m.conversation_id == conv)
        .collect();
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let page: Vec<&Message> = match (num("after"), num("before")) {
        (Some(a), Some(b)) => all
            .into_iter()
            .filter(|m| m.id >= a && m.id < b)
            .take(1000)
            .collect(),
        (Some(a), None) => all.into_iter().filter(|m| m.id > a).take(100).collect(),
        (None, Some(b)) => {
            let older: Vec<&Message> = all.into_iter().filter(|m| m.id < b).collect();
            older[older.len().saturating_sub(20)..].to_vec()
        }
        (None, None) => all[all.len().saturating_sub(20)..].to_vec(),
    };
    let c = data.conversation(conv).expect("scoped");
    let payload: Vec<Value> = page.iter().map(|m| data.message_api_json(m)).collect();
    Ok(Json(json!({
        "meta": {"labels": c.labels, "additional_attributes": c.additional_attributes, "contact_id": c.contact_id},
        "payload": payload,
    }))
    .into_response())
}

async fn toggle_status(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let b = body(&bytes);
    let status = str_field(&b, "status").unwrap_or_else(|| "open".into());
    let mut data = sh.lock();
    let updated = data.tick();
    let c = data.conversation_mut(conv).expect("scoped");
    let previous = std::mem::replace(&mut c.status, status.clone());
    if status == "resolved" && previous != "resolved" {
        c.resolved_by_api = true;
    }
    let changed = previous != status;
    if changed {
        c.updated_at = updated;
        data.conversation_event(
            sh.outbox(),
            "conversation_status_changed",
            conv,
            json!([{"status": {"previous_value": previous, "current_value": status}}]),
        );
    }
    Ok(Json(json!({"meta": {}, "payload": {"success": true, "current_status": status, "conversation_id": conv}}))
        .into_response())
}

async fn toggle_priority(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let b = body(&bytes);
    let priority = str_field(&b, "priority").filter(|p| p != "none");
    let mut data = sh.lock();
    data.change_attribute(sh.outbox(), "conversation_updated", conv, "priority", |c| {
        (
            json!(std::mem::replace(&mut c.priority, priority.clone())),
            json!(priority),
        )
    });
    Ok(StatusCode::OK.into_response())
}

async fn add_labels(State(sh): S, Path(p): Params, bytes: axum::body::Bytes) -> Answer {
    let conv = conversation_in(&sh, &p)?;
    let b = body(&bytes);
    let labels: Vec<String> = b["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut data = sh.lock();
    data.conversation_mut(conv).expect("scoped").labels = labels.clone();
    Ok(Json(json!({ "payload": labels })).into_response())
}

async fn teams(State(sh): S, Path(p): Params) -> Answer {
    scope(&sh, &p)?;
    let data = sh.lock();
    let teams: Vec<Value> = data
        .teams
        .iter()
        .map(|t| {
            json!({"id": t.id, "name": t.name, "description": "", "allow_auto_assign": true,
                         "account_id": data.account_id, "is_member": false})
        })
        .collect();
    Ok(Json(Value::Array(teams)).into_response())
}

async fn inbox_members(State(sh): S, Path(p): Params) -> Answer {
    scope(&sh, &p)?;
    let data = sh.lock();
    if id(&p, "inbox_id").ok() != Some(data.inbox_id) {
        return Err(not_found());
    }
    let agents: Vec<Value> = data
        .agents
        .iter()
        .map(|a| json!({"id": a.id, "account_id": data.account_id, "availability_status": a.availability,
                         "auto_offline": true, "confirmed": true, "email": format!("agent{}@example.com", a.id),
                         "available_name": a.name, "name": a.name, "role": "agent", "thumbnail": ""}))
        .collect();
    Ok(Json(json!({ "payload": agents })).into_response())
}

/// The public (contact) API's `toggle_typing`: the contact of
/// `contact_identifier` (its source id in the API inbox of
/// `inbox_identifier`) starts (`on`) or stops (`off`) typing in its
/// conversation. The spec requires `typing_status` in the query (and has it
/// in the body too); it is recorded and sent as a typing webhook.
async fn public_toggle_typing(
    State(sh): S,
    Path(p): Params,
    Query(q): Q,
    bytes: axum::body::Bytes,
) -> Answer {
    let inbox = p.get("inbox_identifier").cloned().unwrap_or_default();
    if inbox != sh.cfg.inbox_identifier {
        return Err(not_found());
    }
    let conv = id(&p, "conversation_id")?;
    let source = p.get("contact_identifier").cloned().unwrap_or_default();
    let b = body(&bytes);
    let Some(status) = q.get("typing_status").cloned() else {
        return Err(unprocessable("typing_status is required in the query"));
    };
    let on = match status.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(unprocessable("typing_status must be on or off")),
    };
    if b.get("typing_status").is_some_and(|t| t != &json!(status)) {
        return Err(unprocessable(
            "typing_status differs between query and body",
        ));
    }
    let mut data = sh.lock();
    let inbox_id = data.inbox_id;
    match data.conversation_mut(conv) {
        Some(c) if c.source_id == source && c.inbox_id == inbox_id => c.user_typing.push(on),
        _ => return Err(not_found()),
    }
    data.contact_typing(sh.outbox(), conv, on);
    Ok(StatusCode::OK.into_response())
}
