//! The Genesys simulator speaks the documented protocol: OAuth, inbound
//! messages, participants, signed outbound webhooks and scripted faults.

use super::{Conversation, GenesysConfig, GenesysSim, sign};
use crate::kit::testing::{Receiver, status_and_json};
use crate::kit::{self, lock};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn token(sim: &GenesysSim, id: &str, secret: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth/token", sim.base_url()))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    status_and_json(r).await
}

async fn bearer(sim: &GenesysSim) -> String {
    let cfg = sim.config().clone();
    let (status, body) = token(sim, &cfg.client_id, &cfg.client_secret).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn inbound_body(from: &str, text: &str) -> Value {
    json!({
        "channel": {
            "messageId": kit::new_id(),
            "from": {"id": from, "idType": "Opaque", "nickname": "Ann"},
            "time": "2024-05-01T13:01:14.462Z",
            "metadata": {"customAttributes": {"queue": "billing", "handover_id": from}},
        },
        "text": text,
    })
}

async fn inbound(sim: &GenesysSim, token: Option<&str>, body: &Value) -> (u16, Value) {
    let url = format!(
        "{}/api/v2/conversations/messages/{}/inbound/open/message?prefetchConversationId=true",
        sim.base_url(),
        sim.config().integration_id
    );
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    status_and_json(req.send().await.unwrap()).await
}

async fn participants(sim: &GenesysSim, token: &str, conv: &str) -> Vec<(String, String)> {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v2/conversations/messages/{conv}",
            sim.base_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["purpose"].as_str().unwrap().to_string(),
                p["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn sim() -> GenesysSim {
    GenesysSim::start(GenesysConfig::default()).await.unwrap()
}

/// A receiver of `sim`'s webhooks and the conversation of the user `h-1`
/// (created by an inbound message).
async fn hooked_conversation(sim: &GenesysSim) -> (Receiver, Conversation) {
    let receiver = Receiver::hooked_to(sim).await;
    let t = bearer(sim).await;
    inbound(sim, Some(&t), &inbound_body("h-1", "help")).await;
    let conv = sim.wait_for_conversation("h-1", T).await.unwrap();
    (receiver, conv)
}

#[tokio::test]
async fn oauth_is_required_and_tokens_expire() {
    let sim = sim().await;
    let (status, _) = token(&sim, "genesys-client", "wrong").await;
    assert_eq!(status, 401);
    let body = inbound_body("h-1", "help");
    assert_eq!(inbound(&sim, None, &body).await.0, 401);
    assert_eq!(inbound(&sim, Some("made-up"), &body).await.0, 401);
    sim.set_token_ttl(Duration::from_secs(1));
    let t = bearer(&sim).await;
    let (status, answer) = inbound(&sim, Some(&t), &body).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["conversationId"].is_string());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(inbound(&sim, Some(&t), &body).await.0, 401, "expired token");
    sim.shutdown().await;
}

#[tokio::test]
async fn inbound_messages_create_one_conversation_per_user() {
    let sim = sim().await;
    let t = bearer(&sim).await;
    let (_, first) = inbound(&sim, Some(&t), &inbound_body("h-1", "help")).await;
    let (_, second) = inbound(&sim, Some(&t), &inbound_body("h-1", "more")).await;
    assert_eq!(first["conversationId"], second["conversationId"]);
    let conv = sim.wait_for_conversation("h-1", T).await.unwrap();
    assert_eq!(conv.id, first["conversationId"].as_str().unwrap());
    assert_eq!(conv.attributes["queue"], "billing");
    let texts: Vec<_> = conv.inbound.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["help", "more"]);
    // Malformed: no sender type, no time.
    let mut bad = inbound_body("h-1", "x");
    bad["channel"]["from"]["idType"] = Value::Null;
    assert_eq!(inbound(&sim, Some(&t), &bad).await.0, 400);
    let mut bad = inbound_body("h-1", "x");
    bad["channel"]["time"] = "yesterday".into();
    assert_eq!(inbound(&sim, Some(&t), &bad).await.0, 400);
    // Participants: queued, then an agent, then all disconnected.
    assert_eq!(
        participants(&sim, &t, &conv.id).await,
        [
            ("customer".into(), "connected".into()),
            ("acd".into(), "connected".into())
        ]
    );
    sim.agent_join(&conv.id, "Ann");
    let p = participants(&sim, &t, &conv.id).await;
    assert_eq!(p[1].1, "disconnected");
    assert_eq!(p[2], ("agent".into(), "connected".into()));
    sim.end(&conv.id);
    let p = participants(&sim, &t, &conv.id).await;
    assert!(p.iter().all(|(_, s)| s == "disconnected"), "{p:?}");
    // A message after the end opens a new conversation.
    let (_, third) = inbound(&sim, Some(&t), &inbound_body("h-1", "again")).await;
    assert_ne!(third["conversationId"], first["conversationId"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_answer_before_anything_else() {
    let sim = sim().await;
    let t = bearer(&sim).await;
    sim.fail_next(None, "/api/v2/conversations/messages/*", 503, 2);
    let body = inbound_body("h-1", "help");
    let url = format!(
        "{}/api/v2/conversations/messages/{}/inbound/open/message",
        sim.base_url(),
        sim.config().integration_id
    );
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&t)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(inbound(&sim, Some(&t), &body).await.0, 503);
    assert_eq!(inbound(&sim, Some(&t), &body).await.0, 202);
    assert!(sim.conversations().len() == 1);
    sim.fail_next(None, "/api/*", 429, 1);
    assert_eq!(inbound(&sim, Some(&t), &body).await.0, 429);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 503, 503, 202, 429]);
    sim.shutdown().await;
}

#[tokio::test]
async fn outbound_webhooks_are_signed_normalized_messages_and_retried() {
    let sim = sim().await;
    let (receiver, conv) = hooked_conversation(&sim).await;
    lock(&receiver.statuses).extend([500, 429]);
    sim.agent_join(&conv.id, "Ann");
    sim.agent_message(&conv.id, "hello");
    assert!(sim.wait_for_deliveries(2, T).await);
    let deliveries = sim.deliveries();
    assert_eq!(deliveries[0].attempts, 3, "500 and 429 are retried");
    assert!(deliveries.iter().all(|d| d.ok));
    let got = lock(&receiver.got).clone();
    for (headers, body) in &got {
        let signature = headers["x-hub-signature-256"].to_str().unwrap();
        assert_eq!(signature, sign("genesys-webhook-secret", body));
    }
    let bodies = receiver.bodies();
    let typing = &bodies[0];
    assert_eq!(typing["type"], "Event");
    assert_eq!(typing["events"][0]["eventType"], "Typing");
    let text = bodies.last().unwrap();
    assert_eq!(text["type"], "Text");
    assert_eq!(text["text"], "hello");
    assert_eq!(text["direction"], "Outbound");
    assert_eq!(text["originatingEntity"], "Human");
    assert_eq!(text["channel"]["to"]["id"], "h-1");
    assert_eq!(text["channel"]["from"]["firstName"], "Ann");
    assert_eq!(text["channel"]["id"], sim.config().integration_id);
    receiver.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_can_be_duplicated_held_and_reversed() {
    let sim = sim().await;
    let (receiver, conv) = hooked_conversation(&sim).await;
    sim.set_duplicate_webhooks(true);
    sim.agent_message(&conv.id, "twice");
    assert!(sim.wait_for_deliveries(2, T).await);
    let bodies = receiver.bodies();
    assert_eq!(bodies[0], bodies[1], "same id, same body");
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    for t in ["1", "2", "3"] {
        sim.agent_message(&conv.id, t);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.bodies().len(), 2, "held");
    sim.release_held(true).await;
    let texts: Vec<Value> = receiver.bodies()[2..]
        .iter()
        .map(|b| b["text"].clone())
        .collect();
    assert_eq!(texts, ["3", "2", "1"]);
    // Scripted refusals.
    sim.set_hold_webhooks(false);
    sim.set_never_assign(true);
    sim.set_never_end(true);
    sim.agent_join(&conv.id, "Ann");
    sim.end(&conv.id);
    let conv = sim.conversation(&conv.id).unwrap();
    assert!(conv.agents.is_empty() && conv.customer_connected);
    receiver.shutdown().await;
    sim.shutdown().await;
}
