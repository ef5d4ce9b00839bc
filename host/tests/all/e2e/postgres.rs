//! The PostgreSQL mode of the end-to-end suite, and the lifecycle paths run
//! against it: completed, cancelled, SSE resume with `Last-Event-ID`, a
//! SIGKILL and restart mid-handover, and two hosts (replicas) sharing one
//! database.
//!
//! PG mode: `Host::start_on(Host::config(eps), Some(schema))` runs the binary with
//! `[store] backend = "postgres"` on a fresh schema of the server named by
//! `HANDOVER_TEST_PG_URL` (dropped after the last host using it). Setting
//! `HANDOVER_E2E_STORE=postgres` makes every `Host::start` of the suite do
//! so. The tests below need `HANDOVER_TEST_PG_URL` (scripts/test sets it);
//! without it they fail unless `HANDOVER_SKIP_PG_TESTS=1` skips them (with
//! a note), and with it an unreachable server fails them.

#![allow(dead_code)]

use crate::e2e::harness::*;
use crate::e2e::support::*;
pub use crate::harness::pg::Schema;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A schema when `HANDOVER_E2E_STORE=postgres` (the whole suite on
/// PostgreSQL), else `None` (SQLite).
pub async fn schema_for_env() -> Option<Arc<Schema>> {
    match std::env::var("HANDOVER_E2E_STORE").as_deref() {
        Ok("postgres") => Some(Schema::create("e2e").await.expect(
            "HANDOVER_E2E_STORE=postgres needs HANDOVER_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test)",
        )),
        Ok("sqlite") | Ok("") | Err(_) => None,
        Ok(other) => panic!("HANDOVER_E2E_STORE={other}: expected `sqlite` or `postgres`"),
    }
}

/// A host on a fresh PostgreSQL schema, or `None` (skip).
async fn pg_host(eps: &[Endpoint]) -> Option<Host> {
    let schema = Schema::create("e2e").await?;
    Some(Host::start_on(Host::config(eps), Some(schema)).await)
}

/// `pg_host` with endpoint `ep` bound to `sim` and its webhooks pointed at it.
async fn pg_sim_host(sim: &provider_simulators::SimProvider) -> Option<Host> {
    let host = pg_host(&[sim_ep("ep", sim)]).await?;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    Some(host)
}

#[tokio::test]
async fn pg_completed() {
    let sim = sim().await;
    let Some(host) = pg_sim_host(&sim).await else {
        return;
    };
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.agent_join(&conv.id, "a-1", "Alex").await;
    host.wait_status(&id, "active", T).await;
    sim.agent_message(&conv.id, "hello from Alex").await;
    host.input_expect(&id, "text", "my order is late", "forwarded")
        .await;
    assert_eq!(
        sim.wait_for_user_messages(&conv.id, 1, T).await[0].text,
        "my order is late"
    );
    sim.end(&conv.id, "agent_closed").await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_final_object(&st["result"], "completed", None);
    assert_eq!(st["end_reason"], "agent_closed");
    let events = host.handover_events(&id, None, T).await;
    assert_strictly_increasing(&events);
    let t = types(&events);
    assert_eq!(t.first().map(String::as_str), Some("queued"), "{t:?}");
    assert!(t.contains(&"agent_joined".into()), "{t:?}");
    assert_eq!(agent_texts(&events), ["hello from Alex"]);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ended");
    assert_eq!(last["handover"], json!({"status": "completed"}));
    // The state really is in PostgreSQL, not in a SQLite file.
    assert!(!host.dir.join("data/handover.db").exists());
}

#[tokio::test]
async fn pg_cancelled_by_intent() {
    let sim = sim().await;
    let Some(host) = pg_sim_host(&sim).await else {
        return;
    };
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    host.input_expect(&id, "intent", "cancel_handover", "cancelled")
        .await;
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "cancelled", None);
    assert_eq!(st["end_reason"], "user_cancelled");
    assert_provider_status(&sim, &conv.id, "cancelled").await;
    let (code, r) = host.input(&id, "text", "hello?").await;
    assert_eq!(code, 409, "{r}");
    // The same session may open a new handover once this one ended.
    let (code, again) = host.create("ep", "s-1", json!({})).await;
    assert_eq!(code, 201, "{again}");
    assert_eq!(again["already_in_progress"], false, "{again}");
}

#[tokio::test]
async fn pg_sse_resume_with_last_event_id() {
    let sim = sim().await;
    let Some(host) = pg_sim_host(&sim).await else {
        return;
    };
    resumed_stream(&host, &sim).await;
}

#[tokio::test]
async fn pg_sigkill_mid_handover_and_restart() {
    let sim = sim().await;
    sim.set_webhook_retry(20, Duration::from_millis(100));
    let Some(mut host) = pg_sim_host(&sim).await else {
        return;
    };
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
    sim.agent_join(&conv, "a-1", "Alex").await;
    sim.agent_message(&conv, "before-1").await;
    host.wait_status(&id, "active", T).await;
    let pre = until_agent_text(&host, &id, None, "before-1").await;
    let delivered_before = sim.webhook_deliveries().len();

    host.kill();
    sim.agent_message(&conv, "during-1").await;
    sim.agent_message(&conv, "during-2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.webhook_deliveries().len(), delivered_before);

    host.spawn().await;
    host.input_expect(&id, "text", "u-after", "forwarded").await;
    sim.agent_message(&conv, "after-1").await;
    sim.end(&conv, "agent_closed").await;
    let full = host.handover_events(&id, None, T).await;
    assert_eq!(
        full.last().map(|e| e["type"].clone()),
        Some(Value::from("ended")),
        "{full:?}\n{}",
        host.log()
    );
    assert_strictly_increasing(&full);
    assert_eq!(
        &full[..pre.len()],
        &pre[..],
        "events before the kill changed"
    );
    assert_eq!(agent_texts(&full), sim_agent_texts(&sim, &conv));
    assert_eq!(
        agent_texts(&full),
        ["before-1", "during-1", "during-2", "after-1"]
    );
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    let deliveries = sim.wait_for_deliveries(sim.events(&conv).len(), T).await;
    assert!(deliveries.iter().all(|d| d.ok), "{deliveries:?}");
}

/// Two hosts on one schema: a handover created on one is driven through the
/// other (webhooks, input), and each host's stream carries every event
/// exactly once, whichever host wrote it.
#[tokio::test]
async fn pg_two_replicas_share_handovers_and_streams() {
    let sim = sim().await;
    let Some(schema) = Schema::create("e2e").await else {
        return;
    };
    let a = Host::start_on(Host::config(&[sim_ep("ep", &sim)]), Some(schema.clone())).await;
    let b = Host::start_on(Host::config(&[sim_ep("ep", &sim)]), Some(schema)).await;
    // The provider only knows replica b.
    sim.set_webhook_url(Some(b.webhook_url("ep")));
    let (code, created) = a.create("ep", "s-1", json!({})).await;
    assert_eq!(code, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
    // Same session on the other replica: the open handover is found.
    let (code, dup) = b.create("ep", "s-1", json!({})).await;
    assert_eq!(code, 200, "{dup}");
    assert_eq!(dup["handover_id"], id.as_str(), "{dup}");
    let (from_a, from_b, ()) = tokio::join!(
        a.handover_events(&id, None, T),
        b.handover_events(&id, None, T),
        async {
            sim.agent_join(&conv, "a-1", "Alex").await;
            b.wait_status(&id, "active", T).await;
            for i in 0..5 {
                sim.agent_message(&conv, &format!("m{i}")).await;
            }
            let (_, r) = a.input(&id, "text", "from the user").await;
            assert_eq!(r["result"], "forwarded", "{r}");
            sim.end(&conv, "agent_closed").await;
        }
    );
    assert_eq!(from_a, from_b, "the replicas' streams differ");
    assert_strictly_increasing(&from_a);
    assert_eq!(agent_texts(&from_a), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(from_a.last().unwrap()["type"], "ended");
    assert_eq!(a.status(&id).await["status"], "completed");
}

/// A host on `schema` that applies webhooks inline however slow a debug
/// build is, the sim's webhooks sent to it, and an active handover whose
/// agent message "first" it has applied: it has timed its adapter on a
/// webhook, so the next ones go inline. Returns the host, the handover's id
/// and the sim conversation.
async fn inline_host_with_handover(
    sim: &provider_simulators::SimProvider,
    schema: &Arc<Schema>,
) -> (Host, String, String) {
    let inline = Host::config(&[sim_ep("ep", sim)]).server(|s| s.inline_webhook_ms = Some(60_000));
    let host = Host::start_on(inline, Some(schema.clone())).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (id, conv) = host.active_sim_handover(sim, "s-1").await;
    sim.agent_message(&conv, "first").await;
    host.sse(&events_path(&id), None, T, |e| e["text"] == "first")
        .await;
    (host, id, conv)
}

/// A webhook reaching one replica while another is in the middle of a
/// locked step of the same handover (bot input, waiting on the provider)
/// does not land inside that step: applied inline it takes no shared lock,
/// so its commit is refused while the other replica holds it, and the
/// webhook is applied from the inbox once the step committed. (Were it
/// written, the input step's version check would fail after the provider
/// had the user's message.)
#[tokio::test]
async fn pg_a_webhook_does_not_land_inside_another_replicas_step() {
    let sim = sim().await;
    let Some(schema) = Schema::create("e2e").await else {
        return;
    };
    let (a, id, conv) = inline_host_with_handover(&sim, &schema).await;
    let b = Host::start_on(Host::config(&[sim_ep("ep", &sim)]), Some(schema)).await;

    // Replica b's bot input waits on the provider, holding the lock ...
    let hold = sim.hold_next(&format!("/conversations/{conv}/messages"));
    let ((code, r), ()) = tokio::join!(b.input(&id, "text", "from the user"), async {
        assert!(hold.arrived(T).await, "b never called the provider");
        // ... while the agent's next message reaches replica a, which
        // answers the provider (the webhook stored) before b's step ends.
        sim.agent_message(&conv, "second").await;
        let second = sim.events(&conv).last().unwrap()["event_id"].clone();
        let answered = a
            .eventually("the second webhook to be answered", T, async || {
                let all = sim.webhook_deliveries();
                all.into_iter().find(|d| second == d.event_id.as_str())
            })
            .await;
        assert!(answered.ok, "{answered:#?}");
        hold.release();
    });
    assert_eq!(code, 200, "{r}\n{}", b.log());
    assert_eq!(r["result"], "forwarded", "{r}");
    assert_eq!(sim.wait_for_user_messages(&conv, 1, T).await.len(), 1);
    let events = a
        .sse(&events_path(&id), None, T, |e: &Value| {
            e["type"] == "agent_message" && e["text"] == "second"
        })
        .await;
    assert_strictly_increasing(&events);
    assert_eq!(agent_texts(&events), ["first", "second"]);
    assert!(
        a.log().contains("inline webhook step not committed"),
        "the second webhook was not tried inline:\n{}",
        a.log()
    );
}

/// An inline webhook lets its adapter instance go once `handle-webhook`
/// has returned, not after its commit: a commit waiting on the database
/// holds no instance (else every webhook in flight would keep one).
#[tokio::test]
async fn pg_an_inline_webhook_holds_no_instance_while_its_commit_waits() {
    let sim = sim().await;
    let Some(schema) = Schema::create("e2e").await else {
        return;
    };
    let (host, id, conv) = inline_host_with_handover(&sim, &schema).await;

    // The handover's row locked by this test: the next step's commit waits.
    // Nothing below may panic before the lock is let go (the schema's drop
    // would wait on it forever); PostgreSQL also ends this session if it
    // stays idle in its transaction that long.
    let db = schema.connect().await;
    db.batch_execute("SET idle_in_transaction_session_timeout = '120s'; BEGIN")
        .await
        .unwrap();
    db.execute("SELECT 1 FROM handovers WHERE id = $1 FOR UPDATE", &[&id])
        .await
        .unwrap();
    sim.agent_message(&conv, "second").await;
    let blocked = "SELECT count(*) FROM pg_stat_activity \
                   WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))";
    let waited = tokio::time::timeout(T, async {
        while !db
            .query_one(blocked, &[])
            .await
            .is_ok_and(|r| r.get::<_, i64>(0) > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let kept = host.metric("adapter_instances_kept").await;
    db.batch_execute("COMMIT").await.unwrap();
    assert!(
        waited.is_ok(),
        "the host's commit never waited on the row lock:\n{}",
        host.log()
    );
    assert_eq!(kept, 0.0, "an instance is held through the commit");
    assert!(
        !host.log().contains("inline webhook step not committed"),
        "the webhook did not go inline:\n{}",
        host.log()
    );
    let events = until_agent_text(&host, &id, None, "second").await;
    assert_eq!(agent_texts(&events), ["first", "second"], "{events:?}");
}

/// A webhook that a replica stored (the provider got its 200) but never
/// processed, because the replica died right then, is processed by another
/// replica: nothing stored is lost.
#[tokio::test]
async fn pg_webhook_stored_by_a_dead_replica_is_processed_by_another() {
    use base64::Engine as _;
    let sim = sim().await;
    let Some(schema) = Schema::create("e2e").await else {
        return;
    };
    let host = Host::start_on(Host::config(&[sim_ep("ep", &sim)]), Some(schema.clone())).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (id, conv) = host.active_sim_handover(&sim, "s-1").await;

    // The provider's next event, as the dead replica stored it in the inbox.
    sim.set_webhook_url(None);
    sim.agent_message(&conv, "stored by a replica that died")
        .await;
    let event = sim.events(&conv).last().unwrap().clone();
    let request = json!({
        "method": "POST",
        "path": "/v1/webhooks/ep",
        "headers": [["content-type", "application/json"]],
        "body": base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&event).unwrap()),
    });
    let db = schema.connect().await;
    db.execute(
        "INSERT INTO inbox (endpoint_id, handover_id, request, received_at_ms, done) \
         VALUES ('ep', $1, $2, $3, FALSE)",
        &[&id, &request.to_string(), &(now_ms() - 60_000)],
    )
    .await
    .unwrap();

    let events = until_agent_text(&host, &id, None, "stored by a replica that died").await;
    assert_eq!(
        agent_texts(&events),
        ["stored by a replica that died"],
        "{events:?}\n{}",
        host.log()
    );
    let pending: i64 = db
        .query_one("SELECT count(*) FROM inbox WHERE NOT done", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
}
