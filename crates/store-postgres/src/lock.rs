//! Cross-process handover locks: a session-level advisory lock
//! (`pg_advisory_lock(space, hashtext(id))`) held on a connection of a pool
//! reserved for locks, until the returned guard is dropped.
//!
//! Owns: the lock connections. A lock dies with its connection, so a
//! crashed replica's locks vanish when PostgreSQL notices the closed socket.
//! Lock connections are separate from the query pool so a step holding a
//! lock can always get a connection for its queries (no pool deadlock).
//! Must never: block in `Drop`, or return a connection to the pool that
//! may still hold (or be waiting for) a lock.

use deadpool_postgres::{Object, Pool};

use super::pool_error;
use handover_core::store::{HandoverLock, Result};

/// First key of the handover locks ("HOLK").
const HANDOVER_LOCK_SPACE: i32 = 0x484F_4C4B;

/// SQL that is true when a step may write handover `$id` (a column), given
/// `$unlocked` (a boolean: `Change::without_shared_lock`). A step that ran
/// without the handover's lock takes it shared for its transaction (held
/// until its commit, so a process taking the lock waits for that), and the
/// condition is false while another session holds it for a step: the
/// write matches no row (`Conflict`). A step holding the lock passes.
/// Spells [`HANDOVER_LOCK_SPACE`] as 1213156427 (checked below).
macro_rules! may_write_unlocked {
    ($unlocked:literal, $id:literal) => {
        concat!(
            "(NOT ",
            $unlocked,
            " OR pg_try_advisory_xact_lock_shared(1213156427, hashtext(",
            $id,
            ")))"
        )
    };
}
pub(super) use may_write_unlocked;

const _: () = assert!(HANDOVER_LOCK_SPACE == 1213156427);

/// Wait for the lock of handover `id`; held until the result is dropped.
pub(super) async fn lock_handover(pool: &Pool, id: &str) -> Result<HandoverLock> {
    let client = pool.get().await.map_err(pool_error)?;
    // If this future is dropped while waiting, the server may still grant
    // the lock later: the connection must then never be reused.
    let mut acquiring = Discard(Some(client));
    if let Some(c) = &acquiring.0 {
        let stmt = c
            .prepare_cached("SELECT pg_advisory_lock($1, hashtext($2))")
            .await?;
        c.execute(&stmt, &[&HANDOVER_LOCK_SPACE, &id]).await?;
    }
    Ok(HandoverLock::new(Box::new(Held(acquiring.0.take()))))
}

/// A connection whose state is unknown (a lock may be held or awaited, a
/// transaction may be open): closed, not pooled, on drop, unless released.
pub(super) struct Discard(pub(super) Option<Object>);

impl Discard {
    /// Its state is known clean again: back to the pool.
    pub(super) fn release(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            // Detached from the pool; dropping it closes the connection,
            // which releases (or abandons the wait for) any lock.
            drop(Object::take(c));
        }
    }
}

/// A connection holding a handover lock.
struct Held(Option<Object>);

impl Drop for Held {
    fn drop(&mut self) {
        let Some(c) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let mut c = Discard(Some(c));
                    let unlocked = match &c.0 {
                        Some(client) => client
                            .simple_query("SELECT pg_advisory_unlock_all()")
                            .await
                            .is_ok(),
                        None => false,
                    };
                    if unlocked {
                        // Back to the pool, holding nothing.
                        c.release();
                    }
                });
            }
            // No runtime to run the unlock on: closing the connection unlocks.
            Err(_) => drop(Discard(Some(c))),
        }
    }
}
