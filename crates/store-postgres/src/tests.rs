//! Tests of the PostgreSQL store: the backend-generic conformance suite
//! plus what only replicas need (claims, cross-process locks, event
//! notifications, concurrent migrations).
//!
//! Each test gets a fresh schema (`t_<uuid>`, selected on every connection
//! with `options=-csearch_path=...` in the URL), dropped afterwards. The
//! server comes from `HANDOVER_TEST_PG_URL` (scripts/test sets a default);
//! without it these tests fail unless `HANDOVER_SKIP_PG_TESTS=1` skips them
//! (with a note), and with it an unreachable server fails them.

mod batch;
mod lookup;
mod shared_lock;
mod step;
mod watermark;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{PgOptions, PgStore};
use handover_core::store::{
    EventNotice, EventScope, HandoverLock, HandoverRow, Share, Store, Unclaimed,
};
use handover_store_conformance::{
    Fixture, all_conformance_tests, inserted, pg_base_url, row, step,
};

/// The test server's URL (see [`pg_base_url`]).
fn base_url() -> Option<String> {
    pg_base_url("a PostgreSQL store test")
}

/// `url` with extra query parameters.
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// Run SQL on the test server outside any test schema (on its own thread
/// and runtime, so it also works from `Drop`).
fn admin_sql(base: &str, sql: &str) {
    let (base, sql) = (base.to_string(), sql.to_string());
    let what = sql.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to HANDOVER_TEST_PG_URL {base}: {e}"));
            let driver = tokio::spawn(conn);
            client.batch_execute(&sql).await.unwrap();
            drop(client);
            let _ = driver.await;
        });
    })
    .join()
    .unwrap_or_else(|_| panic!("admin SQL failed: {what}"));
}

/// A fresh schema on the test server; dropped with the fixture.
pub(crate) struct PgFixture {
    base: String,
    pub schema: String,
    /// The URL selecting the schema (and naming the application after it).
    pub url: String,
    store: Arc<PgStore>,
}

impl PgFixture {
    pub async fn new() -> Option<PgFixture> {
        Self::with_options(PgOptions::default()).await
    }

    pub async fn with_options(options: PgOptions) -> Option<PgFixture> {
        let base = base_url()?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin_sql(&base, &format!("CREATE SCHEMA {schema}"));
        let url = with_params(
            &base,
            &format!("options=-csearch_path%3D{schema}&application_name={schema}"),
        );
        let store = PgStore::connect_with(&url, options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        Some(PgFixture {
            base,
            schema,
            url,
            store: Arc::new(store),
        })
    }

    pub fn pg(&self) -> Arc<PgStore> {
        self.store.clone()
    }

    /// Run SQL in this fixture's schema.
    pub async fn sql(&self, sql: &str) {
        self.store
            .client()
            .await
            .unwrap()
            .batch_execute(sql)
            .await
            .unwrap();
    }

    pub async fn another_pg(&self, options: PgOptions) -> PgStore {
        PgStore::connect_with(&self.url, options).await.unwrap()
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        // Other connections of this schema may still be open: they hold no locks.
        admin_sql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}

#[async_trait]
impl Fixture for PgFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
    async fn another(&self) -> Arc<dyn Store> {
        Arc::new(self.another_pg(PgOptions::default()).await)
    }
    async fn expire_claims(&self) {
        self.sql(
            "UPDATE handovers SET timer_claimed_until_ms = NULL, poll_claimed_until_ms = NULL; \
             UPDATE outbox SET claimed_until_ms = NULL;",
        )
        .await;
    }
}

async fn fixture() -> Option<Box<dyn Fixture>> {
    PgFixture::new()
        .await
        .map(|f| Box::new(f) as Box<dyn Fixture>)
}

all_conformance_tests!(fixture);

fn ids(rows: Vec<handover_core::store::HandoverRow>) -> Vec<String> {
    rows.into_iter().map(|r| r.id).collect()
}

/// Two stores on `fx`'s schema, and handover `t` with a timer, a poll and
/// a callback due (claimable with `now` 1,000 and any outbox time).
async fn two_stores_and_due_work(fx: &PgFixture) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a: Arc<dyn Store> = fx.pg();
    let b: Arc<dyn Store> = Arc::new(fx.another_pg(PgOptions::default()).await);
    let mut t = row("t", "ep", "s1");
    t.no_agent_deadline_ms = Some(100);
    t.next_poll_at_ms = Some(100);
    t.callback_url = Some("https://bot/cb".into());
    let t = inserted(&a, t).await;
    a.apply(step(&t, &["queued"])).await.unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_given_back_are_claimable_at_once() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let (a, b) = two_stores_and_due_work(&fx).await;
    let u = inserted(
        &a,
        HandoverRow {
            no_agent_deadline_ms: Some(100),
            ..row("u", "ep", "s2")
        },
    )
    .await;
    drop(u);

    // Claimed by `a`, which gives back `t` only (an empty list is a no-op).
    assert_eq!(
        ids(a.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["t", "u"]
    );
    a.release_claims(Unclaimed::Timers(&[])).await.unwrap();
    a.release_claims(Unclaimed::Timers(&["t".into()]))
        .await
        .unwrap();
    assert_eq!(
        ids(b.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );

    let polls = a.due_polls(1_000, 10, &Share::ALL).await.unwrap();
    assert_eq!(ids(polls), ["t"]);
    assert!(
        b.due_polls(1_000, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    a.release_claims(Unclaimed::Polls(&["t".into()]))
        .await
        .unwrap();
    assert_eq!(
        ids(b.due_polls(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );

    let o = a.due_outbox(i64::MAX, 10, &Share::ALL).await.unwrap();
    assert_eq!(o.len(), 1);
    assert!(
        b.due_outbox(i64::MAX, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    a.release_claims(Unclaimed::Outbox(&[o[0].id]))
        .await
        .unwrap();
    assert_eq!(b.due_outbox(i64::MAX, 10, &Share::ALL).await.unwrap(), o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_work_is_claimed_by_one_caller_until_the_lease_expires() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let (a, b) = two_stores_and_due_work(&fx).await;

    assert_eq!(
        ids(a.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );
    assert!(
        b.due_timers(1_000, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        a.due_timers(1_000, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty(),
        "the claimer too"
    );
    assert_eq!(
        ids(b.due_polls(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );
    assert!(
        a.due_polls(1_000, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    let o = b.due_outbox(i64::MAX, 10, &Share::ALL).await.unwrap();
    assert_eq!(o.len(), 1);
    assert!(
        a.due_outbox(i64::MAX, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );

    // A write of the handover (a step ran under its lock) drops its claims.
    let t = a.get_handover("t").await.unwrap().unwrap();
    a.apply(step(&t, &[])).await.unwrap();
    assert_eq!(
        ids(b.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );
    assert_eq!(
        ids(a.due_polls(1_000, 10, &Share::ALL).await.unwrap()),
        ["t"]
    );
    // A retry of a delivery drops its claim (it is due again when its time comes).
    b.outbox_retry(o[0].id, 1, 500, "HTTP 503").await.unwrap();
    assert!(a.due_outbox(499, 10, &Share::ALL).await.unwrap().is_empty());
    assert_eq!(
        a.due_outbox(500, 10, &Share::ALL).await.unwrap()[0].attempts,
        1
    );

    // A claim nobody completes (a dead replica's) expires after the lease.
    let short = fx
        .another_pg(PgOptions {
            claim_lease: Duration::from_millis(300),
            ..PgOptions::default()
        })
        .await;
    let mut u = row("u", "ep", "s2");
    u.inactivity_end_at_ms = Some(5);
    inserted(&a, u).await;
    assert_eq!(
        ids(short.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["u"]
    );
    assert!(
        a.due_timers(1_000, 10, &Share::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        ids(a.due_timers(1_000, 10, &Share::ALL).await.unwrap()),
        ["u"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_row() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let a: Arc<dyn Store> = fx.pg();
    for i in 0..120 {
        let mut r = row(&format!("h{i:03}"), "ep", &format!("s{i}"));
        r.no_agent_deadline_ms = Some(i);
        inserted(&a, r).await;
    }
    let mut stores = vec![a.clone()];
    for _ in 0..2 {
        stores.push(Arc::new(fx.another_pg(PgOptions::default()).await));
    }
    let mut tasks = Vec::new();
    for k in 0..6 {
        let s = stores[k % 3].clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                got.extend(ids(s.due_timers(1_000, 7, &Share::ALL).await.unwrap()));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a row was claimed twice");
    assert_eq!(n, 120, "every due row is claimed once");
}

/// A fixture whose store holds handover `h`'s lock, and another store on
/// its schema (a replica) with `options`; `None` skips.
async fn h_locked(options: PgOptions) -> Option<(PgFixture, HandoverLock, PgStore)> {
    let fx = PgFixture::new().await?;
    let other = fx.another_pg(options).await;
    let held = fx.pg().lock_handover("h").await.unwrap();
    Some((fx, held, other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handover_locks_exclude_across_stores_and_release_on_drop() {
    let Some((_fx, held, b)) = h_locked(PgOptions::default()).await else {
        return;
    };
    let b = Arc::new(b);
    // Another handover is independent.
    drop(
        tokio::time::timeout(Duration::from_secs(5), b.lock_handover("other"))
            .await
            .expect("an unrelated lock must not wait")
            .unwrap(),
    );
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.lock_handover("h").await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the lock is held by the other store");
    drop(held);
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("released on drop")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_lock_waits_do_not_leak_the_lock() {
    // One lock connection only, so a leaked lock would be found again.
    let options = PgOptions {
        lock_pool_size: 1,
        ..PgOptions::default()
    };
    let Some((fx, held, b)) = h_locked(options).await else {
        return;
    };
    let a = fx.pg();
    // b gives up waiting (its request was cancelled, say).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.lock_handover("h"))
            .await
            .is_err()
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The abandoned wait must not have left "h" locked for ever.
    tokio::time::timeout(Duration::from_secs(5), a.lock_handover("h"))
        .await
        .expect("the lock is free again")
        .unwrap();
    // And b's pool still works.
    tokio::time::timeout(Duration::from_secs(5), b.lock_handover("x"))
        .await
        .expect("b can lock again")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_replicas_locks_vanish_with_its_connection() {
    let Some((fx, held, b)) = h_locked(PgOptions::default()).await else {
        return;
    };
    // The process "dies": its connections are cut without any unlock.
    fx.sql(&format!(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE l.locktype = 'advisory' AND s.application_name = '{}'",
        fx.schema
    ))
    .await;
    tokio::time::timeout(Duration::from_secs(5), b.lock_handover("h"))
        .await
        .expect("the dead holder's lock is gone")
        .unwrap();
    drop(held); // Its unlock fails quietly on the dead connection.
}

/// `store`'s event notifications, past the catch-up wake of the connect
/// (which carries the schema's newest event id: none yet, 0).
async fn subscribed(store: &PgStore) -> tokio::sync::broadcast::Receiver<EventNotice> {
    let mut rx = store.event_notifications().expect("postgres notifies");
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a wake on connect")
        .unwrap();
    assert_eq!(first, EventNotice::Any { newest: 0 });
    rx
}

/// The notice for events of handover `h` on endpoint `ep` up to `newest`.
fn of_h(newest: i64) -> EventNotice {
    EventNotice::Handover {
        newest,
        handover: "h".into(),
        endpoint: "ep".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_stores_are_notified_of_events_and_after_reconnects() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let writer = fx.pg();
    let reader = fx.another_pg(PgOptions::default()).await;
    let mut rx = subscribed(&reader).await;
    let mut own = subscribed(&writer).await;
    let r = inserted(&(writer.clone() as Arc<dyn Store>), row("h", "ep", "s")).await;
    let stored = writer
        .apply(step(&r, &["queued", "agent_joined"]))
        .await
        .unwrap();
    let newest = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a wake for the new events")
        .unwrap();
    assert_eq!(newest, of_h(stored[1].id), "naming the handover");
    // A store does not hear its own notifications (its engine woke its
    // streams at the commit): the writer's first notice is the reader's
    // later write, not its own earlier one.
    let r = reader.get_handover("h").await.unwrap().unwrap();
    let by_reader = reader.apply(step(&r, &["agent_message"])).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), own.recv())
        .await
        .expect("a wake for the reader's events")
        .unwrap();
    assert_eq!(first, of_h(by_reader[0].id), "not its own notice");

    // A lost listener connection is re-established, with a catch-up wake.
    fx.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{}' AND query LIKE 'LISTEN%' OR \
         (application_name = '{}' AND query = '{}')",
        fx.schema,
        fx.schema,
        crate::watermark::NEWEST_SETTLED
    ))
    .await;
    let r = writer.get_handover("h").await.unwrap().unwrap();
    let more = writer.apply(step(&r, &["agent_message"])).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let id = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("woken after the reconnect")
            .unwrap()
            .newest();
        if id >= more[0].id {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemas_sharing_a_database_do_not_wake_each_other() {
    let (Some(ours), Some(theirs)) = (PgFixture::new().await, PgFixture::new().await) else {
        return;
    };
    let reader = ours.another_pg(PgOptions::default()).await;
    let mut rx = subscribed(&reader).await;
    // Events in the other schema: no wake here.
    let other = theirs.pg();
    let r = inserted(&(other.clone() as Arc<dyn Store>), row("h", "ep", "s")).await;
    other
        .apply(step(&r, &["queued", "agent_joined"]))
        .await
        .unwrap();
    // Then one in ours: the next wake is for it, carrying our newest id.
    let writer = ours.pg();
    let r = inserted(&(writer.clone() as Arc<dyn Store>), row("h", "ep", "s")).await;
    let stored = writer.apply(step(&r, &["queued"])).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a wake for our event")
        .unwrap();
    assert_eq!(
        next,
        of_h(stored[0].id),
        "woken by the other schema's events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_migrating_together_apply_each_migration_once() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    // A second, empty schema that four "replicas" create at once.
    let schema = format!("{}_m", fx.schema);
    fx.sql(&format!("CREATE SCHEMA {schema}")).await;
    let url = with_params(
        &base_url().unwrap(),
        &format!("options=-csearch_path%3D{schema}"),
    );
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { PgStore::connect(&url).await }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().unwrap());
    }
    let version: i64 = stores[0]
        .client()
        .await
        .unwrap()
        .query_one("SELECT version FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, super::schema::current_version());
    let s: Arc<dyn Store> = Arc::new(stores.pop().unwrap());
    inserted(&s, row("h", "ep", "s")).await;
    drop(stores);
    fx.sql(&format!("DROP SCHEMA {schema} CASCADE")).await;
}

#[tokio::test]
async fn newer_schemas_and_missing_schemas_are_refused() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    fx.sql("UPDATE schema_version SET version = version + 1")
        .await;
    let err = PgStore::connect(&fx.url).await.unwrap_err().to_string();
    assert!(err.contains("newer than this build"), "{err}");

    let url = with_params(
        &base_url().unwrap(),
        "options=-csearch_path%3Dno_such_schema_here",
    );
    let err = PgStore::connect(&url).await.unwrap_err().to_string();
    assert!(err.contains("search_path"), "{err}");
}

#[tokio::test]
async fn unreachable_servers_and_bad_urls_are_errors() {
    let err = PgStore::connect("postgres://postgres@127.0.0.1:1/test?connect_timeout=2")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect"), "{err}");
    let err = PgStore::connect("postgres://[bad")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid PostgreSQL connection URL"), "{err}");
}

#[tokio::test]
async fn event_ids_are_never_reused() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store: Arc<dyn Store> = fx.pg();
    let a = inserted(&store, row("a", "ep", "s")).await;
    let first = store.apply(step(&a, &["queued", "ended"])).await.unwrap();
    // Even if events were pruned, later ids stay above every id handed out
    // (transaction ids never go back).
    fx.sql("DELETE FROM outbox; DELETE FROM events;").await;
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    let store = fx.another().await;
    let a = store.get_handover("a").await.unwrap().unwrap();
    let next = store.apply(step(&a, &["again"])).await.unwrap();
    assert!(next[0].id > first[1].id);
    let events = store
        .events_after(&EventScope::Handover("a".into()), 0, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, json!({"type": "again"}));
}
