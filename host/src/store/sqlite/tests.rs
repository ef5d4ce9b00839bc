//! Tests of the SQLite store against real database files in a temporary
//! directory (and in memory where the medium does not matter).
//!
//! Owns: nothing but test fixtures. Must never: share a database file
//! between tests or depend on wall-clock timing beyond "now".

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tempfile::TempDir;

use super::{SqliteStore, ops, schema};
use crate::store::{Change, EventScope, HandoverRow, Insert, NewEvent, Status, Store, StoreError};

fn db() -> (TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    (dir, path, store)
}

fn row(id: &str, endpoint: &str, session: &str) -> HandoverRow {
    HandoverRow {
        id: id.into(),
        endpoint_id: endpoint.into(),
        tenant: "acme".into(),
        session_id: session.into(),
        idempotency_key: None,
        status: Status::Requested,
        error_reason: None,
        error_message: None,
        end_reason: None,
        request: json!({"conversation": {"id": session}, "messages": []}),
        provider_state: vec![1, 2, 3, 0, 255],
        queue_position: None,
        estimated_wait_seconds: None,
        agent: None,
        callback_url: None,
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
        agent_joined_at_ms: None,
        ended_at_ms: None,
        last_user_activity_ms: 1_000,
        no_agent_deadline_ms: None,
        inactivity_warn_at_ms: None,
        inactivity_end_at_ms: None,
        next_poll_at_ms: None,
        poll_failures: 0,
        version: 0,
    }
}

fn ev(kind: &str) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        payload: json!({"type": kind}),
    }
}

fn step(row: &HandoverRow, events: &[&str]) -> Change {
    Change {
        row: Some(row.clone()),
        events: events.iter().map(|k| ev(k)).collect(),
        ..Change::default()
    }
}

async fn inserted(store: &SqliteStore, r: HandoverRow) -> HandoverRow {
    match store.insert_handover(r).await.unwrap() {
        Insert::Inserted(r) => r,
        other => panic!("expected Inserted, got {other:?}"),
    }
}

/// Apply `change` and return the row as now stored.
async fn apply_ok(store: &SqliteStore, change: Change) -> HandoverRow {
    let id = change.row.as_ref().unwrap().id.clone();
    store.apply(change).await.unwrap();
    store.get_handover(&id).await.unwrap().unwrap()
}

#[tokio::test]
async fn insert_round_trips_every_column() {
    let (_dir, _path, store) = db();
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

#[tokio::test]
async fn insert_open_exists_and_idempotent_replay() {
    let (_dir, _path, store) = db();
    let mut first = row("h1", "ep", "s1");
    first.idempotency_key = Some("k1".into());
    inserted(&store, first.clone()).await;

    // Same session, other key: the open handover wins.
    let mut second = row("h2", "ep", "s1");
    second.idempotency_key = Some("k2".into());
    assert_eq!(
        store.insert_handover(second.clone()).await.unwrap(),
        Insert::OpenExists(first.clone())
    );

    // Same key (any session): replay, even before the open check.
    let mut replay = row("h3", "ep", "s-other");
    replay.idempotency_key = Some("k1".into());
    assert_eq!(
        store.insert_handover(replay).await.unwrap(),
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
        store.insert_handover(replay_closed).await.unwrap(),
        Insert::IdempotentReplay(closed)
    );

    // A duplicate id on a new session is an error, not a silent success.
    let err = store
        .insert_handover(row("h1", "ep", "s-new"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn unique_index_backstop_reports_the_colliding_row() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut first = row("h1", "ep", "s1");
    first.idempotency_key = Some("k".into());
    inserted(&store, first.clone()).await;
    // Skip the pre-check and insert directly, as a racing writer would.
    let conn = store.writer.lock().unwrap();
    let mut same_key = row("h2", "ep", "s2");
    same_key.idempotency_key = Some("k".into());
    assert_eq!(
        ops::insert_or_resolve(&conn, same_key).unwrap(),
        Insert::IdempotentReplay(first.clone())
    );
    assert_eq!(
        ops::insert_or_resolve(&conn, row("h3", "ep", "s1")).unwrap(),
        Insert::OpenExists(first)
    );
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM handovers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_one_session_insert_once() {
    let (_dir, path, store) = db();
    // A second store on the same file behaves like another process.
    let other = SqliteStore::open(&path).unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.insert_handover(row(&format!("h{i}"), "ep", "s")).await
        }));
    }
    let mut inserted = 0;
    let mut open_exists = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Insert::Inserted(_) => inserted += 1,
            Insert::OpenExists(_) => open_exists += 1,
            Insert::IdempotentReplay(r) => panic!("unexpected replay of {}", r.id),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_with_one_idempotency_key_insert_once() {
    let (_dir, _path, store) = db();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        let mut r = row(&format!("h{i}"), "ep", &format!("s{i}"));
        r.idempotency_key = Some("same".into());
        tasks.push(tokio::spawn(
            async move { s.insert_handover(r).await.unwrap() },
        ));
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

#[tokio::test]
async fn apply_bumps_version_and_refuses_stale_rows() {
    let (_dir, _path, store) = db();
    let mut r = row("h1", "ep", "s1");
    r.callback_url = Some("https://bot/cb".into());
    inserted(&store, r.clone()).await;
    let webhook = store
        .accept_webhook("ep", Some("d1"), &["h1".into()], json!({}))
        .await
        .unwrap()
        .unwrap();

    let mut next = r.clone();
    next.status = Status::Queued;
    next.queue_position = Some(3);
    let stored = apply_ok(&store, step(&next, &["queued"])).await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, Status::Queued);
    assert_eq!(stored.queue_position, Some(3));

    // A writer still holding version 0 loses, and writes nothing at all.
    let mut stale = r.clone();
    stale.status = Status::Cancelled;
    let change = Change {
        row: Some(stale),
        events: vec![ev("ended")],
        correlation_keys: vec!["conv-1".into()],
        inbox_done: webhook.clone(),
    };
    let err = store.apply(change).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(id) if id == "h1"),
        "{err:?}"
    );
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap(), stored);
    let events = store
        .events_after(&EventScope::Handover("h1".into()), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["queued"]
    );
    assert_eq!(
        store.find_by_correlation("ep", "conv-1").await.unwrap(),
        None
    );
    assert_eq!(store.pending_inbox("h1").await.unwrap().len(), 1);
    assert_eq!(store.due_outbox(i64::MAX, 100).await.unwrap().len(), 1);

    // With the current version it goes through.
    let mut current = stored.clone();
    current.status = Status::Cancelled;
    let change = Change {
        row: Some(current),
        events: vec![ev("ended")],
        correlation_keys: vec!["conv-1".into()],
        inbox_done: webhook,
    };
    assert_eq!(store.apply(change).await.unwrap().len(), 1);
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap().version, 2);
    assert_eq!(
        store
            .find_by_correlation("ep", "conv-1")
            .await
            .unwrap()
            .as_deref(),
        Some("h1")
    );
    assert!(store.pending_inbox("h1").await.unwrap().is_empty());
}

#[tokio::test]
async fn apply_refuses_unknown_rows_identity_changes_and_rowless_events() {
    let (_dir, _path, store) = db();
    let err = store
        .apply(step(&row("ghost", "ep", "s"), &["queued"]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let r = inserted(&store, row("h1", "ep", "s1")).await;
    let mut moved = r.clone();
    moved.endpoint_id = "other".into();
    let err = store.apply(step(&moved, &["queued"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");

    let rowless = Change {
        events: vec![ev("queued")],
        ..Change::default()
    };
    assert!(matches!(
        store.apply(rowless).await.unwrap_err(),
        StoreError::Backend(_)
    ));
    let rowless = Change {
        correlation_keys: vec!["k".into()],
        ..Change::default()
    };
    assert!(matches!(
        store.apply(rowless).await.unwrap_err(),
        StoreError::Backend(_)
    ));

    // Nothing of the refused changes landed.
    assert_eq!(store.get_handover("h1").await.unwrap().unwrap(), r);
    assert_eq!(store.last_event_id().await.unwrap(), 0);

    // Without a row, a change may still consume inbox items.
    let ids = store
        .accept_webhook("ep", None, &["h1".into()], json!({}))
        .await
        .unwrap()
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

#[tokio::test]
async fn reopening_a_session_while_another_is_open_is_refused() {
    let (_dir, _path, store) = db();
    let mut a = inserted(&store, row("a", "ep", "s")).await;
    a.status = Status::Completed;
    let mut a = apply_ok(&store, step(&a, &[])).await;
    inserted(&store, row("b", "ep", "s")).await;
    a.status = Status::Active;
    let err = store.apply(step(&a, &["reopened"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(store.last_event_id().await.unwrap(), 0);
}

#[tokio::test]
async fn event_ids_increase_globally_and_seq_counts_per_handover() {
    let (_dir, _path, store) = db();
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
    assert_eq!(
        all.iter()
            .filter(|e| e.handover_id == "a")
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        all.iter()
            .filter(|e| e.handover_id == "b")
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        all.iter()
            .all(|e| e.endpoint_id == if e.handover_id == "a" { "ep1" } else { "ep2" })
    );
    assert_eq!(all[1].payload, json!({"type": "agent_joined"}));
    assert_eq!(store.last_event_id().await.unwrap(), *ids.last().unwrap());

    let by_handover = store
        .events_after(&EventScope::Handover("a".into()), 0, 100)
        .await
        .unwrap();
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

#[tokio::test]
async fn event_ids_are_never_reused() {
    let (_dir, path, store) = db();
    let a = inserted(&store, row("a", "ep", "s")).await;
    let first = store.apply(step(&a, &["queued", "ended"])).await.unwrap();
    // Even if events were pruned, later ids stay above every id handed out.
    store
        .writer
        .lock()
        .unwrap()
        .execute("DELETE FROM outbox", [])
        .unwrap();
    store
        .writer
        .lock()
        .unwrap()
        .execute("DELETE FROM events", [])
        .unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), first[1].id);
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let a = store.get_handover("a").await.unwrap().unwrap();
    let next = store.apply(step(&a, &["again"])).await.unwrap();
    assert!(next[0].id > first[1].id);
}

#[tokio::test]
async fn outbox_rows_only_with_callback_and_in_order_per_handover() {
    let (_dir, _path, store) = db();
    let silent = inserted(&store, row("silent", "ep", "s0")).await;
    store
        .apply(step(&silent, &["queued", "ended"]))
        .await
        .unwrap();
    assert!(store.due_outbox(i64::MAX, 100).await.unwrap().is_empty());

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

    let due = store.due_outbox(i64::MAX, 100).await.unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    let due_a = due.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(
        (due_a.event_id, due_a.url.as_str(), due_a.attempts),
        (ea[0].id, "https://bot/a", 0)
    );
    let due_b = due.iter().find(|o| o.handover_id == "b").unwrap();
    assert_eq!(due_b.event_id, eb[0].id);
    // Not due before `now` at the time of the write.
    assert!(store.due_outbox(0, 100).await.unwrap().is_empty());
    assert_eq!(store.due_outbox(i64::MAX, 1).await.unwrap().len(), 1);

    // The oldest backs off: nothing newer of `a` overtakes it.
    let a0 = due_a.id;
    store
        .outbox_retry(a0, 1, i64::MAX - 1, "HTTP 503")
        .await
        .unwrap();
    let due = store.due_outbox(i64::MAX - 2, 100).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|o| o.handover_id.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    let due = store.due_outbox(i64::MAX, 100).await.unwrap();
    let retried = due.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(
        (retried.id, retried.attempts, retried.next_attempt_at_ms),
        (a0, 1, i64::MAX - 1)
    );

    // Delivered: the next event of `a` becomes due; dead: the one after.
    store.outbox_delivered(a0).await.unwrap();
    let next = store.due_outbox(i64::MAX, 100).await.unwrap();
    let a1 = next.iter().find(|o| o.handover_id == "a").unwrap();
    assert_eq!(a1.event_id, ea[1].id);
    store.outbox_dead(a1.id, "gave up").await.unwrap();
    let next = store.due_outbox(i64::MAX, 100).await.unwrap();
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

#[tokio::test]
async fn webhooks_are_deduplicated_by_delivery_id() {
    let (_dir, _path, store) = db();
    inserted(&store, row("a", "ep", "s1")).await;
    inserted(&store, row("b", "ep", "s2")).await;
    let req = json!({"method": "POST", "path": "/hook", "headers": {}, "body": "e30="});

    let ids = store
        .accept_webhook("ep", Some("d1"), &["a".into(), "b".into()], req.clone())
        .await
        .unwrap();
    let ids = ids.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    assert_eq!(
        store
            .accept_webhook("ep", Some("d1"), &["a".into()], req.clone())
            .await
            .unwrap(),
        None
    );
    // The same delivery id on another endpoint is a different delivery.
    inserted(&store, row("c", "ep2", "s1")).await;
    assert!(
        store
            .accept_webhook("ep2", Some("d1"), &["c".into()], req.clone())
            .await
            .unwrap()
            .is_some()
    );

    // No handovers: the delivery id is still recorded.
    assert_eq!(
        store
            .accept_webhook("ep", Some("d2"), &[], req.clone())
            .await
            .unwrap(),
        Some(vec![])
    );
    assert_eq!(
        store
            .accept_webhook("ep", Some("d2"), &["a".into()], req.clone())
            .await
            .unwrap(),
        None
    );

    // No delivery id: never deduplicated.
    let later = store
        .accept_webhook("ep", None, &["b".into()], req.clone())
        .await
        .unwrap()
        .unwrap();
    store
        .accept_webhook("ep", None, &["b".into()], req.clone())
        .await
        .unwrap()
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
    assert_eq!(
        store
            .pending_inbox("b")
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
            .len(),
        3
    );
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

#[tokio::test]
async fn correlation_keys_bind_and_rebind_within_an_endpoint() {
    let (_dir, _path, store) = db();
    let mut a = inserted(&store, row("a", "ep", "s1")).await;
    let b = inserted(&store, row("b", "ep", "s2")).await;
    let c = inserted(&store, row("c", "ep2", "s1")).await;
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();

    store
        .apply(Change {
            row: Some(a.clone()),
            correlation_keys: keys(&["conv", "chat-a"]),
            ..Change::default()
        })
        .await
        .unwrap();
    a.version += 1;
    store
        .apply(Change {
            row: Some(c),
            correlation_keys: keys(&["conv"]),
            ..Change::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .find_by_correlation("ep", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert_eq!(
        store
            .find_by_correlation("ep2", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("c")
    );
    assert_eq!(
        store.find_by_correlation("ep", "missing").await.unwrap(),
        None
    );

    // Binding the same key again to the same handover is harmless.
    store
        .apply(Change {
            row: Some(a),
            correlation_keys: keys(&["conv"]),
            ..Change::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .find_by_correlation("ep", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );

    // Another handover of the endpoint takes the key over.
    store
        .apply(Change {
            row: Some(b),
            correlation_keys: keys(&["conv"]),
            ..Change::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .find_by_correlation("ep", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
    assert_eq!(
        store
            .find_by_correlation("ep", "chat-a")
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert_eq!(
        store
            .find_by_correlation("ep2", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("c")
    );
}

#[tokio::test]
async fn due_timers_and_polls_pick_open_handovers_by_earliest_deadline() {
    let (_dir, _path, store) = db();
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
    let ids = |rows: Vec<HandoverRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();

    assert_eq!(
        ids(store.due_timers(99, 10).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(ids(store.due_timers(100, 10).await.unwrap()), ["early"]);
    assert_eq!(
        ids(store.due_timers(5_000, 10).await.unwrap()),
        ["early", "late"]
    );
    assert_eq!(ids(store.due_timers(5_000, 1).await.unwrap()), ["early"]);
    assert_eq!(ids(store.due_polls(45, 10).await.unwrap()), ["early"]);
    assert_eq!(
        ids(store.due_polls(5_000, 10).await.unwrap()),
        ["early", "late"]
    );

    // Disarming and closing take effect.
    let mut early = store.get_handover("early").await.unwrap().unwrap();
    early.inactivity_warn_at_ms = None;
    let mut early = apply_ok(&store, step(&early, &[])).await;
    assert_eq!(ids(store.due_timers(899, 10).await.unwrap()), ["late"]);
    assert_eq!(
        ids(store.due_timers(5_000, 10).await.unwrap()),
        ["late", "early"]
    );
    early.status = Status::Cancelled;
    apply_ok(&store, step(&early, &[])).await;
    assert_eq!(
        ids(store.due_timers(i64::MAX, 10).await.unwrap()),
        ["late", "future"]
    );
    assert_eq!(
        ids(store.due_polls(i64::MAX, 10).await.unwrap()),
        ["late", "future"]
    );
}

#[tokio::test]
async fn list_handovers_newest_first_with_filters() {
    let (_dir, _path, store) = db();
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
    let ids = |rows: Vec<HandoverRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
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
}

#[tokio::test]
async fn everything_survives_reopening_the_file() {
    let (_dir, path, store) = db();
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
    let inbox = store
        .accept_webhook("ep", Some("d1"), &["h1".into()], json!({"body": "x"}))
        .await
        .unwrap()
        .unwrap();
    let before = store.get_handover("h1").await.unwrap().unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_handover("h1").await.unwrap(),
        Some(before.clone())
    );
    assert_eq!(
        store
            .events_after(&EventScope::Handover("h1".into()), 0, 10)
            .await
            .unwrap(),
        events
    );
    assert_eq!(store.last_event_id().await.unwrap(), events[0].id);
    assert_eq!(
        store
            .find_by_correlation("ep", "conv")
            .await
            .unwrap()
            .as_deref(),
        Some("h1")
    );
    assert_eq!(
        store
            .pending_inbox("h1")
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        inbox
    );
    assert_eq!(
        store
            .accept_webhook("ep", Some("d1"), &["h1".into()], json!({}))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.due_outbox(i64::MAX, 10).await.unwrap()[0].event_id,
        events[0].id
    );
    assert!(matches!(
        store.insert_handover(row("h2", "ep", "s1")).await.unwrap(),
        Insert::OpenExists(_)
    ));

    // Writes continue where they left off.
    let more = store.apply(step(&before, &["agent_joined"])).await.unwrap();
    assert_eq!((more[0].seq, more[0].id > events[0].id), (2, true));
}

#[tokio::test]
async fn file_settings_are_durable() {
    let (_dir, path, store) = db();
    {
        let conn = store.writer.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (mode.as_str(), sync, fk, version),
            ("wal", 2, 1, schema::current_version())
        );
    }
    let reader = store.reader.as_ref().unwrap().lock().unwrap();
    let query_only: i64 = reader
        .query_row("PRAGMA query_only", [], |r| r.get(0))
        .unwrap();
    assert_eq!(query_only, 1);
    assert!(path.exists());
}

#[tokio::test]
async fn newer_or_foreign_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteStore::open(&path).unwrap());
    let future = schema::current_version() + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {future}"))
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer than this build"), "{err}");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("PRAGMA application_id = 42")
        .unwrap();
    let err = SqliteStore::open(&other).unwrap_err().to_string();
    assert!(err.contains("not a handover-host database"), "{err}");
}

#[tokio::test]
async fn migrations_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteStore::open(&path).unwrap());
    // Reopening at the current version runs no migration (which would fail
    // on the existing tables).
    let store = SqliteStore::open(&path).unwrap();
    inserted(&store, row("h", "ep", "s")).await;
}

#[tokio::test]
async fn hot_queries_use_their_indexes() {
    let store = SqliteStore::open_in_memory().unwrap();
    let conn = store.writer.lock().unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let open = "status IN ('requested','queued','active')";
    let p = plan(&format!(
        "SELECT id FROM handovers WHERE {open} AND timer_due_ms <= 5 ORDER BY timer_due_ms LIMIT 5"
    ));
    assert!(p.contains("handovers_timers"), "{p}");
    let p = plan(&format!(
        "SELECT id FROM handovers WHERE {open} AND next_poll_at_ms <= 5 ORDER BY next_poll_at_ms LIMIT 5"
    ));
    assert!(p.contains("handovers_polls"), "{p}");
    let p = plan(&format!(
        "SELECT id FROM handovers WHERE endpoint_id = 'e' AND session_id = 's' AND {open}"
    ));
    assert!(p.contains("handovers_open_session"), "{p}");
    let p = plan("SELECT id FROM events WHERE endpoint_id = 'e' AND id > 3 ORDER BY id LIMIT 5");
    assert!(p.contains("events_endpoint"), "{p}");
    let p = plan("SELECT id FROM inbox WHERE handover_id = 'h' AND done = 0 ORDER BY id");
    assert!(p.contains("inbox_pending"), "{p}");
}

#[tokio::test]
async fn in_memory_store_works_without_a_separate_reader() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    assert!(store.reader.is_none());
    let r = inserted(&store, row("h", "ep", "s")).await;
    let events = store.apply(step(&r, &["queued"])).await.unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), events[0].id);
}

/// Run by `acknowledged_writes_survive_sigkill` in a child process: insert
/// handovers forever, printing each id once `insert_handover` returned.
#[test]
#[ignore = "helper process for acknowledged_writes_survive_sigkill"]
fn sigkill_child_writer() {
    use std::io::Write;
    let Ok(path) = std::env::var("HANDOVER_SQLITE_SIGKILL_DB") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(std::path::Path::new(&path)).unwrap();
        for i in 0.. {
            let r = inserted(&store, row(&format!("h{i}"), "ep", &format!("s{i}"))).await;
            store.apply(step(&r, &["queued"])).await.unwrap();
            let mut out = std::io::stdout().lock();
            writeln!(out, "acked h{i}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::sqlite::tests::sigkill_child_writer",
            "--ignored",
            "--nocapture",
        ])
        .env("HANDOVER_SQLITE_SIGKILL_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix("acked ") {
            acked.push(id.to_owned());
        }
        if acked.len() == 40 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no clean close.
    child.wait().unwrap();
    assert_eq!(acked.len(), 40, "child stopped early");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        for id in &acked {
            let r = store.get_handover(id).await.unwrap();
            assert_eq!(r.map(|r| r.version), Some(1), "{id} lost");
            let events = store
                .events_after(&EventScope::Handover(id.clone()), 0, 10)
                .await
                .unwrap();
            assert_eq!(events.len(), 1, "{id} lost its event");
        }
    });
}
