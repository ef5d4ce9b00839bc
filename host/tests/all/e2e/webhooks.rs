//! Webhook ingress: signature refusal, unknown endpoint, malformed bodies,
//! the replay window, exact replays and duplicate deliveries, out-of-order
//! deliveries, and the benchmark's floor fixture serving them.

use crate::e2e::harness::*;
use crate::e2e::support::*;
use serde_json::{Value, json};

/// A handover on `ep` with its sim conversation and an agent joined through
/// a forged (valid) webhook with seq 2 (the provider's event 1 is the
/// `queued` of the create response). The sim itself delivers nothing.
async fn active_handover(host: &Host, sim: &provider_simulators::SimProvider) -> (String, String) {
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
    let joined = sim_event(
        "f-join",
        &conv,
        2,
        "agent_joined",
        json!({"agent": {"id": "a-1", "name": "Alex"}}),
    );
    let (code, body) = Webhook::signed("ep", joined, SECRET, now_s())
        .send(host)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"ok": true})
    );
    host.wait_status(&id, "active", T).await;
    (id, conv)
}

fn refused_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["error"]["message"].as_str().unwrap_or(body).to_string()
}

#[tokio::test]
async fn bad_signature_is_refused_and_changes_nothing() {
    let sim = sim().await; // no webhook URL: every webhook here is forged
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (id, conv) = active_handover(&host, &sim).await;
    let before = host
        .sse(&events_path(&id), None, T, |e| e["type"] == "agent_joined")
        .await;
    assert_eq!(types(&before), ["queued", "agent_joined"]);
    let last = before.last().unwrap()["id"].as_i64();
    let status_before = host.status(&id).await;

    // A body that would end the handover if it were applied.
    let end = sim_event(
        "f-end",
        &conv,
        3,
        "ended",
        json!({"reason": "agent_closed"}),
    );

    // Signed with the wrong secret.
    let (code, body) = Webhook::signed("ep", end.clone(), "not-the-secret", now_s())
        .send(&host)
        .await;
    assert_eq!(code, 401, "{body}");
    assert!(refused_message(&body).contains("signature"), "{body}");

    // No signature header at all.
    let mut w = Webhook::signed("ep", end.clone(), SECRET, now_s());
    w.signature = None;
    let (code, body) = w.send(&host).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        refused_message(&body)
            .to_ascii_lowercase()
            .contains("x-sim-signature"),
        "the refusal should name the missing header: {body}"
    );

    // A valid signature of another body (tampered body).
    let mut w = Webhook::signed("ep", end.clone(), SECRET, now_s());
    w.signature = Some(provider_simulators::sign(SECRET, now_s(), b"{}"));
    let (code, body) = w.send(&host).await;
    assert_eq!(code, 401, "{body}");

    // A garbage signature value.
    let mut w = Webhook::signed("ep", end.clone(), SECRET, now_s());
    w.signature = Some("sha256=zz-not-hex".into());
    let (code, body) = w.send(&host).await;
    assert_eq!(code, 401, "{body}");

    // Unknown endpoint (validly signed): 404.
    let (code, body) = Webhook::signed("nope", end.clone(), SECRET, now_s())
        .send(&host)
        .await;
    assert_eq!(code, 404, "{body}");

    // Malformed JSON with a valid signature: 400 from the adapter's routing.
    let (code, body) = Webhook::signed(
        "ep",
        b"{\"event_id\": \"f-bad\", ".to_vec(),
        SECRET,
        now_s(),
    )
    .send(&host)
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(refused_message(&body).contains("malformed"), "{body}");

    // Valid JSON missing the envelope's required fields: also 400.
    let (code, body) = Webhook::signed("ep", br#"{"type":"ended"}"#.to_vec(), SECRET, now_s())
        .send(&host)
        .await;
    assert_eq!(code, 400, "{body}");

    // Nothing changed: the status view is identical…
    assert_eq!(host.status(&id).await, status_before);
    // …and the next event after the snapshot is a valid marker sent now
    // (the inbox is applied in arrival order, so anything stored by a
    // refused request would come first).
    let (code, body) = send_agent_message(&host, "f-marker", &conv, 3, "marker").await;
    assert_eq!(code, 200, "{body}");
    let after = until_agent_text(&host, &id, last, "marker").await;
    assert_eq!(types(&after), ["agent_message"], "{after:?}");
    assert_eq!(host.status(&id).await["status"], "active");
}

#[tokio::test]
async fn replayed_webhooks_are_refused_or_applied_once() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (id, conv) = active_handover(&host, &sim).await;
    let before = host
        .sse(&events_path(&id), None, T, |e| e["type"] == "agent_joined")
        .await;
    let last = before.last().unwrap()["id"].as_i64();
    let status_before = host.status(&id).await;

    // Validly signed but older than the replay window (300 s): 401.
    let stale = agent_message_body("f-stale", &conv, 3, "stale");
    let (code, body) = Webhook::signed("ep", stale.clone(), SECRET, now_s() - 400)
        .send(&host)
        .await;
    assert_eq!(code, 401, "{body}");
    assert!(refused_message(&body).contains("replay"), "{body}");
    // Also too far in the future.
    let (code, body) = Webhook::signed("ep", stale.clone(), SECRET, now_s() + 400)
        .send(&host)
        .await;
    assert_eq!(code, 401, "{body}");
    // Timestamps at the ends of i64 (unauthenticated input): refused as
    // replays, never an arithmetic overflow.
    for edge in [i64::MIN, i64::MAX] {
        let mut w = Webhook::signed("ep", stale.clone(), SECRET, now_s());
        w.timestamp = Some(edge.to_string());
        let (code, body) = w.send(&host).await;
        assert_eq!(code, 401, "{edge}: {body}");
        assert!(refused_message(&body).contains("replay"), "{body}");
    }
    assert_eq!(host.status(&id).await, status_before);

    // Accepted once…
    let once = Webhook::signed(
        "ep",
        agent_message_body("f-once", &conv, 3, "once"),
        SECRET,
        now_s(),
    );
    let (code, body) = once.send(&host).await;
    assert_eq!(code, 200, "{body}");
    // …then replayed byte for byte (same headers): 200, but not applied again.
    let (code, body) = once.send(&host).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"ok": true})
    );
    // A provider retry: same body, fresh timestamp and signature.
    let (code, _) = send_agent_message(&host, "f-once", &conv, 3, "once").await;
    assert_eq!(code, 200);
    // Same delivery id (event_id) with the next seq and another text: the
    // host drops it as a duplicate delivery (the adapter's seq check alone
    // would let it through). The marker then takes that seq.
    let (code, _) = send_agent_message(&host, "f-once", &conv, 4, "same delivery id").await;
    assert_eq!(code, 200);

    let (code, _) = send_agent_message(&host, "f-marker", &conv, 4, "marker").await;
    assert_eq!(code, 200);
    let after = until_agent_text(&host, &id, last, "marker").await;
    assert_eq!(agent_texts(&after), ["once", "marker"], "{after:?}");
    assert_eq!(types(&after), ["agent_message", "agent_message"]);
    assert_strictly_increasing(&after);
}

/// Send every webhook through the inbox (stored, answered, then applied)
/// instead of applying it inline: `[server] inline_webhook_ms = 0`.
const INBOX_ONLY: bool = true;

/// The suite's config for `ep`, with every webhook through the inbox or,
/// once the endpoint's first webhook has timed the adapter, inline however
/// slow this build's calls are (a limit no call reaches, as in the
/// PostgreSQL suite's `inline_host_with_handover`): on a busy machine a
/// debug build's calls can average more than the default 5 ms.
fn config(ep: Endpoint, inbox_only: bool) -> Config {
    let limit_ms = if inbox_only { 0 } else { 60_000 };
    Host::config(&[ep]).server(|s| s.inline_webhook_ms = Some(limit_ms))
}

/// Adapter calls counted under `labels`, once as many were timed (a call
/// still in flight, such as a late inbox drain on a busy machine, may land
/// between the two metrics' reads); at most 10 s.
async fn counted_and_timed(host: &Host, labels: &[&str]) -> f64 {
    let what = format!("every adapter call under {labels:?} counted and timed");
    host.eventually(&what, std::time::Duration::from_secs(10), async || {
        let timed = host
            .metric_sum_where("adapter_call_seconds_count", labels)
            .await;
        let calls = host.metric_sum_where("adapter_calls_total", labels).await;
        (timed == calls).then_some(calls)
    })
    .await
}

/// Checks which path applied the webhooks: inline, or all by the inbox.
async fn assert_path(host: &Host, inline: bool) {
    let applied_inline = host.metric("webhooks_applied_inline_total").await;
    let accepted = host.metric("webhooks_accepted_total").await;
    // Instances against calls: an inline webhook's route and handle calls
    // share one instance (a session); every other call has its own.
    assert!(accepted > 0.0);
    // Every call is counted and timed under its endpoint and adapter
    // version (compared once no call is in flight: the two are separate
    // reads); each accepted webhook was handled on endpoint `ep`.
    let ep = ["endpoint=\"ep\"", "adapter=\"sim@"];
    let calls = counted_and_timed(host, &[]).await;
    counted_and_timed(host, &ep).await;
    let instances = host.metric("adapter_instances_total").await;
    let handled = host
        .metric_sum_where(
            "adapter_calls_total",
            &[ep[0], ep[1], "export=\"handle-webhook\""],
        )
        .await;
    assert!(
        handled >= accepted,
        "{handled} handle-webhook calls on `ep` for {accepted} webhooks"
    );
    if inline {
        assert!(applied_inline > 0.0, "no webhook was applied inline");
        // The endpoint's first webhook times the adapter via the inbox.
        assert!(
            applied_inline < accepted,
            "the first webhook should have gone through the inbox"
        );
        // At least one instance saved per inline webhook (inline
        // duplicates, which ran `handle-webhook` too, save one each).
        assert!(
            calls - instances >= applied_inline,
            "{calls} calls on {instances} instances for {applied_inline} inline webhooks"
        );
    } else {
        assert_eq!(
            applied_inline, 0.0,
            "inline_webhook_ms = 0 must use the inbox"
        );
        assert_eq!(calls, instances, "no session without inline webhooks");
    }
}

/// A 0.1.0 adapter's webhooks, once its first answer has shown where the
/// key is: each handover's row is read before the webhook's instance is
/// made (for the key the learned hint predicts), and the adapter's answer
/// still routes every webhook to its own handover, in provider order.
#[tokio::test]
async fn predicted_keys_are_read_early_and_each_webhook_reaches_its_own_handover() {
    let sim = sim().await;
    let host = Host::start_config(config(sim_ep("ep", &sim), false)).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (a, conv_a) = host.sim_handover(&sim, "s-1").await;
    let (b, conv_b) = host.sim_handover(&sim, "s-2").await;
    // One at a time (each applied before the next is sent), so the first
    // has taught the hint before the others arrive.
    for (id, conv, text) in [
        (&a, &conv_a, "a1"),
        (&b, &conv_b, "b1"),
        (&a, &conv_a, "a2"),
        (&b, &conv_b, "b2"),
    ] {
        sim.agent_message(conv, text).await;
        until_agent_text(&host, id, None, text).await;
    }
    let events_a = until_agent_text(&host, &a, None, "a2").await;
    let events_b = until_agent_text(&host, &b, None, "b2").await;
    assert_eq!(agent_texts(&events_a), ["a1", "a2"], "{events_a:?}");
    assert_eq!(agent_texts(&events_b), ["b1", "b2"], "{events_b:?}");
    let accepted = host.metric("webhooks_accepted_total").await;
    let early = host.metric("webhook_rows_read_early_total").await;
    // The endpoint's first webhook teaches the hint; every later one (the
    // sim's messages go to two handovers, alternating) is predicted.
    assert!(accepted >= 4.0, "{accepted} webhooks accepted");
    assert!(
        early >= 3.0 && early < accepted,
        "{early} of {accepted} webhooks read their row early"
    );
}

#[tokio::test]
async fn duplicated_webhooks_appear_once() {
    duplicated_webhooks_appear_once_via(false).await;
}

#[tokio::test]
async fn duplicated_webhooks_appear_once_via_the_inbox() {
    duplicated_webhooks_appear_once_via(INBOX_ONLY).await;
}

/// With `instance_reuse`, the endpoint's calls run on a few warm instances
/// and everything else is as without.
#[tokio::test]
async fn duplicated_webhooks_appear_once_with_instance_reuse() {
    let host = duplicated_webhooks_appear_once_on(false, 1000).await;
    let calls = host.metric_sum("adapter_calls_total").await;
    let instances = host.metric("adapter_instances_total").await;
    assert!(
        instances * 3.0 <= calls,
        "{calls} calls on {instances} instances: warm instances were not reused"
    );
    assert!(host.metric("adapter_instances_kept").await >= 1.0);
}

async fn duplicated_webhooks_appear_once_via(inbox_only: bool) {
    let host = duplicated_webhooks_appear_once_on(inbox_only, 0).await;
    assert_path(&host, !inbox_only).await;
}

async fn duplicated_webhooks_appear_once_on(inbox_only: bool, instance_reuse: u32) -> Host {
    let sim = sim().await;
    let ep = sim_ep("ep", &sim).instance_reuse(instance_reuse);
    let host = Host::start_config(config(ep, inbox_only)).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    sim.set_duplicate_webhooks(true);
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    sim.agent_join(&conv, "a-1", "Alex").await;
    sim.agent_typing(&conv, true).await;
    for t in ["m1", "m2", "m3"] {
        sim.agent_message(&conv, t).await;
    }
    sim.end(&conv, "agent_closed").await;
    let emitted = sim.events(&conv).len();
    assert_eq!(emitted, 7); // queued, joined, typing, 3 messages, ended
    // Every event delivered twice, every copy accepted.
    let deliveries = sim.wait_for_deliveries(emitted * 2, T).await;
    assert_eq!(deliveries.len(), emitted * 2, "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d.ok), "{deliveries:?}");
    for e in sim.events(&conv) {
        let n = deliveries
            .iter()
            .filter(|d| d.event_id == e["event_id"].as_str().unwrap())
            .count();
        assert_eq!(n, 2, "{e} was not delivered twice");
    }

    let events = host.handover_events(&id, None, T).await;
    // `queued` (from start; the provider's event 1 is that same `queued`),
    // then each later provider event exactly once.
    assert_eq!(types(&events), conversation_types(3), "{events:?}");
    assert_eq!(agent_texts(&events), ["m1", "m2", "m3"]);
    assert_strictly_increasing(&events);
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    assert_eq!(st["end_reason"], "agent_closed");
    host
}

#[tokio::test]
async fn out_of_order_webhooks_reach_the_bot_in_provider_order() {
    out_of_order_webhooks_via(false).await;
}

#[tokio::test]
async fn out_of_order_webhooks_via_the_inbox_reach_the_bot_in_provider_order() {
    out_of_order_webhooks_via(INBOX_ONLY).await;
}

async fn out_of_order_webhooks_via(inbox_only: bool) {
    let sim = sim().await;
    let host = Host::start_config(config(sim_ep("ep", &sim), inbox_only)).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (id, conv) = host.active_sim_handover(&sim, "s-1").await;
    // Both events so far delivered before holding.
    sim.wait_for_deliveries(2, T).await;

    sim.set_hold_webhooks(true);
    let sent = ["first", "second", "third", "fourth"];
    for t in sent {
        sim.agent_message(&conv, t).await;
    }
    assert_eq!(
        sim.webhook_deliveries().len(),
        2,
        "held webhooks were delivered"
    );
    // Newest first: seq 6, 5, 4, 3.
    sim.release_held(true).await;
    let deliveries = sim.webhook_deliveries();
    assert_eq!(deliveries.len(), 6, "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d.ok), "{deliveries:?}");
    let order: Vec<&str> = deliveries[2..]
        .iter()
        .map(|d| d.event_id.as_str())
        .collect();
    let mut expected: Vec<String> = sim.events(&conv)[2..]
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    expected.reverse();
    assert_eq!(order, expected, "the sim did not deliver in reverse");

    sim.set_hold_webhooks(false);
    sim.end(&conv, "agent_closed").await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(events.last().unwrap()["type"], "ended", "{events:?}");
    assert_eq!(
        agent_texts(&events),
        sent,
        "agent messages delivered newest-first must reach the bot, all of them, in provider (seq) order"
    );
    assert_strictly_increasing(&events);
    assert_path(&host, !inbox_only).await;
}

/// The `webhook-floor` fixture (`loadgen --compare-floor`'s guest) serves
/// the load generator's webhook as sim does: the host verifies the same
/// signature, the fixture routes by the body's conversation and reports its
/// agent message with its text; a body without those fields is refused and
/// reaches nothing. (Else the floor's figures would count refusals.)
#[tokio::test]
pub(crate) async fn the_floor_fixture_serves_sim_webhooks() {
    let ep = Endpoint::new("ep", guest("webhook-floor")).webhook_secret(SECRET);
    let host = Host::start(&[ep]).await;
    let id = host.create_id("ep", "s-floor").await;

    let (code, body) = send_agent_message(&host, "e-1", "s-floor", 2, "t-1").await;
    assert_eq!(code, 200, "{body}\n{}", host.log());
    let events = until_agent_text(&host, &id, None, "t-1").await;
    let message = events.last().unwrap();
    assert_eq!(message["agent"]["name"], "Ann", "{message}");

    // Forged: refused before the guest runs.
    let forged = agent_message_body("e-2", "s-floor", 3, "forged");
    let (code, body) = Webhook::signed("ep", forged, "not-the-secret", now_s())
        .send(&host)
        .await;
    assert_eq!(code, 401, "{body}");
    // No conversation to route by: refused by the fixture.
    let (code, body) = Webhook::signed("ep", br#"{"type":"x"}"#.to_vec(), SECRET, now_s())
        .send(&host)
        .await;
    assert!(code >= 400, "{code} {body}");
    assert!(body.contains("conversation_id"), "{body}");

    // Neither reached the handover: the next event is the next message.
    let (code, body) = send_agent_message(&host, "e-3", "s-floor", 3, "t-3").await;
    assert_eq!(code, 200, "{body}");
    let after = until_agent_text(&host, &id, message["id"].as_i64(), "t-3").await;
    assert_eq!(agent_texts(&after), ["t-3"], "{after:?}");
}
