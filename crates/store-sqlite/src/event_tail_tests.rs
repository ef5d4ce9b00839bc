//! The tail of recent events: alone (what it vouches for, when it stops
//! vouching), and in a real database file against reads of the file,
//! including events another process commits behind the writer's back.
//!
//! Owns: nothing but test fixtures. Must never: share a database file
//! between tests.

use std::time::Duration;

use handover_core::store::{EventScope, HandoverRow, Insert, Store, StoredEvent};
use handover_store_conformance::{row, step};
use rusqlite::Connection;
use serde_json::json;

use super::{CAPACITY, EventTail, FRESH};
use crate::SqliteStore;
use crate::tests::db;

/// A tail that stays fresh for the whole test (staleness has its own).
fn tail() -> EventTail {
    EventTail::with_fresh(Duration::from_secs(3600))
}

fn event(id: i64, handover: &str, endpoint: &str) -> StoredEvent {
    StoredEvent {
        id,
        handover_id: handover.into(),
        endpoint_id: endpoint.into(),
        seq: id,
        kind: "agent_message".into(),
        payload: json!({"text": format!("message {id}")}),
        created_at_ms: 0,
    }
}

fn ids(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

/// A connection with an `events` table whose largest id is `max`.
fn file_with_max_id(max: i64) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY)")
        .unwrap();
    if max > 0 {
        conn.execute("INSERT INTO events (id) VALUES (?1)", [max])
            .unwrap();
    }
    conn
}

fn endpoint(id: &str) -> EventScope {
    EventScope::Endpoint(id.into())
}

#[test]
fn it_answers_only_above_its_floor_once_the_writer_has_begun() {
    let tail = tail();
    tail.committed(&[event(1, "a", "ep")]);
    assert_eq!(tail.after(&endpoint("ep"), 0, 10), None, "no floor yet");

    tail.begun(&file_with_max_id(10), Some(false));
    tail.committed(&[
        event(11, "a", "ep"),
        event(12, "b", "ep"),
        event(13, "a", "ep2"),
    ]);
    let got = |scope, after, limit| tail.after(&scope, after, limit).map(|e| ids(&e));
    assert_eq!(got(endpoint("ep"), 10, 10), Some(vec![11, 12]));
    assert_eq!(got(endpoint("ep"), 11, 10), Some(vec![12]));
    assert_eq!(got(endpoint("ep"), 10, 1), Some(vec![11]), "limit");
    assert_eq!(
        got(EventScope::Handover("a".into()), 10, 10),
        Some(vec![11, 13])
    );
    assert_eq!(got(endpoint("ep2"), 13, 10), Some(vec![]), "nothing newer");
    assert_eq!(
        got(endpoint("ep"), 9, 10),
        None,
        "below the floor: the file's"
    );
    assert_eq!(tail.counts(), (5, 2));
}

#[test]
fn an_event_out_of_commit_order_or_a_prune_empties_it_until_the_next_transaction() {
    let tail = tail();
    let file = file_with_max_id(0);
    tail.begun(&file, Some(false));
    tail.committed(&[event(1, "a", "ep"), event(2, "a", "ep")]);
    tail.committed(&[event(2, "a", "ep")]);
    assert_eq!(tail.after(&endpoint("ep"), 0, 10), None);
    file.execute("INSERT INTO events (id) VALUES (2)", [])
        .unwrap();
    tail.begun(&file, Some(false));
    assert_eq!(tail.after(&endpoint("ep"), 2, 10), Some(vec![]));
    assert_eq!(
        tail.after(&endpoint("ep"), 1, 10),
        None,
        "floor read again: 2"
    );

    tail.committed(&[event(3, "a", "ep")]);
    tail.clear();
    assert_eq!(tail.after(&endpoint("ep"), 2, 10), None, "pruned");
}

#[test]
fn past_its_capacity_the_oldest_leave_and_the_floor_rises() {
    let tail = tail();
    tail.begun(&file_with_max_id(0), Some(false));
    let events: Vec<_> = (1..=CAPACITY as i64 + 10)
        .map(|id| event(id, "a", "ep"))
        .collect();
    tail.committed(&events);
    assert_eq!(tail.after(&endpoint("ep"), 9, 1), None, "event 10 left");
    let kept = tail.after(&endpoint("ep"), 10, u32::MAX).unwrap();
    assert_eq!(kept.len(), CAPACITY);
    assert_eq!(kept.first().map(|e| e.id), Some(11));
}

#[test]
fn it_stops_answering_when_the_writer_has_not_checked_for_others_lately() {
    let tail = EventTail::with_fresh(Duration::from_millis(50));
    tail.begun(&file_with_max_id(0), Some(false));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(tail.after(&endpoint("ep"), 0, 10), None);
}

// ------------------------------------------------- in a real database file

async fn created(store: &SqliteStore, id: &str, ep: &str) -> HandoverRow {
    let Insert::Inserted(r) = store.insert_handover(row(id, ep, id), None).await.unwrap() else {
        panic!("inserted");
    };
    r
}

/// Commits one step of handover `id` with events of `kinds`.
async fn emit(store: &SqliteStore, id: &str, kinds: &[&str]) -> Vec<StoredEvent> {
    let r = store.get_handover(id).await.unwrap().unwrap();
    store.apply(step(&r, kinds)).await.unwrap()
}

/// What a read of the file itself answers.
fn from_file(path: &std::path::Path, scope: &EventScope, after: i64) -> Vec<StoredEvent> {
    let conn = Connection::open(path).unwrap();
    crate::ops::events_after(&conn, scope, after, 1000).unwrap()
}

#[tokio::test]
async fn stream_reads_from_the_tail_equal_reads_of_the_file() {
    let (_dir, path, store) = db();
    for (h, ep) in [("a", "ep1"), ("b", "ep1"), ("c", "ep2")] {
        created(&store, h, ep).await;
    }
    for round in 0..5 {
        for h in ["a", "b", "c"] {
            let kinds: Vec<&str> = ["queued", "agent_message"][..1 + (round % 2)].to_vec();
            emit(&store, h, &kinds).await;
        }
    }
    let last = from_file(&path, &endpoint("ep1"), 0).last().unwrap().id;
    let scopes = [
        endpoint("ep1"),
        endpoint("ep2"),
        EventScope::Handover("a".into()),
        EventScope::Handover("c".into()),
    ];
    for scope in &scopes {
        for after in 0..=last {
            let read = store.events_after(scope, after, 1000).await.unwrap();
            assert_eq!(
                read,
                from_file(&path, scope, after),
                "{scope:?} after {after}"
            );
            let limited = store.events_after(scope, after, 2).await.unwrap();
            assert_eq!(limited[..], read[..read.len().min(2)]);
        }
    }
    // A read just after a write comes from the tail (tried a few times:
    // a read more than FRESH after the write goes to the file).
    let mut hit = false;
    for _ in 0..5 {
        let mine = emit(&store, "a", &["agent_message"]).await;
        let before = store.event_tail_counts().unwrap().0;
        let read = store
            .events_after(&endpoint("ep1"), mine[0].id - 1, 10)
            .await;
        assert_eq!(ids(&read.unwrap()), ids(&mine));
        hit |= store.event_tail_counts().unwrap().0 > before;
    }
    assert!(hit, "no read came from the tail");
}

/// An event of handover `a` (endpoint `ep`) committed by `other`, as
/// another process would; returns its id.
fn insert_behind(other: &Connection, seq: i64) -> i64 {
    other
        .execute(
            "INSERT INTO events (handover_id, endpoint_id, seq, kind, payload, created_at_ms) \
             VALUES ('a', 'ep', ?1, 'agent_message', '{}', 0)",
            [seq],
        )
        .unwrap();
    other.last_insert_rowid()
}

#[tokio::test]
async fn an_event_another_process_commits_is_never_skipped() {
    let (_dir, path, store) = db();
    created(&store, "a", "ep").await;
    let mine = emit(&store, "a", &["queued", "agent_message"]).await;
    let mut last = mine[1].id;
    let mut seen = ids(&mine);

    // Another process appends an event behind the writer's back.
    let other = Connection::open(&path).unwrap();
    let foreign = insert_behind(&other, 100);
    // This process writes again: its transaction sees the other commit.
    let next = emit(&store, "a", &["agent_message"]).await;
    for _ in 0..3 {
        let read = store
            .events_after(&endpoint("ep"), last, 1000)
            .await
            .unwrap();
        if let Some(e) = read.last() {
            last = e.id;
        }
        seen.extend(ids(&read));
    }
    assert_eq!(seen, ids(&from_file(&path, &endpoint("ep"), 0)));
    assert!(
        seen.contains(&foreign) && seen.contains(&next[0].id),
        "{seen:?}"
    );

    // Another foreign event while this process writes nothing: read from
    // the file once the writer's last check is older than FRESH.
    let late = insert_behind(&other, 1000);
    tokio::time::sleep(FRESH + Duration::from_millis(100)).await;
    let read = store
        .events_after(&endpoint("ep"), last, 1000)
        .await
        .unwrap();
    assert_eq!(ids(&read), vec![late]);
}
