//! Contract 0.2.0 features of the `salesforce-miaw` adapter against its
//! simulator, through the real host binary over loopback HTTP: the user's
//! typing (`…/conversation/{id}/entry`), receipts from MIAW's delivery and
//! read acknowledgements, the agent's quick replies (`ChoicesMessage`) and
//! links (`RichLink`), and the MessagingSession as the provider reference.
//! MIAW has no hand-back to the bot and no wrap-up, so neither is tested.
//! Needs `scripts/build-adapters.sh` first.

use crate::e2e::harness::{Host, events_path};
use crate::e2e::support::T;
use provider_simulators::driver::ProviderDriver;
use provider_simulators::salesforce_miaw::MiawDriver;
use serde_json::{Value, json};

/// A handover on a fresh MIAW simulator with agent Alex joined: the
/// driver, the host, the handover id and the MIAW conversation id.
async fn active() -> (MiawDriver, Host, String, String) {
    let driver = MiawDriver::start().await.unwrap();
    let host = Host::start_for_driver("ep", "salesforce-miaw", &driver).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = driver
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation");
    driver.agent_join(&conv, "Alex").await;
    host.wait_status(&id, "active", T).await;
    (driver, host, id, conv)
}

/// Sends user input with the bot's `message_id`; asserts it was forwarded.
async fn input_with_id(host: &Host, id: &str, kind: &str, text: &str, message_id: &str) {
    let (code, r) = host
        .post(
            &format!("/v1/handovers/{id}/input"),
            json!({"kind": kind, "text": text, "message_id": message_id}),
        )
        .await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("forwarded")),
        "{r}"
    );
}

/// The MIAW message of the user carrying `text`, once the simulator has it.
async fn miaw_message(host: &Host, driver: &MiawDriver, conv: &str, text: &str) -> String {
    host.eventually(&format!("MIAW to receive {text:?}"), T, async || {
        let c = driver.sim.conversation(conv)?;
        c.messages
            .into_iter()
            .find(|m| m.text == text)
            .map(|m| m.id)
    })
    .await
}

#[tokio::test]
async fn miaw_v2_user_typing_reaches_the_agent() {
    let (driver, host, id, conv) = active().await;
    for on in [true, false] {
        let (code, r) = host
            .post(&format!("/v1/handovers/{id}/typing"), json!({"typing": on}))
            .await;
        assert_eq!(code, 200, "{r}");
        assert_eq!(r["forwarded"], true, "{r}");
    }
    // Both went to MIAW as TypingStartedIndicator / TypingStoppedIndicator
    // entries, in order.
    let typing = driver.sim.wait_for_user_typing(&conv, 2, T).await;
    assert_eq!(typing, Some(vec![true, false]));
    assert_eq!(driver.user_typing(&conv).await, Some(vec![true, false]));
    let entries = driver
        .sim
        .requests()
        .iter()
        .filter(|r| r.path == format!("/iamessage/api/v2/conversation/{conv}/entry"))
        .count();
    assert_eq!(entries, 2);
    driver.shutdown().await;
}

#[tokio::test]
async fn miaw_v2_read_acknowledgements_are_receipts_of_the_bots_message_ids() {
    let (driver, host, id, conv) = active().await;
    // "m-1" is not a UUID, so MIAW gets an id of the adapter's (kept in
    // the state); a UUID message id is used as MIAW's message id as it is.
    input_with_id(&host, &id, "text", "where is it?", "m-1").await;
    let uuid = "0192f0c4-7a1b-7c3d-8e4f-a5b6c7d8e9f0";
    input_with_id(&host, &id, "text", "and when?", uuid).await;
    let first = miaw_message(&host, &driver, &conv, "where is it?").await;
    assert_ne!(first, "m-1");
    assert_eq!(miaw_message(&host, &driver, &conv, "and when?").await, uuid);

    assert!(driver.read_messages(&conv).await);
    let events = host
        .sse(&events_path(&id), None, T, |e| {
            e["type"] == "receipt" && e["status"] == "read" && e["message_ids"] == json!([uuid])
        })
        .await;
    let receipts: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["type"] == "receipt")
        .map(|e| (e["message_ids"].clone(), e["status"].clone()))
        .collect();
    // Delivery, then read, of each; the transcript messages (which have no
    // id of the bot's) are acknowledged too but name no message of the bot.
    assert_eq!(
        receipts,
        [
            (json!(["m-1"]), json!("delivered")),
            (json!([uuid]), json!("delivered")),
            (json!(["m-1"]), json!("read")),
            (json!([uuid]), json!("read")),
        ],
        "{events:?}"
    );
    let read = events
        .iter()
        .find(|e| e["type"] == "receipt" && e["status"] == "read")
        .unwrap();
    assert!(read["timestamp_ms"].as_u64().is_some(), "{read}");
    driver.shutdown().await;
}

#[tokio::test]
async fn miaw_v2_choices_and_links_reach_the_bot_as_actions() {
    let (driver, host, id, conv) = active().await;
    assert!(
        driver
            .rich_message(&conv, "Shall I refund it?", "Yes please", "opt-yes")
            .await
    );
    driver
        .sim
        .agent_link(&conv, "Track it", "https://example.com/track/42")
        .unwrap();
    let events = host
        .sse(&events_path(&id), None, T, |e| {
            e["type"] == "agent_message" && e["actions"][0]["type"] == "link"
        })
        .await;
    let messages: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .collect();
    assert_eq!(messages.len(), 2, "{events:?}");
    assert_eq!(messages[0]["text"], "Shall I refund it?");
    assert_eq!(messages[0]["agent"]["name"], "Alex");
    assert_eq!(
        messages[0]["actions"],
        json!([{"type": "quick_reply", "title": "Yes please", "payload": "opt-yes"}])
    );
    assert_eq!(
        messages[1]["actions"],
        json!([{"type": "link", "title": "Track it", "url": "https://example.com/track/42"}])
    );
    // Pressing the quick reply sends its payload; the agent reads the title.
    host.input_expect(&id, "quick_reply", "opt-yes", "forwarded")
        .await;
    miaw_message(&host, &driver, &conv, "Yes please").await;
    assert_eq!(driver.user_messages(&conv).await, ["Yes please"]);
    driver.shutdown().await;
}

#[tokio::test]
async fn miaw_v2_the_messaging_session_is_the_provider_reference() {
    let (driver, host, id, conv) = active().await;
    let record = driver.sim.conversation(&conv).unwrap().session_record;
    let events = host
        .sse(&events_path(&id), None, T, |e| {
            e["type"] == "provider_reference"
        })
        .await;
    let references: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "provider_reference")
        .map(|e| &e["reference"])
        .collect();
    assert_eq!(
        references,
        [&json!({"kind": "messaging_session", "id": record, "url": null})],
        "{events:?}"
    );
    // Reported once, though every entry names it.
    driver.agent_message(&conv, "hello").await;
    driver.end(&conv).await;
    let all = host.handover_events(&id, None, T).await;
    let n = all
        .iter()
        .filter(|e| e["type"] == "provider_reference")
        .count();
    assert_eq!(n, 1, "{all:?}");
    driver.shutdown().await;
}
