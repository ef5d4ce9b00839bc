//! The pipelined step write (`step`): a step dropped while its statements
//! wait on the server leaves no transaction open on a pooled connection,
//! and writes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use handover_core::store::Store;
use handover_store_conformance::{inserted, row, step};

use super::PgFixture;
use crate::step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_step_leaves_no_transaction_open_and_writes_nothing() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    let r = inserted(&dynamic, row("h", "ep", "s")).await;

    // Another session holds the handover's row lock, so the step's row
    // update waits on the server with BEGIN already sent; the caller gives
    // up on the step meanwhile.
    let holder = store.client().await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT 1 FROM handovers WHERE id = 'h' FOR UPDATE")
        .await
        .unwrap();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(500),
        store.apply(step(&r, &["queued"])),
    )
    .await;
    assert!(gave_up.is_err(), "the step waited for the row lock");
    holder.batch_execute("ROLLBACK").await.unwrap();

    // The abandoned step's connection was closed, not pooled inside its
    // transaction: no session of this schema stays idle in a transaction.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open: i64 = holder
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                 AND state LIKE 'idle in transaction%'",
                &[&fx.schema],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        if Instant::now() >= deadline {
            // End them first: they hold the row lock the schema's drop needs.
            holder
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
                    &[&fx.schema],
                )
                .await
                .unwrap();
            panic!("{open} connection(s) of the store left idle in a transaction");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.get_handover("h").await.unwrap().unwrap(), r);
    let of_h = handover_core::store::EventScope::Handover("h".into());
    assert_eq!(store.events_after(&of_h, 0, 10).await.unwrap(), []);

    // The same step then applies, once.
    assert_eq!(store.apply(step(&r, &["queued"])).await.unwrap().len(), 1);
    assert_eq!(store.events_after(&of_h, 0, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_of_one_tenants_handovers_do_not_wait_for_each_other() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    let a = inserted(&dynamic, row("a", "ep", "s1")).await;
    let b = inserted(&dynamic, row("b", "ep", "s2")).await;
    assert_eq!(a.tenant, b.tenant);

    // A step of `a` written and not yet committed ...
    let slow = store.client().await.unwrap();
    step::write(&slow, step(&a, &["queued"]), 1_000, true)
        .await
        .unwrap();
    // ... does not hold up a step of `b`, of the same tenant: no row is
    // shared between their steps (the open count is not touched by a step
    // that leaves a handover open).
    let b_step = tokio::time::timeout(Duration::from_secs(10), store.apply(step(&b, &["queued"])));
    let Ok(b_step) = b_step.await else {
        // Let the fixture drop its schema (a's transaction holds locks).
        slow.batch_execute("ROLLBACK").await.unwrap();
        panic!("the step of b waited for a's uncommitted step");
    };
    assert_eq!(b_step.unwrap().len(), 1);
    slow.batch_execute("COMMIT").await.unwrap();

    // The open count still follows opens and closes exactly.
    assert_eq!(store.count_open_handovers(&a.tenant).await.unwrap(), 2);
    let b = store.get_handover("b").await.unwrap().unwrap();
    let ended = handover_core::store::HandoverRow {
        status: handover_core::store::Status::Cancelled,
        ..b
    };
    store.apply(step(&ended, &["ended"])).await.unwrap();
    assert_eq!(store.count_open_handovers(&a.tenant).await.unwrap(), 1);
}
