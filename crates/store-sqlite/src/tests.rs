//! Tests of the SQLite store against real database files in a temporary
//! directory (and in memory where the medium does not matter): the
//! backend-generic conformance suite (`store::conformance`) plus what is
//! SQLite's own (file settings, migrations, query plans, SIGKILL).
//!
//! Owns: nothing but test fixtures. Must never: share a database file
//! between tests or depend on wall-clock timing beyond "now".

use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;

use async_trait::async_trait;

use super::{SqliteStore, ops, schema};
use handover_core::store::{EventScope, HandoverRow, Insert, Store};
use handover_store_conformance::{Fixture, all_conformance_tests, row, step};

/// A private database file for one conformance test.
struct SqliteFixture {
    _dir: TempDir,
    path: PathBuf,
    store: Arc<dyn Store>,
}

#[async_trait]
impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
    async fn another(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }
    async fn expire_claims(&self) {
        // SQLite's due_* claim nothing (one process runs the workers).
    }
}

async fn fixture() -> Option<Box<dyn Fixture>> {
    let (dir, path, store) = db();
    Some(Box::new(SqliteFixture {
        _dir: dir,
        path,
        store: Arc::new(store),
    }))
}

all_conformance_tests!(fixture);

/// A store on a private file (`nested/state.db` in a temporary directory),
/// with the directory (removed when dropped) and the file's path.
pub(crate) fn db() -> (TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    (dir, path, store)
}

async fn inserted(store: &SqliteStore, r: HandoverRow) -> HandoverRow {
    match store.insert_handover(r, None).await.unwrap() {
        Insert::Inserted(r) => r,
        other => panic!("expected Inserted, got {other:?}"),
    }
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
        ops::insert_or_resolve(&conn, &same_key).unwrap(),
        Some(Insert::IdempotentReplay(first.clone()))
    );
    assert_eq!(
        ops::insert_or_resolve(&conn, &row("h3", "ep", "s1")).unwrap(),
        Some(Insert::OpenExists(first))
    );
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM handovers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
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

/// The value of `PRAGMA name` on `conn`.
fn pragma<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, name: &str) -> T {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn handover_columns_are_listed_in_the_order_the_select_returns_them() {
    let (_dir, _path, store) = db();
    let conn = store.writer.lock().unwrap();
    let stmt = conn.prepare(crate::rows::select_handovers!("")).unwrap();
    assert_eq!(stmt.column_names(), crate::rows::HANDOVER_COLUMNS);
}

#[tokio::test]
async fn file_settings_are_durable() {
    let (_dir, path, store) = db();
    {
        let conn = store.writer.lock().unwrap();
        let mode: String = pragma(&conn, "journal_mode");
        let sync: i64 = pragma(&conn, "synchronous");
        let fk: i64 = pragma(&conn, "foreign_keys");
        let version: i64 = pragma(&conn, "user_version");
        assert_eq!(
            (mode.as_str(), sync, fk, version),
            ("wal", 2, 1, schema::current_version())
        );
    }
    let reader = store.reader.as_ref().unwrap().lock().unwrap();
    assert_eq!(pragma::<i64>(&reader, "query_only"), 1);
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

/// A database written by schema 4 (no open-handover counter, the request
/// in the handover row) is brought up to date when opened: the counter is
/// seeded from its rows and kept from then on, and every request is moved
/// to its own table intact.
#[tokio::test]
async fn an_older_database_gets_its_counter_and_keeps_its_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = 4; PRAGMA application_id = {};",
            schema::APPLICATION_ID
        ))
        .unwrap();
        for (id, tenant, session, status) in [
            ("h1", "acme", "s1", "completed"),
            ("h2", "acme", "s2", "queued"),
            ("h3", "globex", "s1", "requested"),
        ] {
            conn.execute(
                "INSERT INTO handovers (id, endpoint_id, tenant, session_id, status, request, \
                 provider_state, created_at_ms, updated_at_ms, last_user_activity_ms, \
                 poll_failures, version) VALUES (?1, 'ep', ?2, ?3, ?4, ?5, x'', 1, 1, 1, 0, 0)",
                rusqlite::params![
                    id,
                    tenant,
                    session,
                    status,
                    format!(r#"{{"session":"{session}"}}"#)
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count_open_handovers("acme").await.unwrap(), 1);
    assert_eq!(store.count_open_handovers("globex").await.unwrap(), 1);
    assert_eq!(store.count_open_handovers("nobody").await.unwrap(), 0);
    let h1 = store.get_handover("h1").await.unwrap().unwrap();
    assert_eq!(h1.request, serde_json::json!({"session": "s1"}));
    inserted(&store, row("h4", "ep", "s4")).await;
    assert_eq!(store.count_open_handovers("acme").await.unwrap(), 2);
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
    let p = plan("SELECT id FROM events WHERE handover_id = 'h' AND id > 3 ORDER BY seq LIMIT 5");
    assert!(p.contains("sqlite_autoindex_events_1"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    let p = plan(
        "SELECT id FROM handovers WHERE status = 'requested' AND created_at_ms < 5 ORDER BY created_at_ms LIMIT 5",
    );
    assert!(p.contains("handovers_requested"), "{p}");
    let p = plan("SELECT id FROM inbox WHERE handover_id = 'h' AND done = 0 ORDER BY id");
    assert!(p.contains("inbox_pending"), "{p}");
    // The retention pruner's delete of ended handovers' recordings.
    let p = plan("DELETE FROM recordings WHERE handover_id IN ('a', 'b')");
    assert!(p.contains("recordings_handover"), "{p}");
}

#[tokio::test]
async fn in_memory_store_works_without_a_separate_reader() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    assert!(store.reader.is_none());
    let r = inserted(&store, row("h", "ep", "s")).await;
    let events = store.apply(step(&r, &["queued"])).await.unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), events[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_read_does_not_hold_up_the_others() {
    // Reads prefer the first reader thread (so they batch); one held up by
    // a slow read (past `readers::SPILL`) sends the rest to the second.
    let (_dir, _path, store) = db();
    let store = Arc::new(store);
    inserted(&store, row("h", "ep", "s")).await;
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let slow = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read(move |_| {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
                .await
        })
    };
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();
    // The slow read has been running for longer than the spill threshold.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for _ in 0..3 {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), store.get_handover("h"))
            .await
            .expect("a quick read waited for the slow one");
        assert!(got.unwrap().is_some());
    }
    release.send(()).unwrap();
    slow.await.unwrap().unwrap();
}

#[tokio::test]
async fn group_commit_keeps_each_write_all_or_nothing() {
    // Many writes queued at once share one commit; a failing one (stale
    // version) leaves nothing behind and does not affect its neighbours.
    let (_dir, path, store) = db();
    let store = Arc::new(store);
    let mut rows = vec![];
    for i in 0..64 {
        rows.push(inserted(&store, row(&format!("h{i}"), "ep", &format!("s{i}"))).await);
    }
    let writes = rows.iter().enumerate().map(|(i, r)| {
        let store = store.clone();
        let mut r = r.clone();
        if i % 3 == 0 {
            r.version += 7; // stale: must conflict
        }
        async move { store.apply(step(&r, &["queued", "agent_joined"])).await }
    });
    let results = futures::future::join_all(writes).await;
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    for (i, res) in results.into_iter().enumerate() {
        let id = format!("h{i}");
        let events = store
            .events_after(&EventScope::Handover(id.clone()), 0, 10)
            .await
            .unwrap();
        let version = store.get_handover(&id).await.unwrap().unwrap().version;
        if i % 3 == 0 {
            assert!(
                matches!(res, Err(handover_core::store::StoreError::Conflict(_))),
                "{id}: {res:?}"
            );
            assert_eq!(
                (events.len(), version),
                (0, 0),
                "{id}: a failed write left changes"
            );
        } else {
            assert_eq!(res.unwrap().len(), 2, "{id}");
            assert_eq!(
                (events.len(), version),
                (2, 1),
                "{id}: a committed write is missing"
            );
        }
    }
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
            "tests::sigkill_child_writer",
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

/// Under reads and writes back to back (as under webhook load), the
/// checkpointer still starts the log over, so the WAL file stays bounded
/// (19 MiB here). Without the gate its `RESTART` rarely found a moment
/// with no transaction open, and the log grew to 135 MiB of the 256 MiB
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_restarted_under_continuous_reads_and_writes() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let (_dir, path, store) = db();
    let store = Arc::new(store);
    let mut r = inserted(&store, row("h-1", "ep", "s-1")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = vec![];
    for _ in 0..4 {
        let (store, stop) = (store.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            // Long reads (1 MiB of events each), as an event stream's.
            let scope = EventScope::Handover("h-1".into());
            while !stop.load(Relaxed) {
                store.events_after(&scope, 0, 4).await.unwrap();
            }
        }));
    }
    let wal = path.with_file_name("state.db-wal");
    let blob = "x".repeat(256 << 10);
    let (mut written, mut largest) = (0usize, 0u64);
    while written < 256 << 20 {
        let mut change = step(&r, &[]);
        change.events = vec![handover_core::store::NewEvent {
            kind: "big".into(),
            payload: serde_json::json!({"type": "big", "blob": blob}),
        }];
        store.apply(change).await.unwrap();
        r.version += 1;
        written += blob.len();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    stop.store(true, Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(
        largest < 64 << 20,
        "the log grew to {} MiB while {} MiB were written",
        largest >> 20,
        written >> 20
    );
}

/// A step of an open handover that stays open writes its row and nothing
/// else: the open count's trigger runs only when a handover opens, closes
/// or changes tenant (it ran on every step before migration 11, writing
/// the tenant's count twice). `total_changes` counts trigger writes too.
#[tokio::test]
async fn the_open_count_is_written_only_when_openness_changes() {
    let store = SqliteStore::open_in_memory().unwrap();
    inserted(&store, row("h1", "ep", "s1")).await;
    let conn = store.writer.lock().unwrap();
    let writes = |sql: &str| {
        let before = conn.total_changes();
        conn.execute(sql, []).unwrap();
        conn.total_changes() - before
    };
    let open = || -> i64 {
        conn.query_row(
            "SELECT open FROM tenant_open WHERE tenant = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let step = |status: &str| {
        format!("UPDATE handovers SET status = '{status}', version = version + 1 WHERE id = 'h1'")
    };
    assert_eq!(open(), 1);
    assert_eq!(writes(&step("requested")), 1, "same status: the row only");
    assert_eq!(writes(&step("active")), 1, "open to open: the row only");
    assert_eq!(open(), 1);
    assert_eq!(
        writes(&step("completed")),
        2,
        "closing: the row and the count"
    );
    assert_eq!(open(), 0);
    assert_eq!(
        writes(&step("cancelled")),
        1,
        "closed to closed: the row only"
    );
    assert_eq!(
        writes(&step("queued")),
        2,
        "reopening: the row and the count"
    );
    assert_eq!(open(), 1);
    assert_eq!(
        writes("UPDATE handovers SET tenant = 'globex' WHERE id = 'h1'"),
        3,
        "a tenant change moves the count"
    );
    assert_eq!(open(), 0);
}

/// Group commit keeps each job's changes or none of them: in a batch of
/// several, a job that fails after writing loses its writes only (its
/// savepoint); a lone job that fails (no savepoint) rolls the transaction
/// back. Either way the connection is left outside any transaction. A
/// batch of jobs that may run again runs once without savepoints when all
/// succeed, and again with savepoints when one fails.
#[test]
fn a_failed_write_loses_its_own_changes_and_nothing_else() {
    use super::Rerun::{Allowed, Never};
    use std::sync::Mutex;
    let conn = Mutex::new(rusqlite::Connection::open_in_memory().unwrap());
    conn.lock()
        .unwrap()
        .execute_batch("CREATE TABLE t (v INTEGER)")
        .unwrap();
    // Per job: (value, answered with its own result after the batch ended
    // rather than failed with the whole batch, times run).
    let ended = Arc::new(Mutex::new(Vec::<(i64, bool, u32)>::new()));
    let job = |v: i64, ok: bool, rerun: super::Rerun| {
        let ended = ended.clone();
        let mut runs = 0;
        super::WriteJob {
            rerun,
            step: Box::new(move |step| match step {
                super::JobStep::Run(c) => {
                    runs += 1;
                    c.execute("INSERT INTO t (v) VALUES (?1)", [v]).unwrap();
                    ok
                }
                super::JobStep::Committed => {
                    ended.lock().unwrap().push((v, true, runs));
                    true
                }
                super::JobStep::Failed(_) => {
                    ended.lock().unwrap().push((v, false, runs));
                    true
                }
            }),
        }
    };
    let kept = |conn: &Mutex<rusqlite::Connection>| -> Vec<i64> {
        let c = conn.lock().unwrap();
        assert!(c.is_autocommit(), "a transaction was left open");
        let mut st = c.prepare("SELECT v FROM t ORDER BY v").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let runs = |ended: &Mutex<Vec<(i64, bool, u32)>>| -> Vec<(i64, u32)> {
        ended
            .lock()
            .unwrap()
            .drain(..)
            .map(|(v, _, n)| (v, n))
            .collect()
    };
    super::run_batch(
        &conn,
        &mut [
            job(1, true, Never),
            job(2, false, Never),
            job(3, true, Never),
        ],
        &mut Default::default(),
    );
    assert_eq!(kept(&conn), vec![1, 3]);
    super::run_batch(&conn, &mut [job(4, false, Never)], &mut Default::default());
    assert_eq!(kept(&conn), vec![1, 3]);
    super::run_batch(&conn, &mut [job(5, true, Never)], &mut Default::default());
    assert_eq!(kept(&conn), vec![1, 3, 5]);
    // Every job's caller was answered with its own result, each job run once.
    assert_eq!(runs(&ended), vec![(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]);

    // Jobs that may run again, all succeeding: one savepoint-free run each.
    super::run_batch(
        &conn,
        &mut [job(6, true, Allowed), job(7, true, Allowed)],
        &mut Default::default(),
    );
    assert_eq!(kept(&conn), vec![1, 3, 5, 6, 7]);
    assert_eq!(runs(&ended), vec![(6, 1), (7, 1)]);
    // One fails: the first run is rolled back at the failure (9 never ran
    // in it), then every job runs again in its savepoint; only 8's own
    // writes are lost, and 8's caller gets 8's failure.
    let reruns = super::savepoint_reruns();
    super::run_batch(
        &conn,
        &mut [
            job(10, true, Allowed),
            job(8, false, Allowed),
            job(9, true, Allowed),
        ],
        &mut Default::default(),
    );
    assert_eq!(kept(&conn), vec![1, 3, 5, 6, 7, 9, 10]);
    assert!(super::savepoint_reruns() > reruns);
    let answered = ended.lock().unwrap().clone();
    assert_eq!(answered, vec![(10, true, 2), (8, true, 2), (9, true, 1)]);
    runs(&ended);
    // A batch with a job that may not run again: savepoints from the start.
    super::run_batch(
        &conn,
        &mut [
            job(11, true, Allowed),
            job(12, false, Allowed),
            job(13, true, Never),
        ],
        &mut Default::default(),
    );
    assert_eq!(kept(&conn), vec![1, 3, 5, 6, 7, 9, 10, 11, 13]);
    assert_eq!(runs(&ended), vec![(11, 1), (12, 1), (13, 1)]);
}

/// Steps written together, stale ones among them (each a delivery id
/// written before its version check fails): the batch's savepoint-free run
/// is rolled back and run again with savepoints, each caller gets its own
/// answer, and exactly the current steps' writes are stored.
#[tokio::test]
async fn steps_batched_with_stale_ones_keep_exactly_the_current_ones() {
    let (_dir, _path, store) = db();
    let store = Arc::new(store);
    let mut rows = Vec::new();
    for i in 0..40 {
        let r = row(&format!("h{i}"), "ep", &format!("s{i}"));
        rows.push(inserted(&store, r).await);
    }
    let reruns = super::savepoint_reruns();
    // Hold the writer's connection so every step below queues before the
    // writer can run one: at most two batches, one of them of 20 or more.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = store.writer.clone();
    let holder = std::thread::spawn(move || {
        let _conn = writer.lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    held_rx.recv().unwrap();
    let tasks: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut change = step(r, &["agent_message"]);
            change.deliveries = vec![format!("d{i}")];
            if i % 2 == 1 {
                change.row.as_mut().unwrap().version += 7;
            }
            let store = store.clone();
            tokio::spawn(async move { store.apply(change).await })
        })
        .collect();
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        if i % 2 == 1 {
            assert!(
                matches!(answer, Err(handover_core::store::StoreError::Conflict(ref id)) if *id == format!("h{i}")),
                "step {i}: {answer:?}"
            );
        } else {
            let events = answer.unwrap_or_else(|e| panic!("step {i}: {e}"));
            assert_eq!(events.len(), 1);
            assert_eq!(
                (events[0].handover_id.as_str(), events[0].seq),
                (format!("h{i}").as_str(), 1)
            );
            assert_eq!(events[0].kind, "agent_message");
        }
    }
    assert!(super::savepoint_reruns() > reruns, "no batch was run again");
    let conn = store.writer.lock().unwrap();
    let mut st = conn
        .prepare("SELECT delivery_id FROM webhook_deliveries ORDER BY CAST(substr(delivery_id, 2) AS INTEGER)")
        .unwrap();
    let kept: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let wanted: Vec<String> = (0..40).step_by(2).map(|i| format!("d{i}")).collect();
    assert_eq!(kept, wanted);
    let events: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 20);
}
