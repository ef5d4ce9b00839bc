//! The event-id protocol under commits deliberately out of id order: an
//! endpoint stream never skips an event that commits after a higher id was
//! already committed, and never sees one twice (see `watermark`).

use std::sync::Arc;
use std::time::Duration;

use handover_core::store::{EventNotice, EventScope, HandoverRow, Store, StoredEvent};
use handover_store_conformance::{inserted, row, step};

use super::PgFixture;
use crate::{PgStore, step};

/// Apply `step(r, kinds)` in a transaction of its own that has taken its
/// id before `hold` and commits only after it: a transaction with a low id
/// that commits late.
async fn slow_step(
    store: &PgStore,
    r: &HandoverRow,
    kinds: &[&str],
    hold: Duration,
) -> Vec<StoredEvent> {
    let c = store.client().await.unwrap();
    c.batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await
        .unwrap();
    tokio::time::sleep(hold).await;
    let stored = step::write(&c, step(r, kinds), 1_000, false).await.unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_of_a_lower_id_is_not_skipped() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    let mut rx = super::subscribed(&store).await;
    let a = inserted(&dynamic, row("a", "ep", "s1")).await;
    let b = inserted(&dynamic, row("b", "ep", "s2")).await;
    let endpoint = EventScope::Endpoint("ep".into());

    // A takes its transaction id first and holds it open, uncommitted.
    let ca = store.client().await.unwrap();
    ca.batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await
        .unwrap();
    // B commits meanwhile, with a higher id.
    let eb = store.apply(step(&b, &["b1"])).await.unwrap();

    // The endpoint read holds B's event back: A could still commit below it.
    let started = std::time::Instant::now();
    assert_eq!(store.events_after(&endpoint, 0, 100).await.unwrap(), []);
    assert!(
        started.elapsed() >= crate::watermark::HOLD_WAIT,
        "waited for it first"
    );
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    // B's own handover stream is not held back (its steps commit in order).
    let of_b = EventScope::Handover("b".into());
    assert_eq!(store.events_after(&of_b, 0, 10).await.unwrap(), eb);

    // A commits its event: a lower id than B's, committed later.
    let ea = step::write(&ca, step(&a, &["a1"]), 1_000, false)
        .await
        .unwrap();
    ca.batch_execute("COMMIT").await.unwrap();
    assert!(
        ea[0].id < eb[0].id,
        "committed out of id order: {ea:?} {eb:?}"
    );

    // Both are read, A's first, and the held-back read woke the endpoint.
    let read = store.events_after(&endpoint, 0, 100).await.unwrap();
    assert_eq!(read, [ea.clone(), eb.clone()].concat());
    assert_eq!(store.last_event_id().await.unwrap(), eb[0].id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a wake for B's event once it settled")
            .unwrap();
        if n.newest() == eb[0].id
            && matches!(&n, EventNotice::Handover { endpoint, .. } if endpoint == "ep")
        {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_under_shuffled_commits_see_every_event_once_in_order() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    const HANDOVERS: usize = 12;
    const STEPS: usize = 10;
    let stores = [fx.pg(), Arc::new(fx.another_pg(Default::default()).await)];
    for i in 0..HANDOVERS {
        let dynamic: Arc<dyn Store> = stores[0].clone();
        inserted(&dynamic, row(&format!("h{i}"), "ep", &format!("s{i}"))).await;
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = stores[1].clone();
        let done = done.clone();
        tokio::spawn(async move {
            let (mut seen, mut last) = (Vec::new(), 0);
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !(done.load(std::sync::atomic::Ordering::SeqCst)
                && seen.len() == HANDOVERS * STEPS * 2)
                && std::time::Instant::now() < deadline
            {
                let scope = EventScope::Endpoint("ep".into());
                for e in store.events_after(&scope, last, 7).await.unwrap() {
                    last = e.id;
                    seen.push(e.id);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            seen
        })
    };
    // Each writer holds its transaction open a different, varying time
    // after taking its id, so commits land out of id order all the time.
    let mut writers = Vec::new();
    for i in 0..HANDOVERS {
        let store = stores[i % 2].clone();
        writers.push(tokio::spawn(async move {
            let id = format!("h{i}");
            let mut written = Vec::new();
            for s in 0..STEPS {
                let r = store.get_handover(&id).await.unwrap().unwrap();
                let hold = Duration::from_millis(((i * 7 + s * 13) % 23) as u64);
                for e in slow_step(&store, &r, &["x", "y"], hold).await {
                    written.push((e.id, std::time::Instant::now()));
                }
            }
            written
        }));
    }
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();

    // Commits really were out of id order: some event committed after one
    // with a higher id had committed.
    written.sort_by_key(|(_, at)| *at);
    let inversions = written.windows(2).filter(|w| w[1].0 < w[0].0).count();
    assert!(
        inversions > 0,
        "the writers never committed out of id order"
    );
    let mut all: Vec<i64> = written.iter().map(|(id, _)| *id).collect();
    all.sort();
    let missed = all.iter().filter(|id| !seen.contains(id)).count();
    let in_order_once = seen.windows(2).all(|w| w[0] < w[1]);
    assert!(
        seen == all,
        "the stream missed {missed} of {} events (in order, once each: {in_order_once}; \
         {inversions} commits out of id order)",
        all.len()
    );
}
