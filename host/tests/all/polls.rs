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

/// Handover `id`'s events up to its first agent message (60 s at most).
async fn until_an_agent_message(host: &HostProcess, id: &str) -> Vec<serde_json::Value> {
    let req = host.request(reqwest::Method::GET, &events_path(id), Some(KEY));
    read_sse(req, Until::Deadline(Duration::from_secs(60)), |e| {
        e["type"] == "agent_message"
    })
    .await
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
    let events = until_an_agent_message(&host, &id).await;
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

/// A provider for the poll-outside-the-lock test: the first poll is held
/// until the test releases it (then answers "first"), the second answers
/// "second" at once, later ones are held for ten minutes (no more events).
async fn held_provider() -> (
    u16,
    std::sync::Arc<tokio::sync::Notify>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let release = Arc::new(tokio::sync::Notify::new());
    let polls = Arc::new(AtomicUsize::new(0));
    let (r, p) = (release.clone(), polls.clone());
    let app = axum::Router::new().route(
        "/poll",
        axum::routing::get(move || {
            let (release, polls) = (r.clone(), p.clone());
            async move {
                match polls.fetch_add(1, Ordering::SeqCst) {
                    0 => {
                        release.notified().await;
                        "first"
                    }
                    1 => "second",
                    _ => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        "late"
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, release, polls)
}

/// A poll runs without its handover's lock: user input is applied while
/// the provider still holds the poll, and the poll's result, computed from
/// the state before that input, is dropped (the version moved) and the
/// poll runs again from the new state (before: the input waited for the
/// whole long poll, up to `max_poll_wait_s`).
#[tokio::test]
pub(crate) async fn user_input_is_not_held_behind_a_long_poll() {
    use std::sync::atomic::Ordering;
    let (port, release, polls) = held_provider().await;
    let host = HostProcess::start(
        Config::new()
            .tenant("a", |t| t.key(KEY))
            .runtime(Runtime {
                max_poll_wait_s: Some(600),
                ..Runtime::shared_cache()
            })
            .endpoint(waiting_on("held", port)),
    )
    .await;
    let id = create(&host, "held").await;
    host.eventually(
        "the first poll reaching the provider",
        Duration::from_secs(60),
        async || (polls.load(Ordering::SeqCst) >= 1).then_some(()),
    )
    .await;

    // The provider holds the poll (until released below): the input is
    // applied meanwhile, not after it.
    let body = json!({"kind": "text", "text": "hello"})
        .to_string()
        .into_bytes();
    let path = format!("/v1/handovers/{id}/input");
    // Generous for a busy machine; the held poll is only released after.
    let sent = host
        .request(reqwest::Method::POST, &path, Some(KEY))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the input was not answered while the provider held the poll");
    let r = Resp::of(sent).await;
    assert_eq!(
        (r.status, r.body["result"].as_str()),
        (200, Some("forwarded")),
        "{r:?}"
    );
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "the first poll is still held"
    );

    release.notify_one();
    let events = until_an_agent_message(&host, &id).await;
    assert_eq!(
        agent_texts(&events),
        ["second"],
        "{events:?}\n{}",
        host.log()
    );
    assert_eq!(
        host.metric("polls_superseded_total").await,
        1.0,
        "the first poll's result was dropped"
    );
}
