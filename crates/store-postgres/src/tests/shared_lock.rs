//! Steps that ran without the shared handover lock
//! (`Change::without_shared_lock`, the inline webhook step): refused, with
//! nothing written, while another process holds the handover's lock for a
//! step of its own, alone or in a batch; written once it is free; and while
//! such a step's transaction is open, a process taking the lock waits for
//! its commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use handover_core::store::{Change, EventScope, HandoverRow, Store, StoreError};
use handover_store_conformance::{inserted, row, step};

use super::PgFixture;
use crate::{PgOptions, batch, step as pg_step};

/// `step(row, events)` with delivery `delivery`, run without the shared lock.
fn unlocked(row: &HandoverRow, events: &[&str], delivery: &str) -> Change {
    Change {
        deliveries: vec![delivery.into()],
        without_shared_lock: true,
        ..step(row, events)
    }
}

async fn events_of(store: &crate::PgStore, id: &str) -> usize {
    store
        .events_after(&EventScope::Handover(id.into()), 0, 10)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlocked_step_is_refused_while_another_process_holds_the_lock() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let a = fx.pg();
    let b = fx.another_pg(PgOptions::default()).await;
    let dynamic: Arc<dyn Store> = a.clone();
    let h = inserted(&dynamic, row("h", "ep", "s1")).await;
    let other = inserted(&dynamic, row("o", "ep", "s2")).await;

    // Replica b is in the middle of a locked step of h (a timer, say).
    let held = b.lock_handover("h").await.unwrap();
    let refused = a.apply(unlocked(&h, &["agent_message"], "d1")).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(id)) if id == "h"),
        "{refused:?}"
    );
    // In a batch, with a step of another handover: the batch writes nothing.
    let work = [
        (unlocked(&other, &["agent_message"], "d2"), 1_000),
        (unlocked(&h, &["agent_message"], "d1"), 1_000),
    ];
    let together = batch::write_batch(&a.inner.pool, &work).await.unwrap();
    assert!(together.is_none(), "{together:?}");
    assert_eq!(events_of(&a, "h").await, 0);
    assert_eq!(events_of(&a, "o").await, 0);
    assert_eq!(
        a.get_handover("h").await.unwrap().unwrap().version,
        h.version
    );

    // The holder's own step (locked: the flag unset) is written meanwhile.
    let own = b.apply(step(&h, &["timer_fired"])).await.unwrap();
    assert_eq!(own.len(), 1);
    let h = a.get_handover("h").await.unwrap().unwrap();

    // Once the lock is let go (its unlock runs in the background), the same
    // delivery id is new still: nothing of the refused step was recorded.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    let written = loop {
        match a.apply(unlocked(&h, &["agent_message"], "d1")).await {
            Err(StoreError::Conflict(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    assert_eq!(written.unwrap()[0].seq, 2);
    let stored = batch::write_batch(&a.inner.pool, &work[..1]).await.unwrap();
    assert_eq!(stored.expect("nothing holds o's lock")[0].len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_taking_the_lock_waits_for_an_unlocked_step_in_flight() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let a = fx.pg();
    let b = Arc::new(fx.another_pg(PgOptions::default()).await);
    let dynamic: Arc<dyn Store> = a.clone();
    let h = inserted(&dynamic, row("h", "ep", "s1")).await;

    // An unlocked step of h written and not yet committed ...
    let slow = a.client().await.unwrap();
    pg_step::write(&slow, unlocked(&h, &["agent_message"], "d1"), 1_000, true)
        .await
        .unwrap();
    // ... keeps replica b from starting a locked step of h until it commits,
    // so b then reads the row this step wrote.
    let locking = {
        let b = b.clone();
        tokio::spawn(async move { b.lock_handover("h").await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waited = !locking.is_finished();
    slow.batch_execute("COMMIT").await.unwrap();
    assert!(waited, "b took h's lock while a step of h was uncommitted");
    tokio::time::timeout(Duration::from_secs(30), locking)
        .await
        .expect("the lock is b's once the step committed")
        .unwrap()
        .unwrap();
    assert_eq!(events_of(&a, "h").await, 1);
}
