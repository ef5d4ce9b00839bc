//! The row cache in a real database file: what the inline webhook's read
//! gets after each kind of write, and the commit's checks that make a stale
//! entry harmless (see `row_cache`).
//!
//! Owns: nothing but test fixtures. Must never: share a database file
//! between tests.

use std::sync::Arc;

use handover_core::store::{Change, HandoverRow, Insert, Store, StoreError};
use handover_store_conformance::{keep_all, row, step};
use serde_json::json;

use super::SqliteStore;
use crate::tests::db;

/// Handover `id` of endpoint `ep`, bound to correlation key `key`, as stored.
async fn bound(store: &SqliteStore, id: &str, key: &str) -> HandoverRow {
    let mut r = row(id, "ep", id);
    r.request = json!({"accepted_message": "hi", "conversation": {"id": id}});
    let Insert::Inserted(r) = store.insert_handover(r, None).await.unwrap() else {
        panic!("inserted");
    };
    let change = Change {
        correlation_keys: vec![key.into()],
        ..step(&r, &[])
    };
    store.apply(change).await.unwrap();
    store.get_handover(id).await.unwrap().unwrap()
}

/// `r` as the inline webhook path reads it: without its create request.
fn inline(r: &HandoverRow) -> HandoverRow {
    HandoverRow {
        request: serde_json::Value::Null,
        ..r.clone()
    }
}

/// Applies `change` and checks the commit refused it as stale
/// (`Conflict` for handover `h`).
async fn refused_as_stale(store: &SqliteStore, change: Change) {
    let refused = store.apply(change).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ref id)) if id == "h"),
        "{refused:?}"
    );
}

/// What the inline webhook path reads for `key`.
async fn target(store: &SqliteStore, key: &str) -> Option<HandoverRow> {
    let (_, row) = store.webhook_target("ep", key).await.unwrap().unwrap();
    row
}

/// A step as the engine commits it: the create request left out; an
/// inline one names the key that routed its webhook (`k`).
fn engine_step(r: &HandoverRow, state: &[u8], inline: bool) -> Change {
    let mut r = r.clone();
    r.request = serde_json::Value::Null;
    r.provider_state = state.to_vec();
    r.updated_at_ms += 1;
    Change {
        without_shared_lock: inline,
        route_key: inline.then(|| "k".to_string()),
        ..step(&r, &["agent_message"])
    }
}

#[tokio::test]
async fn after_a_step_the_inline_read_gets_the_committed_row_from_the_cache() {
    let (_dir, _path, store) = db();
    let stored = bound(&store, "h", "k").await;
    assert_eq!(target(&store, "k").await, Some(inline(&stored)));
    assert_eq!(store.row_cache_counts(), Some((0, 1)), "read from the file");

    let mut at = stored;
    for state in [b"one".as_slice(), b"two"] {
        store.apply(engine_step(&at, state, true)).await.unwrap();
        let cached = target(&store, "k").await.expect("inbox empty");
        // Every column as a read from the file has it (the bumped version
        // included) but the create request, which a step never reads.
        let file = store.get_handover("h").await.unwrap().unwrap();
        assert_eq!(cached, inline(&file));
        assert!(!file.request.is_null());
        assert_eq!(cached.provider_state, state);
        at = cached;
    }
    assert_eq!(store.row_cache_counts(), Some((2, 1)), "two hits");
}

#[tokio::test]
async fn an_inbox_item_takes_the_row_out_and_an_inline_step_is_refused_until_it_is_done() {
    let (_dir, _path, store) = db();
    let stored = bound(&store, "h", "k").await;
    target(&store, "k").await.expect("cached");
    let ids = store
        .accept_webhook("ep", &["d1".into()], &["h".into()], json!({"body": "x"}))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(target(&store, "k").await, None, "its inbox has an item");
    assert_eq!(store.handover_if_inbox_empty("h").await.unwrap(), None);

    // A row read before the item came (as from a stale cache): the inline
    // step is refused, the inbox's own step is not.
    refused_as_stale(&store, engine_step(&stored, b"late", true)).await;
    let drained = Change {
        inbox_done: ids,
        ..engine_step(&stored, b"drained", false)
    };
    store.apply(drained).await.unwrap();
    let now = target(&store, "k").await.expect("inbox empty again");
    assert_eq!(now.provider_state, b"drained");
    assert_eq!(now.version, stored.version + 1);
}

#[tokio::test]
async fn another_process_s_step_makes_a_cached_row_fail_its_commit_then_leave() {
    let (_dir, path, store) = db();
    let stored = bound(&store, "h", "k").await;
    target(&store, "k").await.expect("cached");
    let other: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    other
        .apply(engine_step(&stored, b"theirs", false))
        .await
        .unwrap();

    // Until this process writes again its cache cannot know: the row is
    // the old one, and its step fails the version check.
    let stale = target(&store, "k").await.expect("cached");
    assert_eq!(stale.version, stored.version);
    refused_as_stale(&store, engine_step(&stale, b"mine", true)).await;
    // That write's batch saw the other connection's commit and emptied the
    // cache: the next read is the file's.
    let fresh = target(&store, "k").await.expect("inbox empty");
    assert_eq!(fresh.provider_state, b"theirs");
    assert_eq!(fresh.version, stored.version + 1);
}

#[tokio::test]
async fn a_prune_empties_the_cache() {
    let (_dir, _path, store) = db();
    bound(&store, "h", "k").await;
    target(&store, "k").await.expect("cached");
    target(&store, "k").await.expect("cached");
    assert_eq!(store.row_cache_counts(), Some((1, 1)));
    store.prune(&keep_all()).await.unwrap();
    target(&store, "k").await.expect("still there");
    assert_eq!(store.row_cache_counts(), Some((1, 2)), "read again");
}

#[tokio::test]
async fn a_key_bound_to_another_handover_routes_there_at_once() {
    let (_dir, _path, store) = db();
    let first = bound(&store, "h", "k").await;
    target(&store, "k").await.expect("cached");
    let second = bound(&store, "h2", "k").await;
    let (id, row) = store.webhook_target("ep", "k").await.unwrap().unwrap();
    assert_eq!(id, "h2");
    assert_eq!(row, Some(inline(&second)));
    // A step routed by the key before it moved is refused, though its own
    // handover's row did not change.
    refused_as_stale(&store, engine_step(&first, b"late", true)).await;
}

#[tokio::test]
async fn a_key_moved_by_another_process_fails_the_commit_of_a_step_it_routed() {
    let (_dir, path, store) = db();
    let first = bound(&store, "h", "k").await;
    target(&store, "k").await.expect("cached");
    let other = SqliteStore::open(&path).unwrap();
    bound(&other, "h2", "k").await;

    // This process's cache still routes `k` to `h`, whose row is current:
    // only the key check stops the step.
    let (id, row) = store.webhook_target("ep", "k").await.unwrap().unwrap();
    assert_eq!(id, "h");
    let row = row.expect("cached");
    assert_eq!(row.version, first.version);
    refused_as_stale(&store, engine_step(&row, b"misrouted", true)).await;
    assert_eq!(
        store
            .get_handover("h")
            .await
            .unwrap()
            .unwrap()
            .provider_state,
        first.provider_state,
        "nothing of the step was written"
    );
    let (id, _) = store.webhook_target("ep", "k").await.unwrap().unwrap();
    assert_eq!(id, "h2", "the cache was emptied at that write");
}

#[tokio::test]
async fn an_inline_step_leaves_its_row_cached_without_a_read_first() {
    let (_dir, _path, store) = db();
    let stored = bound(&store, "h", "k").await;
    store
        .apply(engine_step(&stored, b"first", true))
        .await
        .unwrap();
    let cached = target(&store, "k").await.expect("inbox empty");
    assert_eq!(store.row_cache_counts(), Some((1, 0)), "no read at all");
    let file = store.get_handover("h").await.unwrap().unwrap();
    assert_eq!(cached, inline(&file));
}
