//! Event streams (SSE) against the real binary (issue 13, finding 4): a
//! tenant may hold only its `event_streams` quota of streams open, and an
//! open stream reads the store when the engine wakes it, not every second
//! (before: any number of streams, each reading the store once a second).

use crate::harness::*;
use reqwest::Method;
use std::time::{Duration, Instant};

const KEY_A: &str = "tenant-a-key-Sx19vB";
const KEY_B: &str = "tenant-b-key-Qe63nM";

/// Creates a handover on `endpoint` with `key`; its id.
async fn create(host: &HostProcess, endpoint: &str, key: &str) -> String {
    let path = format!("/v1/endpoints/{endpoint}/handovers");
    let body = create_body("s-1").to_string().into_bytes();
    let r = host.send(Method::POST, &path, Some(key), Some(body)).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["handover_id"].as_str().unwrap().to_string()
}

/// Sends "hello" to handover `id` through `writer` and waits for the echo
/// adapter's reply on `stream` (served by `reader`): well within 15 s, far
/// below the streams' 20 s safety re-read, so it came by a wake-up.
async fn echo_reaches(
    writer: &HostProcess,
    id: &str,
    stream: &mut SseStream,
    reader: &HostProcess,
) {
    let (status, body) = writer.input(id, "text", "hello").await;
    assert!(status < 300, "{status} {body}");
    let reply = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(e) = stream.next().await {
            if e["type"] == "agent_message" {
                return e;
            }
        }
        panic!("the stream ended\n{}", reader.log());
    })
    .await
    .unwrap_or_else(|_| panic!("no event within 15 s of the commit\n{}", reader.log()));
    assert_eq!(reply["text"], "1.0.0:hello");
}

/// Tenant `a` (3 streams at most) may not open a fourth stream — 429 with
/// Retry-After, naming the quota and its limit — while tenant `b` still
/// opens one; a closed stream gives its slot back.
#[tokio::test]
pub(crate) async fn a_tenant_holds_at_most_its_event_streams() {
    let host = HostProcess::start(
        Config::new()
            .tenant("a", |t| t.key(KEY_A).event_streams(3))
            .tenant("b", |t| t.key(KEY_B))
            .endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a"))
            .endpoint(Endpoint::new("ep-b", guest("echo")).tenant("b")),
    )
    .await;
    let a = create(&host, "ep-a", KEY_A).await;
    let b = create(&host, "ep-b", KEY_B).await;
    let open = |path: String, key: &'static str| {
        SseStream::open(host.request(Method::GET, &path, Some(key)), Until::Forever)
    };
    // Handover and endpoint streams count alike.
    let mut streams = vec![];
    for path in [
        events_path(&a),
        events_path(&a),
        "/v1/endpoints/ep-a/events".into(),
    ] {
        let s = open(path.clone(), KEY_A).await;
        streams.push(s.unwrap_or_else(|| panic!("{path}: refused\n{}", host.log())));
    }
    // The status alone: a stream that was let through never ends.
    let over = host
        .request(Method::GET, &events_path(&a), Some(KEY_A))
        .send()
        .await
        .unwrap();
    assert_eq!(
        over.status().as_u16(),
        429,
        "a fourth stream was let through"
    );
    let r = Resp::of(over).await;
    assert!(r.retry_after.is_some(), "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("event_streams") && message.contains("limit 3"),
        "{r:?}"
    );
    // Another tenant is not affected.
    assert!(open(events_path(&b), KEY_B).await.is_some());
    // A closed stream's slot comes back (noticed at the latest by the next
    // keep-alive, 15 s).
    drop(streams.pop());
    host.eventually(
        "a slot after a stream closed",
        Duration::from_secs(60),
        async || open(events_path(&a), KEY_A).await,
    )
    .await;
}

/// An idle stream does not read the store (before: once a second); an
/// event committed for its handover is pushed to it at once, well before
/// the 20 s safety re-read. `sse_store_reads_total` counts every store read
/// the streams make.
#[tokio::test]
pub(crate) async fn streams_are_woken_by_commits_not_by_a_timer() {
    let host = HostProcess::start(Config::new().endpoint(Endpoint::new("ep", guest("echo")))).await;
    let (_, created) = host.create("ep", "s-1", serde_json::json!({})).await;
    let id = created["handover_id"].as_str().unwrap().to_string();
    let req = host.http.get(host.url(&events_path(&id)));
    let mut stream = SseStream::open(req, Until::Forever).await.unwrap();
    // Let it catch up with what `start` wrote, then watch it idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = host.metric("sse_store_reads_total").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = host.metric("sse_store_reads_total").await - before;
    assert!(
        idle <= 1.0,
        "an idle stream read the store {idle} times in 5 s"
    );

    let sent = Instant::now();
    echo_reaches(&host, &id, &mut stream, &host).await;
    let reads = host.metric("sse_store_reads_total").await - before;
    assert!(
        reads <= 4.0,
        "{reads} reads for one wake-up ({:?})",
        sent.elapsed()
    );
}

/// Two replicas on one PostgreSQL schema: events replica A commits for one
/// handover wake replica B's streams of that handover only (the
/// notification names the handover; before, every notification woke, and
/// had read, every stream of every replica).
#[tokio::test]
pub(crate) async fn another_replicas_commits_wake_only_their_handovers_streams() {
    let Some(schema) = crate::harness::pg::Schema::create("streams").await else {
        return;
    };
    let config = || {
        Config::new()
            .postgres(&schema.url)
            .server(|s| s.watch_adapters = Some(false))
            .endpoint(Endpoint::new("ep", guest("echo")))
    };
    let a = HostProcess::start(config()).await;
    let b = HostProcess::start(config()).await;
    let id = |v: serde_json::Value| v["handover_id"].as_str().unwrap().to_string();
    let watched = id(a.create("ep", "s-1", serde_json::json!({})).await.1);
    let other = id(a.create("ep", "s-2", serde_json::json!({})).await.1);
    let req = b.http.get(b.url(&events_path(&watched)));
    let mut stream = SseStream::open(req, Until::Forever).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = b.metric("sse_store_reads_total").await;
    for i in 0..5 {
        let (status, body) = a.input(&other, "text", &format!("m{i}")).await;
        assert!(status < 300, "{status} {body}");
        // Apart, so the notifications are not coalesced into one.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reads = b.metric("sse_store_reads_total").await - before;
    assert!(
        reads <= 1.0,
        "B's stream of another handover read the store {reads} times"
    );

    echo_reaches(&a, &watched, &mut stream, &b).await;
}
