//! Recovery: a SIGKILLed host restarted on the same data while the provider
//! keeps posting webhooks, and an adapter that traps mid-handover.

use crate::e2e::harness::*;
use crate::e2e::support::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn sigkill_mid_handover_and_restart() {
    let sim = sim().await;
    // Keep retrying long enough to cover the restart (100 ms doubling, 20 attempts).
    sim.set_webhook_retry(20, Duration::from_millis(100));
    let mut host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (h1, c1) = host.sim_handover(&sim, "s-1").await;
    let (h2, c2) = host.sim_handover(&sim, "s-2").await;
    sim.agent_join(&c1, "a-1", "Alex").await;
    sim.agent_message(&c1, "before-1").await;
    sim.agent_message(&c1, "before-2").await;
    host.wait_status(&h1, "active", T).await;
    let (_, r) = host.input(&h1, "text", "u-before").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    let pre1 = until_agent_text(&host, &h1, None, "before-2").await;
    let pre2 = host
        .sse(&events_path(&h2), None, Duration::from_secs(2), |_| false)
        .await;
    assert!(!pre2.is_empty());
    let delivered_before = sim.webhook_deliveries().len();

    host.kill();

    // The provider keeps going while the host is down.
    sim.agent_message(&c1, "during-1").await;
    sim.agent_message(&c1, "during-2").await;
    sim.agent_join(&c2, "a-2", "Bo").await;
    sim.agent_message(&c2, "during-h2").await;
    // Deliveries fail while nothing listens: let at least one attempt fail.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim.webhook_deliveries().len(),
        delivered_before,
        "a webhook was delivered while the host was down"
    );

    host.spawn().await;

    host.input_expect(&h1, "text", "u-after", "forwarded").await;
    sim.agent_message(&c1, "after-1").await;
    sim.end(&c1, "agent_closed").await;
    sim.agent_message(&c2, "after-h2").await;
    sim.end(&c2, "agent_closed").await;

    for (h, c, pre) in [(&h1, &c1, &pre1), (&h2, &c2, &pre2)] {
        let full = host.handover_events(h, None, T).await;
        assert_eq!(
            full.last().map(|e| e["type"].clone()),
            Some(Value::from("ended")),
            "{h}: {full:?}\n{}",
            host.log()
        );
        assert_strictly_increasing(&full);
        // Events read before the kill keep their ids (and content).
        assert_eq!(
            &full[..pre.len()],
            &pre[..],
            "{h}: events before the kill changed"
        );
        // Every agent message the provider sent, once, in order.
        assert_eq!(
            agent_texts(&full),
            sim_agent_texts(&sim, c),
            "{h}: agent messages the bot got differ from those the provider sent"
        );
        let st = host.status(h).await;
        assert_final_object(&st["result"], "completed", None);
        assert_eq!(st["end_reason"], "agent_closed");
    }
    assert_eq!(
        sim_agent_texts(&sim, &c1),
        ["before-1", "before-2", "during-1", "during-2", "after-1"]
    );
    let user: Vec<String> = sim
        .wait_for_user_messages(&c1, 2, T)
        .await
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(user, ["u-before", "u-after"]);
    // Every webhook eventually accepted.
    let all = sim.events(&c1).len() + sim.events(&c2).len();
    let deliveries = sim.wait_for_deliveries(all, T).await;
    assert!(deliveries.iter().all(|d| d.ok), "{deliveries:?}");
    assert!(
        deliveries.iter().any(|d| d.attempts > 1),
        "no delivery needed a retry: the kill did not interrupt anything"
    );
}

#[tokio::test]
async fn adapter_trap_mid_handover_ends_it_and_the_host_stays_healthy() {
    let sim_a = sim().await;
    let sim_b = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim_a), sim_ep("other", &sim_b)]).await;
    sim_a.set_webhook_url(Some(host.webhook_url("ep")));
    sim_b.set_webhook_url(Some(host.webhook_url("other")));
    let id = host.create_id("ep", "s-1").await;
    let conv = sim_a.wait_for_conversation(&id, T).await.unwrap().id;
    sim_a.agent_join(&conv, "a-1", "Alex").await;
    host.wait_status(&id, "active", T).await;

    // Hot-swap ep's adapter to the panic fixture.
    let r = host
        .http
        .put(format!("{}/admin/endpoints/ep/adapter", host.base))
        .header("authorization", format!("Bearer {ADMIN_KEY}"))
        .body(guest_bytes("panic"))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["swapped"], true, "{body}");
    assert_eq!(body["current"]["name"], "panic", "{body}");

    let (code, r) = host.input(&id, "text", "hello?").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "error", "{r}");
    let st = host.status(&id).await;
    assert_eq!(st["status"], "error");
    let msg = assert_final_object(&st["result"], "error", Some("error"));
    assert!(
        msg.contains("panic"),
        "the message should name the panic: {msg}"
    );
    assert!(
        msg.contains("fixture panic"),
        "the message should carry the guest's panic message: {msg}"
    );
    let events = host.handover_events(&id, None, T).await;
    let ended = events.last().unwrap();
    assert_eq!(ended["type"], "ended");
    assert_eq!(ended["handover"], st["result"]["handover"]);
    assert!(
        sim_a.conversation(&conv).unwrap().user_messages.is_empty(),
        "nothing can have been forwarded"
    );

    // The host is healthy: /healthz, a new handover on the trapping
    // endpoint fails cleanly, and another endpoint still completes.
    let (code, _) = host.get("/healthz").await;
    assert_eq!(code, 200);
    let (code, r) = host.create("ep", "s-2", json!({})).await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["handover"]["status"], "error", "{r}");
    assert!(
        r["handover"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("panic"),
        "{r}"
    );
    let (code, created) = host.create("other", "s-1", json!({})).await;
    assert_eq!(code, 201, "{created}");
    let other = created["handover_id"].as_str().unwrap().to_string();
    let conv_b = sim_b.wait_for_conversation(&other, T).await.unwrap().id;
    sim_b.agent_join(&conv_b, "a-1", "Alex").await;
    sim_b.agent_message(&conv_b, "fine here").await;
    let (_, r) = host.input(&other, "text", "good").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    sim_b.end(&conv_b, "agent_closed").await;
    let st = host.wait_status(&other, "completed", T).await;
    assert_final_object(&st["result"], "completed", None);
    let events = host.handover_events(&other, None, T).await;
    assert_eq!(agent_texts(&events), ["fine here"]);
    assert_eq!(
        sim_b.wait_for_user_messages(&conv_b, 1, T).await[0].text,
        "good"
    );
}
