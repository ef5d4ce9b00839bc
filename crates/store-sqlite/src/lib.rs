//! The embedded SQLite implementation of [`Store`]: one file, WAL journal,
//! `synchronous=FULL`, so every acknowledged write survives a killed process
//! or a power loss.
//!
//! Owns: the connections (one writer, two readers for files) and how trait
//! calls become blocking transactions, each kind on threads of its own.
//! Reads go through a queue to a reader thread (`readers`: two, the first
//! preferred so reads batch), which runs the reads waiting at that moment
//! in one read transaction (in memory they run on the blocking pool);
//! reads of recent events are answered from `event_tail` when it can vouch
//! for them.
//! Writes go through a group-commit queue: one writer thread takes every
//! write waiting at that moment, runs them in one `BEGIN IMMEDIATE`
//! transaction and commits once (one WAL fsync for the batch): without
//! savepoints first where every write may run again, and if one fails, all
//! again after a rollback, each in its own `SAVEPOINT` (see `run_batch`);
//! each caller is answered only after that commit, so a
//! returned write is as durable as before and a failed one left nothing
//! behind. Each trait method stays all-or-nothing;
//! `BEGIN IMMEDIATE` still serialises writers across processes sharing the
//! file.
//! Must never: hold a `std::sync::Mutex` across an `.await`, run SQLite on
//! an async worker thread, or decide handover semantics.
//!
//! Layout: `schema` (pragmas, migrations), `rows` (column encoding), `ops`
//! (the SQL of each method), `checkpoint` (WAL checkpoints off the writer
//! thread), `readers` (the reader threads), `row_cache` (handover rows as
//! this process last committed them, for the inline webhook's read),
//! `event_tail` (the events this process committed last, for stream reads),
//! `hit_counts` (both caches' hit and miss counts),
//! `global` (SQLite's process-wide settings), `pcache` (SQLite's page
//! cache, wrapped to skip a needless walk per commit), `wal_gather` (the
//! writer's WAL writes, one per commit), `tests`.

mod canary;
mod checkpoint;
mod event_tail;
mod global;
mod hit_counts;
mod ops;
mod pcache;
mod readers;
mod row_cache;
#[cfg(test)]
mod row_cache_tests;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod wal_gather;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use event_tail::EventTail;
use handover_core::store::{
    AdapterVersion, CanaryRecord, Change, EventScope, HandoverLock, HandoverRow, InboxItem, Insert,
    OutboxItem, Pruned, Result, Retention, Share, Store, StoreError, StoredEvent,
};

pub use global::memory_statistics_on;
pub use pcache::truncations_skipped;

/// Whether this process's SQLite connections use the wrapped page cache
/// (`pcache`): wraps it if no connection has opened yet.
pub fn page_cache_wrapped() -> bool {
    global::configure()
}

type Shared = Arc<Mutex<Connection>>;

/// SQLite-backed [`Store`]. Cheap to clone (the connections are shared).
#[derive(Clone)]
pub struct SqliteStore {
    writer: Shared,
    /// The group-commit queue of the writer thread (which owns a clone of
    /// `writer` and locks it per batch). The thread ends when the last clone
    /// of the store is dropped.
    queue: Arc<Mutex<mpsc::Sender<WriteJob>>>,
    /// A second connection for reads, so readers need not wait for the
    /// writer (WAL allows both at once). `None` in memory, where a second
    /// connection would be a different database.
    reader: Option<Shared>,
    /// The queues of the reader threads (the first owns a clone of
    /// `reader`, each other one a connection of its own), when there is a
    /// separate reader.
    read_queue: Option<Arc<readers::Readers>>,
    /// Runs WAL checkpoints off the writer thread (file databases).
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
    /// Handover rows as last committed (`None`: turned off, see
    /// [`row_cache_on`]).
    rows: Option<Arc<row_cache::RowCache>>,
    /// The events this process committed last, for `events_after` (`None`:
    /// turned off, see [`event_tail_on`]).
    tail: Option<Arc<event_tail::EventTail>>,
}

/// Reader threads (and connections) for a file database: each batch of
/// reads is one snapshot, run in parallel with the writer (see `readers`
/// for which thread a read goes to).
const READERS: usize = 2;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("separate_reader", &self.reader.is_some())
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating it and its parent directories if needed) the database
    /// file at `path` and bring its schema up to date.
    ///
    /// Blocks briefly; call it at startup (or from `spawn_blocking`).
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::backend(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let context = |e: rusqlite::Error| {
            StoreError::backend(format!("cannot open {}: {e}", path.display()))
        };

        global::configure();
        let gather = gather_wal_writes();
        let mut writer = if gather {
            Connection::open_with_flags_and_vfs(path, flags, wal_gather::NAME)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(context)?;
        schema::configure_writer(&writer, true)?;
        if gather {
            // The gathered writes are only sound where every commit syncs.
            let sync: i64 = writer.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            if sync < 2 {
                return Err(StoreError::backend(format!(
                    "the writer's connection must sync every commit (synchronous is {sync})"
                )));
            }
        }
        schema::migrate(&mut writer)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(context)?;
            schema::configure_reader(&reader)?;
            readers.push(Arc::new(Mutex::new(reader)));
        }
        let gate = Arc::new(checkpoint::Gate::default());
        let read_queue = readers::Readers::spawn(&readers, &gate)?;

        let writer = Arc::new(Mutex::new(writer));
        let every: Vec<Shared> = std::iter::once(&writer).chain(&readers).cloned().collect();
        let checkpointer = checkpoint::spawn(path, every, gate.clone())?;
        let rows = row_cache_on().then(Arc::default);
        let tail = event_tail_on().then(Arc::default);
        Ok(SqliteStore {
            queue: spawn_writer(writer.clone(), gate, rows.clone(), tail.clone())?,
            writer,
            _checkpointer: Some(Arc::new(checkpointer)),
            read_queue: Some(Arc::new(read_queue)),
            reader: readers.into_iter().next(),
            rows,
            tail,
        })
    }

    /// A private in-memory database (for tests); gone when the store is dropped.
    pub fn open_in_memory() -> Result<SqliteStore> {
        global::configure();
        let mut writer = Connection::open_in_memory()?;
        schema::configure_writer(&writer, false)?;
        schema::migrate(&mut writer)?;
        let writer = Arc::new(Mutex::new(writer));
        let rows = row_cache_on().then(Arc::default);
        let tail = event_tail_on().then(Arc::default);
        Ok(SqliteStore {
            queue: spawn_writer(writer.clone(), Arc::default(), rows.clone(), tail.clone())?,
            writer,
            reader: None,
            read_queue: None,
            _checkpointer: None,
            rows,
            tail,
        })
    }

    /// Run `f` as one all-or-nothing unit of a group-committed `BEGIN
    /// IMMEDIATE` transaction on the writer thread (see the module doc):
    /// its changes are kept if it returns `Ok` and rolled back otherwise.
    /// Returns once the batch holding it is committed (or failed).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let run =
            |conn: &Connection, f: &mut Option<F>| (f.take().expect("a write job runs once"))(conn);
        self.submit(Rerun::Never, Some(f), run, |_, out| out).await
    }

    /// [`write`](Self::write) for a unit that may run more than once (each
    /// run in a new transaction, the last run's result answered): `f` must
    /// touch nothing but the connection. A batch of such units runs without
    /// savepoints (see [`run_batch`]).
    async fn write_again<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(Rerun::Allowed, f, |conn, f: &mut F| f(conn), |_, out| out)
            .await
    }

    /// Queue one write: `run(conn, &mut state)` runs in the batch's
    /// transaction (more than once only if `rerun` allows it); after the
    /// commit, `finish(state, out)` makes the caller's answer from the last
    /// run's result, so a run can borrow what the answer then takes.
    async fn submit<S, R, T>(
        &self,
        rerun: Rerun,
        state: S,
        mut run: impl FnMut(&Connection, &mut S) -> Result<R> + Send + 'static,
        finish: impl FnOnce(S, R) -> T + Send + 'static,
    ) -> Result<T>
    where
        S: Send + 'static,
        R: Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let mut tx = Some(tx);
        let mut state = Some(state);
        let mut finish = Some(finish);
        let mut result: Option<Result<R>> = None;
        let step = move |step: JobStep<'_>| match step {
            JobStep::Run(conn) => {
                let Some(s) = state.as_mut() else {
                    return false;
                };
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(conn, s)))
                    .unwrap_or_else(|_| Err(StoreError::backend("store write panicked")));
                let ok = out.is_ok();
                result = Some(out);
                ok
            }
            JobStep::Committed => {
                if let (Some(tx), Some(r), Some(s), Some(finish)) =
                    (tx.take(), result.take(), state.take(), finish.take())
                {
                    let _ = tx.send(r.map(|r| finish(s, r)));
                }
                true
            }
            JobStep::Failed(why) => {
                if let Some(tx) = tx.take() {
                    let r = match result.take() {
                        Some(Err(own)) => Err(own),
                        _ => Err(StoreError::backend(format!(
                            "the write was not committed: {why}"
                        ))),
                    };
                    let _ = tx.send(r);
                }
                true
            }
        };
        let job = WriteJob {
            rerun,
            step: Box::new(step),
        };
        lock_queue(&self.queue)
            .send(job)
            .map_err(|_| StoreError::backend("the store's writer thread has stopped"))?;
        rx.await
            .map_err(|_| StoreError::backend("the store's writer thread has stopped"))?
    }

    /// Run `f` in a read transaction (one consistent snapshot, taken after
    /// `f` was queued) on the reader thread; reads queued together share
    /// one snapshot. In memory: on the writer connection, on the blocking
    /// pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(queue) = &self.read_queue else {
            let conn = Arc::clone(&self.writer);
            return blocking(move || {
                let mut conn = lock(&conn);
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })
            .await;
        };
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job = readers::ReadJob(Box::new(move |conn| {
            let out = match conn {
                Ok(conn) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(StoreError::backend("store read panicked"))),
                Err(why) => Err(StoreError::backend(why.to_string())),
            };
            let _ = tx.send(out);
        }));
        queue.send(job)?;
        rx.await
            .map_err(|_| StoreError::backend("the store's reader thread has stopped"))?
    }
}

/// What the writer thread asks of a queued write.
enum JobStep<'a> {
    /// Run inside the batch's transaction (within the job's savepoint
    /// when the batch has others);
    /// returns whether the job succeeded (its changes are kept).
    Run(&'a Connection),
    /// The batch ended (committed; or, for a lone job that failed, rolled
    /// back): answer the caller with the job's own result.
    Committed,
    /// Nothing of the batch was committed: answer the caller with this error.
    Failed(&'a str),
}

/// Whether the writer may run a job again after rolling its run back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rerun {
    Never,
    Allowed,
}

struct WriteJob {
    rerun: Rerun,
    step: Box<dyn FnMut(JobStep<'_>) -> bool + Send>,
}

/// Whether the writer's WAL writes are gathered (`wal_gather`): yes, unless
/// `HANDOVER_SQLITE_WAL_GATHER=0` (diagnostics: measuring what it buys) or
/// the VFS could not be registered.
fn gather_wal_writes() -> bool {
    switched_on("HANDOVER_SQLITE_WAL_GATHER") && wal_gather::register()
}

/// A diagnostics switch that is on unless the variable is `0`.
fn switched_on(var: &str) -> bool {
    std::env::var(var).map_or(true, |v| v != "0")
}

/// Most writes committed together: bounds one batch's latency.
const MAX_BATCH: usize = 512;

/// Diagnostics: `HANDOVER_SQLITE_MAX_BATCH=1` commits every write on its own
/// (one fsync per write, as before group commit), for measuring what group
/// commit buys; any other value caps the batch. Unset: [`MAX_BATCH`].
fn max_batch() -> usize {
    std::env::var("HANDOVER_SQLITE_MAX_BATCH")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(MAX_BATCH)
}

fn lock_queue<J>(q: &Mutex<mpsc::Sender<J>>) -> MutexGuard<'_, mpsc::Sender<J>> {
    q.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spawn_writer(
    conn: Shared,
    gate: Arc<checkpoint::Gate>,
    rows: Option<Arc<row_cache::RowCache>>,
    tail: Option<Arc<event_tail::EventTail>>,
) -> Result<Arc<Mutex<mpsc::Sender<WriteJob>>>> {
    let (tx, rx) = mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let max_batch = max_batch();
            let mut stats = BatchStats::default();
            let mut caches = Caches {
                rows,
                tail,
                seen: None,
            };
            while let Ok(first) = rx.recv() {
                batch.push(first);
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                gate.pass();
                let t = std::time::Instant::now();
                let n = batch.len();
                run_batch(&conn, &mut batch, &mut caches);
                batch.clear();
                stats.record(n, t.elapsed());
            }
        })
        .map_err(|e| StoreError::backend(format!("cannot start the store's writer thread: {e}")))?;
    Ok(Arc::new(Mutex::new(tx)))
}

/// What the writer keeps in step with the file: the caches that another
/// connection's commit (another process sharing the file) makes stale.
#[derive(Default)]
struct Caches {
    rows: Option<Arc<row_cache::RowCache>>,
    tail: Option<Arc<EventTail>>,
    /// `PRAGMA data_version` at the writer's last transaction.
    seen: Option<i64>,
}

impl Caches {
    /// Just after each `BEGIN IMMEDIATE` on `conn` (no other connection can
    /// commit until this transaction ends): reads `PRAGMA data_version`,
    /// which on the writer's connection changes only when another
    /// connection committed. Then the row cache empties (its rows may have
    /// been stale since that commit; the commit's checks cover that, see
    /// `row_cache`) and the event tail reads its floor again (see
    /// `event_tail`). An error counts as such a commit.
    fn begun(&mut self, conn: &Connection) {
        let now = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
            .ok();
        let others = now.is_none() || self.seen.is_some_and(|before| Some(before) != now);
        if others && let Some(rows) = &self.rows {
            rows.clear();
        }
        if let Some(tail) = &self.tail {
            tail.begun(conn, now.map(|_| others));
        }
        self.seen = now;
    }
}

/// Diagnostics: with `HANDOVER_SQLITE_BATCH_STATS=1`, the writer thread
/// prints batches, writes per batch and time per batch every 2 s (stderr).
#[derive(Default)]
struct BatchStats {
    on: Option<bool>,
    since: Option<std::time::Instant>,
    batches: u64,
    writes: u64,
    busy: std::time::Duration,
    max: std::time::Duration,
}

impl BatchStats {
    fn record(&mut self, writes: usize, took: std::time::Duration) {
        let on = *self.on.get_or_insert_with(|| {
            std::env::var("HANDOVER_SQLITE_BATCH_STATS").is_ok_and(|v| v == "1")
        });
        if !on {
            return;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        self.batches += 1;
        self.writes += writes as u64;
        self.busy += took;
        self.max = self.max.max(took);
        let elapsed = since.elapsed();
        if elapsed >= std::time::Duration::from_secs(2) {
            eprintln!(
                "sqlite group commit: {} batches/s, {:.1} writes per batch, {:.2} ms per batch (max {:.1} ms), writer busy {:.0}%",
                self.batches * 1000 / elapsed.as_millis().max(1) as u64,
                self.writes as f64 / self.batches as f64,
                self.busy.as_secs_f64() * 1e3 / self.batches as f64,
                self.max.as_secs_f64() * 1e3,
                self.busy.as_secs_f64() * 100.0 / elapsed.as_secs_f64()
            );
            *self = BatchStats {
                on: Some(true),
                ..Default::default()
            };
        }
    }
}

/// One group commit: every job all or nothing, one `COMMIT`.
///
/// A batch of jobs that may all run again is first run without savepoints
/// (a savepoint copies every page its job first touches into a statement
/// journal: 7 % of the writer's time at full load); only if one of them
/// fails is that transaction rolled back and the batch run again, each job
/// in its own savepoint, so the failed one loses its own writes only. Any
/// other batch of several runs that way at once. A batch of one job needs
/// no savepoint (its failure rolls back the transaction, which holds
/// nothing else).
fn run_batch(conn: &Mutex<Connection>, batch: &mut [WriteJob], caches: &mut Caches) {
    let conn = lock(conn);
    let savepoints = batch.len() > 1;
    if savepoints && batch.iter().all(|j| j.rerun == Rerun::Allowed) {
        if let Err(e) = begin(&conn, caches) {
            fail_all(batch, e);
            return;
        }
        let clean = batch.iter_mut().all(|job| (job.step)(JobStep::Run(&conn)));
        if clean {
            return end_batch(&conn, batch, "COMMIT");
        }
        handover_metrics::SQLITE_BATCH_RERUNS.inc();
        // An error that aborted the transaction has rolled it back already.
        if let Err(e) = conn.execute_batch("ROLLBACK")
            && !conn.is_autocommit()
        {
            fail_all(batch, e);
            return;
        }
    }
    if let Err(e) = begin(&conn, caches) {
        fail_all(batch, e);
        return;
    }
    // A lone job runs without a savepoint; if it fails, the transaction
    // (holding nothing else) is rolled back instead of committed.
    let mut end_verb = "COMMIT";
    for job in batch.iter_mut() {
        if savepoints
            && let Err(e) = conn
                .prepare_cached("SAVEPOINT job")
                .and_then(|mut st| st.execute([]))
        {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(batch, e);
            return;
        }
        let ok = (job.step)(JobStep::Run(&conn));
        if !savepoints {
            if !ok {
                end_verb = "ROLLBACK";
            }
            continue;
        }
        let end = if ok {
            conn.prepare_cached("RELEASE job")
                .and_then(|mut st| st.execute([]).map(drop))
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = end {
            // The transaction itself is gone (e.g. an I/O error aborted it):
            // nothing of the batch can be committed.
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(batch, e);
            return;
        }
    }
    end_batch(&conn, batch, end_verb);
}

/// `BEGIN IMMEDIATE`, then the caches' check for other connections'
/// commits ([`Caches::begun`]).
fn begin(conn: &Connection, caches: &mut Caches) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    caches.begun(conn);
    Ok(())
}

/// End the batch's transaction with `verb` and answer every job.
fn end_batch(conn: &Connection, batch: &mut [WriteJob], verb: &str) {
    match conn.execute_batch(verb) {
        Ok(()) => {
            for job in batch.iter_mut() {
                (job.step)(JobStep::Committed);
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(batch, e);
        }
    }
}

/// Nothing of the batch was committed: answer every job with `e`.
fn fail_all(batch: &mut [WriteJob], e: rusqlite::Error) {
    let why = StoreError::from(e).to_string();
    for job in batch.iter_mut() {
        (job.step)(JobStep::Failed(&why));
    }
}

/// How many batches so far were rolled back and run again with savepoints
/// (a job failed in the savepoint-free run). Process-wide; on `/metrics`
/// as `sqlite_batch_reruns_total`.
pub fn savepoint_reruns() -> u64 {
    handover_metrics::SQLITE_BATCH_RERUNS.get()
}

/// The row cache with a ticket taken now, before a read is queued (see
/// `row_cache`).
type CacheTicket = Option<(Arc<row_cache::RowCache>, row_cache::Ticket)>;

impl SqliteStore {
    fn row_cache(&self) -> CacheTicket {
        self.rows.as_ref().map(|r| (r.clone(), r.ticket()))
    }

    /// Event reads answered from the tail of recent events and from the
    /// file, since this store opened (`None`: the tail is off).
    pub fn event_tail_counts(&self) -> Option<(u64, u64)> {
        self.tail.as_ref().map(|t| t.counts())
    }

    /// Row-cache lookups answered from the cache and from the file, since
    /// this store opened (`None`: the cache is off).
    pub fn row_cache_counts(&self) -> Option<(u64, u64)> {
        self.rows.as_ref().map(|r| r.counts())
    }
}

/// The handover's row if it has no unprocessed inbox items, without its
/// create request (which a webhook step never reads): the cached row if
/// there is one, else read (and kept if the cache allows).
fn row_if_inbox_empty(
    conn: &Connection,
    cache: CacheTicket,
    id: &str,
) -> Result<Option<HandoverRow>> {
    if let Some(row) = cache.as_ref().and_then(|(rows, _)| rows.get(id)) {
        return Ok(Some(row));
    }
    let row = ops::handover_if_inbox_empty(conn, id)?.map(|mut row| {
        row.request = serde_json::Value::Null;
        row
    });
    if let (Some((rows, ticket)), Some(row)) = (&cache, &row) {
        rows.fill(*ticket, row);
    }
    Ok(row)
}

/// Whether `events_after` may answer from the tail of recent events: yes,
/// unless `HANDOVER_SQLITE_EVENT_TAIL=0` (diagnostics: measuring what it
/// buys).
fn event_tail_on() -> bool {
    switched_on("HANDOVER_SQLITE_EVENT_TAIL")
}

/// Whether the row cache is used: yes, unless `HANDOVER_SQLITE_ROW_CACHE=0`
/// (diagnostics: measuring what it buys).
fn row_cache_on() -> bool {
    switched_on("HANDOVER_SQLITE_ROW_CACHE")
}

/// The guard only lives inside a blocking closure, never across an await. A
/// panic mid-transaction rolled the transaction back (`Transaction` drops
/// roll back), so a poisoned connection is still usable.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend(format!("store task failed: {e}")))?
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_handover(&self, row: HandoverRow, open_limit: Option<u64>) -> Result<Insert> {
        let insert =
            move |tx: &Connection, row: &mut HandoverRow| ops::insert_handover(tx, row, open_limit);
        let answer = |row, found: Option<Insert>| found.unwrap_or(Insert::Inserted(row));
        self.submit(Rerun::Allowed, row, insert, answer).await
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        let retention = retention.clone();
        let (rows, tail) = (self.rows.clone(), self.tail.clone());
        let run = move |conn: &Connection, _: &mut ()| ops::prune(conn, &retention);
        // Rows, inbox items and events went: the caches start again.
        let finish = move |(), pruned| {
            if let Some(rows) = &rows {
                rows.clear();
            }
            if let Some(tail) = &tail {
                tail.clear();
            }
            pruned
        };
        self.submit(Rerun::Never, (), run, finish).await
    }

    async fn count_open_handovers(&self, tenant: &str) -> Result<u64> {
        let tenant = tenant.to_owned();
        self.read(move |tx| ops::count_open_handovers(tx, &tenant))
            .await
    }

    async fn get_handover(&self, id: &str) -> Result<Option<HandoverRow>> {
        let id = id.to_owned();
        self.read(move |tx| ops::get_handover(tx, &id)).await
    }

    async fn list_handovers(
        &self,
        endpoint_id: Option<&str>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<HandoverRow>> {
        let endpoint_id = endpoint_id.map(str::to_owned);
        self.read(move |tx| ops::list_handovers(tx, endpoint_id.as_deref(), open_only, limit))
            .await
    }

    async fn list_tenant_handovers(&self, tenant: &str, limit: u32) -> Result<Vec<HandoverRow>> {
        let tenant = tenant.to_owned();
        self.read(move |tx| ops::list_tenant_handovers(tx, &tenant, limit))
            .await
    }

    /// See [`ops::apply`]: `change.row` must be `Some` when the change has
    /// events or correlation keys (`Backend` error otherwise). A missing
    /// handover is `NotFound`; a moved version is `Conflict`; either way
    /// nothing of the change is written.
    async fn apply(&self, change: Change) -> Result<Vec<StoredEvent>> {
        let apply = |tx: &Connection, change: &mut Change| ops::apply(tx, change, now_ms());
        let (rows, tail) = (self.rows.clone(), self.tail.clone());
        // After the commit, on the writer thread: the row goes to the cache
        // and the events to the tail (before the caller hears of the
        // commit) rather than being dropped.
        let finish = move |mut change: Change, applied| {
            let events = ops::Applied::events(&mut change, applied);
            if let Some(tail) = &tail {
                tail.committed(&events);
            }
            if let (Some(rows), Some(row)) = (&rows, change.row) {
                let inbox = if !change.inbox_done.is_empty() {
                    row_cache::Inbox::Consumed
                } else if change.without_shared_lock {
                    // `ops::apply` found it empty in this commit.
                    row_cache::Inbox::Empty
                } else {
                    row_cache::Inbox::Unchanged
                };
                rows.committed(row, inbox, &change.correlation_keys);
            }
            events
        };
        self.submit(Rerun::Allowed, change, apply, finish).await
    }

    async fn find_by_correlation(&self, endpoint_id: &str, key: &str) -> Result<Option<String>> {
        let (endpoint_id, key) = (endpoint_id.to_owned(), key.to_owned());
        self.read(move |tx| ops::find_by_correlation(tx, &endpoint_id, &key))
            .await
    }

    async fn accept_webhook(
        &self,
        endpoint_id: &str,
        delivery_ids: &[String],
        handover_ids: &[String],
        request: serde_json::Value,
    ) -> Result<Option<Vec<i64>>> {
        let endpoint_id = endpoint_id.to_owned();
        let delivery_ids = delivery_ids.to_vec();
        let handover_ids = handover_ids.to_vec();
        let rows = self.rows.clone();
        let run = move |conn: &Connection, handover_ids: &mut Vec<String>| {
            ops::accept_webhook(
                conn,
                &endpoint_id,
                &delivery_ids,
                handover_ids,
                &request,
                now_ms(),
            )
        };
        // These handovers now have inbox items: their rows leave the cache
        // before the caller hears of the commit.
        let finish = move |handover_ids: Vec<String>, stored| {
            if let Some(rows) = &rows {
                rows.forget(&handover_ids);
            }
            stored
        };
        let stored = self.submit(Rerun::Allowed, handover_ids, run, finish).await;
        StoreError::none_if_duplicate(stored)
    }

    async fn handover_if_inbox_empty(&self, id: &str) -> Result<Option<HandoverRow>> {
        let id = id.to_owned();
        let cache = self.row_cache();
        self.read(move |tx| row_if_inbox_empty(tx, cache, &id))
            .await
    }

    async fn webhook_target(
        &self,
        endpoint_id: &str,
        key: &str,
    ) -> Result<Option<(String, Option<HandoverRow>)>> {
        // Both in the cache: no read at all (the commit checks the key and
        // the row; see `row_cache`).
        if let Some(rows) = &self.rows
            && let Some((id, row)) = rows.target(endpoint_id, key)
        {
            return Ok(Some((id, Some(row))));
        }
        let (endpoint_id, key) = (endpoint_id.to_owned(), key.to_owned());
        let cache = self.row_cache();
        self.read(move |tx| {
            let Some(id) = ops::find_by_correlation(tx, &endpoint_id, &key)? else {
                return Ok(None);
            };
            if let Some((rows, ticket)) = &cache {
                rows.fill_key(*ticket, &endpoint_id, &key, &id);
            }
            let row = row_if_inbox_empty(tx, cache, &id)?;
            Ok(Some((id, row)))
        })
        .await
    }

    async fn pending_inbox(&self, handover_id: &str) -> Result<Vec<InboxItem>> {
        let handover_id = handover_id.to_owned();
        self.read(move |tx| ops::pending_inbox(tx, &handover_id))
            .await
    }

    async fn handovers_with_pending_inbox(&self) -> Result<Vec<String>> {
        self.read(ops::handovers_with_pending_inbox).await
    }

    async fn events_after(
        &self,
        scope: &EventScope,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        if let Some(events) = self
            .tail
            .as_ref()
            .and_then(|t| t.after(scope, after_id, limit))
        {
            return Ok(events);
        }
        let scope = scope.clone();
        self.read(move |tx| ops::events_after(tx, &scope, after_id, limit))
            .await
    }

    async fn abandoned_starts(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<HandoverRow>> {
        self.read(move |tx| ops::abandoned_starts(tx, created_before_ms, limit))
            .await
    }

    async fn due_timers(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>> {
        let share = ops::Sharing::of(share);
        self.read(move |tx| ops::due_timers(tx, now_ms, limit, &share))
            .await
    }

    async fn due_polls(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>> {
        let share = ops::Sharing::of(share);
        self.read(move |tx| ops::due_polls(tx, now_ms, limit, &share))
            .await
    }

    async fn due_outbox(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<OutboxItem>> {
        let share = ops::Sharing::of(share);
        self.read(move |tx| ops::due_outbox(tx, now_ms, limit, &share))
            .await
    }

    async fn outbox_delivered(&self, id: i64) -> Result<()> {
        self.write_again(move |tx| ops::outbox_delivered(tx, id, now_ms()))
            .await
    }

    async fn outbox_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<()> {
        let error = error.to_owned();
        self.write_again(move |tx| {
            ops::outbox_retry(tx, id, attempts, next_attempt_at_ms, &error, now_ms())
        })
        .await
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        let error = error.to_owned();
        self.write_again(move |tx| ops::outbox_dead(tx, id, &error, now_ms()))
            .await
    }

    async fn last_event_id(&self) -> Result<i64> {
        self.read(ops::last_event_id).await
    }

    async fn lock_handover(&self, _id: &str) -> Result<HandoverLock> {
        // One process owns the file; the engine's in-process lock suffices.
        Ok(HandoverLock::local())
    }

    async fn record_adapter_version(
        &self,
        endpoint_id: &str,
        sha256: &str,
        bytes: Option<&[u8]>,
        source: &str,
    ) -> Result<AdapterVersion> {
        let (endpoint_id, sha256, source) = (
            endpoint_id.to_string(),
            sha256.to_string(),
            source.to_string(),
        );
        let bytes = bytes.map(<[u8]>::to_vec);
        self.write(move |tx| {
            ops::record_adapter_version(tx, endpoint_id, sha256, bytes.as_deref(), source, now_ms())
        })
        .await
    }

    async fn current_adapter_version(&self, endpoint_id: &str) -> Result<Option<AdapterVersion>> {
        let endpoint_id = endpoint_id.to_string();
        self.read(move |tx| ops::current_adapter_version(tx, &endpoint_id))
            .await
    }

    async fn adapter_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let sha256 = sha256.to_string();
        self.read(move |tx| ops::adapter_bytes(tx, &sha256)).await
    }

    async fn canary_record(&self, endpoint_id: &str) -> Result<Option<CanaryRecord>> {
        let endpoint_id = endpoint_id.to_string();
        self.read(move |tx| canary::record(tx, &endpoint_id)).await
    }

    async fn begin_canary(&self, rec: &CanaryRecord, bytes: &[u8]) -> Result<bool> {
        let (rec, bytes) = (rec.clone(), bytes.to_vec());
        self.write(move |tx| canary::begin(tx, &rec, &bytes)).await
    }

    async fn finish_canary(
        &self,
        endpoint_id: &str,
        canary_id: &str,
        doc: &serde_json::Value,
    ) -> Result<bool> {
        let (e, c, d) = (
            endpoint_id.to_string(),
            canary_id.to_string(),
            doc.to_string(),
        );
        self.write(move |tx| canary::finish(tx, &e, &c, &d)).await
    }

    async fn canary_bytes(&self, endpoint_id: &str, canary_id: &str) -> Result<Option<Vec<u8>>> {
        let (e, c) = (endpoint_id.to_string(), canary_id.to_string());
        self.read(move |tx| canary::bytes(tx, &e, &c)).await
    }

    async fn append_recording(
        &self,
        endpoint_id: &str,
        handover_id: &str,
        entry: &serde_json::Value,
        keep: Option<u32>,
    ) -> Result<()> {
        let (e, h, x) = (
            endpoint_id.to_string(),
            handover_id.to_string(),
            entry.to_string(),
        );
        self.write(move |tx| canary::append_recording(tx, &e, &h, &x, keep))
            .await
    }

    async fn recordings(
        &self,
        endpoint_id: &str,
        last: u32,
    ) -> Result<Vec<(String, Vec<serde_json::Value>)>> {
        let e = endpoint_id.to_string();
        self.read(move |tx| canary::recordings(tx, &e, last)).await
    }

    async fn share_canary_counts(
        &self,
        canary_id: &str,
        replica: &str,
        counts: &serde_json::Value,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let (c, r, n) = (
            canary_id.to_string(),
            replica.to_string(),
            counts.to_string(),
        );
        self.write(move |tx| canary::share_counts(tx, &c, &r, &n, now_ms()))
            .await
    }
}
