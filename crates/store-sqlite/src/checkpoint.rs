//! The WAL checkpointer: a thread with its own connection that copies
//! committed log frames back into the database file (`PASSIVE`: it never
//! blocks the writer or readers), so the writer thread never does, and
//! that restarts the log once it is long.
//!
//! Owns: when checkpoints run, and the [`Gate`] the store's threads pass
//! before each transaction. Must never: write rows, or hold the store's
//! transactions back for longer than [`QUIET_WAIT`] plus one `RESTART`.
//! Left to SQLite's automatic checkpoint, the log was never restarted under
//! webhook load and grew to 500 MB in 10 s; a `RESTART` that only polled
//! for a moment with no transaction open never found one under load
//! either (the writer and reader threads run their batches back to back)
//! and the log grew to 200–380 MB in 12 s.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::Shared;
use handover_core::store::{Result, StoreError};

/// How often the checkpointer looks at the log (diagnostics:
/// `HANDOVER_SQLITE_CHECKPOINT_MS` overrides it).
const EVERY: Duration = Duration::from_millis(100);

/// The longest a `RESTART` may wait for another process's transactions.
const RESTART_WAIT: Duration = Duration::from_millis(5);

/// The longest the checkpointer waits for the store's transactions in
/// progress to end before a `RESTART` (it gives up and tries next time).
const QUIET_WAIT: Duration = Duration::from_millis(20);

/// Log frames (pages) past which the log is restarted from its start.
const RESTART_AT: i64 = 4096;

/// Copy what can be copied without waiting; once the log is long, start
/// it over. The log is only reused from its start when no transaction has
/// a snapshot in it, and the store's writer and reader threads run their
/// batches back to back under load, so that moment never comes by itself:
/// the checkpointer closes the [`Gate`] (the threads finish the
/// transaction they are in and start no new one), takes every connection
/// of the store, and runs a `RESTART` (it copies what the `PASSIVE` copy
/// left, and makes the next write start the log over; then
/// `journal_size_limit` truncates the file). `RESTART_WAIT` only covers
/// another process's transactions.
fn checkpoint(conn: &Connection, store: &[Shared], gate: &Gate) -> rusqlite::Result<()> {
    let log: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if log < RESTART_AT {
        return Ok(());
    }
    // Open again when this returns, an error included (a gate left closed
    // would stop every read and write of the store).
    let _closed = gate.close();
    if let Some(_all) = quiet(store, QUIET_WAIT) {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Every connection of `store`, locked, once their threads have finished
/// the transactions in progress (the gate is closed, so they start no new
/// one); `None` if that takes longer than `wait`.
fn quiet(store: &[Shared], wait: Duration) -> Option<Vec<std::sync::MutexGuard<'_, Connection>>> {
    let deadline = Instant::now() + wait;
    let mut held = Vec::with_capacity(store.len());
    for conn in store {
        loop {
            match conn.try_lock() {
                Ok(g) => break held.push(g),
                Err(TryLockError::Poisoned(p)) => break held.push(p.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(TryLockError::WouldBlock) => return None,
            }
        }
    }
    Some(held)
}

/// Passed by the store's writer and reader threads before each
/// transaction; closed by the checkpointer while it restarts the log.
#[derive(Default)]
pub(super) struct Gate {
    closed: AtomicBool,
    lock: Mutex<()>,
    opened: Condvar,
}

impl Gate {
    /// Wait while the gate is closed (at most [`QUIET_WAIT`] plus one
    /// `RESTART`); free when it is open.
    pub(super) fn pass(&self) {
        if !self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.closed.load(Ordering::Acquire) {
            g = self.opened.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Close the gate until the returned guard is dropped.
    fn close(&self) -> Closed<'_> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, Ordering::Release);
        Closed(self)
    }
}

/// The gate closed; dropping this opens it.
struct Closed<'a>(&'a Gate);

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        let gate = self.0;
        let _g = gate.lock.lock().unwrap_or_else(|p| p.into_inner());
        gate.closed.store(false, Ordering::Release);
        gate.opened.notify_all();
    }
}

/// Keeps the checkpointer running; it stops when this is dropped.
pub(super) struct Checkpointer(#[allow(dead_code)] mpsc::Sender<()>);

/// Start the checkpointer for the database at `path` (WAL mode, with the
/// writer's automatic checkpoints turned off); `store` is every connection
/// of the store, whose threads pass `gate`.
pub(super) fn spawn(path: &Path, store: Vec<Shared>, gate: Arc<Gate>) -> Result<Checkpointer> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::backend(format!("cannot open {}: {e}", path.display())))?;
    // Short: the store's own transactions are held at the gate; this only
    // waits for another process's, then the restart is tried next time.
    conn.busy_timeout(RESTART_WAIT)?;
    // The checkpoint syncs the database file before the log is reused.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864;")?;
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let every = std::env::var("HANDOVER_SQLITE_CHECKPOINT_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(EVERY, Duration::from_millis);
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                if let Err(e) = checkpoint(&conn, &store, &gate) {
                    tracing::warn!("WAL checkpoint failed (will retry): {e}");
                }
            }
            // One last copy on the way out.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::backend(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(Checkpointer(tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step that fails while the gate is closed must not leave it closed
    /// (every read and write of the store would wait at it for ever).
    #[test]
    fn the_gate_opens_again_when_the_step_behind_it_fails() {
        let gate = Arc::new(Gate::default());
        let fails = |gate: &Gate| -> std::result::Result<(), &'static str> {
            let _closed = gate.close();
            Err("restart failed")
        };
        let passer = {
            let gate = gate.clone();
            let _closed = gate.close();
            let waiting = gate.clone();
            let t = std::thread::spawn(move || waiting.pass());
            std::thread::sleep(Duration::from_millis(20));
            assert!(!t.is_finished(), "passed a closed gate");
            t
        };
        passer.join().unwrap();
        assert!(fails(&gate).is_err());
        // Open: passes at once.
        gate.pass();
        assert!(!gate.closed.load(Ordering::Acquire));
    }
}
