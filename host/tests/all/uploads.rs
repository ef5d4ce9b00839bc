//! Hostile tenants' uploads against the real `handover-host` binary: a
//! tenant compiles one upload at a time, counted against its own call
//! slots, while other tenants' uploads proceed; upload-time `describe` and
//! `validate-settings` run inside the tenant's call slots; a refused
//! candidate leaves nothing in the compiled-component cache.
//!
//! The long-running candidate is the `slow-validate` fixture (its
//! `validate-settings` spins until the call's wall-time limit); "in
//! flight" is read from `adapter_instances_total` (one per call).

use crate::harness::*;
use std::time::{Duration, Instant};

const KEY_A: &str = "tenant-a-key-Up71qS";
const KEY_B: &str = "tenant-b-key-Up92wE";

/// How long the long-running calls of these tests may run, ms: far more
/// than the steps taken while they run.
const LONG_MS: u64 = 15_000;

/// `adapter_instances_total` on `/metrics` (calls started so far).
async fn instances(host: &HostProcess) -> u64 {
    let r = host
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("adapter_instances_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no adapter_instances_total in\n{}", r.text))
}

/// Waits (bounded, generous) until at least `n` instances were created.
async fn wait_for_instances(host: &HostProcess, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while instances(host).await < n {
        assert!(
            Instant::now() < deadline,
            "the call never started:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An upload of `bytes` to `endpoint` with `key`, as a task of its own.
fn upload_task(
    host: &HostProcess,
    endpoint: &str,
    key: &str,
    bytes: Vec<u8>,
) -> tokio::task::JoinHandle<Resp> {
    let req = host
        .request(
            reqwest::Method::PUT,
            &format!("/admin/endpoints/{endpoint}/adapter"),
            Some(key),
        )
        .body(bytes);
    tokio::spawn(async move { Resp::of(req.send().await.unwrap()).await })
}

async fn upload(host: &HostProcess, endpoint: &str, key: &str, bytes: Vec<u8>) -> Resp {
    upload_task(host, endpoint, key, bytes).await.unwrap()
}

/// Cache entries (files) of the component `bytes` in `dir`.
fn cached(dir: &std::path::Path, bytes: &[u8]) -> Vec<String> {
    let sha = handover_host::runtime::sha256_hex(bytes);
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&sha))
                .collect()
        })
        .unwrap_or_default()
}

fn long_running(ep: Endpoint) -> Endpoint {
    ep.limit("wall_time_ms", LONG_MS)
}

/// While tenant A's upload is being validated (a candidate that takes its
/// whole wall time), A's second upload is answered 429 with Retry-After
/// from the headers, and tenant B's upload is accepted meanwhile; the
/// refused candidate leaves no cache entry; then A may upload again
/// (before: any number of a tenant's uploads compiled at once, outside its
/// quotas, and a refused candidate's compiled code stayed in the cache).
#[tokio::test]
pub(crate) async fn a_tenant_compiles_one_upload_at_a_time() {
    let host = HostProcess::start(
        Config::new()
            .tenant("a", |t| t.key(KEY_A).wall_time_ms(2 * LONG_MS))
            .tenant("b", |t| t.key(KEY_B))
            // Its own cache (`<data_dir>/cache`), collected.
            .runtime(Runtime::default())
            .endpoint(long_running(
                Endpoint::new("a-1", guest("echo")).tenant("a"),
            ))
            .endpoint(Endpoint::new("a-2", guest("echo")).tenant("a"))
            .endpoint(Endpoint::new("b-1", guest("echo")).tenant("b")),
    )
    .await;
    let cache = host.dir.join("data/cache");
    let slow_bytes = guest_bytes("slow-validate");
    let before = instances(&host).await;
    let slow = upload_task(&host, "a-1", KEY_A, slow_bytes.clone());
    // `describe` and `validate-settings` started: the candidate is compiled.
    wait_for_instances(&host, before + 2).await;

    let second = upload(&host, "a-2", KEY_A, guest_bytes("echo-v2")).await;
    assert_eq!(second.status, 429, "{second:?}");
    assert!(second.retry_after.is_some(), "{second:?}");
    assert!(second.text.contains("concurrent_compiles"), "{second:?}");

    let other = upload(&host, "b-1", KEY_B, guest_bytes("echo-v2")).await;
    assert_eq!(other.status, 200, "{other:?}");
    assert!(
        !slow.is_finished(),
        "B's upload should not have waited for A's:\n{}",
        host.log()
    );

    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 422, "{slow:?}");
    assert!(slow.text.contains("validate-settings"), "{slow:?}");
    assert_eq!(
        cached(&cache, &slow_bytes),
        Vec::<String>::new(),
        "the refused candidate's compiled code is still cached"
    );
    assert_eq!(cached(&cache, &guest_bytes("echo-v2")).len(), 1);

    let again = upload(&host, "a-2", KEY_A, guest_bytes("echo-v2")).await;
    assert_eq!(again.status, 200, "{again:?}");
}

/// Upload-time `describe` and `validate-settings` are calls of the tenant:
/// with `concurrent_calls = 1`, an upload while a call runs is answered
/// 429, and a call while an upload is being validated is answered 429
/// (before: uploads ran beside the tenant's calls, outside its quota).
#[tokio::test]
pub(crate) async fn upload_checks_run_inside_the_tenants_call_slots() {
    let host = HostProcess::start(
        Config::new()
            .tenant("a", |t| {
                t.key(KEY_A).concurrent_calls(1).wall_time_ms(2 * LONG_MS)
            })
            .runtime(Runtime::default())
            .endpoint(long_running(
                Endpoint::new("spin", guest("loop")).tenant("a"),
            ))
            .endpoint(long_running(Endpoint::new("ep", guest("echo")).tenant("a"))),
    )
    .await;
    let create = |endpoint: &str, session: &str| {
        host.request(
            reqwest::Method::POST,
            &format!("/v1/endpoints/{endpoint}/handovers"),
            Some(KEY_A),
        )
        .header("content-type", "application/json")
        .body(create_body(session).to_string())
        .send()
    };

    // A call in flight holds the tenant's only slot: no upload beside it.
    let before = instances(&host).await;
    let call = tokio::spawn(create("spin", "s-1"));
    wait_for_instances(&host, before + 1).await;
    let r = upload(&host, "ep", KEY_A, guest_bytes("echo-v2")).await;
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.text.contains("concurrent_calls"), "{r:?}");
    assert!(r.retry_after.is_some(), "{r:?}");
    call.await.unwrap().unwrap();

    // An upload being validated holds it: no call beside it.
    let before = instances(&host).await;
    let slow = upload_task(&host, "ep", KEY_A, guest_bytes("slow-validate"));
    wait_for_instances(&host, before + 2).await;
    let r = Resp::of(create("ep", "s-2").await.unwrap()).await;
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.text.contains("concurrent_calls"), "{r:?}");
    assert_eq!(slow.await.unwrap().status, 422);

    // Both free again.
    let r = upload(&host, "ep", KEY_A, guest_bytes("echo-v2")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = Resp::of(create("ep", "s-3").await.unwrap()).await;
    assert_eq!(r.status, 201, "{r:?}");
}
