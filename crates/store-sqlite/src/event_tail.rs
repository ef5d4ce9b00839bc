//! The events this process committed most recently, for stream reads
//! (`events_after`) answered without a reader thread.
//!
//! Every SSE stream reads its scope's new events after each commit that
//! concerned it: under load 0.2–0.8 reads per webhook, each a trip through
//! a reader thread (two wake-ups across this VM's vCPUs) and a JSON parse
//! of every payload (the reader threads were 10–23 µs of host CPU per
//! webhook; BENCHMARKS.md). The writer holds every event it commits
//! (`apply`'s answer), so after the commit it appends them here, and a read
//! whose `after` lies within the tail takes copies from memory.
//!
//! The tail says: every event in the file with an id above `floor` is here,
//! in id order. The writer keeps that true: it alone appends, after its
//! commit and before the write's caller is answered; and at each `BEGIN
//! IMMEDIATE` (inside the transaction, so no other process can commit
//! meanwhile) it empties the tail and reads `floor` again (`MAX(id)`) when
//! another connection committed since its last transaction (`PRAGMA
//! data_version` moved: the writer reads it once for this tail and the row
//! cache, see `Caches`), or when the tail was emptied (a prune deleted
//! events; an event came out of order). Past [`CAPACITY`] events or
//! [`BUDGET`] bytes the oldest leave and `floor` rises to them.
//!
//! Must never: answer a read that could miss an event. A read is answered
//! here only if its `after` is at or above `floor` and the writer checked
//! `data_version` within [`FRESH`]; otherwise it goes to the file. So an
//! event another process commits is read from the file once this writer
//! has been idle for [`FRESH`] or has begun its next transaction (which
//! raises `floor` to it or above); until then reads answer only events
//! below it, and a stream's `after` only moves over events it was given:
//! delayed like a read of an older snapshot, never skipped.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use handover_core::store::{EventScope, StoredEvent};
use rusqlite::Connection;

use crate::hit_counts::HitCounts;

/// Most events kept.
pub(crate) const CAPACITY: usize = 4096;
/// Most bytes of events kept (each counted by [`cost`]).
pub(crate) const BUDGET: usize = 8 << 20;
/// How recently the writer must have checked for other connections'
/// commits for the tail to answer a read.
pub(crate) const FRESH: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Inner {
    /// Every event with a greater id is in `events`; `None`: unknown until
    /// the writer's next transaction (no read is answered).
    floor: Option<i64>,
    /// The events (with their costs), ids ascending.
    events: VecDeque<(StoredEvent, usize)>,
    bytes: usize,
    /// When the writer last checked for other connections' commits.
    checked: Option<Instant>,
}

impl Inner {
    fn empty(&mut self, floor: Option<i64>) {
        self.floor = floor;
        self.events.clear();
        self.bytes = 0;
    }
}

/// See the module doc.
pub(crate) struct EventTail {
    inner: Mutex<Inner>,
    /// [`FRESH`], but for tests.
    fresh: Duration,
    counts: HitCounts,
}

impl Default for EventTail {
    fn default() -> Self {
        EventTail::with_fresh(FRESH)
    }
}

impl EventTail {
    pub(crate) fn with_fresh(fresh: Duration) -> Self {
        EventTail {
            inner: Mutex::default(),
            fresh,
            counts: HitCounts::new(
                &handover_metrics::SQLITE_EVENT_TAIL_HITS,
                &handover_metrics::SQLITE_EVENT_TAIL_MISSES,
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// On the writer thread, just after each `BEGIN IMMEDIATE` on `conn`,
    /// told whether another connection committed since the writer's last
    /// transaction (`None`: it could not tell): empties the tail and reads
    /// `floor` again if one did or the tail was emptied; not knowing, or an
    /// error, leaves `floor` unknown.
    pub(crate) fn begun(&self, conn: &Connection, others_committed: Option<bool>) {
        let keep = others_committed == Some(false) && self.lock().floor.is_some();
        let floor = if keep {
            None
        } else {
            let max = |_| {
                conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM events")
                    .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                    .ok()
            };
            Some(others_committed.and_then(max))
        };
        let mut inner = self.lock();
        if let Some(floor) = floor {
            inner.empty(floor);
        }
        inner.checked = Some(Instant::now());
    }

    /// On the writer thread, after the commit of a write that stored
    /// `events` (ids ascending), before its caller is answered.
    pub(crate) fn committed(&self, events: &[StoredEvent]) {
        let mut inner = self.lock();
        let Some(floor) = inner.floor else {
            return;
        };
        for event in events {
            let last = inner.events.back().map_or(floor, |(e, _)| e.id);
            if event.id <= last {
                // Not in commit order: nothing here can be vouched for.
                inner.empty(None);
                return;
            }
            let cost = cost(event);
            inner.bytes += cost;
            inner.events.push_back((event.clone(), cost));
        }
        while inner.events.len() > CAPACITY || inner.bytes > BUDGET {
            let Some((oldest, cost)) = inner.events.pop_front() else {
                break;
            };
            inner.bytes -= cost;
            inner.floor = Some(oldest.id);
        }
    }

    /// Forget everything until the writer's next transaction (a prune
    /// deleted events).
    pub(crate) fn clear(&self) {
        self.lock().empty(None);
    }

    /// `scope`'s events with ids above `after`, oldest first, at most
    /// `limit`: `None` if the tail cannot vouch for them (the caller reads
    /// the file).
    pub(crate) fn after(
        &self,
        scope: &EventScope,
        after: i64,
        limit: u32,
    ) -> Option<Vec<StoredEvent>> {
        let answer = {
            let inner = self.lock();
            let fresh = inner.checked.is_some_and(|t| t.elapsed() <= self.fresh);
            match inner.floor {
                Some(floor) if fresh && after >= floor => {
                    let start = inner.events.partition_point(|(e, _)| e.id <= after);
                    Some(
                        inner
                            .events
                            .range(start..)
                            .map(|(e, _)| e)
                            .filter(|e| in_scope(e, scope))
                            .take(limit as usize)
                            .cloned()
                            .collect(),
                    )
                }
                _ => None,
            }
        };
        self.counts.count(answer.is_some());
        answer
    }

    /// Reads answered here and from the file, since this tail was made.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.counts.get()
    }
}

fn in_scope(event: &StoredEvent, scope: &EventScope) -> bool {
    match scope {
        EventScope::Handover(id) => event.handover_id == *id,
        EventScope::Endpoint(id) => event.endpoint_id == *id,
    }
}

/// What an event costs here, roughly: its strings and the payload's
/// strings, plus a fixed overhead per event and per JSON value.
pub(crate) fn cost(event: &StoredEvent) -> usize {
    fn value(v: &serde_json::Value) -> usize {
        32 + match v {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(items) => items.iter().map(value).sum(),
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| k.len() + value(v)).sum(),
            _ => 0,
        }
    }
    128 + event.handover_id.len()
        + event.endpoint_id.len()
        + event.kind.len()
        + value(&event.payload)
}

#[cfg(test)]
#[path = "event_tail_tests.rs"]
mod tests;
