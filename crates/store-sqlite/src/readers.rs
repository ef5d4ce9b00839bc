//! The reader threads of a file database, and which one a read goes to.
//!
//! Each reader thread owns a connection and runs the reads waiting at that
//! moment in one read transaction (one snapshot). Reads go to the first
//! reader whose current batch has not been running for longer than
//! [`SPILL`] (idle counts as fresh): concentrating reads on one thread is
//! what makes them batch — reads queued while it runs a batch share the
//! next one, without waking another thread. The second reader takes reads
//! only while the first is held up by a slow batch (a large listing), so
//! one slow read never stalls the rest. (Round-robin over two readers cost
//! 10–15 % of webhook ingest throughput on two cores in thread wake-ups;
//! BENCHMARKS.md.)
//!
//! Must never: run a read outside a read transaction, or block the caller
//! beyond the queue's send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::checkpoint::Gate;
use super::{MAX_BATCH, Shared, lock, lock_queue};
use handover_core::store::{Result, StoreError};

/// A batch running longer than this sends new reads to the next reader.
const SPILL: Duration = Duration::from_millis(5);

/// A read to run on a reader thread; gets the connection or why there is none.
type ReadFn = Box<dyn FnOnce(std::result::Result<&Connection, &str>) + Send>;
pub(super) struct ReadJob(pub(super) ReadFn);

struct Reader {
    queue: Mutex<mpsc::Sender<ReadJob>>,
    /// When its current batch started (µs since [`base`], plus one); 0 = idle.
    busy_since: Arc<AtomicU64>,
}

/// The reader threads, in order of preference.
pub(super) struct Readers(Vec<Reader>);

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    base().elapsed().as_micros() as u64 + 1
}

impl Readers {
    /// Start one reader thread per connection.
    pub(super) fn spawn(conns: &[Shared], gate: &Arc<Gate>) -> Result<Readers> {
        base();
        conns
            .iter()
            .map(|c| {
                let busy_since = Arc::new(AtomicU64::new(0));
                let queue = spawn_reader(c.clone(), busy_since.clone(), gate.clone())?;
                Ok(Reader {
                    queue: Mutex::new(queue),
                    busy_since,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Readers)
    }

    /// The reader a read should go to now.
    fn pick(&self) -> &Reader {
        let now = now_us();
        let spill = SPILL.as_micros() as u64;
        self.0
            .iter()
            .find(|r| {
                let since = r.busy_since.load(Ordering::Acquire);
                since == 0 || now.saturating_sub(since) < spill
            })
            // All held up: the one whose batch started last.
            .or_else(|| {
                self.0
                    .iter()
                    .max_by_key(|r| r.busy_since.load(Ordering::Acquire))
            })
            .expect("at least one reader")
    }

    pub(super) fn send(&self, job: ReadJob) -> Result<()> {
        lock_queue(&self.pick().queue)
            .send(job)
            .map_err(|_| StoreError::backend("the store's reader thread has stopped"))
    }
}

/// The reader thread: takes every read waiting at that moment and runs them
/// in one read transaction (a thread of its own rather than the blocking
/// pool: under load it never sleeps between reads, so reads cost no thread
/// wake-ups).
fn spawn_reader(
    conn: Shared,
    busy_since: Arc<AtomicU64>,
    gate: Arc<Gate>,
) -> Result<mpsc::Sender<ReadJob>> {
    let (tx, rx) = mpsc::channel::<ReadJob>();
    std::thread::Builder::new()
        .name("sqlite-reader".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Ok(first) = rx.recv() {
                busy_since.store(now_us(), Ordering::Release);
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                gate.pass();
                let conn = lock(&conn);
                match conn.execute_batch("BEGIN DEFERRED") {
                    Ok(()) => {
                        for job in batch.drain(..) {
                            (job.0)(Ok(&conn));
                        }
                        let _ = conn.execute_batch("COMMIT");
                    }
                    Err(e) => {
                        let why = StoreError::from(e).to_string();
                        for job in batch.drain(..) {
                            (job.0)(Err(&why));
                        }
                    }
                }
                busy_since.store(0, Ordering::Release);
            }
        })
        .map_err(|e| StoreError::backend(format!("cannot start the store's reader thread: {e}")))?;
    Ok(tx)
}
