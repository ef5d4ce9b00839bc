//! Event ids without a global lock, and the visibility watermark that makes
//! endpoint streams safe to resume by id.
//!
//! Owns: how an event id is made and when an endpoint stream may see it.
//! An event's id is `(xid << 16) | i`: the 64-bit transaction id
//! (`pg_current_xact_id()`) of the transaction that wrote it, and its index
//! among that transaction's events. Nothing is locked to make one: two
//! transactions writing events for unrelated handovers never wait for each
//! other, and PostgreSQL's group commit applies.
//!
//! Why it is safe (docs/replicas.md gives the long form):
//! - *Per handover*, ids follow commit order: steps of a handover are
//!   serialized by its advisory lock, and a step's transaction gets its xid
//!   at its first write, after the previous step committed; xids are handed
//!   out in increasing order. So handover-scoped reads need no watermark.
//! - *Per endpoint*, transactions commit in any order, so a reader must not
//!   pass an id that a transaction still in flight could fill in below it.
//!   Every transaction whose xid is below the reading statement's snapshot
//!   `xmin` has finished (committed or aborted), and every transaction that
//!   has not finished has an xid at or above it. Events with
//!   `id < xmin << 16` are therefore *settled*: no event with a lower id can
//!   ever appear. An endpoint read returns only settled events, so a stream
//!   that resumes after id N never skips one that commits later.
//!
//! The cost: an event is held back while any older write transaction of the
//! cluster is still open (normally a few milliseconds). A read whose next
//! event is held back waits for it briefly ([`HOLD_WAIT`]) and, past that,
//! asks [`PgStore::wake_when_settled`] to wake the endpoint's streams once it
//! settles. Must never: return an unsettled endpoint event, or take a lock.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::ClientWrapper as Conn;

use super::PgStore;
use super::rows::ByName;
use handover_core::store::{EventNotice, Result, StoreError, StoredEvent, columns};

/// Bits of an event id below the transaction id: the most events one
/// transaction may write is `1 << ID_SHIFT`.
pub(super) const ID_SHIFT: u32 = 16;
/// Transaction ids above this would overflow a positive `i64` id (and ids
/// above 2^53 lose precision in JavaScript clients): 2^37 transactions,
/// 435 years at 10,000 transactions per second.
const MAX_XID: i64 = 1 << 37;

/// SQL: the lowest event id no unfinished transaction can still write
/// (the statement snapshot's `xmin`, shifted by [`ID_SHIFT`]).
macro_rules! settled_below {
    () => {
        "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"
    };
}

/// SQL: the newest settled event id, or 0 (where a fresh stream starts; the
/// listener's catch-up wake), and whether a newer event is held back.
pub(super) const NEWEST_SETTLED: &str = concat!(
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM events WHERE id < w.below)::BIGINT, ",
    "EXISTS (SELECT 1 FROM events WHERE id >= w.below) FROM (SELECT ",
    settled_below!(),
    " AS below) AS w"
);

/// How long a read whose next event is held back waits for it to settle
/// before it returns what it has (a stream then waits for a wake-up).
pub(super) const HOLD_WAIT: Duration = Duration::from_secs(2);
/// The longest pause between two looks at the watermark.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Pauses between looks at the watermark: 1 ms, doubling up to
/// [`MAX_PAUSE`] (a held-back event normally settles within milliseconds).
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(1))
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_PAUSE);
    }
}

/// Whether one transaction may write `n` events (each needs an id of its
/// own below the next transaction's).
pub(super) fn check_count(n: usize) -> Result<()> {
    if n > 1 << ID_SHIFT {
        return Err(StoreError::backend(format!(
            "postgres: one step may write at most {} events, not {n}",
            1 << ID_SHIFT
        )));
    }
    Ok(())
}

/// The ids of `n` events written by the transaction `xid`.
pub(super) fn event_ids(xid: i64, n: usize) -> Result<std::ops::Range<i64>> {
    if !(0..MAX_XID).contains(&xid) {
        return Err(StoreError::backend(format!(
            "postgres: transaction id {xid} is beyond what event ids can encode (2^37)"
        )));
    }
    check_count(n)?;
    let first = xid << ID_SHIFT;
    Ok(first..first + n as i64)
}

/// Whether `ids`, in order, are the ids [`event_ids`] gives the
/// transaction `xid` for as many events.
pub(super) fn are_ids_of(xid: i64, ids: &[i64]) -> Result<bool> {
    Ok(event_ids(xid, ids.len())?.eq(ids.iter().copied()))
}

/// One read of an endpoint's events after `after`: the settled ones (in id
/// order), and the first held-back one's handover and id, if any.
pub(super) struct Page {
    pub events: Vec<StoredEvent>,
    pub held: Option<(String, i64)>,
}

pub(super) async fn endpoint_page(
    c: &Conn,
    endpoint: &str,
    after: i64,
    limit: u32,
) -> Result<Page> {
    let stmt = c
        .prepare_cached(concat!(
            "SELECT id, handover_id, endpoint_id, seq, kind, payload, created_at_ms, id < ",
            settled_below!(),
            " AS settled FROM events WHERE endpoint_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .await?;
    let rows = c
        .query(&stmt, &[&endpoint, &after, &i64::from(limit)])
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        let settled: bool = r.get("settled");
        if !settled {
            let held = (r.get::<_, String>("handover_id"), r.get::<_, i64>("id"));
            return Ok(Page {
                events,
                held: Some(held),
            });
        }
        events.push(columns::event(&ByName(r))?);
    }
    Ok(Page { events, held: None })
}

/// The newest settled event id, or 0; when newer events are held back,
/// waits up to [`HOLD_WAIT`] for them to settle (so a caller that just
/// committed events normally sees them).
pub(super) async fn newest_settled(store: &PgStore) -> Result<i64> {
    let deadline = tokio::time::Instant::now() + HOLD_WAIT;
    let mut backoff = Backoff::new();
    loop {
        let (newest, held) = {
            let c = store.client().await?;
            let stmt = c.prepare_cached(NEWEST_SETTLED).await?;
            let r = c.query_one(&stmt, &[]).await?;
            (r.get::<_, i64>(0), r.get::<_, bool>(1))
        };
        if !held || tokio::time::Instant::now() >= deadline {
            return Ok(newest);
        }
        backoff.pause().await;
    }
}

/// Endpoints whose held-back events a task is waiting on.
#[derive(Default)]
pub(super) struct Watching(Mutex<HashSet<String>>);

impl PgStore {
    /// An endpoint's settled events after `after`. When the next one is
    /// held back and nothing before it is new, waits up to [`HOLD_WAIT`]
    /// for it (no connection held meanwhile).
    pub(super) async fn settled_events(
        &self,
        endpoint: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let deadline = tokio::time::Instant::now() + HOLD_WAIT;
        let mut backoff = Backoff::new();
        loop {
            let page = {
                let c = self.client().await?;
                endpoint_page(&c, endpoint, after, limit).await?
            };
            let Some((handover, id)) = page.held else {
                return Ok(page.events);
            };
            if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
                self.wake_when_settled(endpoint, handover, id);
                return Ok(page.events);
            }
            backoff.pause().await;
        }
    }

    /// Once event `id` has settled, wake the streams of `endpoint` (through
    /// [`Store::event_notifications`](handover_core::store::Store)). One
    /// watching task per endpoint; it gives up when the store is dropped.
    pub(super) fn wake_when_settled(&self, endpoint: &str, handover: String, id: i64) {
        let Some(out) = self.inner.events.get().cloned() else {
            return; // nobody listens: streams re-read on their own.
        };
        if !self
            .inner
            .watching
            .0
            .lock()
            .unwrap()
            .insert(endpoint.to_string())
        {
            return;
        }
        let store = Arc::downgrade(&self.inner);
        let endpoint = endpoint.to_string();
        tokio::spawn(async move {
            let mut backoff = Backoff::new();
            loop {
                backoff.pause().await;
                let Some(inner) = store.upgrade() else { return };
                let store = PgStore { inner };
                if settled_below(&store).await.is_ok_and(|below| id < below) {
                    store.inner.watching.0.lock().unwrap().remove(&endpoint);
                    let _ = out.send(EventNotice::Handover {
                        newest: id,
                        handover,
                        endpoint,
                    });
                    return;
                }
            }
        });
    }
}

async fn settled_below(store: &PgStore) -> Result<i64> {
    let c = store.client().await?;
    let stmt = c
        .prepare_cached(concat!("SELECT ", settled_below!()))
        .await?;
    Ok(c.query_one(&stmt, &[]).await?.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_xid_shifted_plus_an_index() {
        assert_eq!(event_ids(3, 2).unwrap(), (3 << 16)..(3 << 16) + 2);
        assert!(event_ids(1, 0).unwrap().is_empty());
        assert!(event_ids(MAX_XID, 1).is_err());
        assert!(event_ids(-1, 1).is_err());
        assert!(event_ids(5, (1 << 16) + 1).is_err());
        // The last encodable id is still a safe JavaScript integer.
        let last = event_ids(MAX_XID - 1, 1 << 16).unwrap().end;
        assert!(last <= 1 << 53);
    }
}
