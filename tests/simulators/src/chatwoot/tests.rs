//! The Chatwoot simulator over real HTTP: credentials, spec validation,
//! the conversation flow and signed webhooks.

use super::*;
use crate::kit::lock;
use crate::kit::testing::{ApiClient, Receiver};

/// A client of the account's API with the API token.
fn api(sim: &ChatwootSim) -> ApiClient {
    let cfg = sim.config();
    let base = format!("{}/api/v1/accounts/{}", sim.base_url(), cfg.account_id);
    let token = cfg.api_token.clone();
    ApiClient::new(base, move |req| req.header("api_access_token", &token))
}

async fn sim() -> ChatwootSim {
    ChatwootSim::start(ChatwootConfig::default()).await.unwrap()
}

#[tokio::test]
async fn requests_without_the_token_get_401() {
    let sim = sim().await;
    let url = format!("{}/api/v1/accounts/1/teams", sim.base_url());
    let http = reqwest::Client::new();
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .get(&url)
        .header("api_access_token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (status, teams) = api(&sim).call("GET", "/teams", None).await;
    assert_eq!(status, 200);
    assert_eq!(teams[0]["name"], "support");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_body_that_breaks_the_spec_is_recorded_and_rejected() {
    let sim = sim().await;
    let c = api(&sim);
    // `inbox_id` is required and `source_id` must be a string.
    let (status, body) = c
        .call("POST", "/conversations", Some(json!({"source_id": 5})))
        .await;
    assert_eq!(status, 422, "{body}");
    // Unknown enum value.
    let (status, _) = c
        .call("POST", "/contacts", Some(json!({"inbox_id": 7})))
        .await;
    assert_eq!(status, 200);
    let conv = open_conversation(&c).await;
    let (status, _) = c
        .call(
            "POST",
            &format!("/conversations/{conv}/toggle_status"),
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(status, 422);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations[0].what.ends_with("/conversations"),
        "{}",
        violations[0]
    );
    let text = violations[0].errors.join(" ");
    assert!(
        text.contains("inbox_id") && text.contains("/source_id"),
        "{text}"
    );
    assert!(
        violations[1].errors.join(" ").contains("closed"),
        "{}",
        violations[1]
    );
    assert!(sim.violations().is_empty());
    sim.shutdown().await;
}

async fn open_conversation(c: &ApiClient) -> u64 {
    let (status, contact) = c
        .call(
            "POST",
            "/contacts",
            Some(json!({"inbox_id": 7, "name": "Ann", "identifier": format!("u-{}", kit::unix_ms())})),
        )
        .await;
    assert_eq!(status, 200, "{contact}");
    let source = contact["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .unwrap();
    let id = contact["payload"]["contact"]["id"].as_u64().unwrap();
    let (status, conv) = c
        .call(
            "POST",
            "/conversations",
            Some(json!({"source_id": source, "inbox_id": 7, "contact_id": id,
                        "additional_attributes": {"handover_id": "h-1"}})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    conv["id"].as_u64().unwrap()
}

#[tokio::test]
async fn conversation_flow_and_signed_webhooks() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    let conv = open_conversation(&c).await;
    assert_eq!(sim.conversation_for_handover("h-1"), Some(conv));
    let (status, _) = c
        .call(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(json!({"content": "hello", "message_type": "incoming"})),
        )
        .await;
    assert_eq!(status, 200);
    let agent = sim.assign(conv, "Alex");
    sim.agent_message(conv, "hi, Alex here");
    sim.resolve(conv);
    assert!(sim.wait_for_deliveries(5, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "conversation_created",
            "message_created",
            "conversation_updated",
            "message_created",
            "conversation_status_changed"
        ]
    );
    assert_eq!(bodies[1]["message_type"], "incoming");
    assert_eq!(bodies[2]["meta"]["assignee"]["id"], agent);
    assert_eq!(bodies[3]["message_type"], "outgoing");
    assert_eq!(bodies[3]["sender"]["name"], "Alex");
    assert_eq!(bodies[3]["conversation"]["id"], conv);
    assert_eq!(bodies[4]["status"], "resolved");
    for (headers, body) in lock(&hooks.got).iter() {
        let ts: u64 = headers["x-chatwoot-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            headers["x-chatwoot-signature"].to_str().unwrap(),
            sign("chatwoot-sim-webhook-secret", ts, body)
        );
        assert!(
            headers["x-chatwoot-delivery"]
                .to_str()
                .unwrap()
                .starts_with("cw-")
        );
    }
    assert_eq!(sim.user_messages(conv), ["hello"]);
    assert_eq!(sim.resolved_by_api(conv), Some(false));
    let (_, page) = c
        .call(
            "GET",
            &format!("/conversations/{conv}/messages?after=0"),
            None,
        )
        .await;
    let types: Vec<u64> = page["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_type"].as_u64().unwrap())
        .collect();
    assert_eq!(types, [0, 1]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_duplicates_and_held_webhooks() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    sim.fail_next(Some("POST"), "/api/v1/accounts/1/conversations", 503, 1);
    let (status, _) = c
        .call(
            "POST",
            "/conversations",
            Some(json!({"source_id": "x", "inbox_id": 7})),
        )
        .await;
    assert_eq!(status, 503);
    let conv = open_conversation(&c).await;
    assert!(sim.wait_for_deliveries(1, Duration::from_secs(5)).await);
    sim.set_duplicate_webhooks(true);
    sim.agent_message(conv, "twice");
    assert!(sim.wait_for_deliveries(3, Duration::from_secs(5)).await);
    let d = sim.deliveries();
    assert_eq!(d[1].id, d[2].id, "a duplicate reuses the delivery id");
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    sim.agent_message(conv, "one");
    sim.agent_message(conv, "two");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.deliveries().len(), 3);
    assert_eq!(sim.release_held(true).await, 2);
    let bodies = hooks.bodies();
    let texts: Vec<&str> = bodies[3..]
        .iter()
        .map(|b| b["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["two", "one"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn interactive_messages_keep_their_content_attributes() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    let conv = open_conversation(&c).await;
    sim.agent_options(conv, "Pick one", &[("Yes please", "yes")]);
    let cards = json!({"items": [{"title": "Shoes", "description": "Run", "media_url": "https://x/y.png",
        "actions": [{"type": "link", "text": "View", "uri": "https://shop.example.com"}]}]});
    sim.agent_interactive(conv, "card message", "cards", cards.clone());
    assert!(sim.wait_for_deliveries(3, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    assert_eq!(bodies[1]["content_type"], "input_select");
    assert_eq!(
        bodies[1]["content_attributes"],
        json!({"items": [{"title": "Yes please", "value": "yes"}]})
    );
    let (_, page) = c
        .call(
            "GET",
            &format!("/conversations/{conv}/messages?after=0"),
            None,
        )
        .await;
    assert_eq!(page["payload"][1]["content_type"], "cards");
    assert_eq!(page["payload"][1]["content_attributes"], cards);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn delivered_and_read_user_messages_send_message_updated() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    let conv = open_conversation(&c).await;
    let path = format!("/conversations/{conv}/messages");
    let (_, created) = c
        .call(
            "POST",
            &path,
            Some(json!({"content": "hello", "message_type": "incoming"})),
        )
        .await;
    assert_eq!(created["status"], "sent");
    let mid = created["id"].as_u64().unwrap();
    sim.agent_message(conv, "hi");
    assert_eq!(sim.deliver_user_messages(conv), [mid]);
    assert_eq!(sim.read_user_messages(conv), [mid]);
    assert!(sim.read_user_messages(conv).is_empty(), "read once");
    assert!(sim.wait_for_deliveries(5, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    let updated: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["event"] == "message_updated")
        .collect();
    assert_eq!(updated.len(), 2, "{bodies:#?}");
    assert!(
        updated
            .iter()
            .all(|b| b["id"] == mid && b["message_type"] == "incoming")
    );
    assert_eq!(updated[1]["conversation"]["id"], conv);
    let (_, page) = c.call("GET", &format!("{path}?after=0"), None).await;
    assert_eq!(page["payload"][0]["status"], "read");
    assert_eq!(
        page["payload"][1]["status"], "sent",
        "the agent's own message"
    );
    let (_, shown) = c.call("GET", &format!("/conversations/{conv}"), None).await;
    assert!(shown["agent_last_seen_at"].as_u64().unwrap() > 0);
    // Viewing alone sends nothing; the next webhook's conversation shows it.
    sim.agent_views(conv);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.deliveries().len(), 5);
    sim.agent_message(conv, "still there?");
    assert!(sim.wait_for_deliveries(6, Duration::from_secs(5)).await);
    let last = hooks.bodies().pop().unwrap();
    assert!(last["conversation"]["agent_last_seen_at"].as_u64().unwrap() > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_public_api_records_the_contacts_typing() {
    let sim = sim().await;
    let hooks = Receiver::hooked_to(&sim).await;
    let c = api(&sim);
    let conv = open_conversation(&c).await;
    let source = sim.conversation(conv).unwrap()["contact_inbox"]["source_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cfg = sim.config();
    let public = |inbox: &str, contact: &str, query: &str| {
        format!(
            "{}/public/api/v1/inboxes/{inbox}/contacts/{contact}/conversations/{conv}/toggle_typing{query}",
            sim.base_url()
        )
    };
    let http = reqwest::Client::new();
    let send = async |url: String, body: Value| {
        http.post(url)
            .header("api_access_token", &cfg.api_token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let inbox = cfg.inbox_identifier.clone();
    let on = json!({"typing_status": "on"});
    assert_eq!(
        send(public(&inbox, &source, "?typing_status=on"), on.clone()).await,
        200
    );
    let off = json!({"typing_status": "off"});
    assert_eq!(
        send(public(&inbox, &source, "?typing_status=off"), off).await,
        200
    );
    assert_eq!(sim.user_typing(conv), Some(vec![true, false]));
    // The query parameter is required; the body must follow the spec.
    assert_eq!(send(public(&inbox, &source, ""), on.clone()).await, 422);
    let bad = json!({"typing_status": "maybe"});
    assert_eq!(
        send(public(&inbox, &source, "?typing_status=on"), bad).await,
        422
    );
    assert_eq!(sim.take_violations().len(), 1, "the body breaking the spec");
    // Another inbox or contact does not find the conversation.
    assert_eq!(
        send(public("other", &source, "?typing_status=on"), on.clone()).await,
        404
    );
    assert_eq!(
        send(public(&inbox, "someone", "?typing_status=on"), on).await,
        404
    );
    assert_eq!(sim.user_typing(conv), Some(vec![true, false]));
    assert!(sim.wait_for_deliveries(3, Duration::from_secs(5)).await);
    let bodies = hooks.bodies();
    assert_eq!(bodies[1]["event"], "conversation_typing_on");
    assert_eq!(bodies[1]["user"]["type"], "contact");
    assert_eq!(bodies[2]["event"], "conversation_typing_off");
    sim.shutdown().await;
}
