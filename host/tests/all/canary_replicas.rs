//! Canaries across restarts (SQLite) and replicas (two real binaries on one
//! PostgreSQL schema): the canary resumes with its id, its handovers stay
//! on their versions on every replica, counts add up across processes, and
//! one automatic decision (rollback or promotion) is taken and seen by all.
//!
//! The PostgreSQL tests need `HANDOVER_TEST_PG_URL` (scripts/test sets it):
//! without it they fail unless `HANDOVER_SKIP_PG_TESTS=1` skips them (with a
//! note); an unreachable server fails them.

use crate::canary::{assert_split, doc, each};
use crate::harness::pg::Schema;
use crate::hot_swap::Host;
use crate::openapi::valid;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Generous: two replicas, PostgreSQL and the test share two cores.
const T: Duration = Duration::from_secs(120);

/// Poll `f` until it gives `Some`, at most [`T`].
async fn until<X>(what: &str, mut f: impl AsyncFnMut() -> Option<X>) -> X {
    let t0 = Instant::now();
    loop {
        if let Some(x) = f().await {
            return x;
        }
        assert!(t0.elapsed() < T, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_survives_a_restart_with_its_handovers_and_counts() {
    let mut host = Host::start().await;
    let v = host
        .started("echo-v2", "share_percent=50&promote_after_handovers=1000")
        .await;
    let id = v["canary"]["id"].as_str().unwrap().to_string();
    let h = &host;
    let ids = each((0..30).collect(), |i| h.handover_owned(format!("s-{i}"))).await;
    let before = each(ids.clone(), |id| async move { h.served_by(&id, "a").await }).await;
    let on_v2 = before.iter().filter(|v| *v == "2.0.0").count() as u64;
    // This process's counts reach the store within a loop period.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    host.process.restart().await;
    let state = host.canary_state().await;
    let c = &state["canary"];
    assert_eq!(c["id"], id.as_str(), "the same canary runs: {state}");
    assert_eq!(c["candidate"]["handovers_started"], on_v2, "{state}");
    assert_eq!(c["stable"]["handovers_started"], 30 - on_v2, "{state}");
    let h = &host;
    let after = each(ids.clone(), |id| async move { h.served_by(&id, "b").await }).await;
    assert_eq!(
        before, after,
        "every handover kept its version across the restart"
    );
}

/// Two replicas on a fresh schema, endpoint `ep` on `echo`.
async fn two_replicas(prefix: &str) -> Option<(std::sync::Arc<Schema>, Host, Host)> {
    let schema = Schema::create(prefix).await?;
    let start = || Host::start_with(|c, ep| c.postgres(&schema.url).endpoint(ep));
    let a = start().await;
    let b = start().await;
    Some((schema, a, b))
}

/// Start a canary on `on` and wait until `other` runs it too: its id.
async fn started_on(on: &Host, other: &Host, guest: &str, query: &str) -> String {
    let v = on.started(guest, query).await;
    let id = v["canary"]["id"].as_str().unwrap().to_string();
    until("the other replica to run the canary", async || {
        (running(other).await.as_deref() == Some(id.as_str())).then_some(())
    })
    .await;
    id
}

/// The canary id each replica shows (`None` when none runs).
async fn running(h: &Host) -> Option<String> {
    h.canary_state().await["canary"]["id"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_spans_replicas_with_one_split_and_sticky_handovers() {
    let Some((_schema, a, b)) = two_replicas("canary_split").await else {
        return;
    };
    let canary_id = started_on(
        &a,
        &b,
        "echo-v2",
        "share_percent=20&promote_after_handovers=1000",
    )
    .await;

    // 400 handovers created alternately on each replica; each answers
    // from the same version on both.
    const N: usize = 400;
    let hosts = [&a, &b];
    let ids = each((0..N).collect(), |i| {
        hosts[i % 2].handover_owned(format!("s-{i}"))
    })
    .await;
    let (ra, rb) = (&a, &b);
    let on_a = each(
        ids.clone(),
        |id| async move { ra.served_by(&id, "a").await },
    )
    .await;
    let on_b = each(
        ids.clone(),
        |id| async move { rb.served_by(&id, "b").await },
    )
    .await;
    for ((id, x), y) in ids.iter().zip(&on_a).zip(&on_b) {
        assert_eq!(
            x, y,
            "handover {id} is on different versions on the two replicas"
        );
    }
    assert_split(&canary_id, 20.0, &ids, &on_a);
    let v2 = on_a.iter().filter(|v| *v == "2.0.0").count();

    // Each replica's figures add both replicas' counts.
    let want = v2 as u64;
    until(
        "both replicas to count every candidate handover",
        async || {
            let (x, y) = (a.canary_state().await, b.canary_state().await);
            let n = |s: &Value| s["canary"]["candidate"]["handovers_started"].as_u64();
            (n(&x) == Some(want) && n(&y) == Some(want)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_roll_back_a_failing_candidate_once_and_all_see_it() {
    let Some((_schema, a, b)) = two_replicas("canary_rollback").await else {
        return;
    };
    started_on(&b, &a, "panic", "share_percent=50&min_sample=5").await;

    let hosts = [&a, &b];
    let mut failed = 0;
    let mut n = 0;
    while running(&a).await.is_some() || running(&b).await.is_some() {
        n += 1;
        assert!(n <= 200, "no rollback after 200 handovers");
        let h = hosts[n % 2];
        let hid = h.handover(&format!("s-{n}")).await;
        if h.process.status(&hid).await["status"] == "error" {
            failed += 1;
            // Counts travel between replicas once per loop period: the
            // next handover waits until both replicas count this one.
            until("both replicas to count the failure", async || {
                for r in hosts {
                    let s = r.canary_state().await;
                    let ended = s["canary"]["candidate"]["handovers_ended"].as_u64();
                    if ended.is_some_and(|n| n < failed) {
                        return None;
                    }
                }
                Some(())
            })
            .await;
        }
    }
    assert!(
        (5..=6).contains(&failed),
        "rolled back after {failed} failed handovers; min_sample is 5"
    );
    let (x, y) = (a.canary_state().await, b.canary_state().await);
    for s in [&x, &y] {
        valid(&doc(), "CanaryState", s);
        assert_eq!(s["last"]["result"], "rolled_back", "{s}");
        assert_eq!(s["last"]["by"], "auto", "{s}");
    }
    assert_eq!(x["last"]["reason"], y["last"]["reason"], "one decision");
    let reason = x["last"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("error outcomes: candidate 100.0%"),
        "{reason}"
    );
    for (i, h) in hosts.iter().enumerate() {
        let hid = h.handover(&format!("after-{i}")).await;
        assert_eq!(h.served_by(&hid, "hi").await, "1.0.0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_promote_a_good_candidate_once_and_all_serve_it() {
    let Some((_schema, a, b)) = two_replicas("canary_promote").await else {
        return;
    };
    started_on(
        &a,
        &b,
        "echo-v2",
        "share_percent=50&min_sample=3&promote_after_handovers=6",
    )
    .await;
    let hosts = [&a, &b];
    let mut n = 0;
    while running(&a).await.is_some() || running(&b).await.is_some() {
        n += 1;
        assert!(n <= 300, "not promoted after 300 handovers");
        let h = hosts[n % 2];
        let hid = h.handover(&format!("s-{n}")).await;
        h.close(&hid).await;
        if n % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for (i, h) in hosts.iter().enumerate() {
        let s = h.canary_state().await;
        assert_eq!(s["last"]["result"], "promoted", "{s}");
        let show = h.show().await;
        assert_eq!(show["current"]["version"], "2.0.0", "{show}");
        let hid = h.handover(&format!("after-{i}")).await;
        assert_eq!(h.served_by(&hid, "hi").await, "2.0.0");
    }
}
