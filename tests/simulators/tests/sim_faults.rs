//! Scripted faults: `fail_next` from Rust and over the control route,
//! `Retry-After` on 429, and shutdown releasing the port.

mod common;

use common::{create, get, new_conversation, post};
use provider_simulators::{SimConfig, SimProvider};
use serde_json::json;

#[tokio::test]
async fn fail_next_answers_matching_requests_without_acting() {
    let sim = SimProvider::start(SimConfig::default()).await.unwrap();
    let base = sim.base_url();
    sim.fail_next("/conversations", 500, 2);
    let url = format!("{base}/conversations");
    for _ in 0..2 {
        let (status, body) = post(&url, new_conversation("h-1")).await;
        assert_eq!(status, 500);
        assert!(body["error"].is_string());
    }
    assert!(sim.conversations().is_empty());
    // Other paths are untouched.
    assert_eq!(get(&format!("{base}/availability")).await.0, 200);
    assert_eq!(create(&base, "h-1").await, "c-1");

    let statuses: Vec<_> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200, 201]);
    assert_eq!(sim.requests()[0].json().unwrap()["handover_id"], "h-1");
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let sim = SimProvider::start(SimConfig::default()).await.unwrap();
    let base = sim.base_url();
    let id = create(&base, "h-1").await;
    sim.fail_next(&format!("/conversations/{id}/messages"), 429, 1);
    let client = common::client();
    let url = format!("{base}/conversations/{id}/messages");
    let resp = client
        .post(&url)
        .json(&json!({ "text": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(sim.conversation(&id).unwrap().user_messages.is_empty());
    assert_eq!(post(&url, json!({ "text": "hi" })).await.0, 202);
}

#[tokio::test]
async fn fail_next_over_the_control_route() {
    let sim = SimProvider::start(SimConfig::default()).await.unwrap();
    let base = sim.base_url();
    let body = json!({ "path_prefix": "/availability", "status": 503, "count": 1 });
    assert_eq!(post(&format!("{base}/_sim/fail_next"), body).await.0, 200);
    assert_eq!(get(&format!("{base}/availability")).await.0, 503);
    assert_eq!(get(&format!("{base}/availability")).await.0, 200);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = SimProvider::start(SimConfig::default()).await.unwrap();
    let url = format!("{}/availability", sim.base_url());
    assert_eq!(get(&url).await.0, 200);
    sim.clone().shutdown().await;
    assert!(common::client().get(&url).send().await.is_err());
    sim.shutdown().await; // idempotent
}
