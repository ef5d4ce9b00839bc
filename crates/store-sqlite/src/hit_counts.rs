//! Hits and misses of one of the store's in-memory caches (`row_cache`,
//! `event_tail`): this store's own counts (for its tests and diagnostics)
//! and the process-wide metrics the cache reports to.
//!
//! Must never: block or allocate (it is counted on every read).

use std::sync::atomic::{AtomicU64, Ordering};

use handover_metrics::Counter;

/// One cache's hits and misses.
pub(crate) struct HitCounts {
    hits: AtomicU64,
    misses: AtomicU64,
    /// The process-wide hit and miss counters, in that order.
    metrics: [&'static Counter; 2],
}

impl HitCounts {
    /// Counts that also add to the process-wide `hits` and `misses`.
    pub(crate) const fn new(hits: &'static Counter, misses: &'static Counter) -> Self {
        HitCounts {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            metrics: [hits, misses],
        }
    }

    /// One read, answered from the cache (`hit`) or not.
    pub(crate) fn count(&self, hit: bool) {
        let (mine, metric) = if hit {
            (&self.hits, self.metrics[0])
        } else {
            (&self.misses, self.metrics[1])
        };
        mine.fetch_add(1, Ordering::Relaxed);
        metric.inc();
    }

    /// Hits and misses counted here so far.
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}
