//! Contract 0.2.0 features of the `sunshine-conversations` adapter against
//! its simulator, over real HTTP through the real host binary: the agent
//! hands the conversation back to the bot (switchboard), reads the user's
//! messages (`conversation:read`), answers with `reply` / `link` actions;
//! the user's typing is not forwarded (Sunshine takes no typing from a
//! user author). Every request and webhook is validated against the
//! provider's OpenAPI document; each test ends by asserting the simulator
//! recorded no violation.

use crate::e2e::harness::{Host, events_path};
use provider_simulators::driver::ProviderDriver;
use provider_simulators::sunshine::{SunshineDriver, SunshineSim};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A host on the driver's endpoint `sc`.
async fn start() -> (SunshineDriver, SunshineSim, Host) {
    let driver = SunshineDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start_for_driver("sc", "sunshine-conversations", &driver).await;
    (driver, sim, host)
}

/// A handover for `session` whose agent Alex accepted control: its id and
/// the Sunshine conversation (the session id).
async fn active(host: &Host, sim: &SunshineSim, session: &str) -> (String, String) {
    let id = host.create_id("sc", session).await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    assert_eq!(conv, session);
    sim.accept(&conv, "Alex");
    host.wait_status(&id, "active", T).await;
    (id, conv)
}

/// The handover's events until the first one `stop` accepts.
async fn events_until(host: &Host, id: &str, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let events = host.sse(&events_path(id), None, T, &stop).await;
    assert!(
        events.last().is_some_and(stop),
        "not seen; events: {events:#?}\n{}",
        host.log()
    );
    events
}

async fn finish(driver: SunshineDriver, sim: &SunshineSim) {
    let requests = sim.requests();
    assert!(requests.iter().all(|r| r.status < 400), "{requests:#?}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn sunshine_hand_back_returns_to_the_bot_with_variables() {
    let (driver, sim, host) = start().await;

    // The agent workspace passes control back to the bot's integration
    // with metadata: the handover completes, returned to the bot.
    let (id, conv) = active(&host, &sim, "s-1").await;
    let vars = json!({"plan": "gold", "case": 42, "vip": true});
    sim.pass_back_with(&conv, Some(&vars)).unwrap();
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "returned_to_bot", "{v}");
    assert_eq!(v["variables"], vars, "{v}");
    let events = host.handover_events(&id, None, T).await;
    let ended = events.last().unwrap();
    assert_eq!(ended["type"], "ended", "{events:#?}");
    assert_eq!(ended["end_reason"], "returned_to_bot");
    assert_eq!(ended["variables"], vars);
    let (status, view) = host.get(&format!("/v1/handovers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["variables"], vars);
    assert_eq!(sim.active(&conv).as_deref(), Some("bot"));
    assert_eq!(
        sim.returned_by_api(&conv),
        Some(false),
        "the agent side gave it back, not the bot"
    );

    // Control released (no reason) with metadata: returned too.
    let (id, conv) = active(&host, &sim, "s-2").await;
    sim.release_control(&conv, Some(&json!({"outcome": "resolved"})))
        .unwrap();
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "returned_to_bot", "{v}");
    assert_eq!(v["variables"], json!({"outcome": "resolved"}));

    // Closing the ticket is still an end, not a hand-back.
    let (id, conv) = active(&host, &sim, "s-3").await;
    sim.close_ticket(&conv);
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "agent_closed", "{v}");
    assert!(v.get("variables").is_none(), "{v}");

    finish(driver, &sim).await;
}

#[tokio::test]
async fn sunshine_user_typing_is_not_forwarded() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    // Sunshine's activity API takes only `conversation:read` from a user
    // author, so the adapter does not declare `user_typing`: the host
    // answers "not forwarded" with the reason and sends nothing.
    let (status, r) = host
        .post(
            &format!("/v1/handovers/{id}/typing"),
            json!({"typing": true}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["forwarded"], false, "{r}");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("user_typing")),
        "{r}"
    );
    assert_eq!(r["handover"]["status"], "active");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sim.activities(&conv).is_empty(),
        "{:?}",
        sim.activities(&conv)
    );
    assert!(sim.user_typing(&conv).is_empty());
    assert_eq!(host.status(&id).await["status"], "active");

    finish(driver, &sim).await;
}

#[tokio::test]
async fn sunshine_read_receipt_names_the_users_messages() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    let input = |text: &str, message_id: &str| json!({"kind": "text", "text": text, "message_id": message_id});
    let path = format!("/v1/handovers/{id}/input");
    let (status, r) = host.post(&path, input("is anyone there?", "m-1")).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"], "forwarded", "{r}");
    assert_eq!(r["message_id"], "m-1");
    host.eventually("the user's message", T, async || {
        (sim.user_messages(&conv) == ["is anyone there?"]).then_some(())
    })
    .await;
    // The host's id travels in the message's metadata.
    let posted = sim.messages(&conv);
    assert_eq!(
        posted.last().unwrap()["metadata"]["handover_message_id"],
        "m-1"
    );

    // The agent reads the conversation: a read receipt naming m-1.
    sim.read(&conv).unwrap();
    let events = events_until(&host, &id, |e| e["type"] == "receipt").await;
    let receipt = events.last().unwrap();
    assert_eq!(receipt["message_ids"], json!(["m-1"]), "{receipt}");
    assert_eq!(receipt["status"], "read");
    assert!(receipt["timestamp_ms"].as_u64().is_some(), "{receipt}");

    // A later message is named by the next read only.
    let (_, r) = host.post(&path, input("hello?", "m-2")).await;
    assert_eq!(r["result"], "forwarded", "{r}");
    host.eventually("the second message", T, async || {
        (sim.user_messages(&conv).len() == 2).then_some(())
    })
    .await;
    sim.read(&conv).unwrap();
    let events = events_until(&host, &id, |e| {
        e["type"] == "receipt" && e["message_ids"] != json!(["m-1"])
    })
    .await;
    assert_eq!(events.last().unwrap()["message_ids"], json!(["m-2"]));
    let receipts = events.iter().filter(|e| e["type"] == "receipt").count();
    assert_eq!(receipts, 2, "{events:#?}");

    finish(driver, &sim).await;
}

#[tokio::test]
async fn sunshine_rich_agent_message_reaches_the_bot() {
    let (driver, sim, host) = start().await;
    let (id, conv) = active(&host, &sim, "s-1").await;

    sim.agent_actions(
        &conv,
        "Pick one",
        json!([
            {"type": "reply", "text": "Yes please", "payload": "yes"},
            {"type": "link", "text": "Terms", "uri": "https://example.com/terms"},
            {"type": "postback", "text": "Call me", "payload": "CALL"}
        ]),
    );
    let events = events_until(&host, &id, |e| e["type"] == "agent_message").await;
    let message = events.last().unwrap();
    assert_eq!(message["text"], "Pick one");
    assert_eq!(message["agent"]["name"], "Alex");
    // The postback has no equivalent and is left out.
    assert_eq!(
        message["actions"],
        json!([
            {"type": "quick_reply", "title": "Yes please", "payload": "yes"},
            {"type": "link", "title": "Terms", "url": "https://example.com/terms"}
        ]),
        "{message}"
    );

    // The user presses the quick reply: its payload reaches the agent.
    // (With an agent active the host forwards every input as text, so
    // this is a plain text message at Sunshine.)
    let (_, r) = host
        .post(
            &format!("/v1/handovers/{id}/input"),
            json!({"kind": "quick_reply", "text": "yes"}),
        )
        .await;
    assert_eq!(r["result"], "forwarded", "{r}");
    host.eventually("the quick reply", T, async || {
        (sim.user_messages(&conv) == ["yes"]).then_some(())
    })
    .await;

    finish(driver, &sim).await;
}
