//! Webhook delivery to a loopback receiver: signatures checked by the
//! receiver's own HMAC code, ordering, duplicates, hold and release in
//! reverse, retries, and the auto agent.

mod common;

use common::{Receiver, SECRET, WAIT, create, post};
use provider_simulators::{AutoAgent, SimConfig, SimProvider, sign};
use serde_json::json;
use std::time::Duration;

async fn sim_to(receiver: &Receiver) -> SimProvider {
    let cfg = SimConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: SECRET.into(),
        auto_agent: None,
    };
    SimProvider::start(cfg).await.unwrap()
}

fn types(hits: &[common::Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.event["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sign_matches_the_documented_scheme() {
    // HMAC-SHA256("key", "1.{}"), computed independently with Python's hmac.
    let sig = sign("key", 1, b"{}");
    let expected = "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224";
    assert_eq!(sig, format!("sha256={expected}"));
    assert_ne!(sig, sign("key", 2, b"{}"));
    assert_ne!(sig, sign("other", 1, b"{}"));
}

#[tokio::test]
async fn agent_events_arrive_signed_and_in_order() {
    let receiver = Receiver::start().await;
    let sim = sim_to(&receiver).await;
    let id = create(&sim.base_url(), "h-1").await;
    sim.agent_join(&id, "a-1", "Alex").await;
    sim.agent_typing(&id, true).await;
    sim.agent_message(&id, "hello").await;
    sim.agent_leave(&id).await;
    sim.end(&id, "agent_left").await;

    let hits = receiver.wait_hits(6).await;
    let expected = [
        "queued",
        "agent_joined",
        "agent_typing",
        "agent_message",
        "agent_left",
        "ended",
    ];
    assert_eq!(types(&hits), expected);
    for (i, hit) in hits.iter().enumerate() {
        assert!(hit.verified, "bad signature on {hit:?}");
        assert_eq!(hit.signature, sign(SECRET, hit.timestamp, &hit.body));
        assert_eq!(hit.content_type, "application/json");
        assert_eq!(hit.delivery, hit.event["event_id"].as_str().unwrap());
        assert_eq!(hit.event["seq"], json!(i + 1));
        assert_eq!(hit.event, sim.events(&id)[i]);
    }
    assert_eq!(
        hits[4].event["agent"],
        json!({ "id": "a-1", "name": "Alex" })
    );
    let deliveries = sim.wait_for_deliveries(6, WAIT).await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.ok && d.attempts == 1 && d.status == Some(200))
    );
    assert_eq!(sim.conversation(&id).unwrap().status, "ended");
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicate_mode_delivers_everything_twice() {
    let receiver = Receiver::start().await;
    let sim = sim_to(&receiver).await;
    sim.set_duplicate_webhooks(true);
    let id = create(&sim.base_url(), "h-1").await;
    sim.agent_message(&id, "once").await;
    let hits = receiver.wait_hits(4).await;
    assert_eq!(
        types(&hits),
        ["queued", "queued", "agent_message", "agent_message"]
    );
    assert_eq!(hits[2].delivery, hits[3].delivery);
    assert_eq!(hits[2].body, hits[3].body);
    assert!(hits.iter().all(|h| h.verified));
    assert_eq!(sim.events(&id).len(), 2);
}

#[tokio::test]
async fn held_webhooks_are_released_in_reverse() {
    let receiver = Receiver::start().await;
    let sim = sim_to(&receiver).await;
    sim.set_hold_webhooks(true);
    let id = create(&sim.base_url(), "h-1").await;
    sim.agent_join(&id, "a-1", "Alex").await;
    sim.agent_message(&id, "first").await;
    sim.agent_message(&id, "second").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.hits().is_empty());

    sim.release_held(true).await;
    let seqs: Vec<_> = receiver
        .hits()
        .iter()
        .map(|h| h.event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 3, 2, 1]);

    // Still holding: later events wait for the next release.
    sim.agent_message(&id, "third").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.hits().len(), 4);
    sim.set_hold_webhooks(false);
    sim.release_held(false).await;
    sim.agent_message(&id, "fourth").await;
    let seqs: Vec<_> = receiver
        .wait_hits(6)
        .await
        .iter()
        .map(|h| h.event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 3, 2, 1, 5, 6]);
}

#[tokio::test]
async fn rejected_webhooks_are_retried_in_order() {
    let receiver = Receiver::start().await;
    let sim = sim_to(&receiver).await;
    receiver.reject_next(2);
    let id = create(&sim.base_url(), "h-1").await;
    sim.agent_message(&id, "after retries").await;
    let hits = receiver.wait_hits(2).await;
    assert_eq!(types(&hits), ["queued", "agent_message"]);
    let deliveries = sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!((deliveries[0].attempts, deliveries[0].ok), (3, true));
    assert_eq!(deliveries[1].attempts, 1);
}

#[tokio::test]
async fn unreachable_webhook_gives_up_and_polling_still_works() {
    let receiver = Receiver::start().await;
    let sim = sim_to(&receiver).await;
    sim.set_webhook_retry(3, Duration::from_millis(10));
    // Nothing listens on the simulator's own port under /hook: 404s.
    sim.set_webhook_url(Some(format!("{}/nowhere", sim.base_url())));
    let id = create(&sim.base_url(), "h-1").await;
    let d = sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!((d[0].attempts, d[0].status, d[0].ok), (3, Some(404), false));
    sim.set_webhook_url(None);
    sim.agent_message(&id, "polled only").await;
    assert_eq!(sim.events(&id).len(), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.webhook_deliveries().len(), 1);
    assert!(receiver.hits().is_empty());
}

#[tokio::test]
async fn auto_agent_joins_echoes_and_closes_on_bye() {
    let receiver = Receiver::start().await;
    let cfg = SimConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: SECRET.into(),
        auto_agent: Some(AutoAgent {
            join_after_ms: 20,
            agent_name: "Robo".into(),
            greeting: "Hello!".into(),
        }),
    };
    let sim = SimProvider::start(cfg).await.unwrap();
    let base = sim.base_url();
    let id = create(&base, "h-1").await;
    let hits = receiver.wait_hits(3).await;
    assert_eq!(types(&hits), ["queued", "agent_joined", "agent_message"]);
    assert_eq!(
        hits[1].event["agent"],
        json!({ "id": "a-1", "name": "Robo" })
    );
    assert_eq!(hits[2].event["text"], "Hello!");
    assert_eq!(sim.conversation(&id).unwrap().status, "active");

    let url = format!("{base}/conversations/{id}/messages");
    post(
        &url,
        json!({ "text": "ping", "kind": "text", "attachments": [] }),
    )
    .await;
    post(
        &url,
        json!({ "text": "Bye", "kind": "text", "attachments": [] }),
    )
    .await;
    let hits = receiver.wait_hits(6).await;
    let texts: Vec<_> = hits[3..5]
        .iter()
        .map(|h| h.event["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["echo: ping", "goodbye"]);
    assert_eq!(
        (
            hits[5].event["type"].clone(),
            hits[5].event["reason"].clone()
        ),
        (json!("ended"), json!("agent_closed"))
    );
    assert!(sim.wait_for_status(&id, "ended", WAIT).await.is_some());

    // A conversation cancelled before the agent joins is never joined.
    let other = create(&base, "h-2").await;
    post(&format!("{base}/conversations/{other}/cancel"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.events(&other).len(), 1);
}
