//! Process-wide Prometheus metrics, rendered as text at `/metrics`.
//!
//! Counters and histograms are lock-free atomics; labelled ones find their
//! label set under a shared read lock without allocating. Nothing here may
//! block on I/O or hold a lock across an await.

pub mod history;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// Values kept per set of label values. Label sets are few (one per
/// endpoint, adapter version, export and outcome in use), so they are kept
/// in a list searched by comparing the borrowed label values: counting an
/// existing set takes a shared read lock and allocates nothing; only a set
/// seen for the first time takes the write lock and copies its labels.
struct LabelSets<T>(RwLock<Vec<(Vec<String>, T)>>);

impl<T: Default> LabelSets<T> {
    const fn new() -> Self {
        LabelSets(RwLock::new(Vec::new()))
    }

    /// Run `f` on the value for `labels`, adding it (zero) if it is new.
    fn with<R>(&self, labels: &[&str], f: impl Fn(&T) -> R) -> R {
        if let Some(r) = self.get(labels, &f) {
            return r;
        }
        let mut sets = self.0.write().unwrap_or_else(|e| e.into_inner());
        // Another thread may have added it between the two locks.
        if let Some(v) = find(&sets, labels) {
            return f(v);
        }
        let key = labels.iter().map(|s| s.to_string()).collect();
        sets.push((key, T::default()));
        f(&sets.last().expect("just pushed").1)
    }

    /// `f` of the value for `labels`, if that set has been seen.
    fn get<R>(&self, labels: &[&str], f: impl Fn(&T) -> R) -> Option<R> {
        let sets = self.0.read().unwrap_or_else(|e| e.into_inner());
        find(&sets, labels).map(f)
    }

    /// Every label set with a value read from it, sorted by label values.
    fn read<R>(&self, f: impl Fn(&T) -> R) -> BTreeMap<Vec<String>, R> {
        let sets = self.0.read().unwrap_or_else(|e| e.into_inner());
        sets.iter().map(|(k, v)| (k.clone(), f(v))).collect()
    }
}

/// The value kept for exactly these label values.
fn find<'a, T>(sets: &'a [(Vec<String>, T)], labels: &[&str]) -> Option<&'a T> {
    let same =
        |key: &[String]| key.len() == labels.len() && key.iter().zip(labels).all(|(k, l)| k == l);
    sets.iter().find(|(k, _)| same(k)).map(|(_, v)| v)
}

/// Counter with label values, e.g. status/reason.
pub struct LabelledCounter(LabelSets<AtomicU64>);

impl LabelledCounter {
    pub const fn new() -> Self {
        LabelledCounter(LabelSets::new())
    }
    pub fn inc(&self, labels: &[&str]) {
        self.0.with(labels, |c| c.fetch_add(1, Ordering::Relaxed));
    }
    pub fn get(&self, labels: &[&str]) -> u64 {
        self.0
            .get(labels, |c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }
    /// Every set of label values counted so far, with its count.
    pub fn snapshot(&self) -> BTreeMap<Vec<String>, u64> {
        self.0.read(|c| c.load(Ordering::Relaxed))
    }
}

impl Default for LabelledCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// The histograms' bucket bounds (`le`), in microseconds.
pub const BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000, 5_000_000,
];

/// Latency histogram in microseconds. Each observation adds to one bucket
/// (the first bound it is within, or the overflow slot) and to the count
/// and sum: three atomic additions, whatever the value; the cumulative
/// counts Prometheus wants are added up when read ([`HistogramTotals`]).
pub struct Histogram {
    /// Per bound of [`BUCKETS_US`], then one for values above them all.
    buckets: [AtomicU64; 13],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; 13],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, d: std::time::Duration) {
        let us = d.as_micros() as u64;
        let i = BUCKETS_US.partition_point(|b| *b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// A histogram's figures at one moment: cumulative bucket counts (by
/// [`BUCKETS_US`]), count and sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramTotals {
    pub buckets: [u64; 12],
    pub count: u64,
    pub sum_us: u64,
}

impl Histogram {
    fn totals(&self) -> HistogramTotals {
        let mut buckets = [0; 12];
        let mut running = 0;
        for (total, slot) in buckets.iter_mut().zip(&self.buckets) {
            running += slot.load(Ordering::Relaxed);
            *total = running;
        }
        HistogramTotals {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// A histogram per set of label values (few: one per endpoint and adapter
/// version in use).
pub struct LabelledHistogram(LabelSets<Histogram>);

impl LabelledHistogram {
    pub const fn new() -> Self {
        LabelledHistogram(LabelSets::new())
    }

    pub fn observe(&self, labels: &[&str], d: std::time::Duration) {
        self.0.with(labels, |h| h.observe(d));
    }

    /// Every label set's figures, sorted by label values.
    pub fn snapshot(&self) -> BTreeMap<Vec<String>, HistogramTotals> {
        self.0.read(Histogram::totals)
    }

    /// Every label set's histogram added up.
    pub fn merged(&self) -> HistogramTotals {
        let mut out = HistogramTotals::default();
        for t in self.snapshot().into_values() {
            for (o, b) in out.buckets.iter_mut().zip(t.buckets) {
                *o += b;
            }
            out.count += t.count;
            out.sum_us += t.sum_us;
        }
        out
    }
}

impl Default for LabelledHistogram {
    fn default() -> Self {
        Self::new()
    }
}

pub static EGRESS_DENIED: Counter = Counter::new();
pub static ADAPTER_TRAPS: LabelledCounter = LabelledCounter::new();
pub static ADAPTER_CALLS: LabelledCounter = LabelledCounter::new();
pub static ADAPTER_CALL_LATENCY: LabelledHistogram = LabelledHistogram::new();
/// Adapter instances created: one per call, except one per webhook session.
pub static ADAPTER_INSTANCES: Counter = Counter::new();
/// Adapter instances kept between calls now (sessions and warm pools).
pub static ADAPTER_INSTANCES_KEPT: AtomicU64 = AtomicU64::new(0);
pub static HANDOVERS_ENDED: LabelledCounter = LabelledCounter::new();
pub static HANDOVERS_CREATED: Counter = Counter::new();
pub static WEBHOOK_VERIFY_FAILED: LabelledCounter = LabelledCounter::new();
pub static WEBHOOKS_ACCEPTED: Counter = Counter::new();
/// Of the accepted webhooks, those applied inline (no inbox item).
pub static WEBHOOKS_INLINE: Counter = Counter::new();
/// Webhooks (contract 0.1.0) whose handover row was read before their
/// instance was made, for the key a learned route hint predicted and the
/// adapter's `route-webhook` confirmed.
pub static WEBHOOK_ROWS_READ_EARLY: Counter = Counter::new();
/// Poll results dropped because another step of the handover committed
/// while the poll ran outside the lock (the poll runs again).
pub static POLLS_SUPERSEDED: Counter = Counter::new();
pub static ADAPTER_SWAPS: LabelledCounter = LabelledCounter::new();
/// Canary handovers: (endpoint, adapter name@version, `started` or final status).
pub static CANARY_HANDOVERS: LabelledCounter = LabelledCounter::new();
/// Canary ends: (endpoint, result, by).
pub static CANARY_ENDS: LabelledCounter = LabelledCounter::new();
/// Store reads made by event streams (SSE), catch-up and wake-ups alike.
pub static SSE_STORE_READS: Counter = Counter::new();
/// Event streams (SSE) open now.
pub static SSE_STREAMS_OPEN: AtomicU64 = AtomicU64::new(0);
/// SQLite group commits rolled back and run again with savepoints because
/// a write failed in their savepoint-free run.
pub static SQLITE_BATCH_RERUNS: Counter = Counter::new();
/// SQLite page-cache truncations skipped by the wrapped cache (nothing to
/// drop).
pub static SQLITE_TRUNCATIONS_SKIPPED: Counter = Counter::new();
/// Inline webhooks whose handover row the SQLite store had in its row
/// cache, and ones it read from the file.
pub static SQLITE_ROW_CACHE_HITS: Counter = Counter::new();
pub static SQLITE_ROW_CACHE_MISSES: Counter = Counter::new();
pub static SQLITE_EVENT_TAIL_HITS: Counter = Counter::new();
pub static SQLITE_EVENT_TAIL_MISSES: Counter = Counter::new();

/// One unlabelled counter or gauge.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn labelled(out: &mut String, name: &str, help: &str, names: &[&str], c: &LabelledCounter) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (vals, n) in c.snapshot() {
        let _ = writeln!(out, "{name}{{{}}} {n}", label_set(names, &vals));
    }
}

/// `k1="v1",k2="v2"` for label names and their values.
fn label_set(names: &[&str], vals: &[String]) -> String {
    let labels: Vec<String> = names
        .iter()
        .zip(vals)
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "'")))
        .collect();
    labels.join(",")
}

/// Render every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP handover_created_total Handovers created.\n# TYPE handover_created_total counter\nhandover_created_total {}",
        HANDOVERS_CREATED.get()
    );
    labelled(
        &mut out,
        "handover_ended_total",
        "Handovers ended, by final status and error reason.",
        &["status", "reason"],
        &HANDOVERS_ENDED,
    );
    labelled(
        &mut out,
        "adapter_calls_total",
        "Adapter calls, by endpoint, adapter (name@version), export and outcome.",
        &["endpoint", "adapter", "export", "outcome"],
        &ADAPTER_CALLS,
    );
    labelled(
        &mut out,
        "adapter_traps_total",
        "Adapter calls that trapped or hit a limit, by cause.",
        &["cause"],
        &ADAPTER_TRAPS,
    );
    labelled(
        &mut out,
        "webhook_verification_failed_total",
        "Webhooks refused, by cause.",
        &["cause"],
        &WEBHOOK_VERIFY_FAILED,
    );
    labelled(
        &mut out,
        "canary_handovers_total",
        "Handovers during canaries, by endpoint, version (name@version) and event (`started` or the final status).",
        &["endpoint", "version", "event"],
        &CANARY_HANDOVERS,
    );
    labelled(
        &mut out,
        "canary_ends_total",
        "Canaries ended, by endpoint, result (promoted, rolled_back, aborted, replaced) and who (auto, operator, tenant, swap).",
        &["endpoint", "result", "by"],
        &CANARY_ENDS,
    );
    labelled(
        &mut out,
        "adapter_swaps_total",
        "Adapter swaps and rollbacks, by kind and result.",
        &["kind", "result"],
        &ADAPTER_SWAPS,
    );
    let _ = writeln!(
        out,
        "# HELP egress_denied_total Outgoing adapter requests denied by policy.\n# TYPE egress_denied_total counter\negress_denied_total {}",
        EGRESS_DENIED.get()
    );
    let _ = writeln!(
        out,
        "# HELP adapter_instances_total Adapter instances created (one per call, except that a webhook's route and inline handle calls share one, and endpoints with instance_reuse reuse them).\n# TYPE adapter_instances_total counter\nadapter_instances_total {}",
        ADAPTER_INSTANCES.get()
    );
    let _ = writeln!(
        out,
        "# HELP adapter_instances_kept Adapter instances kept between calls now (webhook sessions and instance_reuse warm pools).\n# TYPE adapter_instances_kept gauge\nadapter_instances_kept {}",
        ADAPTER_INSTANCES_KEPT.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP webhooks_accepted_total Webhooks verified and stored.\n# TYPE webhooks_accepted_total counter\nwebhooks_accepted_total {}",
        WEBHOOKS_ACCEPTED.get()
    );
    let _ = writeln!(
        out,
        "# HELP polls_superseded_total Poll results dropped because another step of the handover committed while the poll ran (the poll runs again from the new state).\n# TYPE polls_superseded_total counter\npolls_superseded_total {}",
        POLLS_SUPERSEDED.get()
    );
    let _ = writeln!(
        out,
        "# HELP webhooks_applied_inline_total Accepted webhooks applied at once in one write (the rest went through the inbox).\n# TYPE webhooks_applied_inline_total counter\nwebhooks_applied_inline_total {}",
        WEBHOOKS_INLINE.get()
    );
    single(
        &mut out,
        "webhook_rows_read_early_total",
        "counter",
        "Webhooks whose handover row was read before their adapter instance was made, for the key a learned route hint predicted and `route-webhook` confirmed (contract 0.1.0 adapters).",
        WEBHOOK_ROWS_READ_EARLY.get(),
    );
    single(
        &mut out,
        "sse_store_reads_total",
        "counter",
        "Store reads made by event streams (catch-up, wake-ups and the slow safety re-read).",
        SSE_STORE_READS.get(),
    );
    single(
        &mut out,
        "sse_streams_open",
        "gauge",
        "Event streams (SSE) open now.",
        SSE_STREAMS_OPEN.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "sqlite_batch_reruns_total",
        "counter",
        "SQLite group commits rolled back and run again, each write in its own savepoint, because one write failed in the batch's savepoint-free run (a stale step, a duplicate delivery).",
        SQLITE_BATCH_RERUNS.get(),
    );
    single(
        &mut out,
        "sqlite_page_cache_truncations_skipped_total",
        "counter",
        "SQLite page-cache truncations skipped because they had no page to drop (each would have walked the whole cache).",
        SQLITE_TRUNCATIONS_SKIPPED.get(),
    );
    single(
        &mut out,
        "sqlite_row_cache_hits_total",
        "counter",
        "Handover rows for inline webhooks taken from the SQLite store's row cache (rows as this process last committed them) instead of read from the file.",
        SQLITE_ROW_CACHE_HITS.get(),
    );
    single(
        &mut out,
        "sqlite_row_cache_misses_total",
        "counter",
        "Handover rows for inline webhooks the SQLite store read from the file (not in its row cache).",
        SQLITE_ROW_CACHE_MISSES.get(),
    );
    single(
        &mut out,
        "sqlite_event_tail_hits_total",
        "counter",
        "Event reads (event streams, webhook deliveries) the SQLite store answered from the events this process committed last, without a reader thread.",
        SQLITE_EVENT_TAIL_HITS.get(),
    );
    single(
        &mut out,
        "sqlite_event_tail_misses_total",
        "counter",
        "Event reads the SQLite store answered from the file (older than its tail of recent events, or the tail not vouched for).",
        SQLITE_EVENT_TAIL_MISSES.get(),
    );
    let _ = writeln!(
        out,
        "# HELP adapter_call_seconds Adapter call latency, by endpoint and adapter (name@version).\n# TYPE adapter_call_seconds histogram"
    );
    for (vals, h) in ADAPTER_CALL_LATENCY.snapshot() {
        let labels = label_set(&["endpoint", "adapter"], &vals);
        for (i, b) in BUCKETS_US.iter().enumerate() {
            let _ = writeln!(
                out,
                "adapter_call_seconds_bucket{{{labels},le=\"{}\"}} {}",
                *b as f64 / 1e6,
                h.buckets[i]
            );
        }
        let count = h.count;
        let _ = writeln!(
            out,
            "adapter_call_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = h.sum_us as f64 / 1e6;
        let _ = writeln!(out, "adapter_call_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "adapter_call_seconds_count{{{labels}}} {count}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn labelled_counts_are_kept_per_label_set_and_listed_sorted() {
        let c = LabelledCounter::new();
        c.inc(&["b", "x"]);
        c.inc(&["a", "y"]);
        c.inc(&["b", "x"]);
        // A prefix of a set, or a longer set, is a different set.
        c.inc(&["b"]);
        assert_eq!(c.get(&["b", "x"]), 2);
        assert_eq!(c.get(&["a", "y"]), 1);
        assert_eq!(c.get(&["b"]), 1);
        assert_eq!(c.get(&["b", "x", "z"]), 0);
        let keys: Vec<Vec<String>> = c.snapshot().into_keys().collect();
        assert_eq!(keys, [vec!["a", "y"], vec!["b"], vec!["b", "x"]]);
    }

    #[test]
    fn a_new_label_set_added_from_many_threads_at_once_is_added_once() {
        let c = LabelledCounter::new();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..1_000 {
                        c.inc(&["ep", if i % 2 == 0 { "even" } else { "odd" }]);
                    }
                });
            }
        });
        let snap = c.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap.values().sum::<u64>(), 8_000);
        assert_eq!(c.0.0.read().unwrap().len(), 2);
    }

    #[test]
    fn labelled_histograms_merge_every_label_set() {
        let h = LabelledHistogram::new();
        h.observe(&["ep1", "a@1"], Duration::from_micros(40));
        h.observe(&["ep2", "a@1"], Duration::from_micros(3_000));
        h.observe(&["ep1", "a@1"], Duration::from_micros(60));
        let by_set = h.snapshot();
        assert_eq!(by_set[&vec!["ep1".to_string(), "a@1".to_string()]].count, 2);
        let m = h.merged();
        assert_eq!((m.count, m.sum_us), (3, 3_100));
        // Cumulative: le=50 µs holds one, le=100 µs two, le=5 ms all three.
        assert_eq!((m.buckets[0], m.buckets[1], m.buckets[6]), (1, 2, 3));
        assert_eq!(m.buckets[5], 2, "le=2.5 ms: 3 ms is not within it");
    }

    #[test]
    fn a_value_on_a_bound_is_within_it_and_one_above_every_bound_only_in_the_count() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_secs(6));
        let t = h.totals();
        assert_eq!(
            (t.buckets[0], t.buckets[1]),
            (0, 1),
            "100 µs is within le=100 µs"
        );
        assert_eq!(t.buckets[11], 1, "6 s is above le=5 s");
        assert_eq!((t.count, t.sum_us), (2, 6_000_100));
    }
}
