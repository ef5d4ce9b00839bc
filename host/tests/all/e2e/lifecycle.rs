//! Lifecycle paths: completed, cancelled (intent, button), cancel words
//! forwarded once an agent is active, unsupported channel, provider down,
//! duplicate create.

use crate::e2e::harness::*;
use crate::e2e::support::{assert_error, assert_provider_status};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn completed() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (code, created) = host.create("ep", "s-1", json!({})).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created["messages"][0],
        json!({"type": "text", "text": "An agent will be with you shortly."})
    );
    assert_eq!(created["messages"][1]["type"], "quick_reply");
    assert_eq!(created["messages"][1]["text"], "Cancel");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    assert_eq!(conv.transcript[0].text, "help");
    sim.agent_join(&conv.id, "a-1", "Alex").await;
    host.wait_status(&id, "active", T).await;
    sim.agent_message(&conv.id, "hello from Alex").await;
    host.input_expect(&id, "text", "my order is late", "forwarded")
        .await;
    let got = sim.wait_for_user_messages(&conv.id, 1, T).await;
    assert_eq!(got[0].text, "my order is late");
    sim.end(&conv.id, "agent_closed").await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["result"], json!({"handover": {"status": "completed"}}));
    assert_eq!(st["end_reason"], "agent_closed");
    let events = host.handover_events(&id, None, T).await;
    let t = types(&events);
    assert_eq!(t.first().map(String::as_str), Some("queued"), "{t:?}");
    assert!(
        t.contains(&"agent_joined".into()) && t.contains(&"agent_message".into()),
        "{t:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ended");
    assert_eq!(last["handover"], json!({"status": "completed"}));
    assert_eq!(last["end_reason"], "agent_closed");
    assert!(last["timings"]["wait_ms"].is_number());
    let msg = events
        .iter()
        .find(|e| e["type"] == "agent_message")
        .unwrap();
    assert_eq!(msg["text"], "hello from Alex");
}

async fn cancel_with(kind: &str, text: &str) {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    host.input_expect(&id, kind, text, "cancelled").await;
    let st = host.status(&id).await;
    assert_eq!(st["result"], json!({"handover": {"status": "cancelled"}}));
    assert_eq!(st["end_reason"], "user_cancelled");
    assert_provider_status(&sim, &conv.id, "cancelled").await;
    assert!(
        sim.conversation(&conv.id).unwrap().user_messages.is_empty(),
        "the cancel input must not be forwarded"
    );
    // Further input is refused with the final object.
    let (code, r) = host.input(&id, "text", "hello?").await;
    assert_eq!(code, 409, "{r}");
    assert_eq!(r["handover"], json!({"status": "cancelled"}));
}

#[tokio::test]
async fn cancelled_by_intent() {
    cancel_with("intent", "cancel_handover").await;
}

#[tokio::test]
async fn cancelled_by_button() {
    cancel_with("quick_reply", "Cancel").await;
}

/// A handover still `requested` (its create waited longer than the timeout
/// for the handover's lock, or a host died during `start`) has no provider
/// state: the user's cancel words and the bot's close end it without asking
/// the adapter (a call with no conversation to end), and say so.
#[tokio::test]
async fn cancel_and_close_end_a_handover_that_never_started_without_calling_the_adapter() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (started, _) = host.sim_handover(&sim, "s-0").await;
    let ends = async || {
        host.metric_sum_where("adapter_calls_total", &["export=\"cancel\""])
            .await
            + host
                .metric_sum_where("adapter_calls_total", &["export=\"close\""])
                .await
    };
    let before = ends().await;
    for (id, session) in [("never-started-1", "s-1"), ("never-started-2", "s-2")] {
        host.insert_never_started(&started, id, session, |_| {})
            .await;
    }

    let r = host
        .input_expect("never-started-1", "intent", "cancel_handover", "cancelled")
        .await;
    assert_eq!(r["handover"]["status"], "cancelled", "{r}");
    let (code, r) = host
        .post("/v1/handovers/never-started-2/close", json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "closed", "{r}");
    assert_eq!(r["provider_closed"], false, "{r}");
    let detail = r["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the adapter's `start` had not completed"),
        "{r}"
    );

    for (id, reason) in [
        ("never-started-1", "user_cancelled"),
        ("never-started-2", "bot_closed"),
    ] {
        let events = host.handover_events(id, None, T).await;
        assert_eq!(events.len(), 1, "{id}: {events:?}");
        assert_eq!(events[0]["type"], "ended", "{id}: {events:?}");
        assert_eq!(events[0]["end_reason"], reason, "{id}: {events:?}");
        let detail = events[0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("the adapter's `start` had not completed"),
            "{id}: {}",
            events[0]
        );
        assert_eq!(host.status(id).await["status"], "cancelled", "{id}");
    }
    assert_eq!(
        ends().await,
        before,
        "the adapter was asked to end a handover that never started\n{}",
        host.log()
    );
    // The count is live: the started handover's close is counted.
    let (code, r) = host
        .post(&format!("/v1/handovers/{started}/close"), json!({}))
        .await;
    assert_eq!((code, &r["provider_closed"]), (200, &json!(true)), "{r}");
    assert_eq!(ends().await, before + 1.0);
}

#[tokio::test]
async fn cancel_after_agent_joined_is_forwarded_as_text() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.agent_join(&conv.id, "a-1", "Alex").await;
    host.wait_status(&id, "active", T).await;
    for (kind, text) in [("intent", "cancel_handover"), ("quick_reply", "Cancel")] {
        host.input_expect(&id, kind, text, "forwarded").await;
    }
    let got = sim.wait_for_user_messages(&conv.id, 2, T).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].text.as_str(), got[0].kind.as_str()),
        ("cancel_handover", "text")
    );
    assert_eq!(
        (got[1].text.as_str(), got[1].kind.as_str()),
        ("Cancel", "text")
    );
    assert_eq!(host.status(&id).await["status"], "active");
}

#[tokio::test]
async fn unsupported_channel() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (code, created) = host
        .create("ep", "s-1", json!({"channel": "whatsapp"}))
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["status"], "error");
    assert_error(&created["handover"], "unsupported", "whatsapp");
    assert_eq!(created["messages"], json!([]));
    assert!(
        sim.conversations().is_empty(),
        "nothing may be started at the provider"
    );
    // A capability the adapter lacks is also `unsupported`.
    let echo = Endpoint::new("echo", guest("echo"));
    drop(host);
    let host = Host::start(&[echo]).await;
    let (_, created) = host
        .create(
            "echo",
            "s-2",
            json!({"required_capabilities": ["attachments"]}),
        )
        .await;
    assert_eq!(
        created["handover"]["error"]["reason"], "unsupported",
        "{created}"
    );
}

#[tokio::test]
async fn provider_down_is_an_error() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    sim.fail_next("/conversations", 503, 1);
    let (_, created) = host.create("ep", "s-1", json!({})).await;
    assert_error(&created["handover"], "error", "503");
    // Unreachable provider (nothing listens): also `error`.
    sim.shutdown().await;
    let (_, created) = host.create("ep", "s-2", json!({})).await;
    assert_eq!(created["handover"]["error"]["reason"], "error", "{created}");
}

#[tokio::test]
async fn duplicate_create_returns_the_open_handover() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (c1, a) = host.create("ep", "s-1", json!({})).await;
    let (c2, b) = host.create("ep", "s-1", json!({})).await;
    assert_eq!((c1, c2), (201, 200));
    assert_eq!(a["handover_id"], b["handover_id"]);
    assert_eq!(b["already_in_progress"], true);
    assert_eq!(
        sim.conversations().len(),
        1,
        "a second conversation was started"
    );
    // A retried request with the same idempotency key: the same handover.
    let (_, c) = host
        .create("ep", "s-2", json!({"idempotency_key": "k1"}))
        .await;
    let (code, d) = host
        .create("ep", "s-2", json!({"idempotency_key": "k1"}))
        .await;
    assert_eq!((code, &c["handover_id"]), (200, &d["handover_id"]));
    // The key reused for another session is a client bug: 409, nothing new.
    let (code, e) = host
        .create("ep", "s-3", json!({"idempotency_key": "k1"}))
        .await;
    assert_api_error(code, &e, 409, "idempotency_key");
    // Concurrent creates of one session: exactly one handover.
    let mut tasks = vec![];
    for _ in 0..10 {
        let h = host.http.clone();
        let url = format!("{}/v1/endpoints/ep/handovers", host.base);
        tasks.push(tokio::spawn(async move {
            let body = json!({"session_id": "s-race", "user_id": "u", "accepted_message": "ok"});
            let r: serde_json::Value = h
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["handover_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a concurrent create failed: {r}"))
                .to_string()
        }));
    }
    let mut ids = vec![];
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn bad_request_names_the_field() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (code, r) = host
        .post(
            "/v1/endpoints/ep/handovers",
            json!({"session_id": "", "user_id": "u", "accepted_message": "x"}),
        )
        .await;
    assert_api_error(code, &r, 400, "session_id");
    let (code, r) = host
        .post(
            "/v1/endpoints/ep/handovers",
            json!({"session_id": "s", "user_id": "u"}),
        )
        .await;
    assert_api_error(code, &r, 400, "accepted_message");
    let (code, _) = host
        .post(
            "/v1/endpoints/nope/handovers",
            json!({"session_id": "s", "user_id": "u", "accepted_message": "x"}),
        )
        .await;
    assert_eq!(code, 404);
}
