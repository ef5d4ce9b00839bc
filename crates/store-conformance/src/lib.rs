//! Backend-generic store tests: every [`Store`] implementation must pass
//! each of these (the SQLite and PostgreSQL test modules run them all
//! through [`conformance_tests!`]).
//!
//! Owns: the behaviour the engine relies on, stated once. Must never:
//! reach into a backend (anything backend-specific goes through
//! [`Fixture`]) or depend on wall-clock timing beyond "now".

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use handover_core::store::{
    Change, EventScope, HandoverRow, Insert, NewEvent, OutboxItem, Retention, Share, Status, Store,
    StoreError, StoredEvent,
};

/// One test's private database, as a backend provides it.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
    /// Another store on the same data, as another process (replica) would
    /// open it (for SQLite: the same file; for PostgreSQL: the same schema).
    async fn another(&self) -> Arc<dyn Store>;
    /// Drop every claim lease (PostgreSQL's `due_*` claim what they return),
    /// so the next `due_*` call sees everything due, as SQLite always does.
    async fn expire_claims(&self);
}

/// `#[tokio::test]`s that run the named conformance tests with the fixture
/// made by `$make` (an async fn returning `Option<Box<dyn Fixture>>`;
/// `None` skips, e.g. when no test server is configured).
#[macro_export]
macro_rules! conformance_tests {
    ($make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(fx) = $make().await else { return };
                handover_store_conformance::$name(&*fx).await;
            }
        )*
    };
}

/// Every conformance test, for `conformance_tests!(make; all...)` callers.
#[macro_export]
macro_rules! all_conformance_tests {
    ($make:path) => {
        handover_store_conformance::conformance_tests!($make;
            insert_round_trips_every_column,
            insert_open_exists_and_idempotent_replay,
            concurrent_inserts_of_one_session_insert_once,
            concurrent_inserts_with_one_idempotency_key_insert_once,
            open_handover_quota_is_exact_across_stores,
            apply_bumps_version_and_refuses_stale_rows,
            a_step_keeps_the_stored_create_request,
            apply_refuses_unknown_rows_identity_changes_and_rowless_events,
            reopening_a_session_while_another_is_open_is_refused,
            event_ids_increase_globally_and_seq_counts_per_handover,
            event_ids_become_visible_in_order_under_concurrent_writers,
            outbox_rows_only_with_callback_and_in_order_per_handover,
            webhooks_are_deduplicated_by_delivery_id,
            concurrent_duplicate_webhooks_are_stored_once,
            a_webhook_is_a_duplicate_if_any_of_its_ids_was_seen,
            a_step_can_record_its_webhook_delivery,
            correlation_keys_bind_and_rebind_within_an_endpoint,
            due_timers_and_polls_pick_open_handovers_by_earliest_deadline,
            due_work_is_shared_between_tenants,
            prune_deletes_only_what_retention_allows,
            list_handovers_newest_first_with_filters,
            abandoned_starts_are_old_requested_handovers_oldest_first,
            everything_survives_reopening,
            migrations_are_applied_once,
            adapter_versions_are_recorded_per_endpoint,
            stale_writers_across_stores_conflict,
            canaries_begin_and_end_once_and_share_counts,
            recordings_keep_the_newest_handovers_in_order,
        );
    };
}

mod canary;
mod pg;
pub use canary::*;
pub use pg::pg_base_url;

type S = Arc<dyn Store>;

pub fn row(id: &str, endpoint: &str, session: &str) -> HandoverRow {
    let request = json!({"conversation": {"id": session}, "messages": []});
    HandoverRow {
        provider_state: vec![1, 2, 3, 0, 255],
        ..HandoverRow::requested(id, endpoint, "acme", session, request, 1_000)
    }
}

pub fn ev(kind: &str) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        payload: json!({"type": kind}),
    }
}

pub fn step(row: &HandoverRow, events: &[&str]) -> Change {
    Change {
        row: Some(row.clone()),
        events: events.iter().map(|k| ev(k)).collect(),
        ..Change::default()
    }
}

pub async fn inserted(store: &S, r: HandoverRow) -> HandoverRow {
    inserted_within(store, r, None).await
}

async fn inserted_within(store: &S, r: HandoverRow, limit: Option<u64>) -> HandoverRow {
    match store.insert_handover(r, limit).await.unwrap() {
        Insert::Inserted(r) => r,
        other => panic!("expected Inserted, got {other:?}"),
    }
}

/// Apply `change` and return the row as now stored.
pub async fn apply_ok(store: &S, change: Change) -> HandoverRow {
    let id = change.row.as_ref().unwrap().id.clone();
    store.apply(change).await.unwrap();
    store.get_handover(&id).await.unwrap().unwrap()
}

/// `store`, after dropping every claim lease: its `due_*` queries then
/// answer as SQLite's do (everything due, no claims).
async fn unclaimed<'a>(fx: &dyn Fixture, store: &'a S) -> &'a S {
    fx.expire_claims().await;
    store
}

/// The deliveries due at `now_ms`, unclaimed (see [`unclaimed`]).
async fn due_outbox(fx: &dyn Fixture, store: &S, now_ms: i64, limit: u32) -> Vec<OutboxItem> {
    shared_outbox(fx, store, now_ms, limit, &Share::ALL).await
}

async fn shared_outbox(
    fx: &dyn Fixture,
    store: &S,
    now_ms: i64,
    limit: u32,
    share: &Share<'_>,
) -> Vec<OutboxItem> {
    unclaimed(fx, store)
        .await
        .due_outbox(now_ms, limit, share)
        .await
        .unwrap()
}

/// Apply a step of `row` that only binds correlation `keys`.
async fn bind(store: &S, row: &HandoverRow, keys: &[&str]) {
    store
        .apply(Change {
            row: Some(row.clone()),
            correlation_keys: keys.iter().map(|k| k.to_string()).collect(),
            ..Change::default()
        })
        .await
        .unwrap();
}

/// The handover `key` is bound to on `endpoint`, if any.
async fn bound(store: &S, endpoint: &str, key: &str) -> Option<String> {
    store.find_by_correlation(endpoint, key).await.unwrap()
}

/// `store` for even `i`, `other` for odd: work spread over two processes.
fn alternate(i: usize, store: &S, other: &S) -> S {
    if i.is_multiple_of(2) { store } else { other }.clone()
}

/// `Store::accept_webhook`, which must succeed.
async fn accept(
    store: &S,
    endpoint_id: &str,
    delivery_id: Option<&str>,
    handover_ids: &[String],
    request: serde_json::Value,
) -> Option<Vec<i64>> {
    let ids: Vec<String> = delivery_id.map(String::from).into_iter().collect();
    store
        .accept_webhook(endpoint_id, &ids, handover_ids, request)
        .await
        .unwrap()
}

/// Every event of handover `id` (at most 100), in order.
async fn events_of(store: &S, id: &str) -> Vec<StoredEvent> {
    store
        .events_after(&EventScope::Handover(id.into()), 0, 100)
        .await
        .unwrap()
}

/// The kinds of [`events_of`] `id`.
async fn kinds(store: &S, id: &str) -> Vec<String> {
    events_of(store, id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The ids of handover `id`'s unprocessed inbox items, oldest first.
async fn pending_ids(store: &S, id: &str) -> Vec<i64> {
    let pending = store.pending_inbox(id).await.unwrap();
    pending.iter().map(|i| i.id).collect()
}

/// The ids of `rows`, in order.
fn ids(rows: Vec<HandoverRow>) -> Vec<String> {
    rows.into_iter().map(|r| r.id).collect()
}

pub async fn insert_round_trips_every_column(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = row("h1", "ep", "s1");
    r.idempotency_key = Some("k".into());
    r.status = Status::Active;
    r.error_reason = Some("unsupported".into());
    r.error_message = Some("msg".into());
    r.end_reason = Some("agent".into());
    r.queue_position = Some(u32::MAX);
    r.estimated_wait_seconds = Some(30);
    r.agent = Some(json!({"id": "a1", "name": "Ann"}));
    r.callback_url = Some("https://bot.example/cb".into());
    r.agent_joined_at_ms = Some(2);
    r.ended_at_ms = Some(3);
    r.no_agent_deadline_ms = Some(4);
    r.inactivity_warn_at_ms = Some(5);
    r.inactivity_end_at_ms = Some(6);
    r.next_poll_at_ms = Some(7);
    r.poll_failures = 9;
    r.version = 0;
    assert_eq!(inserted(&store, r.clone()).await, r);
    assert_eq!(store.get_handover("h1").await.unwrap(), Some(r));
    assert_eq!(store.get_handover("nope").await.unwrap(), None);
}

pub async fn insert_open_exists_and_idempotent_replay(fx: &dyn Fixture) {
    let store = fx.store();
    let mut first = row("h1", "ep", "s1");
    first.idempotency_key = Some("k1".into());
    inserted(&store, first.clone()).await;

    // Same session, other key: the open handover wins.
    let mut second = row("h2", "ep", "s1");
    second.idempotency_key = Some("k2".into());
    assert_eq!(
        store.insert_handover(second.clone(), None).await.unwrap(),
        Insert::OpenExists(first.clone())
    );

    // Same key (any session): replay, even before the open check.
    let mut replay = row("h3", "ep", "s-other");
    replay.idempotency_key = Some("k1".into());
    assert_eq!(
        store.insert_handover(replay, None).await.unwrap(),
        Insert::IdempotentReplay(first.clone())
    );

    // Same session and key on another endpoint: independent.
    let mut elsewhere = row("h4", "ep2", "s1");
    elsewhere.idempotency_key = Some("k1".into());
    inserted(&store, elsewhere).await;

    // Once closed, the session may open again, but the key still replays.
    let mut closed = first.clone();
    closed.status = Status::Completed;
    let closed = apply_ok(&store, step(&closed, &["ended"])).await;
    inserted(&store, second).await;
    let mut replay_closed = row("h5", "ep", "s9");
    replay_closed.idempotency_key = Some("k1".into());
    assert_eq!(
        store.insert_handover(replay_closed, None).await.unwrap(),
        Insert::IdempotentReplay(closed)
    );

    // A duplicate id on a new session is an error, not a silent success.
    let err = store
        .insert_handover(row("h1", "ep", "s-new"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

pub async fn concurrent_inserts_of_one_session_insert_once(fx: &dyn Fixture) {
    let store = fx.store();
    // A second store on the same file behaves like another process.
    let other = fx.another().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = alternate(i, &store, &other);
        tasks.push(tokio::spawn(async move {
            s.insert_handover(row(&format!("h{i}"), "ep", "s"), None)
                .await
        }));
    }
    let mut inserted = 0;
    let mut open_exists = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Insert::Inserted(_) => inserted += 1,
            Insert::OpenExists(_) => open_exists += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((inserted, open_exists), (1, 19));
    assert_eq!(
        store
            .list_handovers(Some("ep"), false, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// The `open_handovers` quota is checked with the insert: concurrent
/// creates through two stores on the same data (two replicas) never
/// overshoot it, the count follows every status change, and it is kept
/// per tenant. A create of a session that is already open is answered with
/// that handover even at the limit.
pub async fn open_handover_quota_is_exact_across_stores(fx: &dyn Fixture) {
    let store = fx.store();
    let other = fx.another().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = alternate(i, &store, &other);
        let r = row(&format!("h{i}"), "ep", &format!("s{i}"));
        tasks.push(tokio::spawn(async move {
            s.insert_handover(r, Some(7)).await.unwrap()
        }));
    }
    let (mut inserted, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            Insert::Inserted(r) => inserted.push(r),
            Insert::OverQuota { open } => {
                assert_eq!(open, 7, "refused with the count at the limit");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((inserted.len(), refused), (7, 33));
    for s in [&store, &other] {
        assert_eq!(s.count_open_handovers("acme").await.unwrap(), 7);
        assert_eq!(s.count_open_handovers("globex").await.unwrap(), 0);
    }

    // An open session is answered, not refused, at the limit.
    let again = row("h-again", "ep", &inserted[0].session_id);
    assert!(matches!(
        store.insert_handover(again, Some(7)).await.unwrap(),
        Insert::OpenExists(_)
    ));
    // Queued and active count as open; ended ones leave the count.
    let mut queued = inserted[0].clone();
    queued.status = Status::Queued;
    let queued = apply_ok(&store, step(&queued, &["queued"])).await;
    assert_eq!(store.count_open_handovers("acme").await.unwrap(), 7);
    for (r, status) in [
        (queued, Status::Completed),
        (inserted[1].clone(), Status::Error),
    ] {
        let mut ended = r;
        ended.status = status;
        apply_ok(&other, step(&ended, &["ended"])).await;
    }
    assert_eq!(store.count_open_handovers("acme").await.unwrap(), 5);
    assert!(matches!(
        store
            .insert_handover(row("h-next", "ep", "s-next"), Some(7))
            .await
            .unwrap(),
        Insert::Inserted(_)
    ));
    // Another tenant has its own count.
    let globex = HandoverRow {
        tenant: "globex".into(),
        ..row("h-globex", "ep2", "s1")
    };
    inserted_within(&store, globex, Some(1)).await;
    assert_eq!(other.count_open_handovers("globex").await.unwrap(), 1);
    assert_eq!(other.count_open_handovers("acme").await.unwrap(), 6);
}

pub async fn concurrent_inserts_with_one_idempotency_key_insert_once(fx: &dyn Fixture) {
    let store = fx.store();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        let mut r = row(&format!("h{i}"), "ep", &format!("s{i}"));
        r.idempotency_key = Some("same".into());
        tasks.push(tokio::spawn(async move {
            s.insert_handover(r, None).await.unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Insert::Inserted(_)))
            .count(),
        1
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Insert::IdempotentReplay(_)))
            .count(),
        19
    );
}

pub async fn apply_bumps_version_and_refuses_stale_rows(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = row("h1", "ep", "s1");
    r.callback_url = Some("https://bot/cb".into());
    inserted(&store, r.clone()).await;
    let webhook = accept(&store, "ep", Some("d1"), &["h1".into()], json!({}))
        .await
        .unwrap();

    let mut next = r.clone();
    next.status = Status::Queued;
    next.queue_position = Some(3);
    let stored = apply_ok(&store, step(&next, &["queued"])).await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, Status::Queued);
    assert_eq!(stored.queue_position, Some(3));

    // The step that cancels `from`: an event, a key and the webhook consumed.
    let cancel = |from: &HandoverRow| Change {
        row: Some(HandoverRow {
            status: Status::Cancelled,
            ..from.clone()
        }),
        events: vec![ev("ended")],
        correlation_keys: vec!["conv-1".into()],
        inbox_done: webhook.clone(),
        ..Change::default()
    };

    // A writer still holding version 0 loses, and writes nothing at all.
    let err = store.apply(cancel(&r)).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(id) if id == "h1"),
        "{err:?}"
    );
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap(), stored);
    assert_eq!(kinds(&store, "h1").await, ["queued"]);
    assert_eq!(bound(&store, "ep", "conv-1").await, None);
    assert_eq!(store.pending_inbox("h1").await.unwrap().len(), 1);
    assert_eq!(due_outbox(fx, &store, i64::MAX, 100).await.len(), 1);

    // With the current version it goes through.
    assert_eq!(store.apply(cancel(&stored)).await.unwrap().len(), 1);
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap().version, 2);
    assert_eq!(bound(&store, "ep", "conv-1").await.as_deref(), Some("h1"));
    assert!(store.pending_inbox("h1").await.unwrap().is_empty());
}

/// A step's row comes without the create request (the engine does not
/// copy it for every step): the stored request is kept, whatever the row
/// says.
pub async fn a_step_keeps_the_stored_create_request(fx: &dyn Fixture) {
    let store = fx.store();
    let r = inserted(&store, row("h1", "ep", "s1")).await;
    let bare = HandoverRow {
        request: serde_json::Value::Null,
        status: Status::Queued,
        ..r.clone()
    };
    let stored = apply_ok(&store, step(&bare, &["queued"])).await;
    assert_eq!(stored.status, Status::Queued);
    assert_eq!(stored.request, r.request);
    let other = HandoverRow {
        request: json!({"conversation": {"id": "elsewhere"}}),
        ..stored.clone()
    };
    assert_eq!(apply_ok(&store, step(&other, &[])).await.request, r.request);
}

pub async fn apply_refuses_unknown_rows_identity_changes_and_rowless_events(fx: &dyn Fixture) {
    let store = fx.store();
    let err = store
        .apply(step(&row("ghost", "ep", "s"), &["queued"]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let r = inserted(&store, row("h1", "ep", "s1")).await;
    let mut moved = r.clone();
    moved.endpoint_id = "other".into();
    let err = store.apply(step(&moved, &["queued"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");

    let rowless = Change {
        events: vec![ev("queued")],
        ..Change::default()
    };
    assert!(matches!(
        store.apply(rowless).await.unwrap_err(),
        StoreError::Backend { .. }
    ));
    let rowless = Change {
        correlation_keys: vec!["k".into()],
        ..Change::default()
    };
    assert!(matches!(
        store.apply(rowless).await.unwrap_err(),
        StoreError::Backend { .. }
    ));

    // Nothing of the refused changes landed.
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap(), r);
    assert_eq!(store.last_event_id().await.unwrap(), 0);

    // Without a row, a change may still consume inbox items.
    let ids = accept(&store, "ep", None, &["h1".into()], json!({}))
        .await
        .unwrap();
    store
        .apply(Change {
            inbox_done: ids,
            ..Change::default()
        })
        .await
        .unwrap();
    assert!(store.pending_inbox("h1").await.unwrap().is_empty());
}

pub async fn reopening_a_session_while_another_is_open_is_refused(fx: &dyn Fixture) {
    let store = fx.store();
    let mut a = inserted(&store, row("a", "ep", "s")).await;
    a.status = Status::Completed;
    let mut a = apply_ok(&store, step(&a, &[])).await;
    inserted(&store, row("b", "ep", "s")).await;
    a.status = Status::Active;
    let err = store.apply(step(&a, &["reopened"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert_eq!(store.last_event_id().await.unwrap(), 0);
}

pub async fn event_ids_increase_globally_and_seq_counts_per_handover(fx: &dyn Fixture) {
    let store = fx.store();
    let a = inserted(&store, row("a", "ep1", "s1")).await;
    let b = inserted(&store, row("b", "ep2", "s2")).await;
    assert_eq!(store.last_event_id().await.unwrap(), 0);

    let ea = store
        .apply(step(&a, &["queued", "agent_joined"]))
        .await
        .unwrap();
    let mut b1 = b.clone();
    let eb = store.apply(step(&b1, &["queued"])).await.unwrap();
    b1.version += 1;
    let a1 = HandoverRow {
        version: 1,
        ..a.clone()
    };
    let ea2 = store.apply(step(&a1, &["agent_message"])).await.unwrap();
    let eb2 = store
        .apply(step(&b1, &["agent_message", "ended"]))
        .await
        .unwrap();

    let all: Vec<_> = [ea, eb, ea2, eb2].concat();
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for handover in ["a", "b"] {
        let seqs: Vec<i64> = all
            .iter()
            .filter(|e| e.handover_id == handover)
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3], "handover {handover}");
    }
    assert!(
        all.iter()
            .all(|e| e.endpoint_id == if e.handover_id == "a" { "ep1" } else { "ep2" })
    );
    assert_eq!(all[1].payload, json!({"type": "agent_joined"}));
    assert_eq!(store.last_event_id().await.unwrap(), *ids.last().unwrap());

    let by_handover = events_of(&store, "a").await;
    assert_eq!(
        by_handover,
        all.iter()
            .filter(|e| e.handover_id == "a")
            .cloned()
            .collect::<Vec<_>>()
    );
    let by_endpoint = store
        .events_after(&EventScope::Endpoint("ep2".into()), ids[2], 100)
        .await
        .unwrap();
    assert_eq!(
        by_endpoint
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        ["agent_message", "ended"]
    );
    let limited = store
        .events_after(&EventScope::Endpoint("ep2".into()), 0, 2)
        .await
        .unwrap();
    assert_eq!(limited.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(
        store
            .events_after(&EventScope::Endpoint("ep3".into()), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn outbox_rows_only_with_callback_and_in_order_per_handover(fx: &dyn Fixture) {
    let store = fx.store();
    let silent = inserted(&store, row("silent", "ep", "s0")).await;
    store
        .apply(step(&silent, &["queued", "ended"]))
        .await
        .unwrap();
    assert!(due_outbox(fx, &store, i64::MAX, 100).await.is_empty());

    let mut a = row("a", "ep", "s1");
    a.callback_url = Some("https://bot/a".into());
    let a = inserted(&store, a).await;
    let mut b = row("b", "ep", "s2");
    b.callback_url = Some("https://bot/b".into());
    let b = inserted(&store, b).await;
    let ea = store
        .apply(step(&a, &["queued", "agent_joined", "agent_message"]))
        .await
        .unwrap();
    let eb = store.apply(step(&b, &["queued"])).await.unwrap();

    let due = due_outbox(fx, &store, i64::MAX, 100).await;
    assert_eq!(due.len(), 2, "{due:?}");
    let due_a = due.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(
        (due_a.event_id, due_a.url.as_str(), due_a.attempts),
        (ea[0].id, "https://bot/a", 0)
    );
    let due_b = due.iter().find(|o| o.handover_id == "b").unwrap();
    assert_eq!(due_b.event_id, eb[0].id);
    // Not due before `now` at the time of the write.
    assert!(due_outbox(fx, &store, 0, 100).await.is_empty());
    assert_eq!(due_outbox(fx, &store, i64::MAX, 1).await.len(), 1);

    // The oldest backs off: nothing newer of `a` overtakes it.
    let a0 = due_a.id;
    store
        .outbox_retry(a0, 1, i64::MAX - 1, "HTTP 503")
        .await
        .unwrap();
    let due = due_outbox(fx, &store, i64::MAX - 2, 100).await;
    assert_eq!(
        due.iter()
            .map(|o| o.handover_id.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    let due = due_outbox(fx, &store, i64::MAX, 100).await;
    let retried = due.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(
        (retried.id, retried.attempts, retried.next_attempt_at_ms),
        (a0, 1, i64::MAX - 1)
    );

    // Delivered: the next event of `a` becomes due; dead: the one after.
    store.outbox_delivered(a0).await.unwrap();
    let next = due_outbox(fx, &store, i64::MAX, 100).await;
    let a1 = next.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(a1.event_id, ea[1].id);
    store.outbox_dead(a1.id, "gave up").await.unwrap();
    let next = due_outbox(fx, &store, i64::MAX, 100).await;
    assert_eq!(
        next.iter().find(|o| o.handover_id == "a").unwrap().event_id,
        ea[2].id
    );

    assert!(matches!(
        store.outbox_delivered(9_999).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.outbox_retry(9_999, 1, 0, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.outbox_dead(9_999, "x").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn webhooks_are_deduplicated_by_delivery_id(fx: &dyn Fixture) {
    let store = fx.store();
    inserted(&store, row("a", "ep", "s1")).await;
    inserted(&store, row("b", "ep", "s2")).await;
    let req = json!({"method": "POST", "path": "/hook", "headers": {}, "body": "e30="});

    let ids = accept(
        &store,
        "ep",
        Some("d1"),
        &["a".into(), "b".into()],
        req.clone(),
    )
    .await;
    let ids = ids.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    assert_eq!(
        accept(&store, "ep", Some("d1"), &["a".into()], req.clone()).await,
        None
    );
    // The same delivery id on another endpoint is a different delivery.
    inserted(&store, row("c", "ep2", "s1")).await;
    assert!(
        accept(&store, "ep2", Some("d1"), &["c".into()], req.clone())
            .await
            .is_some()
    );

    // No handovers: the delivery id is still recorded.
    assert_eq!(
        accept(&store, "ep", Some("d2"), &[], req.clone()).await,
        Some(vec![])
    );
    assert_eq!(
        accept(&store, "ep", Some("d2"), &["a".into()], req.clone()).await,
        None
    );

    // No delivery id: never deduplicated.
    let later = accept(&store, "ep", None, &["b".into()], req.clone())
        .await
        .unwrap();
    accept(&store, "ep", None, &["b".into()], req.clone())
        .await
        .unwrap();

    let pending = store.pending_inbox("a").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (
            pending[0].id,
            pending[0].endpoint_id.as_str(),
            &pending[0].request
        ),
        (ids[0], "ep", &req)
    );
    assert_eq!(pending_ids(&store, "b").await.len(), 3);
    assert_eq!(
        store.handovers_with_pending_inbox().await.unwrap(),
        ["a", "b", "c"]
    );

    // Consuming `a`'s item (as part of a step) removes it from both views.
    let a = store.get_handover("a").await.unwrap().unwrap();
    store
        .apply(Change {
            row: Some(a),
            inbox_done: vec![ids[0]],
            ..Change::default()
        })
        .await
        .unwrap();
    assert!(store.pending_inbox("a").await.unwrap().is_empty());
    assert_eq!(
        store.handovers_with_pending_inbox().await.unwrap(),
        ["b", "c"]
    );
    let b = store.get_handover("b").await.unwrap().unwrap();
    store
        .apply(Change {
            row: Some(b),
            inbox_done: vec![ids[1], later[0]],
            ..Change::default()
        })
        .await
        .unwrap();
    assert_eq!(store.pending_inbox("b").await.unwrap().len(), 1);
}

/// A row as the inline webhook path may read it: without its create
/// request (`Store::handover_if_inbox_empty`).
fn inline(row: Option<HandoverRow>) -> Option<HandoverRow> {
    row.map(|r| HandoverRow {
        request: serde_json::Value::Null,
        ..r
    })
}

/// An inline webhook: the step and its delivery id commit together, and
/// share the dedupe record with the inbox.
pub async fn a_step_can_record_its_webhook_delivery(fx: &dyn Fixture) {
    let store = fx.store();
    let a = inserted(&store, row("a", "ep", "s1")).await;
    let req = json!({"method": "POST", "path": "/hook", "headers": {}, "body": "e30="});
    assert_eq!(
        inline(store.handover_if_inbox_empty("a").await.unwrap()),
        inline(Some(a.clone()))
    );
    assert_eq!(store.handover_if_inbox_empty("nope").await.unwrap(), None);

    let with = |row: &HandoverRow, kind: &str, delivery: &str| Change {
        deliveries: vec![delivery.into()],
        ..step(row, &[kind])
    };
    let a = apply_ok(
        &store,
        Change {
            correlation_keys: vec!["conv-a".into()],
            ..with(&a, "agent_message", "d1")
        },
    )
    .await;
    let (id, got) = store.webhook_target("ep", "conv-a").await.unwrap().unwrap();
    assert_eq!((id.as_str(), inline(got)), ("a", inline(Some(a.clone()))));
    assert_eq!(store.webhook_target("ep", "other").await.unwrap(), None);

    // The same delivery again, as a step or into the inbox: nothing written.
    let err = store.apply(with(&a, "agent_left", "d1")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(d) if d == "d1"),
        "{err:?}"
    );
    assert_eq!(store.get_handover("a").await.unwrap().unwrap(), a);
    assert_eq!(
        accept(&store, "ep", Some("d1"), &["a".into()], req.clone()).await,
        None
    );
    // A delivery first stored in the inbox is a duplicate as a step.
    let ids = accept(&store, "ep", Some("d2"), &["a".into()], req.clone())
        .await
        .unwrap();
    let err = store.apply(with(&a, "agent_left", "d2")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(d) if d == "d2"),
        "{err:?}"
    );
    // A pending inbox item hides the row from the inline path.
    assert_eq!(store.handover_if_inbox_empty("a").await.unwrap(), None);
    assert_eq!(
        store.webhook_target("ep", "conv-a").await.unwrap(),
        Some(("a".into(), None))
    );
    let a = apply_ok(
        &store,
        Change {
            inbox_done: ids,
            ..step(&a, &[])
        },
    )
    .await;
    assert_eq!(
        inline(store.handover_if_inbox_empty("a").await.unwrap()),
        inline(Some(a.clone()))
    );
    assert_eq!(kinds(&store, "a").await, ["agent_message"]);

    // The same id on another endpoint is another delivery; a delivery needs a row.
    let c = inserted(&store, row("c", "ep2", "s1")).await;
    apply_ok(&store, with(&c, "agent_message", "d1")).await;
    let rowless = Change {
        deliveries: vec!["d9".into()],
        ..Change::default()
    };
    assert!(matches!(
        store.apply(rowless).await.unwrap_err(),
        StoreError::Backend { .. }
    ));
}

pub async fn correlation_keys_bind_and_rebind_within_an_endpoint(fx: &dyn Fixture) {
    let store = fx.store();
    let mut a = inserted(&store, row("a", "ep", "s1")).await;
    let b = inserted(&store, row("b", "ep", "s2")).await;
    let c = inserted(&store, row("c", "ep2", "s1")).await;

    bind(&store, &a, &["conv", "chat-a"]).await;
    a.version += 1;
    bind(&store, &c, &["conv"]).await;
    assert_eq!(bound(&store, "ep", "conv").await.as_deref(), Some("a"));
    assert_eq!(bound(&store, "ep2", "conv").await.as_deref(), Some("c"));
    assert_eq!(bound(&store, "ep", "missing").await, None);

    // Binding the same key again to the same handover is harmless.
    bind(&store, &a, &["conv"]).await;
    assert_eq!(bound(&store, "ep", "conv").await.as_deref(), Some("a"));

    // Another handover of the endpoint takes the key over.
    bind(&store, &b, &["conv"]).await;
    for (endpoint, key, handover) in [
        ("ep", "conv", "b"),
        ("ep", "chat-a", "a"),
        ("ep2", "conv", "c"),
    ] {
        assert_eq!(
            bound(&store, endpoint, key).await.as_deref(),
            Some(handover),
            "{endpoint}/{key}"
        );
    }
}

pub async fn due_timers_and_polls_pick_open_handovers_by_earliest_deadline(fx: &dyn Fixture) {
    let store = fx.store();
    let mut late = row("late", "ep", "s1");
    late.inactivity_end_at_ms = Some(300);
    late.next_poll_at_ms = Some(50);
    let mut early = row("early", "ep", "s2");
    early.no_agent_deadline_ms = Some(900);
    early.inactivity_warn_at_ms = Some(100);
    early.next_poll_at_ms = Some(40);
    let mut future = row("future", "ep", "s3");
    future.no_agent_deadline_ms = Some(10_000);
    future.next_poll_at_ms = Some(10_000);
    let unarmed = row("unarmed", "ep", "s4");
    let mut closed = row("closed", "ep", "s5");
    closed.status = Status::Completed;
    closed.no_agent_deadline_ms = Some(1);
    closed.next_poll_at_ms = Some(1);
    for r in [late, early, future, unarmed, closed] {
        inserted(&store, r).await;
    }

    for (now, limit, timers, polls) in [
        (45, 10, &[][..], &["early"][..]),
        (99, 10, &[], &["early", "late"]),
        (100, 10, &["early"], &["early", "late"]),
        (5_000, 10, &["early", "late"], &["early", "late"]),
        (5_000, 1, &["early"], &["early"]),
    ] {
        let due = unclaimed(fx, &store)
            .await
            .due_timers(now, limit, &Share::ALL)
            .await;
        assert_eq!(ids(due.unwrap()), timers, "due_timers({now}, {limit})");
        let due = unclaimed(fx, &store)
            .await
            .due_polls(now, limit, &Share::ALL)
            .await;
        assert_eq!(ids(due.unwrap()), polls, "due_polls({now}, {limit})");
    }

    // Disarming and closing take effect.
    let mut early = store.get_handover("early").await.unwrap().unwrap();
    early.inactivity_warn_at_ms = None;
    let mut early = apply_ok(&store, step(&early, &[])).await;
    let due = unclaimed(fx, &store)
        .await
        .due_timers(899, 10, &Share::ALL)
        .await;
    assert_eq!(ids(due.unwrap()), ["late"]);
    let due = unclaimed(fx, &store)
        .await
        .due_timers(5_000, 10, &Share::ALL)
        .await;
    assert_eq!(ids(due.unwrap()), ["late", "early"]);
    early.status = Status::Cancelled;
    apply_ok(&store, step(&early, &[])).await;
    let due = unclaimed(fx, &store)
        .await
        .due_timers(i64::MAX, 10, &Share::ALL)
        .await;
    assert_eq!(ids(due.unwrap()), ["late", "future"]);
    let due = unclaimed(fx, &store)
        .await
        .due_polls(i64::MAX, 10, &Share::ALL)
        .await;
    assert_eq!(ids(due.unwrap()), ["late", "future"]);
}

/// One tenant's backlog never hides another's due work: every `due_*`
/// scan gives each tenant at most `per_tenant` of its earliest items,
/// skips the tenants named (at their cap of work in flight), and cuts its
/// `limit` round-robin between tenants. Results stay earliest first.
pub async fn due_work_is_shared_between_tenants(fx: &dyn Fixture) {
    let store = fx.store();
    // Tenant `acme` has 6 items due early, `globex` 2 due later.
    let mut rows = Vec::new();
    for (tenant, n, first_due) in [("acme", 6, 100), ("globex", 2, 500)] {
        for i in 0..n {
            let mut r = HandoverRow {
                tenant: tenant.into(),
                callback_url: Some(format!("https://bot/{tenant}")),
                ..row(&format!("{tenant}-{i}"), tenant, &format!("s{i}"))
            };
            r.no_agent_deadline_ms = Some(first_due + i as i64);
            r.next_poll_at_ms = Some(first_due + i as i64);
            let r = inserted(&store, r).await;
            // One pending delivery each, due in the same order.
            store.apply(step(&r, &["queued"])).await.unwrap();
            rows.push(r.id);
        }
    }
    let skip_acme = ["acme".to_string()];
    let cases: [(u32, Share<'_>, &[&str]); 4] = [
        (
            100,
            Share::ALL,
            &[
                "acme-0", "acme-1", "acme-2", "acme-3", "acme-4", "acme-5", "globex-0", "globex-1",
            ],
        ),
        // Round-robin cut: each tenant's first two, not acme's first four.
        (4, Share::ALL, &["acme-0", "acme-1", "globex-0", "globex-1"]),
        (
            100,
            Share {
                per_tenant: 3,
                skip: &[],
            },
            &["acme-0", "acme-1", "acme-2", "globex-0", "globex-1"],
        ),
        (
            100,
            Share {
                per_tenant: 3,
                skip: &skip_acme,
            },
            &["globex-0", "globex-1"],
        ),
    ];
    for (limit, share, want) in cases {
        let got = unclaimed(fx, &store)
            .await
            .due_timers(i64::MAX, limit, &share)
            .await;
        assert_eq!(ids(got.unwrap()), want, "timers: {limit} {share:?}");
        let got = unclaimed(fx, &store)
            .await
            .due_polls(i64::MAX, limit, &share)
            .await;
        assert_eq!(ids(got.unwrap()), want, "polls: {limit} {share:?}");
        let got = shared_outbox(fx, &store, i64::MAX, limit, &share).await;
        let handovers: Vec<&str> = got.iter().map(|o| o.handover_id.as_str()).collect();
        let mut sorted = handovers.clone();
        sorted.sort();
        assert_eq!(sorted, want, "outbox: {limit} {share:?}");
        assert!(
            got.iter().all(|o| o.handover_id.starts_with(&o.tenant)),
            "{got:?}"
        );
    }
}

/// Retention with nothing to delete but what the test names.
pub fn keep_all() -> Retention {
    Retention {
        handovers_ended_before_ms: None,
        callbacks_before_ms: None,
        inbox_before_ms: None,
        deliveries_before_ms: None,
        versions_kept: None,
        batch: 100,
    }
}

/// The pruner deletes ended handovers with everything that names them (their
/// recordings for replay too), finished deliveries, processed inbox items,
/// delivery ids and old adapter versions once past their cutoff, and never
/// an open handover, a newer one, pending work or a kept version.
pub async fn prune_deletes_only_what_retention_allows(fx: &dyn Fixture) {
    let store = fx.store();
    let mut rows = Vec::new();
    for (id, session) in [("old", "s1"), ("new", "s2"), ("open", "s3")] {
        let r = HandoverRow {
            callback_url: Some("https://bot/cb".into()),
            ..row(id, "ep", session)
        };
        let r = inserted(&store, r).await;
        let change = Change {
            correlation_keys: vec![format!("k-{id}")],
            ..step(&r, &["queued"])
        };
        rows.push(apply_ok(&store, change).await);
        // A recording for replay holds the conversation: it goes with it.
        let entry = json!({"call": "start", "of": id});
        store
            .append_recording("ep", id, &entry, None)
            .await
            .unwrap();
    }
    for (r, ended_at) in rows.iter_mut().zip([1_000, 5_000]) {
        r.status = Status::Completed;
        r.ended_at_ms = Some(ended_at);
        *r = apply_ok(&store, step(r, &["ended"])).await;
    }
    let stored = accept(&store, "ep", Some("d-1"), &["old".into()], json!({})).await;
    let inbox = stored.expect("a new delivery id is stored");
    store
        .apply(Change {
            inbox_done: inbox,
            ..Change::default()
        })
        .await
        .unwrap();

    // Nothing is old enough: nothing goes.
    let none = store.prune(&keep_all()).await.unwrap();
    assert_eq!(none, Default::default());

    let ended = Retention {
        handovers_ended_before_ms: Some(2_000),
        ..keep_all()
    };
    let p = store.prune(&ended).await.unwrap();
    assert_eq!((p.handovers, p.events), (1, 2), "{p:?}");
    assert!(store.get_handover("old").await.unwrap().is_none());
    assert!(events_of(&store, "old").await.is_empty());
    assert_eq!(bound(&store, "ep", "k-old").await, None);
    let recorded = canary::recorded_handovers(&*store, "ep").await;
    assert!(
        !recorded.contains(&"old".to_string()),
        "the pruned handover's recording stays: {recorded:?}"
    );
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    for kept in ["new", "open"] {
        assert!(store.get_handover(kept).await.unwrap().is_some(), "{kept}");
        assert!(!events_of(&store, kept).await.is_empty(), "{kept}");
        assert_eq!(
            bound(&store, "ep", &format!("k-{kept}")).await.as_deref(),
            Some(kept)
        );
    }
    assert_eq!(store.count_open_handovers("acme").await.unwrap(), 1);
    assert_eq!(store.prune(&ended).await.unwrap(), Default::default());

    // A finished delivery goes; pending ones stay due.
    let due = due_outbox(fx, &store, i64::MAX, 100).await;
    let open_head = due.iter().find(|o| o.handover_id == "open").unwrap();
    store.outbox_delivered(open_head.id).await.unwrap();
    let p = store
        .prune(&Retention {
            callbacks_before_ms: Some(i64::MAX),
            ..keep_all()
        })
        .await
        .unwrap();
    assert_eq!(p.callbacks, 1, "{p:?}");
    let due = due_outbox(fx, &store, i64::MAX, 100).await;
    let due: Vec<&str> = due.iter().map(|o| o.handover_id.as_str()).collect();
    assert_eq!(due, ["new"], "the pending head of `new` is still due");

    // A delivery id past its cutoff may be stored again.
    let p = store
        .prune(&Retention {
            deliveries_before_ms: Some(i64::MAX),
            ..keep_all()
        })
        .await
        .unwrap();
    assert_eq!(p.deliveries, 1, "{p:?}");
    let again = accept(&store, "ep", Some("d-1"), &["new".into()], json!({})).await;
    assert!(again.is_some(), "the pruned delivery id is new again");

    // Adapter versions beyond the newest two per endpoint, and blobs no
    // kept record names.
    let records = [
        ("ep", "a"),
        ("ep", "b"),
        ("ep", "c"),
        ("ep2", "a"),
        ("ep3", "z"),
        ("ep3", "y"),
        ("ep3", "x"),
    ];
    for (ep, sha) in records {
        let bytes = sha.as_bytes().to_vec();
        store
            .record_adapter_version(ep, sha, Some(&bytes), "admin")
            .await
            .unwrap();
    }
    let p = store
        .prune(&Retention {
            versions_kept: Some(2),
            ..keep_all()
        })
        .await
        .unwrap();
    assert_eq!((p.adapter_versions, p.adapter_blobs), (2, 1), "{p:?}");
    assert!(
        store.adapter_bytes("a").await.unwrap().is_some(),
        "ep2 still names a"
    );
    assert!(store.adapter_bytes("z").await.unwrap().is_none());
    assert_eq!(
        store
            .current_adapter_version("ep")
            .await
            .unwrap()
            .unwrap()
            .sha256,
        "c"
    );
}

/// A webhook carries several delivery ids (the provider's, the digest of
/// what its signature covers): it is a duplicate if any was recorded
/// before, and then none of its ids is recorded — stored in the inbox or
/// applied directly alike.
pub async fn a_webhook_is_a_duplicate_if_any_of_its_ids_was_seen(fx: &dyn Fixture) {
    let store = fx.store();
    let h = inserted(&store, row("h1", "ep", "s1")).await;
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let first = store
        .accept_webhook("ep", &ids(&["d-1", "signed:x"]), &["h1".into()], json!({}))
        .await
        .unwrap();
    assert!(first.is_some());
    // A replay under a new provider id: the signed digest gives it away.
    let replay = store
        .accept_webhook("ep", &ids(&["d-2", "signed:x"]), &["h1".into()], json!({}))
        .await
        .unwrap();
    assert_eq!(replay, None);
    // `d-2` was not recorded by the refused replay.
    let applied = Change {
        deliveries: ids(&["d-2", "signed:y"]),
        ..step(&h, &["agent_message"])
    };
    store.apply(applied).await.unwrap();
    // Applied directly: a repeat of either id is refused as a duplicate and
    // writes nothing.
    let h = store.get_handover("h1").await.unwrap().unwrap();
    let again = Change {
        deliveries: ids(&["d-3", "signed:y"]),
        ..step(&h, &["agent_message"])
    };
    // The error names the id seen before, not the new one beside it.
    let err = store.apply(again).await;
    assert!(
        matches!(&err, Err(StoreError::Duplicate(d)) if d == "signed:y"),
        "{err:?}"
    );
    assert_eq!(kinds(&store, "h1").await, ["agent_message"]);
    let fresh = store
        .accept_webhook("ep", &ids(&["d-3"]), &["h1".into()], json!({}))
        .await
        .unwrap();
    assert!(fresh.is_some(), "d-3 was not recorded by the refused step");
}

pub async fn abandoned_starts_are_old_requested_handovers_oldest_first(fx: &dyn Fixture) {
    let store = fx.store();
    for (id, status, created) in [
        ("young", Status::Requested, 9_000),
        ("old-2", Status::Requested, 2_000),
        ("queued", Status::Queued, 1_000),
        ("old-1", Status::Requested, 1_500),
        ("ended", Status::Cancelled, 500),
    ] {
        let mut r = row(id, "ep", id);
        r.status = status;
        r.created_at_ms = created;
        inserted(&store, r).await;
    }
    assert_eq!(
        ids(store.abandoned_starts(5_000, 10).await.unwrap()),
        ["old-1", "old-2"]
    );
    assert_eq!(
        ids(store.abandoned_starts(5_000, 1).await.unwrap()),
        ["old-1"]
    );
    assert!(store.abandoned_starts(1_500, 10).await.unwrap().is_empty());
    // Once its start finishes, a handover is no longer abandoned.
    let mut r = store.get_handover("old-1").await.unwrap().unwrap();
    r.status = Status::Queued;
    apply_ok(&store, step(&r, &["queued"])).await;
    assert_eq!(
        ids(store.abandoned_starts(10_000, 10).await.unwrap()),
        ["old-2", "young"]
    );
}

pub async fn list_handovers_newest_first_with_filters(fx: &dyn Fixture) {
    let store = fx.store();
    for (i, (ep, status)) in [
        ("ep", Status::Completed),
        ("ep", Status::Active),
        ("ep2", Status::Queued),
        ("ep", Status::Requested),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = row(&format!("h{i}"), ep, &format!("s{i}"));
        r.status = status;
        r.created_at_ms = i as i64;
        inserted(&store, r).await;
    }
    assert_eq!(
        ids(store.list_handovers(None, false, 10).await.unwrap()),
        ["h3", "h2", "h1", "h0"]
    );
    assert_eq!(
        ids(store.list_handovers(None, true, 10).await.unwrap()),
        ["h3", "h2", "h1"]
    );
    assert_eq!(
        ids(store.list_handovers(Some("ep"), false, 10).await.unwrap()),
        ["h3", "h1", "h0"]
    );
    assert_eq!(
        ids(store.list_handovers(Some("ep"), true, 10).await.unwrap()),
        ["h3", "h1"]
    );
    assert_eq!(
        ids(store.list_handovers(Some("ep"), false, 2).await.unwrap()),
        ["h3", "h1"]
    );
    assert!(
        store
            .list_handovers(Some("none"), false, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // By tenant: across its endpoints, newest first, never another's.
    let mut other = row("o1", "ep", "s-other");
    other.tenant = "globex".into();
    other.created_at_ms = 10;
    inserted(&store, other).await;
    assert_eq!(
        ids(store.list_tenant_handovers("acme", 10).await.unwrap()),
        ["h3", "h2", "h1", "h0"]
    );
    assert_eq!(
        ids(store.list_tenant_handovers("acme", 2).await.unwrap()),
        ["h3", "h2"]
    );
    assert_eq!(
        ids(store.list_tenant_handovers("globex", 10).await.unwrap()),
        ["o1"]
    );
    assert!(
        store
            .list_tenant_handovers("nobody", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn everything_survives_reopening(fx: &dyn Fixture) {
    let store = fx.store();
    let mut r = row("h1", "ep", "s1");
    r.callback_url = Some("https://bot/cb".into());
    r.idempotency_key = Some("k".into());
    let r = inserted(&store, r).await;
    let change = Change {
        row: Some(r.clone()),
        events: vec![ev("queued")],
        correlation_keys: vec!["conv".into()],
        ..Change::default()
    };
    let events = store.apply(change).await.unwrap();
    let inbox = accept(
        &store,
        "ep",
        Some("d1"),
        &["h1".into()],
        json!({"body": "x"}),
    )
    .await
    .unwrap();
    let before = store.get_handover("h1").await.unwrap().unwrap();
    drop(store);

    let store = fx.another().await;
    assert_eq!(
        store.get_handover("h1").await.unwrap(),
        Some(before.clone())
    );
    assert_eq!(events_of(&store, "h1").await, events);
    assert_eq!(store.last_event_id().await.unwrap(), events[0].id);
    assert_eq!(bound(&store, "ep", "conv").await.as_deref(), Some("h1"));
    assert_eq!(pending_ids(&store, "h1").await, inbox);
    assert_eq!(
        accept(&store, "ep", Some("d1"), &["h1".into()], json!({})).await,
        None
    );
    assert_eq!(
        due_outbox(fx, &store, i64::MAX, 10).await[0].event_id,
        events[0].id
    );
    assert!(matches!(
        store
            .insert_handover(row("h2", "ep", "s1"), None)
            .await
            .unwrap(),
        Insert::OpenExists(_)
    ));

    // Writes continue where they left off.
    let more = store.apply(step(&before, &["agent_joined"])).await.unwrap();
    assert_eq!((more[0].seq, more[0].id > events[0].id), (2, true));
}

pub async fn migrations_are_applied_once(fx: &dyn Fixture) {
    drop(fx.store());
    // Opening again at the current version runs no migration (which would
    // fail on the existing tables).
    let store = fx.another().await;
    inserted(&store, row("h", "ep", "s")).await;
}

/// Many writers on many handovers through two stores, while a reader
/// follows `events_after(last)` like a stream: it must see every event
/// exactly once, in id order (an id committed after a higher one was read
/// would be skipped for ever).
pub async fn event_ids_become_visible_in_order_under_concurrent_writers(fx: &dyn Fixture) {
    let store = fx.store();
    let other = fx.another().await;
    const HANDOVERS: usize = 8;
    const STEPS: usize = 15;
    for i in 0..HANDOVERS {
        inserted(&store, row(&format!("h{i}"), "ep", &format!("s{i}"))).await;
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = 0;
            // After the writers finish, read until every event arrived (a
            // store may hold an event back while an older transaction of
            // its server is still open), within a generous bound.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let batch = store
                    .events_after(&EventScope::Endpoint("ep".into()), last, 1_000)
                    .await
                    .unwrap();
                for e in batch {
                    last = e.id;
                    seen.push(e.id);
                }
                if finished
                    && (seen.len() >= HANDOVERS * STEPS * 2 || std::time::Instant::now() > deadline)
                {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for i in 0..HANDOVERS {
        let s = alternate(i, &store, &other);
        writers.push(tokio::spawn(async move {
            let id = format!("h{i}");
            for _ in 0..STEPS {
                let r = s.get_handover(&id).await.unwrap().unwrap();
                s.apply(step(&r, &["a", "b"])).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let all: Vec<i64> = store
        .events_after(&EventScope::Endpoint("ep".into()), 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), HANDOVERS * STEPS * 2);
    assert_eq!(seen, all, "the following reader missed or repeated events");
    assert_eq!(store.last_event_id().await.unwrap(), *all.last().unwrap());
}

/// The same delivery id posted to two stores at once is stored once.
pub async fn concurrent_duplicate_webhooks_are_stored_once(fx: &dyn Fixture) {
    let store = fx.store();
    let other = fx.another().await;
    inserted(&store, row("a", "ep", "s1")).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = alternate(i, &store, &other);
        tasks.push(tokio::spawn(async move {
            accept(&s, "ep", Some("same"), &["a".into()], json!({"n": i})).await
        }));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(store.pending_inbox("a").await.unwrap().len(), 1);
}

pub async fn adapter_versions_are_recorded_per_endpoint(fx: &dyn Fixture) {
    let store = fx.store();
    assert_eq!(store.current_adapter_version("ep").await.unwrap(), None);
    assert_eq!(store.adapter_bytes("sha-a").await.unwrap(), None);
    let v1 = store
        .record_adapter_version("ep", "sha-a", Some(b"component a"), "config")
        .await
        .unwrap();
    assert_eq!(
        (
            v1.endpoint_id.as_str(),
            v1.sha256.as_str(),
            v1.source.as_str()
        ),
        ("ep", "sha-a", "config")
    );
    let v2 = store
        .record_adapter_version("ep", "sha-b", Some(b"component b"), "admin")
        .await
        .unwrap();
    assert!(v2.seq > v1.seq);
    // Bytes stored once per sha256; a later record may omit them.
    let other = fx.another().await;
    let v3 = other
        .record_adapter_version("ep2", "sha-a", None, "replica")
        .await
        .unwrap();
    assert!(v3.seq > v2.seq);
    let v4 = other
        .record_adapter_version("ep", "sha-a", Some(b"component a"), "rollback")
        .await
        .unwrap();
    assert_eq!(store.current_adapter_version("ep").await.unwrap(), Some(v4));
    assert_eq!(
        store.current_adapter_version("ep2").await.unwrap(),
        Some(v3)
    );
    assert_eq!(
        store.adapter_bytes("sha-a").await.unwrap().as_deref(),
        Some(&b"component a"[..])
    );
    assert_eq!(
        store.adapter_bytes("sha-b").await.unwrap().as_deref(),
        Some(&b"component b"[..])
    );
    assert_eq!(store.current_adapter_version("none").await.unwrap(), None);
}

/// Two stores (processes) stepping the same handover from the same read:
/// exactly one wins, the other gets `Conflict` and writes nothing.
pub async fn stale_writers_across_stores_conflict(fx: &dyn Fixture) {
    let store = fx.store();
    let other = fx.another().await;
    let r = inserted(&store, row("h", "ep", "s")).await;
    let (a, b) = tokio::join!(
        store.apply(step(&r, &["from-a"])),
        other.apply(step(&r, &["from-b"]))
    );
    let ok = [a.is_ok(), b.is_ok()];
    assert_eq!(ok.iter().filter(|x| **x).count(), 1, "{a:?} {b:?}");
    let err = if a.is_ok() { b } else { a }.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(events_of(&store, "h").await.len(), 1);
    assert_eq!(store.get_handover("h").await.unwrap().unwrap().version, 1);
}
