//! Helpers shared by the webhook, timer, delivery, recovery and provider tests:
//! forged (signed or not) sim webhooks, event filters and small waits.

#![allow(dead_code)]

use crate::harness::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The generous per-step timeout of these tests.
pub const T: Duration = Duration::from_secs(20);

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A sim provider event body (the envelope plus `fields`).
pub fn sim_event(event_id: &str, conv: &str, seq: u64, kind: &str, fields: Value) -> Vec<u8> {
    let mut v = json!({"event_id": event_id, "conversation_id": conv, "seq": seq, "type": kind});
    if let Value::Object(m) = fields {
        for (k, x) in m {
            v[k] = x;
        }
    }
    serde_json::to_vec(&v).unwrap()
}

pub fn agent_message_body(event_id: &str, conv: &str, seq: u64, text: &str) -> Vec<u8> {
    sim_event(
        event_id,
        conv,
        seq,
        "agent_message",
        json!({"agent": {"id": "a-1", "name": "Alex"}, "text": text, "attachments": []}),
    )
}

/// Headers of a webhook as the sim sends them; `signature: None` leaves the
/// signature header out.
pub struct Webhook<'a> {
    pub endpoint: &'a str,
    pub body: Vec<u8>,
    pub timestamp: Option<String>,
    pub delivery: Option<String>,
    pub signature: Option<String>,
}

impl<'a> Webhook<'a> {
    /// Signed with `secret` at `ts`, delivery id taken from the body's `event_id`.
    pub fn signed(endpoint: &'a str, body: Vec<u8>, secret: &str, ts: u64) -> Webhook<'a> {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Webhook {
            endpoint,
            delivery: v["event_id"].as_str().map(String::from),
            signature: Some(provider_simulators::sign(secret, ts, &body)),
            timestamp: Some(ts.to_string()),
            body,
        }
    }

    /// POST it; returns the status and the response body text.
    pub async fn send(&self, host: &Host) -> (u16, String) {
        let mut req = host
            .http
            .post(host.webhook_url(self.endpoint))
            .header("content-type", "application/json")
            .body(self.body.clone());
        if let Some(t) = &self.timestamp {
            req = req.header("x-sim-timestamp", t);
        }
        if let Some(d) = &self.delivery {
            req = req.header("x-sim-delivery", d);
        }
        if let Some(s) = &self.signature {
            req = req.header("x-sim-signature", s);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }
}

pub fn events_path(id: &str) -> String {
    format!("/v1/handovers/{id}/events")
}

/// Texts of the `agent_message` events, in stream order.
pub fn agent_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .map(|e| e["text"].as_str().unwrap_or("?").to_string())
        .collect()
}

pub fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// Ids strictly increasing (so also no duplicates).
pub fn assert_strictly_increasing(events: &[Value]) {
    let ids = ids(events);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids not strictly increasing: {ids:?}"
    );
}

/// Read a handover stream until the agent message `text` arrives.
pub async fn until_agent_text(host: &Host, id: &str, after: Option<i64>, text: &str) -> Vec<Value> {
    let text = text.to_string();
    host.sse(&events_path(id), after, T, move |e| {
        e["type"] == "agent_message" && e["text"] == text.as_str()
    })
    .await
}

/// A handover on `endpoint` for Ann Example with a two-line transcript
/// and full routing (skills `orders`, language `en`, priority 3, queue
/// `queue`, custom `tier=gold`); asserts it was created and returns its id.
pub async fn create_routed(host: &Host, endpoint: &str, session: &str, queue: &str) -> String {
    let body = json!({
        "user_profile": {"name": "Ann Example", "email": "ann@example.org"},
        "transcript": [
            {"author": "user", "text": "my order is late", "timestamp_ms": 1},
            {"author": "bot", "text": "Let me get you an agent.", "timestamp_ms": 2},
        ],
        "routing": {"skills": ["orders"], "language": "en", "priority": 3, "queue": queue,
                    "custom": {"tier": "gold"}},
    });
    let (code, created) = host.create(endpoint, session, body).await;
    assert_eq!(code, 201, "{created}\n{}", host.log());
    created["handover_id"].as_str().unwrap().to_string()
}

/// The final object must be exactly `{"handover":{"status":…}}` (plus
/// `error {reason, message}` for `error`); returns the error message.
pub fn assert_final_object(result: &Value, status: &str, reason: Option<&str>) -> String {
    let h = &result["handover"];
    assert_eq!(
        result.as_object().map(|m| m.len()),
        Some(1),
        "final object has extra fields: {result}"
    );
    assert_eq!(h["status"], status, "{result}");
    match reason {
        None => {
            assert_eq!(h.as_object().map(|m| m.len()), Some(1), "{result}");
            String::new()
        }
        Some(r) => {
            assert_eq!(h.as_object().map(|m| m.len()), Some(2), "{result}");
            let e = &h["error"];
            assert_eq!(e.as_object().map(|m| m.len()), Some(2), "{result}");
            assert_eq!(e["reason"], r, "{result}");
            let msg = e["message"].as_str().expect("error.message").to_string();
            assert!(!msg.is_empty(), "{result}");
            msg
        }
    }
}

/// An endpoint on a fixture adapter (no settings, no webhooks).
pub fn fixture_ep(id: &str, name: &str) -> Ep {
    Ep {
        id: id.into(),
        adapter: adapter(name),
        settings: json!({}),
        egress: vec![],
        callback_allow: vec![],
        webhook_secret: None,
        extra: String::new(),
    }
}

pub fn wasm_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}
