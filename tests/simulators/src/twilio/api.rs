//! The Flex and Conversations API routes the adapter uses, spelled exactly
//! like the `paths` keys of `twilio_flex_v1.json` and
//! `twilio_conversations_v1.json`, so the gate validates each form body
//! against its operation.

use super::Shared;
use super::state::{Interaction, Task, sid};
use crate::kit::{self, Answer, Call};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/Interactions", post(create_interaction))
        .route(
            "/v1/Conversations/{Sid}",
            get(fetch_conversation).post(update_conversation),
        )
        .route(
            "/v1/Conversations/{ConversationSid}/Messages",
            get(list_messages).post(create_message),
        )
        .route(
            "/v1/Conversations/{ConversationSid}/Participants",
            get(list_participants),
        )
        .fallback(|uri: Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                &format!("The requested resource {} was not found", uri.path()),
            )
        })
        .with_state(shared)
}

/// Twilio's error document: `{code, message, more_info, status}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let code = match status.as_u16() {
        400 => 20001,
        401 => 20003,
        404 => 20404,
        409 => 50353,
        429 => 20429,
        503 => 20503,
        s if s >= 500 => 20500,
        _ => 20001,
    };
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("The requested resource {what} was not found"),
    )
}

fn form(body: &[u8]) -> HashMap<String, String> {
    kit::form(&String::from_utf8_lossy(body))
}

/// Parameter `name` as a JSON object (Twilio's JSON-in-a-form-field).
fn json_param(
    f: &HashMap<String, String>,
    name: &str,
) -> Result<Option<Map<String, Value>>, Response> {
    let Some(text) = f.get(name) else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => Err(bad(&format!("Invalid {name}: must be a JSON object"))),
    }
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

const CHANNEL_TYPES: &[&str] = &[
    "web",
    "chat",
    "sms",
    "whatsapp",
    "messenger",
    "gbm",
    "email",
];

/// `POST /v1/Interactions`: an inbound interaction (`initiated_by`
/// `api`/`customer`, or `agent`): a new conversation with the
/// `participants` of `Channel` (or the existing one of
/// `Channel.properties.media_channel_sid`) and a routing task in the
/// configured workspace/workflow.
async fn create_interaction(State(sh): S, body: Bytes) -> Answer {
    let f = form(&body);
    let channel =
        json_param(&f, "Channel")?.ok_or_else(|| bad("Missing required parameter Channel"))?;
    let routing =
        json_param(&f, "Routing")?.ok_or_else(|| bad("Missing required parameter Routing"))?;
    let kind = str_of(&channel, "type").unwrap_or_default();
    if !CHANNEL_TYPES.contains(&kind) {
        return Err(bad(&format!(
            "Invalid Channel.type {kind:?}: one of {}",
            CHANNEL_TYPES.join(", ")
        )));
    }
    let initiated_by = str_of(&channel, "initiated_by").unwrap_or_default();
    if !["api", "agent", "customer"].contains(&initiated_by) {
        return Err(bad(&format!(
            "Invalid Channel.initiated_by {initiated_by:?}: one of api, agent, customer"
        )));
    }
    let props = routing
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Routing.properties is required"))?;
    let cfg = &sh.cfg;
    let workspace = str_of(props, "workspace_sid").unwrap_or_default();
    if workspace != cfg.workspace_sid {
        return Err(bad(&format!(
            "Routing.properties.workspace_sid {workspace:?}: no such workspace"
        )));
    }
    let workflow = str_of(props, "workflow_sid").unwrap_or_default();
    if workflow != cfg.workflow_sid {
        return Err(bad(&format!(
            "Routing.properties.workflow_sid {workflow:?}: no such workflow in the workspace"
        )));
    }
    let mut attributes = match props.get("attributes") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => return Err(bad("Routing.properties.attributes must be a JSON object")),
        },
        Some(_) => return Err(bad("Routing.properties.attributes must be a JSON object")),
    };
    let task_channel = str_of(props, "task_channel_unique_name")
        .unwrap_or("default")
        .to_string();
    let existing = channel
        .get("properties")
        .and_then(|p| p.get("media_channel_sid"))
        .and_then(Value::as_str);
    let participants: Vec<Map<String, Value>> = match channel.get("participants") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| {
                p.as_object()
                    .cloned()
                    .ok_or_else(|| bad("Channel.participants: each must be an object"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("Channel.participants must be an array")),
    };
    let mut identities = Vec::new();
    for p in &participants {
        match str_of(p, "identity").or_else(|| str_of(p, "address")) {
            Some(id) if !id.is_empty() => identities.push(id.to_string()),
            _ => {
                return Err(bad(
                    "Channel.participants: each needs an identity (chat) or an address",
                ));
            }
        }
    }
    let mut data = sh.lock();
    let conv = match existing {
        Some(ch) => {
            if data.conversation(ch).is_none() {
                return Err(not_found(&format!("/v1/Conversations/{ch}")));
            }
            ch.to_string()
        }
        None => {
            if identities.is_empty() {
                return Err(bad(
                    "Channel needs participants or properties.media_channel_sid",
                ));
            }
            data.open(None)
        }
    };
    for identity in &identities {
        let attrs = json!({"customer": true}).to_string();
        data.add_participant(&conv, identity, &attrs, false);
    }
    let interaction = sid("KD");
    let channel_sid = sid("UO");
    attributes.insert("conversationSid".into(), json!(conv));
    attributes.insert("flexInteractionSid".into(), json!(interaction));
    attributes.insert("flexInteractionChannelSid".into(), json!(channel_sid));
    attributes.insert("channelType".into(), json!(kind));
    attributes.insert("initiatedBy".into(), json!(initiated_by));
    attributes.insert(
        "direction".into(),
        json!(if initiated_by == "agent" {
            "outbound"
        } else {
            "inbound"
        }),
    );
    let task = Task {
        sid: sid("WT"),
        workspace_sid: workspace.to_string(),
        workflow_sid: workflow.to_string(),
        task_channel_unique_name: task_channel,
        attributes: Value::Object(attributes),
        assignment_status: "pending".into(),
    };
    let c = data.conversation_mut(&conv).expect("known conversation");
    c.interaction = Some(Interaction {
        sid: interaction,
        channel_sid,
        channel: Value::Object(channel),
        task,
    });
    let c = data.conversation(&conv).expect("known conversation");
    let out = data.interaction_json(c);
    drop(data);
    sh.bump();
    Ok(Json(out).into_response())
}

async fn fetch_conversation(State(sh): S, call: Call) -> Answer {
    let data = sh.lock();
    let c = data
        .conversation(&call.param)
        .ok_or_else(|| not_found(call.uri.path()))?;
    Ok(Json(data.conversation_json(c)).into_response())
}

/// `POST /v1/Conversations/{Sid}`: `State` (`active`, `inactive`,
/// `closed`; a closed conversation stays closed), `FriendlyName`,
/// `Attributes`. Closing here counts as closed by the bot side (no webhook:
/// REST changes send none unless `X-Twilio-Webhook-Enabled: true`).
async fn update_conversation(State(sh): S, call: Call) -> Answer {
    let f = form(&call.body);
    let mut data = sh.lock();
    let now = data.now();
    let c = data
        .conversation_mut(&call.param)
        .ok_or_else(|| not_found(call.uri.path()))?;
    if let Some(state) = f.get("State") {
        if c.state == "closed" && state != "closed" {
            return Err(bad("Conversation is closed and cannot be reopened"));
        }
        if state == "closed" && c.state != "closed" {
            c.closed_by_api = true;
            if let Some(i) = &mut c.interaction {
                i.task.assignment_status = "canceled".into();
            }
        }
        c.state = state.clone();
    }
    if let Some(name) = f.get("FriendlyName") {
        c.friendly_name = Some(name.clone());
    }
    if let Some(attributes) = f.get("Attributes") {
        c.attributes = attributes.clone();
    }
    c.date_updated = now;
    let c = data.conversation(&call.param).expect("known conversation");
    let out = data.conversation_json(c);
    drop(data);
    sh.bump();
    Ok(Json(out).into_response())
}

/// `POST /v1/Conversations/{ConversationSid}/Messages` → 201 the message.
async fn create_message(State(sh): S, call: Call) -> Answer {
    let f = form(&call.body);
    let mut data = sh.lock();
    let c = data
        .conversation(&call.param)
        .ok_or_else(|| not_found(call.uri.path()))?;
    if c.state == "closed" {
        return Err(error(StatusCode::CONFLICT, "Conversation is closed"));
    }
    let body = f.get("Body").filter(|b| !b.is_empty()).cloned();
    if body.is_none() && !f.contains_key("MediaSid") && !f.contains_key("ContentSid") {
        return Err(bad("Message body, media or content is required"));
    }
    let author = f.get("Author").cloned().unwrap_or_else(|| "system".into());
    let attributes = f.get("Attributes").cloned().unwrap_or_else(|| "{}".into());
    let at = data.add_message(&call.param, &author, body, attributes);
    let c = data.conversation(&call.param).expect("known conversation");
    let out = data.message_json(c, &c.messages[at]);
    drop(data);
    sh.bump();
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// A page of a list: `PageSize` (default 50, 1..=1000), `Page` (from 0).
fn page<'a, T>(
    items: &'a [T],
    query: &HashMap<String, String>,
) -> Result<(usize, usize, Vec<&'a T>), Response> {
    let size: usize = match query.get("PageSize") {
        None => 50,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad("Invalid PageSize"))?,
    };
    let number: usize = match query.get("Page") {
        None => 0,
        Some(s) => s.parse().map_err(|_| bad("Invalid Page"))?,
    };
    Ok((
        size,
        number,
        items.iter().skip(size * number).take(size).collect(),
    ))
}

fn meta(base: &str, key: &str, size: usize, number: usize, total: usize) -> Value {
    let url = |n: usize| format!("{base}?PageSize={size}&Page={n}");
    json!({
        "page": number,
        "page_size": size,
        "first_page_url": url(0),
        "previous_page_url": if number > 0 { json!(url(number - 1)) } else { Value::Null },
        "url": url(number),
        "next_page_url": if size * (number + 1) < total { json!(url(number + 1)) } else { Value::Null },
        "key": key,
    })
}

/// `GET …/Messages?Order=asc|desc&PageSize=&Page=`.
async fn list_messages(State(sh): S, call: Call) -> Answer {
    let query = kit::form(call.uri.query().unwrap_or(""));
    let data = sh.lock();
    let c = data
        .conversation(&call.param)
        .ok_or_else(|| not_found(call.uri.path()))?;
    let mut messages: Vec<_> = c.messages.iter().collect();
    match query.get("Order").map(String::as_str) {
        None | Some("asc") => {}
        Some("desc") => messages.reverse(),
        Some(o) => return Err(bad(&format!("Invalid Order {o:?}: asc or desc"))),
    }
    let (size, number, shown) = page(&messages, &query)?;
    let base = format!("{}{}", data.base_url, call.uri.path());
    Ok(Json(json!({
        "messages": shown.iter().map(|m| data.message_json(c, m)).collect::<Vec<_>>(),
        "meta": meta(&base, "messages", size, number, messages.len()),
    }))
    .into_response())
}

async fn list_participants(State(sh): S, call: Call) -> Answer {
    let query = kit::form(call.uri.query().unwrap_or(""));
    let data = sh.lock();
    let c = data
        .conversation(&call.param)
        .ok_or_else(|| not_found(call.uri.path()))?;
    let (size, number, shown) = page(&c.participants, &query)?;
    let base = format!("{}{}", data.base_url, call.uri.path());
    Ok(Json(json!({
        "participants": shown.iter().map(|p| data.participant_json(c, p)).collect::<Vec<_>>(),
        "meta": meta(&base, "participants", size, number, c.participants.len()),
    }))
    .into_response())
}
