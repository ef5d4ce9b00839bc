//! The LivePerson routes the adapter calls (sentinel, idp, Send API),
//! behind the OAuth gate, which records requests and answers scripted
//! faults.

use super::{LpConversation, Shared};
use crate::kit::{self, Answer, Call, json_response};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/sentinel/api/account/{account}/app/token", post(token))
        .route("/api/account/{account}/consumer", post(consumer))
        .route(
            "/api/account/{account}/messaging/consumer/conversation",
            post(conversation),
        )
        .route(
            "/api/account/{account}/messaging/consumer/conversation/send",
            post(send),
        )
        .fallback(|| async { plain(StatusCode::NOT_FOUND, "no such route") })
        .with_state(shared)
}

fn plain(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({"code": status.as_u16(), "message": message}))
}

/// A Send API answer; errors carry their code as the HTTP status too.
fn resp(req_id: &Value, code: u16, kind: &str, body: Value) -> Value {
    json!({"kind": "resp", "reqId": req_id, "code": code, "body": body, "type": kind})
}

/// A Send API request refused with a 400 saying `why`.
fn refused(req_id: &Value, why: impl Into<Value>) -> Value {
    resp(req_id, 400, "GenericResponse", why.into())
}

/// The account must be this one and the API version given.
fn check_call(shared: &Shared, call: &Call) -> Result<(), Response> {
    if call.param != shared.cfg.account_id {
        return Err(plain(StatusCode::NOT_FOUND, "unknown account"));
    }
    if !call
        .uri
        .query()
        .is_some_and(|q| kit::form(q).contains_key("v"))
    {
        return Err(plain(StatusCode::BAD_REQUEST, "missing API version `v`"));
    }
    Ok(())
}

/// A call of this account's API: [`check_call`], then the AppJWT must be
/// valid.
fn authenticate(shared: &Shared, call: &Call) -> Result<(), Response> {
    check_call(shared, call)?;
    if !shared.tokens().check(&call.headers, true) {
        return Err(plain(StatusCode::UNAUTHORIZED, "invalid or expired AppJWT"));
    }
    Ok(())
}

/// A consumer's call: [`authenticate`], then the ConsumerJWS (returned)
/// must be valid too.
fn consumer_jws(shared: &Shared, call: &Call) -> Result<String, Response> {
    authenticate(shared, call)?;
    let jws = kit::header_str(&call.headers, "x-lp-on-behalf").unwrap_or("");
    if !shared.lock().consumers.contains_key(jws) {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "invalid ConsumerJWS (X-LP-ON-BEHALF)",
        ));
    }
    Ok(jws.to_string())
}

async fn token(State(shared): S, call: Call) -> Response {
    if call.param != shared.cfg.account_id {
        return plain(StatusCode::NOT_FOUND, "unknown account");
    }
    let query = call.uri.query().unwrap_or("");
    shared
        .tokens()
        .token_response(&call.headers, query, &call.body)
}

async fn consumer(State(shared): S, call: Call) -> Answer {
    authenticate(&shared, &call)?;
    let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let Some(ext) = body["ext_consumer_id"].as_str().filter(|s| !s.is_empty()) else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "ext_consumer_id is required",
        ));
    };
    let token = format!("jws-{}", kit::new_id());
    shared
        .lock()
        .consumers
        .insert(token.clone(), (ext.to_string(), kit::new_id()));
    Ok(json_response(StatusCode::OK, json!({"token": token})))
}

async fn conversation(State(shared): S, call: Call) -> Answer {
    let jws = consumer_jws(&shared, &call)?;
    let Ok(Value::Array(requests)) = serde_json::from_slice::<Value>(&call.body) else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "expected an array of requests",
        ));
    };
    let mut answers = Vec::new();
    let mut status = StatusCode::OK;
    for request in &requests {
        let id = &request["id"];
        let answer = match request["type"].as_str().unwrap_or("") {
            "userprofile.SetUserProfile" => {
                shared
                    .lock()
                    .profiles
                    .insert(jws.clone(), request["body"].clone());
                resp(id, 200, "GenericResponse", "OK".into())
            }
            "cm.ConsumerRequestConversation" => {
                request_conversation(&shared, &jws, id, &request["body"])
            }
            other => refused(id, format!("unsupported request type {other:?}")),
        };
        if answer["code"] != 200 {
            status = StatusCode::BAD_REQUEST;
        }
        answers.push(answer);
    }
    shared.bump();
    Ok(json_response(status, Value::Array(answers)))
}

fn request_conversation(shared: &Shared, jws: &str, id: &Value, body: &Value) -> Value {
    if body["brandId"].as_str() != Some(shared.cfg.account_id.as_str()) {
        return refused(id, "brandId must be the account id");
    }
    if let Some(ttr) = body.get("ttrDefName").and_then(Value::as_str)
        && !["NORMAL", "URGENT", "PRIORITIZED"].contains(&ttr)
    {
        return refused(id, format!("bad ttrDefName {ttr:?}"));
    }
    let mut st = shared.lock();
    let (ext, participant) = st.consumers[jws].clone();
    if st
        .convs
        .iter()
        .any(|c| c.ext_consumer_id == ext && c.state == "OPEN")
    {
        return refused(id, "the consumer already has an open conversation");
    }
    let now = kit::unix_ms();
    let mut conv = LpConversation {
        id: kit::new_id(),
        ext_consumer_id: ext,
        consumer_participant: participant,
        skill_id: body
            .get("skillId")
            .and_then(Value::as_str)
            .map(str::to_string),
        ttr: body
            .get("ttrDefName")
            .and_then(Value::as_str)
            .map(str::to_string),
        campaign: body.get("campaignInfo").cloned().unwrap_or(Value::Null),
        sdes: st
            .profiles
            .get(jws)
            .map_or(Value::Null, |p| p["authenticatedData"]["lp_sdes"].clone()),
        state: "OPEN".into(),
        close_reason: None,
        agent: None,
        consumer_messages: Vec::new(),
        next_seq: 0,
        last_ts: now,
        start_ts: now,
    };
    shared.notify_conversation(&mut conv);
    let conversation_id = conv.id.clone();
    st.convs.push(conv);
    resp(
        id,
        200,
        "cm.RequestConversationResponse",
        json!({"conversationId": conversation_id}),
    )
}

async fn send(State(shared): S, call: Call) -> Answer {
    let jws = consumer_jws(&shared, &call)?;
    let Ok(request) = serde_json::from_slice::<Value>(&call.body) else {
        return Err(plain(StatusCode::BAD_REQUEST, "malformed JSON"));
    };
    let id = &request["id"];
    let body = &request["body"];
    let answer = {
        let mut st = shared.lock();
        let ext = st.consumers[&jws].0.clone();
        let conv_id = body["dialogId"]
            .as_str()
            .or(body["conversationId"].as_str())
            .unwrap_or("");
        let conv = st
            .convs
            .iter_mut()
            .find(|c| c.id == conv_id && c.ext_consumer_id == ext);
        match (request["type"].as_str().unwrap_or(""), conv) {
            (_, None) => resp(
                id,
                404,
                "GenericResponse",
                "no such conversation of this consumer".into(),
            ),
            (_, Some(c)) if c.state != "OPEN" => refused(id, "the conversation is closed"),
            ("ms.PublishEvent", Some(c)) => {
                let event = &body["event"];
                match event["type"].as_str().unwrap_or("") {
                    "ContentEvent" => {
                        let Some(text) = event["message"].as_str() else {
                            let e = "ContentEvent needs a message";
                            return Err(plain(StatusCode::BAD_REQUEST, e));
                        };
                        c.consumer_messages.push(text.to_string());
                        let participant = c.consumer_participant.clone();
                        let seq = shared.notify_event(c, (&participant, "CONSUMER"), event.clone());
                        resp(id, 200, "ms.PublishEventResponse", json!({"sequence": seq}))
                    }
                    "ChatStateEvent" | "AcceptStatusEvent" => {
                        resp(id, 200, "ms.PublishEventResponse", json!({}))
                    }
                    other => refused(id, format!("unsupported event {other:?}")),
                }
            }
            ("cm.UpdateConversationField", Some(c)) => {
                let close = body["conversationField"].as_array().is_some_and(|fields| {
                    fields.iter().any(|f| {
                        f["field"] == "ConversationStateField" && f["conversationState"] == "CLOSE"
                    })
                });
                if close {
                    c.state = "CLOSE".into();
                    c.close_reason = Some("CONSUMER".into());
                    shared.notify_conversation(c);
                }
                resp(id, 200, "GenericResponse", "OK".into())
            }
            (other, Some(_)) => refused(id, format!("unsupported request type {other:?}")),
        }
    };
    shared.bump();
    let status = answer["code"]
        .as_u64()
        .and_then(|c| StatusCode::from_u16(c as u16).ok())
        .unwrap_or(StatusCode::OK);
    Ok(json_response(status, answer))
}
