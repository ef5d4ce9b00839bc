//! Helpers shared by the webhook, timer, delivery, recovery and provider tests:
//! sim webhook bodies, event checks and small waits.

#![allow(dead_code)]

use crate::e2e::harness::*;
use provider_simulators::SimProvider;
use serde_json::{Value, json};
use std::time::Duration;

/// The generous per-step timeout of these tests.
pub const T: Duration = Duration::from_secs(20);

/// A sim provider event body (the envelope plus `fields`).
pub fn sim_event(event_id: &str, conv: &str, seq: u64, kind: &str, fields: Value) -> Vec<u8> {
    serde_json::to_vec(&crate::harness::sim_event(
        event_id, conv, seq, kind, fields,
    ))
    .unwrap()
}

pub fn agent_message_body(event_id: &str, conv: &str, seq: u64, text: &str) -> Vec<u8> {
    serde_json::to_vec(&crate::harness::agent_message(event_id, conv, seq, text)).unwrap()
}

/// Sends the sim's `agent_message` webhook (delivery `event_id`, `seq`,
/// `text`) for `conv` to endpoint `ep`, signed now; returns status and body.
pub async fn send_agent_message(
    host: &Host,
    event_id: &str,
    conv: &str,
    seq: u64,
    text: &str,
) -> (u16, String) {
    let body = agent_message_body(event_id, conv, seq, text);
    Webhook::signed("ep", body, SECRET, now_s())
        .send(host)
        .await
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

/// The sim's conversation `conv` reaches `status` within [`T`]: the provider
/// was told.
pub async fn assert_provider_status(sim: &SimProvider, conv: &str, status: &str) {
    assert!(
        sim.wait_for_status(conv, status, T).await.is_some(),
        "the provider conversation did not become {status:?}: {:?}",
        sim.conversation(conv)
    );
}

/// `handover` (a final object's `handover`) is an error of `reason` whose
/// message mentions `needle`.
pub fn assert_error(handover: &Value, reason: &str, needle: &str) {
    assert_eq!(handover["status"], "error", "{handover}");
    assert_eq!(handover["error"]["reason"], reason, "{handover}");
    let message = handover["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{handover}");
}

/// A stream read in part, then resumed after event `last`.
pub struct Resumed {
    pub id: String,
    pub last: i64,
    pub rest: Vec<Value>,
}

/// A handover (session `s-1`) whose stream is read in part, then resumed
/// with `Last-Event-ID` while the sim keeps posting, until it ends; checks
/// that part + resumed is the full stream and that resuming after the end
/// is empty.
pub async fn resumed_stream(host: &Host, sim: &SimProvider) -> Resumed {
    let (id, conv) = host.sim_handover(sim, "s-1").await;
    sim.agent_join(&conv, "a-1", "Alex").await;
    sim.agent_message(&conv, "m1").await;
    // Part of the stream, then disconnect.
    let part = until_agent_text(host, &id, None, "m1").await;
    let last = part.last().unwrap()["id"].as_i64().unwrap();
    // Events while disconnected…
    sim.agent_message(&conv, "m2").await;
    sim.agent_message(&conv, "m3").await;
    // …and while reconnected.
    let (rest, ()) = tokio::join!(host.handover_events(&id, Some(last), T), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sim.agent_message(&conv, "m4").await;
        sim.end(&conv, "agent_closed").await;
    });
    assert_eq!(rest.last().unwrap()["type"], "ended", "{rest:?}");
    let full = host.handover_events(&id, None, T).await;
    let mut joined = part.clone();
    joined.extend(rest.iter().cloned());
    assert_eq!(joined, full, "part + resumed differs from a full read");
    assert_strictly_increasing(&full);
    assert_eq!(agent_texts(&full), ["m1", "m2", "m3", "m4"]);
    let end_id = full.last().unwrap()["id"].as_i64();
    let after_end = host
        .handover_events(&id, end_id, Duration::from_secs(3))
        .await;
    assert!(after_end.is_empty(), "{after_end:?}");
    Resumed { id, last, rest }
}
