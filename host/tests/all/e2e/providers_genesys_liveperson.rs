//! The `genesys-open-messaging` and `liveperson` adapters end to end: the
//! real `handover-host` binary, the real components and the protocol
//! simulators of `provider-simulators`. The simulators answer 401 to any
//! request without a token they issued, and the adapters never send one:
//! every successful provider call proves the host fetched the OAuth
//! client-credentials token and added it.

use crate::e2e::harness::{Endpoint, Host, agent_texts, conversation_types, types};
use crate::e2e::support::{T, create_routed};
use provider_simulators::driver::ProviderDriver;
use provider_simulators::genesys::GenesysDriver;
use provider_simulators::liveperson::LivePersonDriver;
use serde_json::json;

/// `create_routed` with queue `42` (a Genesys queue id, a LivePerson skill id).
async fn create(host: &Host, ep: &str, session: &str) -> String {
    create_routed(host, ep, session, "42").await
}

// ---------------------------------------------------------------- Genesys

async fn genesys(inactivity_timeout_s: Option<u64>, poll: bool) -> (GenesysDriver, Host) {
    let d = GenesysDriver::start().await.unwrap();
    let mut s = d.endpoint_setup();
    s.settings["poll_conversation"] = poll.into();
    let mut ep = Endpoint::from_driver_setup("gen", "genesys-open-messaging", s);
    if let Some(t) = inactivity_timeout_s {
        ep = ep.timer("inactivity_timeout_s", t as i64);
    }
    let host = Host::start(&[ep]).await;
    d.set_webhook_url(&host.webhook_url("gen"));
    (d, host)
}

#[tokio::test]
async fn genesys_handover_completes_with_host_applied_oauth() {
    let (d, host) = genesys(None, true).await;
    let id = create(&host, "gen", "s-happy").await;
    let conv = d
        .sim
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no Genesys conversation\n{}", host.log()));
    // The host fetched a token and every API call carried it.
    assert!(d.sim.tokens_issued() >= 1);
    let api: Vec<_> = d
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    assert!(
        !api.is_empty() && api.iter().all(|r| r.authorization && r.status < 300),
        "{api:?}"
    );
    // Transcript as the first inbound message(s); routing as participant data.
    assert_eq!(
        conv.inbound[0].text,
        "User: my order is late\nBot: Let me get you an agent."
    );
    assert_eq!(conv.attributes["queue"], "42");
    assert_eq!(conv.attributes["skills"], "orders");
    assert_eq!(conv.attributes["tier"], "gold");
    assert_eq!(conv.attributes["handover_id"], id);
    assert_eq!(conv.from["nickname"], "Ann Example");

    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.agent_message(&conv.id, "Hi, I am Alex.").await;
    let (code, _) = host.input(&id, "text", "thanks").await;
    assert_eq!(code, 200);
    host.eventually("the user's message at Genesys", T, async || {
        d.user_messages(&conv.id)
            .await
            .contains(&"thanks".to_string())
            .then_some(())
    })
    .await;
    // No webhook ends it: the adapter's participant poll sees the agent leave.
    d.end(&conv.id).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(
        types(&events),
        conversation_types(1),
        "{events:?}\n{}",
        host.log()
    );
    assert_eq!(events[1]["agent"]["name"], "Alex");
    assert_eq!(agent_texts(&events), ["Hi, I am Alex."]);
    let st = host.status(&id).await;
    assert_eq!(st["result"]["handover"]["status"], "completed", "{st}");
    assert_eq!(st["end_reason"], "agent_closed");
    d.shutdown().await;
}

#[tokio::test]
async fn genesys_without_an_end_signal_ends_by_inactivity_and_cannot_close() {
    let (d, host) = genesys(Some(3), false).await;
    let id = create(&host, "gen", "s-idle").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    d.agent_message(&conv.id, "Anything else?").await;
    host.wait_status(&id, "active", T).await;
    d.end(&conv.id).await; // nothing reaches the host: no poll, no webhook
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(events.last().unwrap()["type"], "ended", "{events:?}");
    let st = host.status(&id).await;
    assert_eq!(st["end_reason"], "user_inactivity", "{st}");

    // The bot side cannot disconnect: the host ends its own side and says so.
    let id = create(&host, "gen", "s-close").await;
    d.sim.wait_for_conversation(&id, T).await.unwrap();
    let (code, closed) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{closed}");
    assert_eq!(closed["provider_closed"], false, "{closed}");
    assert!(
        closed["detail"]
            .as_str()
            .unwrap_or("")
            .contains("cannot close"),
        "{closed}"
    );
    d.shutdown().await;
}

#[tokio::test]
async fn genesys_cancel_leaves_a_note_and_wrong_credentials_fail_the_start() {
    let (d, host) = genesys(None, true).await;
    let id = create(&host, "gen", "s-cancel").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    host.input_expect(&id, "intent", "cancel_handover", "cancelled")
        .await;
    let last = d.user_messages(&conv.id).await.pop().unwrap();
    assert!(last.contains("cancelled"), "{last}");
    d.shutdown().await;

    // A wrong client secret: the token endpoint refuses, nothing is sent.
    let d = GenesysDriver::start().await.unwrap();
    let mut s = d.endpoint_setup();
    s.extra_toml = s
        .extra_toml
        .replace(&d.sim.config().client_secret, "wrong-secret");
    let host = Host::start(&[Endpoint::from_driver_setup(
        "gen",
        "genesys-open-messaging",
        s,
    )])
    .await;
    let id = create(&host, "gen", "s-badcred").await;
    let st = host.wait_status(&id, "error", T).await;
    assert!(d.sim.conversations().is_empty());
    assert_eq!(d.sim.tokens_issued(), 0, "{st}");
    d.shutdown().await;
}

// -------------------------------------------------------------- LivePerson

async fn liveperson() -> (LivePersonDriver, Host) {
    let d = LivePersonDriver::start().await.unwrap();
    let host = Host::start_for_driver("lp", "liveperson", &d).await;
    (d, host)
}

#[tokio::test]
async fn liveperson_handover_completes_with_host_applied_app_jwt() {
    let (d, host) = liveperson().await;
    let id = create(&host, "lp", "s-happy").await;
    let conv = d
        .sim
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no LivePerson conversation\n{}", host.log()));
    assert!(d.sim.tokens_issued() >= 1, "the host fetched the AppJWT");
    assert_eq!(conv.skill_id.as_deref(), Some("42"));
    assert_eq!(conv.ttr.as_deref(), Some("URGENT"));
    assert_eq!(conv.sdes[0]["info"]["customerId"], "u-1");
    assert_eq!(conv.sdes[1]["personal"]["firstname"], "Ann Example");
    let transcript = host
        .eventually("the transcript at LivePerson", T, async || {
            d.user_messages(&conv.id).await.into_iter().next()
        })
        .await;
    assert_eq!(
        transcript,
        "System: Handover context: skills=orders; tier=gold\nUser: my order is late\nBot: Let me get you an agent."
    );

    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.sim.agent_typing(&conv.id, true);
    d.agent_message(&conv.id, "Hi, I am Alex.").await;
    d.sim.agent_rich_content(
        &conv.id,
        json!({"type": "vertical", "elements": [
            {"type": "text", "text": "Pick one"}, {"type": "button", "title": "Refund", "click": {}}]}),
    );
    let (code, _) = host.input(&id, "text", "thanks").await;
    assert_eq!(code, 200);
    host.eventually("the user's message at LivePerson", T, async || {
        (d.user_messages(&conv.id).await.last().map(String::as_str) == Some("thanks")).then_some(())
    })
    .await;
    d.end(&conv.id).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(
        types(&events),
        conversation_types(2),
        "{events:?}\n{}",
        host.log()
    );
    assert_eq!(
        agent_texts(&events),
        ["Hi, I am Alex.", "Pick one\n[Refund]"]
    );
    let st = host.status(&id).await;
    assert_eq!(st["result"]["handover"]["status"], "completed", "{st}");
    assert_eq!(st["end_reason"], "agent_closed");
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(false));
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_orders_and_dedupes_webhooks() {
    let (d, host) = liveperson().await;
    let id = create(&host, "lp", "s-order").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.set_duplicate_webhooks(true);
    d.agent_message(&conv.id, "once").await;
    d.set_duplicate_webhooks(false);
    d.set_hold_webhooks(true);
    let sent = ["first", "second", "third", "fourth"];
    for t in sent {
        d.agent_message(&conv.id, t).await;
    }
    d.release_held(true).await; // newest first
    d.set_hold_webhooks(false);
    d.end(&conv.id).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(events.last().unwrap()["type"], "ended", "{events:?}");
    assert_eq!(
        agent_texts(&events),
        ["once", "first", "second", "third", "fourth"],
        "{}",
        host.log()
    );
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_bot_side_close_and_cancel_close_the_conversation() {
    let (d, host) = liveperson().await;
    let id = create(&host, "lp", "s-cancel").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    host.input_expect(&id, "intent", "cancel_handover", "cancelled")
        .await;
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(true));

    let id = create(&host, "lp", "s-close").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    let (code, closed) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (code, &closed["provider_closed"]),
        (200, &json!(true)),
        "{closed}"
    );
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(true));
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_provider_errors_fail_the_start() {
    let (d, host) = liveperson().await;
    d.fail_next_start(503);
    let id = create(&host, "lp", "s-503").await;
    let st = host.wait_status(&id, "error", T).await;
    let message = st["result"]["handover"]["error"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("503"), "{st}");
    assert_eq!(st["result"]["handover"]["error"]["reason"], "error");
    // An unsupported channel never reaches the provider.
    let (code, created) = host.create("lp", "s-fax", json!({"channel": "fax"})).await;
    assert_eq!(code, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap();
    let st = host.wait_status(id, "error", T).await;
    assert_eq!(
        st["result"]["handover"]["error"]["reason"], "unsupported",
        "{st}"
    );
    d.shutdown().await;
}
