//! Handover rows as this process last committed them, and which handover
//! each correlation key names, for the inline webhook's read of its
//! handover (`webhook_target`, `handover_if_inbox_empty`).
//!
//! A reader connection starts each read transaction on a new snapshot
//! whenever the writer has committed since its last one, and SQLite then
//! drops that connection's whole page cache: under load every row read
//! fetches the handover's index and table pages again (at 32 webhooks in
//! flight, the row and its inbox check were 45 % of the reader threads'
//! time; BENCHMARKS.md). The writer already holds each step's new row, so
//! after the commit it keeps it here, and the next webhook of that handover
//! takes a copy instead of reading the row. With the key's handover known
//! too, a webhook's read needs no reader thread at all.
//!
//! An entry says: this was the handover's committed row, and it had no
//! unprocessed inbox item. The writer keeps that true for this process's
//! writes, before it answers the write's caller: a committed step replaces
//! the handover's entry if it has one, and an inline webhook step (whose
//! commit checked the inbox) adds it if not (a step that consumed inbox
//! items removes it: more may be waiting); an accepted inbox item removes it; a
//! step's correlation keys are set to name its handover; a prune empties
//! the cache. A reader adds an entry only if the cache has
//! not changed since its read was queued ([`Ticket`]; the read's snapshot
//! is taken after that), so an entry never goes back to an older row.
//!
//! Must never: guard a write. A row from here is checked at its commit as
//! one read from the file is (its version), and an inline step is refused
//! while its handover has inbox items or if its key no longer names it
//! (`ops::apply`, `Change::route_key`), so an entry that is stale all the
//! same (another process writing the file; the writer empties the cache at
//! its next batch) costs the webhook a trip through the inbox, never a
//! step applied to the wrong handover or out of order. Nor grow
//! without bound: past [`BUDGET`] bytes (rows counted by their variable
//! parts: provider state, agent and extras; rows are kept without their
//! create request, which a webhook step never reads) entries are dropped,
//! and a row larger than [`LARGEST`] is not kept.

use std::collections::HashMap;
use std::sync::Mutex;

use handover_core::store::HandoverRow;

use crate::hit_counts::HitCounts;

/// Bytes of rows kept at most.
pub(crate) const BUDGET: usize = 32 << 20;
/// The largest row kept, bytes.
pub(crate) const LARGEST: usize = BUDGET / 64;
/// What a row costs besides its variable parts (its fixed fields, its
/// strings, the map's entry).
const ROW_OVERHEAD: usize = 512;
/// What a key costs besides its strings.
const KEY_OVERHEAD: usize = 64;

/// What a committed step says of its handover's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbox {
    /// It marked inbox items done: others may be waiting (the entry goes).
    Consumed,
    /// It did not touch the inbox (an entry stays true: it would have left
    /// when an item came).
    Unchanged,
    /// Its commit found the inbox empty (an inline webhook step,
    /// `ops::apply`): the row is kept even if it was not here.
    Empty,
}

/// The cache's state when a read was queued: its row may be kept only if
/// the cache is still in that state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

#[derive(Default)]
struct Inner {
    rows: HashMap<String, Entry>,
    /// Endpoint → correlation key → the handover it names.
    keys: HashMap<String, HashMap<String, String>>,
    /// The entries' costs added up.
    bytes: usize,
    /// Bumped by every change the writer makes.
    generation: u64,
}

struct Entry {
    /// Without its create request.
    row: HandoverRow,
    /// Its cost against the budget.
    cost: usize,
}

impl Inner {
    /// Sets `key` of `endpoint` to name `id` (a key costs its bytes).
    fn bind(&mut self, endpoint: &str, key: &str, id: &str) {
        let cost = KEY_OVERHEAD + endpoint.len() + key.len() + id.len();
        let keys = match self.keys.get_mut(endpoint) {
            Some(keys) => keys,
            None => self.keys.entry(endpoint.to_owned()).or_default(),
        };
        match keys.get_mut(key) {
            Some(named) => {
                self.bytes = self.bytes - named.len() + id.len();
                id.clone_into(named);
            }
            None => {
                keys.insert(key.to_owned(), id.to_owned());
                self.bytes += cost;
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.rows.remove(id) {
            self.bytes -= e.cost;
        }
    }

    /// Drops entries (any rows; all keys if rows are not enough) until
    /// `more` bytes fit.
    fn make_room(&mut self, more: usize) {
        while self.bytes + more > BUDGET {
            let Some(id) = self.rows.keys().next().cloned() else {
                self.keys.clear();
                self.bytes = 0;
                return;
            };
            self.remove(&id);
        }
    }
}

/// Bytes of `v` as JSON, counted without writing them anywhere.
fn json_bytes(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    let _ = serde_json::to_writer(&mut n, v);
    n.0
}

/// A row's cost.
fn cost(row: &HandoverRow) -> usize {
    let optional = |v: &Option<serde_json::Value>| v.as_ref().map_or(0, json_bytes);
    ROW_OVERHEAD + row.provider_state.len() + optional(&row.agent) + optional(&row.extras)
}

/// See the module doc.
pub(crate) struct RowCache {
    inner: Mutex<Inner>,
    counts: HitCounts,
}

impl Default for RowCache {
    fn default() -> Self {
        RowCache {
            inner: Mutex::default(),
            counts: HitCounts::new(
                &handover_metrics::SQLITE_ROW_CACHE_HITS,
                &handover_metrics::SQLITE_ROW_CACHE_MISSES,
            ),
        }
    }
}

impl RowCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before a read is queued (see [`RowCache::fill`]).
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// The handover `key` of `endpoint` names, with a copy of its row, if
    /// both are here.
    pub(crate) fn target(&self, endpoint: &str, key: &str) -> Option<(String, HandoverRow)> {
        let found = {
            let inner = self.lock();
            let id = inner.keys.get(endpoint).and_then(|k| k.get(key));
            id.and_then(|id| Some((id.clone(), inner.rows.get(id)?.row.clone())))
        };
        // A miss is counted by the row's own lookup after the key's read.
        if found.is_some() {
            self.counts.count(true);
        }
        found
    }

    /// A key's handover a read found, kept as [`RowCache::fill`] keeps rows.
    pub(crate) fn fill_key(&self, ticket: Ticket, endpoint: &str, key: &str, id: &str) {
        let mut inner = self.lock();
        if inner.generation == ticket.0 {
            inner.make_room(KEY_OVERHEAD + endpoint.len() + key.len() + id.len());
            inner.bind(endpoint, key, id);
        }
    }

    /// A copy of the handover's row, if it is here.
    pub(crate) fn get(&self, id: &str) -> Option<HandoverRow> {
        let row = self.lock().rows.get(id).map(|e| e.row.clone());
        self.counts.count(row.is_some());
        row
    }

    /// A row a read found (with no inbox item), kept (without its create
    /// request) unless the writer changed the cache after `ticket` was
    /// taken.
    pub(crate) fn fill(&self, ticket: Ticket, row: &HandoverRow) {
        if self.lock().generation != ticket.0 {
            return;
        }
        // Measured outside the lock (the writer waits on it).
        let cost = cost(row);
        if cost > LARGEST {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        inner.remove(&row.id);
        inner.make_room(cost);
        inner.bytes += cost;
        let row = HandoverRow {
            request: serde_json::Value::Null,
            ..row.clone()
        };
        inner.rows.insert(row.id.clone(), Entry { row, cost });
    }

    /// The writer committed a step whose new row is `row` as the step wrote
    /// it (the version it was read at; a step does not write the create
    /// request, which is not kept), binding `keys` to its handover. `inbox`:
    /// what the commit says of the handover's inbox.
    pub(crate) fn committed(&self, mut row: HandoverRow, inbox: Inbox, keys: &[String]) {
        let mut inner = self.lock();
        inner.generation += 1;
        for key in keys {
            inner.bind(&row.endpoint_id, key, &row.id);
        }
        let keep = match inbox {
            Inbox::Consumed => false,
            Inbox::Unchanged => inner.rows.contains_key(&row.id),
            Inbox::Empty => true,
        };
        inner.remove(&row.id);
        let cost = if keep { cost(&row) } else { LARGEST + 1 };
        if cost > LARGEST {
            inner.make_room(0);
            return;
        }
        row.version += 1;
        row.request = serde_json::Value::Null;
        inner.make_room(cost);
        inner.bytes += cost;
        inner.rows.insert(row.id.clone(), Entry { row, cost });
    }

    /// The writer stored inbox items for these handovers.
    pub(crate) fn forget(&self, ids: &[String]) {
        let mut inner = self.lock();
        inner.generation += 1;
        for id in ids {
            inner.remove(id);
        }
    }

    /// The writer removed rows or inbox items wholesale (a prune).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.clear();
        inner.keys.clear();
        inner.bytes = 0;
    }

    /// Rows found here and not found, since the store opened.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.counts.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, version: i64) -> HandoverRow {
        let mut r = handover_store_conformance::row(id, "ep", id);
        r.version = version;
        r
    }

    #[test]
    fn a_row_read_before_a_commit_is_not_kept_after_it() {
        let cache = RowCache::default();
        let ticket = cache.ticket();
        // The commit's row had no entry: nothing is kept, but the cache
        // moved on, so the older read's row is dropped too.
        cache.committed(row("h", 1), Inbox::Unchanged, &[]);
        cache.fill(ticket, &row("h", 1));
        assert!(cache.get("h").is_none());
        let ticket = cache.ticket();
        cache.fill(ticket, &row("h", 2));
        assert_eq!(cache.get("h").map(|r| r.version), Some(2));
    }

    #[test]
    fn a_commit_replaces_the_entry_and_no_create_request_is_kept() {
        let cache = RowCache::default();
        let read = row("h", 4);
        assert!(!read.request.is_null());
        cache.fill(cache.ticket(), &read);
        assert!(cache.get("h").expect("kept").request.is_null());
        let mut step = read.clone();
        step.provider_state = b"next".to_vec();
        cache.committed(step, Inbox::Unchanged, &["k".into()]);
        let got = cache.get("h").expect("kept");
        assert_eq!(got.version, 5);
        assert_eq!(got.provider_state, b"next");
        assert!(got.request.is_null());
        assert_eq!(cache.target("ep", "k").map(|(id, _)| id), Some("h".into()));
    }

    #[test]
    fn only_a_commit_that_found_the_inbox_empty_adds_an_absent_row() {
        let cache = RowCache::default();
        cache.committed(row("a", 1), Inbox::Unchanged, &[]);
        assert!(cache.get("a").is_none());
        cache.committed(row("a", 1), Inbox::Empty, &[]);
        assert_eq!(cache.get("a").map(|r| r.version), Some(2));
        cache.committed(row("a", 2), Inbox::Consumed, &[]);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn inbox_items_and_prunes_remove_entries() {
        let cache = RowCache::default();
        for id in ["a", "b", "c"] {
            cache.fill(cache.ticket(), &row(id, 1));
        }
        cache.forget(&["a".to_string()]);
        cache.committed(row("b", 1), Inbox::Consumed, &[]);
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_none());
        assert_eq!(cache.get("c").map(|r| r.version), Some(1));
        cache.clear();
        assert!(cache.get("c").is_none());
        assert_eq!(cache.counts(), (1, 3));
    }

    #[test]
    fn it_holds_at_most_its_budget_and_no_row_too_large() {
        let cache = RowCache::default();
        let mut big = row("big", 1);
        big.provider_state = vec![7; LARGEST];
        cache.fill(cache.ticket(), &big);
        assert!(cache.get("big").is_none(), "larger than a row may be");
        // Rows of 1/100 of the budget: 100 fit (less their overhead).
        let mut r = row("h", 1);
        r.provider_state = vec![7; BUDGET / 100];
        for i in 0..150 {
            r.id = format!("h{i}");
            cache.fill(cache.ticket(), &r);
        }
        let (kept, bytes) = {
            let inner = cache.lock();
            (inner.rows.len(), inner.bytes)
        };
        assert!((90..100).contains(&kept), "{kept} rows kept");
        assert!(bytes <= BUDGET);
        assert!(cache.get("h149").is_some(), "the newest is kept");
        // A step that grows a kept row past the largest drops it.
        let mut grown = cache.get("h149").unwrap();
        grown.provider_state = vec![7; LARGEST];
        cache.committed(grown, Inbox::Unchanged, &[]);
        assert!(cache.get("h149").is_none());
        let inner = cache.lock();
        assert_eq!(
            inner.bytes,
            inner.rows.values().map(|e| e.cost).sum::<usize>()
        );
    }
}
