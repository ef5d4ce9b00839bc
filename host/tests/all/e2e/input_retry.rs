//! Which failed user input the host tries again: only an attempt that
//! never reached the provider (every request failed before it was sent).
//! A provider's refusal is final: before, the host repeated the whole
//! `user-message` call three times on any failure, so an adapter that had
//! posted part of the input showed it to the agent three times.

use crate::e2e::harness::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The `ended` event's detail.
async fn end_detail(host: &Host, id: &str) -> String {
    let events = host.handover_events(id, None, T).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ended", "{events:?}");
    assert_eq!(last["end_reason"], "adapter_error", "{last}");
    last["detail"].as_str().unwrap_or_default().to_string()
}

fn messages_posted(sim: &provider_simulators::SimProvider, conv: &str) -> usize {
    let path = format!("/conversations/{conv}/messages");
    sim.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .count()
}

#[tokio::test]
async fn a_refused_input_is_not_sent_again() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (id, conv) = host.active_sim_handover(&sim, "s-1").await;
    sim.fail_next(&format!("/conversations/{conv}/messages"), 422, 1);
    host.input_expect(&id, "text", "my order is late", "error")
        .await;
    assert_eq!(
        messages_posted(&sim, &conv),
        1,
        "the refused input was sent once"
    );
    let detail = end_detail(&host, &id).await;
    assert!(
        detail.starts_with("forwarding user input failed:") && detail.contains("422"),
        "{detail}"
    );
}

#[tokio::test]
async fn an_input_that_never_reached_the_provider_is_tried_again() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (id, _) = host.active_sim_handover(&sim, "s-1").await;
    let before = host.metric_sum("adapter_calls_total").await;
    // Nothing listens any more: every attempt fails before it is sent.
    sim.shutdown().await;
    host.input_expect(&id, "text", "my order is late", "error")
        .await;
    let detail = end_detail(&host, &id).await;
    assert!(
        detail.starts_with("forwarding user input failed 3 times (the provider was not reached)"),
        "{detail}"
    );
    // Three `user-message` calls (and nothing else ran meanwhile).
    assert_eq!(host.metric_sum("adapter_calls_total").await - before, 3.0);
}
