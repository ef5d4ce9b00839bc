//! Contract 0.2.0 features of the chatwoot adapter against its simulator,
//! over real HTTP with the real binary: the contact's messages delivered
//! and read (`message_updated` and the API's message `status`, or the
//! conversation's `agent_last_seen_at` in a later webhook) reach the bot
//! as receipts naming the host's message ids; interactive agent messages
//! (`input_select`, `cards`, `article`) carry their options and links as
//! actions; the user's typing goes to Chatwoot's public API
//! (`toggle_typing`). Every request and body is checked against Chatwoot's
//! swagger by the simulator, and each test ends with no violation.

use crate::e2e::harness::{Host, events_path, types};
use crate::e2e::support::T;
use provider_simulators::chatwoot::{ChatwootDriver, ChatwootSim};
use provider_simulators::driver::ProviderDriver;
use serde_json::{Value, json};
use std::time::Duration;

async fn start() -> (ChatwootDriver, ChatwootSim, Host) {
    let driver = ChatwootDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("cw", "chatwoot", &driver).await;
    (driver, sim, host)
}

/// A handover with agent Alex assigned: its id and Chatwoot conversation.
async fn active(host: &Host, sim: &ChatwootSim, session: &str) -> (String, u64) {
    let id = host.create_id("cw", session).await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.assign(conv, "Alex");
    host.wait_status(&id, "active", T).await;
    (id, conv)
}

/// The handover's events from the start until one matches `stop`.
async fn events_until(host: &Host, id: &str, stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let events = host.sse(&events_path(id), None, T, stop).await;
    assert!(!events.is_empty(), "no events\n{}", host.log());
    events
}

/// User input with the host's message id.
async fn say(host: &Host, id: &str, text: &str, message_id: &str) {
    let body = json!({"kind": "text", "text": text, "message_id": message_id});
    let (status, r) = host.post(&format!("/v1/handovers/{id}/input"), body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"], "forwarded", "{r}");
    assert_eq!(r["message_id"], message_id, "{r}");
}

fn receipts(events: &[Value]) -> Vec<(Value, Value)> {
    events
        .iter()
        .filter(|e| e["type"] == "receipt")
        .map(|e| (e["status"].clone(), e["message_ids"].clone()))
        .collect()
}

async fn finish(driver: ChatwootDriver, sim: &ChatwootSim) {
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn chatwoot_receipts_name_the_hosts_message_ids() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    say(&host, &id, "where is my parcel?", "m-1").await;
    host.eventually("the user's message", T, async || {
        (sim.user_messages(conv) == ["where is my parcel?"]).then_some(())
    })
    .await;

    // Chatwoot moves the contact's message to `delivered`, then the agent
    // opens the conversation and it is `read`: one receipt each, naming
    // the host's id (never Chatwoot's).
    assert_eq!(sim.deliver_user_messages(conv).len(), 1);
    let events = events_until(&host, &id, |e| e["type"] == "receipt").await;
    assert_eq!(
        receipts(&events),
        [(json!("delivered"), json!(["m-1"]))],
        "{events:#?}"
    );
    assert_eq!(sim.read_user_messages(conv).len(), 1);
    let events = events_until(&host, &id, |e| e["status"] == "read").await;
    assert_eq!(
        receipts(&events),
        [
            (json!("delivered"), json!(["m-1"])),
            (json!("read"), json!(["m-1"]))
        ]
    );
    let read = events.last().unwrap();
    assert!(
        read["timestamp_ms"].as_u64().is_some_and(|t| t > 0),
        "{read}"
    );

    // A later message is named by the next read only (read straight
    // away: no delivered receipt first).
    say(&host, &id, "hello?", "m-2").await;
    host.eventually("the second message", T, async || {
        (sim.user_messages(conv).len() == 2).then_some(())
    })
    .await;
    assert_eq!(sim.read_user_messages(conv).len(), 1);
    let events = events_until(&host, &id, |e| {
        e["type"] == "receipt" && e["message_ids"] == json!(["m-2"])
    })
    .await;
    assert_eq!(
        receipts(&events),
        [
            (json!("delivered"), json!(["m-1"])),
            (json!("read"), json!(["m-1"])),
            (json!("read"), json!(["m-2"]))
        ]
    );

    // The agent opens the conversation (only `agent_last_seen_at` moves, no
    // webhook) and replies: the reply's webhook shows the view, and the
    // message sent before it is read, before the reply reaches the bot.
    say(&host, &id, "thanks", "m-3").await;
    host.eventually("the third message", T, async || {
        (sim.user_messages(conv).len() == 3).then_some(())
    })
    .await;
    // Whole seconds: the view must come in a later second than the message.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.agent_views(conv);
    sim.agent_message(conv, "On its way.");
    let events = events_until(&host, &id, |e| e["type"] == "agent_message").await;
    let last: Vec<&Value> = events.iter().rev().take(2).rev().collect();
    assert_eq!(last[0]["type"], "receipt", "{events:#?}");
    assert_eq!(last[0]["status"], "read");
    assert_eq!(last[0]["message_ids"], json!(["m-3"]));
    assert_eq!(last[1]["text"], "On its way.");

    // Nothing else produces one.
    sim.resolve(conv);
    host.wait_status(&id, "completed", T).await;
    let events = events_until(&host, &id, |e| e["type"] == "ended").await;
    assert_eq!(receipts(&events).len(), 4, "{events:#?}");
    finish(driver, &sim).await;
}

#[tokio::test]
async fn chatwoot_interactive_messages_reach_the_bot_as_actions() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    sim.agent_options(conv, "Pick one", &[("Yes please", "yes"), ("No", "no")]);
    let card = json!({"items": [{
    "media_url": "https://files.example.com/shoe.png", "title": "Nike Shoes 2.0",
    "description": "Running with Nike Shoe 2.0",
    "actions": [
        {"type": "link", "text": "View More", "uri": "https://shop.example.com/shoe"},
        {"type": "postback", "text": "Add to cart", "payload": "ITEM_SELECTED"}
    ]}]});
    sim.agent_interactive(conv, "card message", "cards", card);
    let articles = json!({"items": [
        {"title": "API start guide", "description": "A start guide", "link": "https://docs.example.com/start"}
    ]});
    sim.agent_interactive(conv, "articles", "article", articles);
    sim.agent_message(conv, "plain");
    let events = events_until(&host, &id, |e| e["text"] == "plain").await;
    let messages: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .collect();
    assert_eq!(messages.len(), 4, "{events:#?}");
    assert_eq!(messages[0]["text"], "Pick one");
    assert_eq!(messages[0]["agent"]["name"], "Alex");
    assert_eq!(
        messages[0]["actions"],
        json!([
            {"type": "quick_reply", "title": "Yes please", "payload": "yes"},
            {"type": "quick_reply", "title": "No", "payload": "no"}
        ])
    );
    assert_eq!(
        messages[1]["actions"],
        json!([
            {"type": "link", "title": "View More", "url": "https://shop.example.com/shoe"},
            {"type": "quick_reply", "title": "Add to cart", "payload": "ITEM_SELECTED"}
        ])
    );
    assert_eq!(
        messages[2]["actions"],
        json!([{"type": "link", "title": "API start guide", "url": "https://docs.example.com/start"}])
    );
    assert!(
        messages[3]["actions"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        messages[3]
    );

    // The user presses a quick reply: Chatwoot gets its value as the
    // contact's message.
    let (_, r) = host
        .post(
            &format!("/v1/handovers/{id}/input"),
            json!({"kind": "quick_reply", "text": "yes"}),
        )
        .await;
    assert_eq!(r["result"], "forwarded", "{r}");
    host.eventually("the quick reply", T, async || {
        (sim.user_messages(conv) == ["yes"]).then_some(())
    })
    .await;
    finish(driver, &sim).await;
}

#[tokio::test]
async fn chatwoot_user_typing_goes_through_the_public_api() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    let typing = async |on: bool| {
        let (status, r) = host
            .post(&format!("/v1/handovers/{id}/typing"), json!({"typing": on}))
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["forwarded"], true, "{r}");
        assert_eq!(r["handover"]["status"], "active", "{r}");
    };
    typing(true).await;
    assert_eq!(sim.user_typing(conv), Some(vec![true]));
    typing(false).await;
    assert_eq!(sim.user_typing(conv), Some(vec![true, false]));

    // As the contact (its source id) of the API inbox, `typing_status` in
    // the query and the body; the host added the token as everywhere.
    let calls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/toggle_typing"))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let source = sim.conversation(conv).unwrap()["contact_inbox"]["source_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        calls[0].path,
        format!(
            "/public/api/v1/inboxes/sim-api-inbox-identifier/contacts/{source}/conversations/{conv}/toggle_typing"
        )
    );
    assert_eq!(calls[0].query.as_deref(), Some("typing_status=on"));
    assert_eq!(calls[1].body, r#"{"typing_status":"off"}"#);
    assert!(calls.iter().all(|r| r.status == 200), "{calls:#?}");

    // Chatwoot echoes the contact's typing as typing webhooks; they are not
    // the agent's and reach the bot as nothing.
    sim.agent_message(conv, "still there?");
    let events = events_until(&host, &id, |e| e["type"] == "agent_message").await;
    assert_eq!(
        types(&events),
        ["queued", "agent_joined", "agent_message"],
        "{events:#?}"
    );
    finish(driver, &sim).await;
}
