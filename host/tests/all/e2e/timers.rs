//! Timers: the no-agent timeout (both outcomes), user inactivity
//! (warning, end while queued or active, re-arming on input), and either
//! ending a handover whose `start` never completed.

use crate::e2e::harness::*;
use crate::e2e::support::*;
use provider_simulators::SimProvider;
use serde_json::json;

/// A host whose one endpoint warns after `warn_s` and ends the handover after
/// `timeout_s` of user inactivity.
async fn inactivity_host(sim: &SimProvider, warn_s: i64, timeout_s: i64) -> Host {
    let ep = sim_ep("ep", sim)
        .timer("inactivity_warning_s", warn_s)
        .timer("inactivity_timeout_s", timeout_s);
    Host::start(&[ep]).await
}

#[tokio::test]
async fn no_agent_timeout_is_an_error() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim).timer("no_agent_timeout_s", 1)]).await;
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(types(&events), ["queued", "ended"], "{events:?}");
    let st = host.status(&id).await;
    assert_eq!(st["status"], "error");
    let msg = assert_final_object(&st["result"], "error", Some("error"));
    assert!(msg.contains("no agent"), "{msg}");
    assert_eq!(st["end_reason"], "no_agent_timeout");
    let ended = events.last().unwrap();
    assert_eq!(ended["handover"], st["result"]["handover"]);
    assert_eq!(ended["end_reason"], "no_agent_timeout");
    assert!(
        ended["timings"]["total_ms"].as_i64().unwrap() >= 1000,
        "ended before the timeout: {ended}"
    );
    assert_provider_status(&sim, &conv, "cancelled").await;
}

#[tokio::test]
async fn no_agent_timeout_with_completed_outcome() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)
        .timer("no_agent_timeout_s", 1)
        .timer("no_agent_outcome", "completed")])
    .await;
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(types(&events), ["queued", "ended"], "{events:?}");
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    assert_eq!(st["end_reason"], "no_agent_timeout");
    assert_eq!(events[1]["handover"], json!({"status": "completed"}));
    assert_provider_status(&sim, &conv, "cancelled").await;
}

#[tokio::test]
async fn no_agent_timeout_does_not_fire_once_an_agent_joined() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim).timer("no_agent_timeout_s", 2), &sim).await;
    let (id, conv) = host.active_sim_handover(&sim, "s-1").await;
    // Past the deadline, an agent message still reaches the bot and the
    // handover is still open.
    let created_ms = host.status(&id).await["created_at_ms"].as_i64().unwrap();
    host.eventually("the no-agent deadline to pass", T, async || {
        (now_ms() > created_ms + 2500).then_some(())
    })
    .await;
    sim.agent_message(&conv, "still here").await;
    let events = until_agent_text(&host, &id, None, "still here").await;
    assert!(!types(&events).contains(&"ended".to_string()), "{events:?}");
    assert_eq!(host.status(&id).await["status"], "active");
}

#[tokio::test]
async fn inactivity_while_queued_cancels() {
    let sim = sim().await;
    let host = inactivity_host(&sim, 1, 2).await;
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(
        types(&events),
        ["queued", "inactivity_warning", "ended"],
        "{events:?}"
    );
    assert!(events[1]["seconds_left"].is_number(), "{}", events[1]);
    let ended = &events[2];
    assert_eq!(ended["handover"], json!({"status": "cancelled"}));
    assert_eq!(ended["end_reason"], "user_inactivity");
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "cancelled", None);
    assert_eq!(st["end_reason"], "user_inactivity");
    assert_provider_status(&sim, &conv, "cancelled").await;
}

#[tokio::test]
async fn inactivity_while_active_completes() {
    let sim = sim().await;
    let host = inactivity_host(&sim, 1, 2).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    sim.agent_join(&conv, "a-1", "Alex").await;
    let events = host.handover_events(&id, None, T).await;
    let t = types(&events);
    assert!(t.contains(&"agent_joined".to_string()), "{t:?}");
    assert_eq!(t[t.len() - 2..], ["inactivity_warning", "ended"], "{t:?}");
    let ended = events.last().unwrap();
    assert_eq!(ended["handover"], json!({"status": "completed"}));
    assert_eq!(ended["end_reason"], "user_inactivity");
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    assert_provider_status(&sim, &conv, "closed").await;
}

#[tokio::test]
async fn user_input_rearms_the_inactivity_timer() {
    let sim = sim().await;
    let host = inactivity_host(&sim, 1, 3).await;
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    let first = host
        .sse(&events_path(&id), None, T, |e| {
            e["type"] == "inactivity_warning"
        })
        .await;
    assert_eq!(types(&first), ["queued", "inactivity_warning"]);
    // Input before the deadline (the warning came at ~1 s of 3 s).
    let sent_at = now_ms();
    host.input_expect(&id, "text", "still here", "forwarded")
        .await;
    let rest = host
        .handover_events(&id, first.last().unwrap()["id"].as_i64(), T)
        .await;
    // A second warning (the timer was re-armed), then the end.
    assert_eq!(types(&rest), ["inactivity_warning", "ended"], "{rest:?}");
    let ended = &rest[1];
    assert_eq!(ended["end_reason"], "user_inactivity");
    assert_eq!(ended["handover"], json!({"status": "cancelled"}));
    let ended_at = ended["timings"]["ended_at_ms"].as_i64().unwrap();
    assert!(
        ended_at >= sent_at + 3000,
        "ended {} ms after the input, before the re-armed 3 s timeout",
        ended_at - sent_at
    );
    let got = sim.wait_for_user_messages(&conv, 1, T).await;
    assert_eq!(got[0].text, "still here");
}

/// A handover still `requested` (a create that waited longer than the
/// timeout for the handover's lock, or a host that died during `start`) has
/// no provider state: a timer ends it without asking the adapter to cancel
/// (which could only fail, three times with back-off), and says so.
#[tokio::test]
async fn timers_end_a_handover_that_never_started_without_calling_the_adapter() {
    let sim = sim().await;
    let ep = sim_ep("ep", &sim)
        .timer("no_agent_timeout_s", 1)
        .timer("inactivity_timeout_s", 600);
    let host = Host::start_sim(ep, &sim).await;
    // A started handover first: its no-agent end is a counted cancel.
    let (started, conv) = host.sim_handover(&sim, "s-0").await;
    let ended = host.handover_events(&started, None, T).await;
    assert_eq!(types(&ended), ["queued", "ended"], "{ended:?}");
    assert_provider_status(&sim, &conv, "cancelled").await;
    let cancels = async || {
        host.metric_sum_where("adapter_calls_total", &["export=\"cancel\""])
            .await
    };
    let before = cancels().await;
    assert!(
        before >= 1.0,
        "the started handover's cancel was not counted"
    );

    // Two handovers as a create leaves them before `start`: one whose
    // no-agent deadline is due, one whose inactivity end is.
    let now = now_ms();
    host.insert_never_started(&started, "never-started-1", "s-1", |r| {
        r.no_agent_deadline_ms = Some(now)
    })
    .await;
    host.insert_never_started(&started, "never-started-2", "s-2", |r| {
        r.inactivity_end_at_ms = Some(now)
    })
    .await;

    for (id, reason, status) in [
        ("never-started-1", "no_agent_timeout", "error"),
        ("never-started-2", "user_inactivity", "cancelled"),
    ] {
        let events = host.handover_events(id, None, T).await;
        assert_eq!(types(&events), ["ended"], "{id}: {events:?}");
        let detail = events[0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("the adapter's `start` had not completed"),
            "{id}: {}",
            events[0]
        );
        let st = host.status(id).await;
        assert_eq!(st["status"], status, "{id}: {st}");
        assert_eq!(st["end_reason"], reason, "{id}: {st}");
    }
    assert_eq!(
        cancels().await,
        before,
        "the adapter was asked to cancel a handover that never started\n{}",
        host.log()
    );
}
