//! Long polls against the real binary (issue 13, finding 6): the wait an
//! adapter declares lets its `poll` wait on I/O, up to the operator's
//! `[runtime] max_poll_wait_s`, and never lets its code execute longer than
//! the tenant's per-call limit (before: the declared wait became the call's
//! wall time — a 1 s quota became 3,602 s, and a CPU spin in `poll` ran on).

use crate::harness::wasm::http_server;
use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "tenant-a-key-Lp40qT";

/// Tenant `a` with a 1 s per-call limit.
fn one_second_tenant() -> Config {
    Config::new().tenant("a", |t| t.key(KEY).wall_time_ms(1000))
}

/// An endpoint of tenant `a` on the `long-poll` fixture (declares an hour's
/// wait) with `settings`.
fn long_poll(id: &str, settings: serde_json::Value) -> Endpoint {
    Endpoint::new(id, guest("long-poll"))
        .tenant("a")
        .settings(settings)
}

/// An endpoint whose `poll` GETs the loopback server on `port`.
fn waiting_on(id: &str, port: u16) -> Endpoint {
    let origin = format!("http://127.0.0.1:{port}");
    long_poll(id, json!({"poll": "wait", "url": format!("{origin}/poll")})).egress([origin])
}

async fn create(host: &HostProcess, endpoint: &str) -> String {
    let path = format!("/v1/endpoints/{endpoint}/handovers");
    let body = create_body("s-1").to_string().into_bytes();
    let r = host
        .send(reqwest::Method::POST, &path, Some(KEY), Some(body))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["handover_id"].as_str().unwrap().to_string()
}

/// The first failed poll of handover `id` the host logged, waiting up to
/// `within` for it.
async fn first_poll_failure(host: &HostProcess, id: &str, within: Duration) -> String {
    host.eventually(&format!("a failed poll of {id}"), within, async || {
        host.log()
            .lines()
            .find(|l| l.contains(id) && l.contains("poll failed"))
            .map(String::from)
    })
    .await
}

/// A `poll` that declares an hour's wait and spins on the CPU is stopped
/// by the tenant's 1 s per-call limit on execution, with a failure naming
/// it — not at the call's wall time with the long-poll allowance (61 s
/// with the default `max_poll_wait_s`), let alone the hour it declared.
#[tokio::test]
pub(crate) async fn a_declared_long_poll_does_not_extend_execution() {
    let host = HostProcess::start(
        one_second_tenant().endpoint(long_poll("spin", json!({"poll": "spin"}))),
    )
    .await;
    let started = Instant::now();
    let id = create(&host, "spin").await;
    // Generous for a busy machine, and below the call's 61 s wall time.
    let line = first_poll_failure(&host, &id, Duration::from_secs(55)).await;
    assert!(
        line.contains("execution-time limit exceeded") && line.contains("per-call limit is 1s"),
        "the failure should name the execution limit: {line}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(55), "stopped after {took:?}");
}

/// An honest long poll waits on I/O longer than the tenant's 1 s per-call
/// limit (2.5 s for a slow provider), up to the operator's maximum (4 s
/// here): a provider that holds the request longer is given up at 1 s +
/// 4 s, with a failure naming both (before: at the declared hour).
#[tokio::test]
pub(crate) async fn a_long_poll_waits_on_io_up_to_the_operators_maximum() {
    let (slow, _) = http_server(b"waited".to_vec(), Duration::from_millis(2500)).await;
    let (stuck, _) = http_server(b"too late".to_vec(), Duration::from_secs(600)).await;
    let host = HostProcess::start(
        one_second_tenant()
            .runtime(Runtime {
                max_poll_wait_s: Some(4),
                ..Runtime::shared_cache()
            })
            .endpoint(waiting_on("slow", slow))
            .endpoint(waiting_on("stuck", stuck)),
    )
    .await;
    let id = create(&host, "slow").await;
    let req = host.request(reqwest::Method::GET, &events_path(&id), Some(KEY));
    let events = read_sse(req, Until::Deadline(Duration::from_secs(60)), |e| {
        e["type"] == "agent_message"
    })
    .await;
    assert_eq!(
        agent_texts(&events),
        ["waited"],
        "{events:?}\n{}",
        host.log()
    );

    let id = create(&host, "stuck").await;
    // Generous for a busy machine; the provider would answer after 600 s.
    let line = first_poll_failure(&host, &id, Duration::from_secs(60)).await;
    assert!(
        line.contains("wall-time limit exceeded")
            && line.contains("1s of execution plus 4s of long-poll wait"),
        "the failure should name the call's limit: {line}"
    );
}
