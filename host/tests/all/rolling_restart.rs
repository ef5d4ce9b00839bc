//! Rolling restart of three replicas under load: each in turn gets SIGTERM
//! (it goes unready, finishes what is in flight, ends its event streams
//! with a retry hint, exits) and starts again, while bots, the provider
//! and event streams keep going.
//!
//! The test plays a load balancer that routes by `/readyz` (polled every
//! 50 ms): a draining replica leaves the rotation when it turns unready,
//! and keeps accepting for `drain_unready_ms` so no request meets a closed
//! port. A bot call is retried elsewhere only if its connection failed;
//! any 5xx answer, to a bot or to a provider webhook, fails the test.
//! Needs `HANDOVER_TEST_PG_URL` (fails without it unless
//! `HANDOVER_SKIP_PG_TESTS=1` skips it on purpose).

use crate::replicas::{Cluster, TwoProviders};
use axum::http::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);
const HANDOVERS: usize = 90;
const NO_AGENT: usize = 15;
const AGENT_MESSAGES: usize = 3;
const USER_MESSAGES: usize = 3;

/// The load balancer's health checks: a replica is in the rotation while
/// its `/readyz` answers 200.
fn route_by_readiness(cluster: &Cluster) -> tokio::task::JoinHandle<()> {
    let c = cluster.clone();
    tokio::spawn(async move {
        loop {
            for k in 0..c.n() {
                let ready = c
                    .http
                    .get(format!("{}/readyz", c.bases[k]))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                c.alive[k].store(ready, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_restart_in_turn_under_load_and_lose_nothing() {
    let Some(setup) = TwoProviders::new("rolling", 10).await else {
        return;
    };
    let (mut replicas, cluster, _forwarder) = setup
        .three(|c| {
            c.server.drain_unready_ms = Some(300);
            c.server.shutdown_grace_s = Some(60);
        })
        .await;
    let lb = route_by_readiness(&cluster);

    let mut created = vec![];
    for i in 0..HANDOVERS {
        let ep = if i < NO_AGENT { "noagent" } else { "ep" };
        let k = i % 3;
        created.push((k, cluster.create(k, ep, &format!("s-{i}")).await.1));
    }
    let streams = cluster.follow_all(&created);

    // Bot input latency, by whether a restart was under way.
    let restarting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let latencies: Arc<Mutex<[Vec<Duration>; 2]>> = Arc::default();
    let t0 = Instant::now();
    let mut convs = vec![];
    for (i, (_, id)) in created.iter().enumerate().skip(NO_AGENT) {
        let (c, sim, id) = (cluster.clone(), setup.sim_a.clone(), id.clone());
        let (restarting, latencies) = (restarting.clone(), latencies.clone());
        convs.push(tokio::spawn(async move {
            let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
            // Spread over the restarts.
            tokio::time::sleep(Duration::from_millis((i as u64 * 173) % 9_000)).await;
            sim.agent_join(&conv, "a-1", "Alex").await;
            c.wait_status(&id, "active").await;
            let mut sent = vec![];
            for m in 0..AGENT_MESSAGES.max(USER_MESSAGES) {
                if m < AGENT_MESSAGES {
                    sim.agent_message(&conv, &format!("{id}: agent {m}")).await;
                }
                if m < USER_MESSAGES {
                    let text = format!("{id}: user {m}");
                    let during = restarting.load(Ordering::SeqCst);
                    let t = Instant::now();
                    let (code, r) = c
                        .call(
                            c.round_robin(),
                            Method::POST,
                            &format!("/v1/handovers/{id}/input"),
                            Some(json!({"kind": "text", "text": text})),
                        )
                        .await;
                    latencies.lock().unwrap()[usize::from(during)].push(t.elapsed());
                    assert_eq!(
                        (code, r["result"].as_str()),
                        (200, Some("forwarded")),
                        "{r}"
                    );
                    sent.push(text);
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            sim.end(&conv, "agent_closed").await;
            (id, conv, sent)
        }));
    }

    // Restart each replica in turn while the conversations run.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    restarting.store(true, Ordering::SeqCst);
    for (k, replica) in replicas.iter_mut().enumerate() {
        let drained = replica.process.terminate(Duration::from_secs(90)).await;
        assert!(
            !cluster.alive[k].load(Ordering::SeqCst),
            "replica {k} exited while the load balancer still routed to it"
        );
        let log = replica.process.log();
        assert!(
            log.contains("drained"),
            "replica {k} did not report a clean drain:\n{log}"
        );
        eprintln!(
            "replica {k}: drained and exited in {drained:?} (at {:?})",
            t0.elapsed()
        );
        replica.process.spawn().await;
        // Back in the rotation (its /readyz answers) and serving a while
        // before the next goes.
        let deadline = Instant::now() + T;
        while !cluster.alive[k].load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "replica {k} never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    restarting.store(false, Ordering::SeqCst);
    eprintln!("rolling restart done at {:?}", t0.elapsed());

    let mut conversations = HashMap::new();
    for c in convs {
        let (id, conv, sent) = c.await.unwrap();
        conversations.insert(id, (conv, sent));
    }
    cluster.all_final(&created, NO_AGENT).await;

    // Every stream: every event once, in order, the same as a full read.
    let mut resumed = 0;
    for (i, s) in streams.into_iter().enumerate() {
        let (events, connections) = s.await.unwrap();
        let id = &created[i].1;
        resumed += usize::from(connections > 1);
        cluster.same_as_full_read(id, &events).await;
        if i >= NO_AGENT {
            let (conv, sent) = &conversations[id];
            let received = setup.agent_side(id, conv, &events, AGENT_MESSAGES);
            assert_eq!(
                &received, sent,
                "{id}: each user message reached the provider once"
            );
        }
    }
    eprintln!("{resumed} streams resumed on another replica after a drain");
    assert!(resumed > 0, "no stream was on a restarted replica");

    // Nothing failed, nothing ran twice: a draining replica finishes its
    // timers instead of leaving them to be fired again.
    assert_eq!(
        cluster.server_errors.load(Ordering::SeqCst),
        0,
        "a bot call or a webhook got a 5xx during the rolling restart"
    );
    setup.one_ended_each(HANDOVERS).await;
    let fired = setup.cancels();
    // One cancel per conversation the no-agent provider opened (under
    // load a timer may end a handover before its start ran: see
    // `replicas::three_replicas_lose_nothing_when_one_is_killed`).
    let opened = setup.starts_at_b();
    assert!(
        (1..=NO_AGENT).contains(&opened),
        "{opened} starts at B for {NO_AGENT} handovers"
    );
    assert_eq!(fired.len(), opened, "{opened} opened, cancels: {fired:?}");
    assert!(
        fired.values().all(|n| *n == 1),
        "a timer fired twice: {fired:?}"
    );
    assert_eq!(setup.starts(), HANDOVERS - NO_AGENT, "a start ran twice");

    let mut l = std::mem::take(&mut *latencies.lock().unwrap());
    for (v, what) in l.iter_mut().zip(["steady", "during the restarts"]) {
        v.sort();
        if !v.is_empty() {
            eprintln!(
                "bot input {what}: {} calls, p50 {:?} p99 {:?} max {:?}",
                v.len(),
                percentile(v, 0.5),
                percentile(v, 0.99),
                v.last().unwrap()
            );
        }
    }
    assert!(!l[1].is_empty(), "no bot call was made during the restarts");
    lb.abort();
    drop(replicas);
}
