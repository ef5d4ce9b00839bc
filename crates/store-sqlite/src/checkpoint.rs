//! The WAL checkpointer: a thread with its own connection that copies
//! committed log frames back into the database file (`PASSIVE`: it never
//! blocks the writer or readers), so the writer thread never does, and
//! that restarts the log once it is long and fully copied.
//!
//! Owns: when checkpoints run. Must never: write rows, or hold commits
//! back for longer than [`RESTART_WAIT`] (only its `RESTART` step waits,
//! and it gives up after that). Left to SQLite's automatic checkpoint, the
//! log was never restarted under webhook load and grew to 500 MB in 10 s.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use handover_core::store::{Result, StoreError};

/// How often the checkpointer looks at the log (diagnostics:
/// `HANDOVER_SQLITE_CHECKPOINT_MS` overrides it).
const EVERY: Duration = Duration::from_millis(100);

/// The longest a `RESTART` may hold writes back waiting for readers.
const RESTART_WAIT: Duration = Duration::from_millis(5);

/// Log frames (pages) past which the log is restarted from its start.
const RESTART_AT: i64 = 4096;

/// Copy what can be copied without waiting. The log is only reused from
/// its start when no reader holds an old snapshot at the moment a write
/// begins; with the reader threads busy that moment rarely comes, and the
/// log grew by ~50 MB/s under webhook load (slowing every read). So once
/// it is long and fully copied, a `RESTART` checkpoint waits (briefly:
/// reads are short) for the readers and makes the next write start the
/// log over; `journal_size_limit` then truncates the file.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let (log, copied): (i64, i64) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })?;
    if log >= RESTART_AT && copied == log {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Keeps the checkpointer running; it stops when this is dropped.
pub(super) struct Checkpointer(#[allow(dead_code)] mpsc::Sender<()>);

/// Start the checkpointer for the database at `path` (WAL mode, with the
/// writer's automatic checkpoints turned off).
pub(super) fn spawn(path: &Path) -> Result<Checkpointer> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::backend(format!("cannot open {}: {e}", path.display())))?;
    // Short: a `RESTART` holds new writes back while it waits for readers;
    // if they do not drain within this, it gives up and tries next time.
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
                if let Err(e) = checkpoint(&conn) {
                    tracing::warn!("WAL checkpoint failed (will retry): {e}");
                }
            }
            // One last copy on the way out.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::backend(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(Checkpointer(tx))
}
