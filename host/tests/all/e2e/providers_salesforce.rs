//! End-to-end runs of the two Salesforce adapters (`salesforce-miaw`,
//! `salesforce-live-agent`) through the real host binary, against their
//! simulators over loopback HTTP. Both are polled (long polls), so no
//! webhooks are involved. Needs `scripts/build-adapters.sh` first.

use crate::e2e::harness::{Host, agent_texts, types};
use crate::e2e::support::T;
use provider_simulators::driver::ProviderDriver;
use provider_simulators::salesforce_live_agent::LiveAgentDriver;
use provider_simulators::salesforce_miaw::MiawDriver;
use serde_json::{Value, json};
use std::time::Duration;

fn handover_id(created: &Value) -> String {
    created["handover_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no handover id: {created}"))
        .to_string()
}

/// A transcript whose bot answer needs two MIAW messages (3,000 chars each).
fn long_transcript() -> Value {
    json!([
        {"author": "user", "text": "my parcel is lost", "timestamp_ms": 1},
        {"author": "bot", "text": "x".repeat(4000), "timestamp_ms": 2},
        {"author": "user", "text": "agent please", "timestamp_ms": 3},
    ])
}

#[tokio::test]
async fn miaw_handover_completes() {
    let driver = MiawDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("ep", "salesforce-miaw", &driver).await;
    let (code, created) = host
        .create(
            "ep",
            "s-1",
            json!({"transcript": long_transcript(),
                "routing": {"custom": {"Plan": "gold"}}}),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let id = handover_id(&created);
    let conv = driver
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation");
    let c = sim.conversation(&conv).unwrap();
    assert_eq!(c.routing_attributes["Plan"], "gold");
    assert_eq!(c.routing_attributes["HandoverId"], id.as_str());
    // The transcript went as numbered messages within MIAW's limit.
    let texts: Vec<&str> = c.messages.iter().map(|m| m.text.as_str()).collect();
    let n = texts.len();
    assert!(n >= 2, "{texts:?}");
    for (i, text) in texts.iter().enumerate() {
        let header = format!("Bot transcript: ({}/{n})\n", i + 1);
        assert!(text.starts_with(&header), "{text}");
        assert!(text.chars().count() <= 3000);
    }
    assert!(texts[0].contains("User: my parcel is lost"));
    assert_eq!(
        texts.iter().map(|t| t.matches('x').count()).sum::<usize>(),
        4000
    );
    assert!(texts[n - 1].ends_with("\nUser: agent please"));
    assert!(driver.user_messages(&conv).await.is_empty());

    driver.agent_join(&conv, "Alex").await;
    host.wait_status(&id, "active", T).await;
    sim.agent_typing(&conv, true).unwrap();
    driver.agent_message(&conv, "hello from Alex").await;
    host.input_expect(&id, "text", "where is it?", "forwarded")
        .await;
    sim.wait_for_messages(&conv, 3, T)
        .await
        .expect("user message");
    assert_eq!(driver.user_messages(&conv).await, ["where is it?"]);

    driver.end(&conv).await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["end_reason"], "agent_closed", "{st}");
    let events = host.handover_events(&id, None, T).await;
    let t = types(&events);
    let queued = events
        .iter()
        .find(|e| e["type"] == "queued" && e["estimated_wait_seconds"] == 60);
    assert!(
        queued.is_some(),
        "the routing result's wait is reported: {events:?}"
    );
    for kind in ["agent_joined", "agent_typing", "agent_message", "ended"] {
        assert!(t.contains(&kind.to_string()), "{kind} missing: {t:?}");
    }
    let msg = events
        .iter()
        .find(|e| e["type"] == "agent_message")
        .unwrap();
    assert_eq!(msg["text"], "hello from Alex");
    assert_eq!(msg["agent"]["name"], "Alex");
    // The stream was read with Last-Event-Id every time.
    let connections = sim.sse_connections();
    assert!(connections.len() >= 2, "{connections:?}");
    assert!(connections.iter().all(Option::is_some), "{connections:?}");
    driver.shutdown().await;
}

#[tokio::test]
async fn miaw_ends_when_the_agent_leaves_without_a_close_event() {
    let driver = MiawDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    sim.set_send_close_event(false);
    // Every stream connection ends after one event: the adapter must resume.
    sim.set_events_per_connection(Some(1));
    let host = Host::start_for_driver("ep", "salesforce-miaw", &driver).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = driver
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation");
    driver.agent_join(&conv, "Alex").await;
    driver.agent_message(&conv, "one").await;
    driver.agent_message(&conv, "two").await;
    host.wait_status(&id, "active", T).await;
    driver.end(&conv).await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["end_reason"], "agent_left", "{st}");
    let events = host.handover_events(&id, None, T).await;
    let texts = agent_texts(&events);
    assert_eq!(texts, ["one", "two"], "each event once, in order");
    assert!(types(&events).contains(&"agent_left".to_string()));
    driver.shutdown().await;
}

#[tokio::test]
async fn miaw_user_cancel_closes_the_conversation() {
    let driver = MiawDriver::start().await.unwrap();
    let host = Host::start_for_driver("ep", "salesforce-miaw", &driver).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = driver
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation");
    host.input_expect(&id, "intent", "cancel_handover", "cancelled")
        .await;
    assert_eq!(driver.closed_by_bot(&conv).await, Some(true));
    driver.shutdown().await;
}

#[tokio::test]
async fn live_agent_handover_completes_with_queue_position() {
    let driver = LiveAgentDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    sim.set_queue(3, 90);
    let host = Host::start_for_driver("ep", "salesforce-live-agent", &driver).await;
    let (code, created) = host
        .create(
            "ep",
            "s-1",
            json!({"user_profile": {"name": "Dana"}, "routing": {"skills": ["billing"]}}),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let id = handover_id(&created);
    let conv = driver.wait_for_conversation(&id, T).await.expect("chat");
    let chat = sim.chat(&conv).unwrap();
    assert_eq!(chat.visitor_name, "Dana");
    assert_eq!(chat.detail("Skills"), Some("billing"));
    assert_eq!(chat.detail("Transcript"), Some("User: help"));

    // Queue position and wait reach the status and the event stream.
    let mut status = host.status(&id).await;
    for _ in 0..200 {
        if status["queue"]["position"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = host.status(&id).await;
    }
    assert_eq!(status["queue"]["position"], 3, "{status}");
    assert_eq!(status["queue"]["estimated_wait_seconds"], 90, "{status}");
    sim.queue_update(&conv, 1, 15).unwrap();
    driver.agent_join(&conv, "Alex").await;
    host.wait_status(&id, "active", T).await;
    driver.agent_message(&conv, "hello from Alex").await;
    host.input_expect(&id, "text", "hi Alex", "forwarded").await;
    assert_eq!(
        sim.wait_for_user_messages(&conv, 1, T).await.unwrap(),
        ["hi Alex"]
    );
    driver.end(&conv).await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["end_reason"], "agent_closed", "{st}");

    let events = host.handover_events(&id, None, T).await;
    let queued: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["type"] == "queued")
        .map(|e| (e["position"].clone(), e["estimated_wait_seconds"].clone()))
        .collect();
    assert!(queued.contains(&(json!(3), json!(90))), "{queued:?}");
    assert!(queued.contains(&(json!(1), json!(15))), "{queued:?}");
    let msg = events
        .iter()
        .find(|e| e["type"] == "agent_message")
        .unwrap();
    assert_eq!(msg["text"], "hello from Alex");
    // Every Chasitor call carried the next sequence number.
    let sequences: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/chat/rest/Chasitor/"))
        .map(|r| r.header("x-liveagent-sequence").unwrap_or("-").to_string())
        .collect();
    assert_eq!(sequences, ["1", "2"]);
    driver.shutdown().await;
}

#[tokio::test]
async fn live_agent_availability_and_no_agent() {
    let driver = LiveAgentDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("ep", "salesforce-live-agent", &driver).await;
    let (code, a) = host.get("/v1/endpoints/ep/availability").await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["supported"], true);
    assert_eq!(a["agents_available"], true);
    assert_eq!(a["estimated_wait_seconds"], 30);
    sim.set_agents_available(false);
    let (_, a) = host.get("/v1/endpoints/ep/availability").await;
    assert_eq!(a["agents_available"], false, "{a}");
    assert!(a["message"].is_string(), "{a}");

    // No agent: the chat request fails and the handover ends as an error.
    let id = host.create_id("ep", "s-1").await;
    let st = host.wait_status(&id, "error", T).await;
    assert_eq!(st["end_reason"], "no_agent_available", "{st}");
    driver.shutdown().await;
}

#[tokio::test]
async fn live_agent_user_cancel_ends_the_chat() {
    let driver = LiveAgentDriver::start().await.unwrap();
    let host = Host::start_for_driver("ep", "salesforce-live-agent", &driver).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = driver.wait_for_conversation(&id, T).await.expect("chat");
    host.input_expect(&id, "quick_reply", "Cancel", "cancelled")
        .await;
    assert_eq!(driver.closed_by_bot(&conv).await, Some(true));
    driver.shutdown().await;
}
