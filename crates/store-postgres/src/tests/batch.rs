//! Steps written together (`batch`): a batch numbers each step's events as
//! if it were written alone, and a batch holding a step that would fail
//! alone writes nothing and sends every step one by one, each with its own
//! outcome.

use std::sync::Arc;

use handover_core::store::{Change, EventScope, HandoverRow, Store, StoreError};
use handover_store_conformance::{inserted, row, step};
use tokio::sync::oneshot;

use super::PgFixture;
use crate::batch;

fn with_deliveries(mut c: Change, ids: &[&str]) -> Change {
    c.deliveries = ids.iter().map(|d| d.to_string()).collect();
    c
}

async fn outbox_rows(store: &crate::PgStore, handover: &str) -> i64 {
    let c = store.client().await.unwrap();
    c.query_one(
        "SELECT count(*) FROM outbox WHERE handover_id = $1",
        &[&handover],
    )
    .await
    .unwrap()
    .get(0)
}

async fn three(store: &Arc<crate::PgStore>) -> (HandoverRow, HandoverRow, HandoverRow) {
    let dynamic: Arc<dyn Store> = store.clone();
    let h1 = inserted(&dynamic, row("h1", "ep", "s1")).await;
    let h2 = inserted(&dynamic, row("h2", "ep", "s2")).await;
    let h3 = HandoverRow {
        callback_url: Some("http://127.0.0.1:9/callback".into()),
        ..row("h3", "ep", "s3")
    };
    let h3 = inserted(&dynamic, h3).await;
    (h1, h2, h3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_numbers_each_steps_events_as_if_written_alone() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let (h1, h2, h3) = three(&store).await;
    // h1 has an event already: its next ones continue from seq 2.
    store.apply(step(&h1, &["queued"])).await.unwrap();
    let h1 = store.get_handover("h1").await.unwrap().unwrap();

    let work = vec![
        (with_deliveries(step(&h1, &["a", "b"]), &["d1"]), 2_000),
        (step(&h2, &["c"]), 2_001),
        (
            with_deliveries(step(&h3, &["x", "y"]), &["d3a", "d3b"]),
            2_002,
        ),
    ];
    let stored = batch::write_batch(&store.inner.pool, &work)
        .await
        .unwrap()
        .expect("every step would be written alone: the batch commits");

    let seqs: Vec<Vec<i64>> = stored
        .iter()
        .map(|s| s.iter().map(|e| e.seq).collect())
        .collect();
    assert_eq!(seqs, [vec![2, 3], vec![1], vec![1, 2]]);
    // One transaction: consecutive ids in batch order.
    let ids: Vec<i64> = stored.iter().flatten().map(|e| e.id).collect();
    let first = ids[0];
    assert_eq!(ids, (first..first + 5).collect::<Vec<_>>());
    assert_eq!(stored[2][0].handover_id, "h3");
    assert_eq!(stored[1][0].created_at_ms, 2_001);
    // What is stored is what was answered.
    for (h, s) in [("h1", &stored[0]), ("h2", &stored[1]), ("h3", &stored[2])] {
        let events = store
            .events_after(&EventScope::Handover(h.into()), 0, 10)
            .await
            .unwrap();
        assert!(
            events.ends_with(s),
            "{h}: {events:?} does not end with {s:?}"
        );
    }
    // Versions moved once each; the callback handover's events are in its outbox.
    assert_eq!(
        store.get_handover("h1").await.unwrap().unwrap().version,
        h1.version + 1
    );
    assert_eq!(
        store.get_handover("h3").await.unwrap().unwrap().version,
        h3.version + 1
    );
    assert_eq!(outbox_rows(&store, "h3").await, 2);
    assert_eq!(outbox_rows(&store, "h1").await, 0);
    // The batch's delivery ids were recorded.
    let h2 = store.get_handover("h2").await.unwrap().unwrap();
    let again = store
        .apply(with_deliveries(step(&h2, &["z"]), &["d3b"]))
        .await;
    assert!(
        matches!(&again, Err(StoreError::Duplicate(d)) if d == "d3b"),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_would_fail_alone_sends_its_batch_one_by_one() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let (h1, h2, h3) = three(&store).await;
    // h3's delivery id is seen before; h2 is read, then moved by another step.
    store
        .apply(with_deliveries(step(&h3, &["queued"]), &["seen"]))
        .await
        .unwrap();
    let h3 = store.get_handover("h3").await.unwrap().unwrap();
    store.apply(step(&h2, &["queued"])).await.unwrap();
    let stale = h2;

    let work = || {
        vec![
            (with_deliveries(step(&h1, &["a"]), &["new"]), 2_000),
            (step(&stale, &["b"]), 2_000),
            (with_deliveries(step(&h3, &["c"]), &["seen"]), 2_000),
        ]
    };
    // Together: nothing is written, not even the good step's delivery id.
    let together = batch::write_batch(&store.inner.pool, &work())
        .await
        .unwrap();
    assert!(together.is_none(), "{together:?}");
    let h1_events = EventScope::Handover("h1".into());
    assert_eq!(store.events_after(&h1_events, 0, 10).await.unwrap(), []);

    // Through the writer: the batch falls back, each step gets its own outcome.
    let mut answers = vec![];
    let jobs: Vec<_> = work()
        .into_iter()
        .map(|(change, now_ms)| {
            let (answer, rx) = oneshot::channel();
            answers.push(rx);
            batch::Job {
                change,
                now_ms,
                answer,
            }
        })
        .collect();
    batch::write_jobs(&store.inner.pool, jobs).await;
    let mut outcomes = vec![];
    for rx in answers {
        outcomes.push(rx.await.unwrap());
    }
    assert_eq!(outcomes[0].as_ref().unwrap().len(), 1, "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], Err(StoreError::Conflict(id)) if id == "h2"),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[2], Err(StoreError::Duplicate(d)) if d == "seen"),
        "{outcomes:?}"
    );
    assert_eq!(
        store.events_after(&h1_events, 0, 10).await.unwrap().len(),
        1
    );
}

/// Through the store: steps applied at once, more than there are writers,
/// all land with their own numbering (whether or not they met in a batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_applied_at_once_each_land_once() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    let mut rows = vec![];
    for i in 0..24 {
        rows.push(inserted(&dynamic, row(&format!("h{i}"), "ep", &format!("s{i}"))).await);
    }
    let applied = futures::future::join_all(rows.iter().enumerate().map(|(i, r)| {
        let change = with_deliveries(step(r, &["a", "b"]), &[&format!("d{i}")]);
        store.apply(change)
    }))
    .await;
    let mut ids = vec![];
    for (i, a) in applied.into_iter().enumerate() {
        let stored = a.unwrap();
        assert_eq!(
            stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2],
            "h{i}"
        );
        ids.extend(stored.iter().map(|e| e.id));
        let events = store
            .events_after(&EventScope::Handover(format!("h{i}")), 0, 10)
            .await
            .unwrap();
        assert_eq!(events, stored);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 48);
}
