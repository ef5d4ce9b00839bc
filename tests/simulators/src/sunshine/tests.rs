//! The Sunshine simulator over real HTTP: Basic auth, request and webhook
//! validation against the spec, the switchboard flow and `X-API-Key`.

use super::*;
use crate::kit::lock;
use crate::kit::testing::{ApiClient, Receiver};

/// A client of the app's conversations API with the app's Basic auth.
fn api(sim: &SunshineSim) -> ApiClient {
    let c = sim.config();
    let base = format!("{}/v2/apps/{}/conversations", sim.base_url(), c.app_id);
    let (id, secret) = (c.key_id.clone(), c.key_secret.clone());
    ApiClient::new(base, move |req| req.basic_auth(&id, Some(&secret)))
}

async fn sim() -> SunshineSim {
    SunshineSim::start(SunshineConfig::default()).await.unwrap()
}

#[tokio::test]
async fn requests_need_basic_auth() {
    let sim = sim().await;
    let url = format!(
        "{}/v2/apps/{}/conversations/c1/passControl",
        sim.base_url(),
        sim.config().app_id
    );
    let http = reqwest::Client::new();
    let body = json!({"switchboardIntegration": "next"});
    let none = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .post(&url)
        .basic_auth("app_x", Some("nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (status, _) = api(&sim).call("POST", "/c1/passControl", Some(body)).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn bodies_that_break_the_spec_are_recorded_and_rejected() {
    let sim = sim().await;
    let c = api(&sim);
    let (status, _) = c
        .call(
            "POST",
            "/c1/passControl",
            Some(json!({"switchboardIntegration": "zd-agentWorkspace"})),
        )
        .await;
    assert_eq!(status, 200);
    // `author` is required; the content type must be a known message type.
    let (status, body) = c
        .call(
            "POST",
            "/c1/messages",
            Some(json!({"content": {"type": "txt", "text": "hi"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // text longer than 4096 characters.
    let long = "x".repeat(4097);
    let (status, _) = c
        .call(
            "POST",
            "/c1/messages",
            Some(json!({"author": {"type": "user", "userId": "u1"}, "content": {"type": "text", "text": long}})),
        )
        .await;
    assert_eq!(status, 400);
    // switchboardIntegration is required.
    let (status, _) = c
        .call("POST", "/c1/passControl", Some(json!({"metadata": {}})))
        .await;
    assert_eq!(status, 400);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    let first = violations[0].errors.join(" ");
    assert!(first.contains("author") && first.contains("txt"), "{first}");
    assert!(
        violations[1].errors.join(" ").contains("4096"),
        "{}",
        violations[1]
    );
    assert!(
        violations[2]
            .errors
            .join(" ")
            .contains("switchboardIntegration")
    );
    // Valid text, image and file messages pass (the discriminator picks
    // the branch; `nullable` metadata may be null).
    for content in [
        json!({"type": "text", "text": "hello"}),
        json!({"type": "image", "mediaUrl": "https://example.com/a.png"}),
        json!({"type": "file", "mediaUrl": "https://example.com/a.pdf", "altText": "a.pdf"}),
    ] {
        let (status, body) = c
            .call(
                "POST",
                "/c1/messages",
                Some(json!({"author": {"type": "user", "userExternalId": "u-1"}, "content": content, "metadata": null})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_conversations_can_be_refused() {
    let sim = SunshineSim::start(SunshineConfig {
        known_conversations_only: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = api(&sim);
    let pass = json!({"switchboardIntegration": "next"});
    let (status, body) = c
        .call("POST", "/nope/passControl", Some(pass.clone()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], "conversation_not_found");
    sim.create_conversation("known");
    let (status, _) = c.call("POST", "/known/passControl", Some(pass)).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.active("known").as_deref(),
        Some("zd-agentWorkspace"),
        "next after the bot"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn webhook_bodies_are_validated_too() {
    let sim = sim().await;
    let c = api(&sim);
    c.call(
        "POST",
        "/c1/passControl",
        Some(json!({"switchboardIntegration": "next"})),
    )
    .await;
    assert!(sim.violations().is_empty());
    // `createdAt`-style fields must be strings; an event id must be a string.
    sim.emit(
        "c1",
        "conversation:message",
        json!({"conversation": {"id": 5}}),
    );
    let v = sim.take_violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].what.contains("webhook conversation:message"),
        "{}",
        v[0]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn switchboard_flow_with_webhooks() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    let (status, _) = c
        .call(
            "POST",
            "/conv-1/passControl",
            Some(json!({"switchboardIntegration": "zd-agentWorkspace", "metadata": {"handover_id": "h-9"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.conversation_for_handover("h-9").as_deref(),
        Some("conv-1")
    );
    assert_eq!(sim.active("conv-1").as_deref(), Some("zd-agentWorkspace"));
    let (status, posted) = c
        .call(
            "POST",
            "/conv-1/messages",
            Some(json!({"author": {"type": "user", "userExternalId": "u-1"}, "content": {"type": "text", "text": "hello"}})),
        )
        .await;
    assert_eq!(status, 201);
    let first = posted["messages"][0]["id"].as_str().unwrap().to_string();
    sim.accept("conv-1", "Alex");
    sim.typing("conv-1", true);
    sim.agent_message("conv-1", "hi, Alex here");
    sim.close_ticket("conv-1");
    assert!(sim.wait_for_deliveries(7, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["events"][0]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "switchboard:passControl",
            "conversation:message",
            "switchboard:acceptControl",
            "conversation:typing",
            "conversation:message",
            "conversation:message",
            "switchboard:releaseControl"
        ]
    );
    assert_eq!(
        bodies[2]["events"][0]["payload"]["metadata"]["agentName"],
        "Alex"
    );
    let agent = &bodies[4]["events"][0]["payload"]["message"];
    assert_eq!(agent["author"]["type"], "business");
    assert_eq!(agent["author"]["displayName"], "Alex");
    assert_eq!(bodies[6]["events"][0]["payload"]["reason"], "ticketClosed");
    for (headers, _) in lock(&hooks.got).iter() {
        assert_eq!(headers["x-api-key"], "sunshine-sim-webhook-secret");
    }
    assert_eq!(sim.user_messages("conv-1"), ["hello"]);
    assert_eq!(sim.returned_by_api("conv-1"), Some(false));
    let (_, page) = c
        .call(
            "GET",
            &format!("/conv-1/messages?page[after]={first}"),
            None,
        )
        .await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hi, Alex here", "Ticket closed"]);
    assert_eq!(page["meta"]["hasMore"], false);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn activities_follow_the_author_rule() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    // A user author may only mark the conversation read.
    let (status, body) = c
        .call(
            "POST",
            "/c1/activity",
            Some(json!({"author": {"type": "user", "userId": "u1"}, "type": "typing:start"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], "bad_request");
    let v = sim.take_violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].errors.join(" ").contains("only `conversation:read`"),
        "{}",
        v[0]
    );
    assert!(sim.user_typing("c1").is_empty());
    // An unknown activity type breaks the spec's enum.
    let (status, _) = c
        .call(
            "POST",
            "/c1/activity",
            Some(json!({"author": {"type": "business"}, "type": "typing:maybe"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(sim.take_violations().len(), 1);
    for body in [
        json!({"author": {"type": "user", "userId": "u1"}, "type": "conversation:read"}),
        json!({"author": {"type": "business"}, "type": "typing:start"}),
        json!({"author": {"type": "business"}, "type": "conversation:read"}),
    ] {
        let (status, answer) = c.call("POST", "/c1/activity", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(sim.activities("c1").len(), 3);
    assert!(sim.business_last_read("c1").is_some());
    assert!(sim.wait_for_deliveries(3, Duration::from_secs(5)).await);
    let kinds: Vec<String> = hooks
        .bodies()
        .iter()
        .map(|b| b["events"][0]["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "conversation:read",
            "conversation:typing",
            "conversation:read"
        ]
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_agent_reads_answers_with_actions_and_hands_back() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    c.call(
        "POST",
        "/conv-1/passControl",
        Some(json!({"switchboardIntegration": "zd-agentWorkspace", "metadata": {"handover_id": "h-1"}})),
    )
    .await;
    sim.accept("conv-1", "Alex");
    sim.agent_actions(
        "conv-1",
        "Pick one",
        json!([{"type": "reply", "text": "Yes please", "payload": "yes"},
               {"type": "link", "text": "Terms", "uri": "https://example.com/terms"}]),
    );
    sim.read("conv-1").unwrap();
    // Sunshine's metadata is flat: nested values are refused, nothing sent.
    assert!(
        sim.pass_back_with("conv-1", Some(&json!({"a": {"b": 1}})))
            .unwrap_err()
            .contains("`a`")
    );
    sim.pass_back_with("conv-1", Some(&json!({"plan": "gold", "case": 42})))
        .unwrap();
    assert_eq!(sim.active("conv-1").as_deref(), Some("bot"));
    sim.release_control("conv-1", Some(&json!({"vip": true})))
        .unwrap();
    assert_eq!(sim.active("conv-1"), None);
    assert!(sim.wait_for_deliveries(6, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    let events: Vec<&Value> = bodies.iter().map(|b| &b["events"][0]).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "switchboard:passControl",
            "switchboard:acceptControl",
            "conversation:message",
            "conversation:read",
            "switchboard:passControl",
            "switchboard:releaseControl"
        ]
    );
    let message = &events[2]["payload"]["message"];
    assert_eq!(message["content"]["actions"][0]["type"], "reply");
    assert_eq!(
        message["content"]["actions"][1]["uri"],
        "https://example.com/terms"
    );
    assert_eq!(
        events[3]["payload"]["activity"]["author"]["type"],
        "business"
    );
    assert_eq!(
        events[4]["payload"]["metadata"],
        json!({"plan": "gold", "case": 42})
    );
    assert_eq!(
        events[4]["payload"]["conversation"]["activeSwitchboardIntegration"]["name"],
        "bot"
    );
    assert_eq!(events[5]["payload"]["metadata"], json!({"vip": true}));
    assert!(events[5]["payload"].get("reason").is_none());
    assert!(
        events[5]["payload"]["conversation"]
            .get("activeSwitchboardIntegration")
            .is_none()
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}
