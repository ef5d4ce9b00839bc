//! End to end through the real host binary with the `chatwoot` and
//! `sunshine-conversations` adapters against their simulators: every
//! request the adapters send (and every webhook the simulators send) is
//! validated against the providers' OpenAPI documents (copies in
//! `tests/simulators/specs/`),
//! and each test ends by asserting that the simulator recorded no schema
//! violation. The credentials come from `[[endpoints.auth]]` rules, never
//! from the adapters' settings.

use crate::e2e::harness::agent_texts;
use crate::e2e::harness::{Host, conversation_types, types};
use provider_simulators::chatwoot::{ChatwootDriver, ChatwootSim};
use provider_simulators::driver::ProviderDriver;
use provider_simulators::sunshine::{SunshineDriver, SunshineSim};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn create_body() -> Value {
    json!({
        "transcript": [
            {"author": "user", "text": "my parcel is late", "timestamp_ms": 1},
            {"author": "bot", "text": "Let me get you a human.", "timestamp_ms": 2}
        ],
        "user_profile": {"name": "Ann Lee", "email": "ann@example.com"},
        "routing": {"skills": ["parcels"], "language": "en", "priority": 3, "queue": "support",
                    "custom": {"order": "A-17"}}
    })
}

#[tokio::test]
async fn chatwoot_handover_traffic_matches_the_spec() {
    let driver = ChatwootDriver::start().await.unwrap();
    let sim: ChatwootSim = driver.sim.clone();
    let host = Host::start_for_driver("cw", "chatwoot", &driver).await;

    let (status, created) = host.create("cw", "s-1", create_body()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation opened");
    host.wait_status(&id, "queued", T).await;
    let opened = sim.conversation(conv).unwrap();
    assert_eq!(opened["labels"], json!(["parcels"]));
    assert_eq!(opened["priority"], "high");
    assert_eq!(opened["meta"]["team"]["name"], "support");
    assert_eq!(opened["custom_attributes"]["order"], "A-17");
    assert_eq!(opened["meta"]["sender"]["name"], "Ann Lee");
    let notes = sim.private_notes(conv);
    assert!(
        notes[0].contains("User: my parcel is late\nBot: Let me get you a human."),
        "{notes:?}"
    );

    sim.assign(conv, "Alex");
    host.wait_status(&id, "active", T).await;
    sim.typing(conv, true);
    sim.agent_message(conv, "Hi, I am Alex.");
    sim.agent_attachment(
        conv,
        "Your label",
        "https://files.example.com/label.pdf",
        "file",
    );
    sim.private_note(conv, "internal: check the depot");
    let (_, r) = host.input(&id, "text", "thanks").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    host.eventually("the user's message", T, async || {
        (sim.user_messages(conv) == ["thanks"]).then_some(())
    })
    .await;
    sim.resolve(conv);
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "agent_closed");

    let events = host.handover_events(&id, None, T).await;
    assert_eq!(types(&events), conversation_types(2), "{events:#?}");
    assert_eq!(agent_texts(&events), ["Hi, I am Alex.", "Your label"]);
    assert_eq!(events[1]["agent"]["name"], "Alex");
    assert_eq!(
        events[4]["attachments"][0]["content_type"],
        "application/pdf"
    );

    // Every request carried the token the host added; none broke the spec.
    let requests = sim.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.header("api_access_token") == Some("chatwoot-sim-token"))
    );
    assert!(requests.iter().all(|r| r.status < 400), "{requests:#?}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn chatwoot_cancel_duplicates_and_reordering() {
    let driver = ChatwootDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("cw", "chatwoot", &driver).await;

    // Cancelled while queued: the conversation is resolved by the bot side.
    let id = host.create_id("cw", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    let (_, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(r["result"], "cancelled", "{r}");
    assert_eq!(sim.resolved_by_api(conv), Some(true));

    // Duplicated, then held and reversed webhooks reach the bot once, in order.
    let id = host.create_id("cw", "s-2").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.set_duplicate_webhooks(true);
    sim.assign(conv, "Bea");
    host.wait_status(&id, "active", T).await;
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    for t in ["one", "two", "three"] {
        sim.agent_message(conv, t);
    }
    sim.resolve(conv);
    sim.release_held(true).await;
    host.wait_status(&id, "completed", T).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(agent_texts(&events), ["one", "two", "three"], "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "agent_joined")
            .count(),
        1
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn sunshine_handover_traffic_matches_the_spec() {
    let driver = SunshineDriver::start().await.unwrap();
    let sim: SunshineSim = driver.sim.clone();
    let host = Host::start_for_driver("sc", "sunshine-conversations", &driver).await;

    let mut body = create_body();
    body["context"] = json!({"sunshine_conversation_id": "conv-77", "sunshine_user_id": "user-5"});
    let (status, created) = host.create("sc", "s-1", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let Some(conv) = sim.wait_for_conversation(&id, T).await else {
        panic!(
            "control never passed: {}\n{:#?}\n{}",
            host.status(&id).await,
            sim.requests(),
            host.log()
        );
    };
    assert_eq!(conv, "conv-77");
    host.wait_status(&id, "queued", T).await;
    assert_eq!(sim.active(&conv).as_deref(), Some("zd-agentWorkspace"));
    let meta = sim.handover_metadata(&conv).unwrap();
    assert_eq!(meta["skills"], "parcels");
    assert_eq!(meta["order"], "A-17");
    let transcript = sim.messages(&conv);
    assert_eq!(transcript.len(), 2, "{transcript:#?}");
    assert_eq!(transcript[0]["author"]["userId"], "user-5");
    assert_eq!(transcript[1]["author"]["displayName"], "Bot");

    sim.accept(&conv, "Alex");
    host.wait_status(&id, "active", T).await;
    sim.typing(&conv, true);
    sim.agent_message(&conv, "Hi, I am Alex.");
    sim.agent_image(&conv, "https://files.example.com/label.png", "Your label");
    let (_, r) = host.input(&id, "text", "thanks").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    host.eventually("the user's message", T, async || {
        (sim.user_messages(&conv) == ["thanks"]).then_some(())
    })
    .await;
    sim.close_ticket(&conv);
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "agent_closed");

    let events = host.handover_events(&id, None, T).await;
    assert_eq!(types(&events), conversation_types(2), "{events:#?}");
    assert_eq!(agent_texts(&events), ["Hi, I am Alex.", "Your label"]);
    assert_eq!(
        events[4]["attachments"][0]["url"],
        "https://files.example.com/label.png"
    );

    let requests = sim.requests();
    assert!(requests.iter().all(|r| {
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    }));
    assert!(requests.iter().all(|r| r.status < 400), "{requests:#?}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn sunshine_cancel_duplicates_and_reordering() {
    let driver = SunshineDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("sc", "sunshine-conversations", &driver).await;

    // Cancelled while queued: control goes back to the bot integration.
    let id = host.create_id("sc", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    assert_eq!(
        conv, "s-1",
        "without context the session id is the conversation"
    );
    let (_, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(r["result"], "cancelled", "{r}");
    assert_eq!(sim.returned_by_api(&conv), Some(true));
    assert_eq!(sim.active(&conv).as_deref(), Some("bot"));

    let id = host.create_id("sc", "s-2").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.set_duplicate_webhooks(true);
    sim.accept(&conv, "Bea");
    host.wait_status(&id, "active", T).await;
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    for t in ["one", "two", "three"] {
        sim.agent_message(&conv, t);
    }
    sim.close_ticket(&conv);
    sim.release_held(true).await;
    host.wait_status(&id, "completed", T).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(agent_texts(&events), ["one", "two", "three"], "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "agent_joined")
            .count(),
        1
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}
