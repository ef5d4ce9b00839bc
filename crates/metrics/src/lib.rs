//! Process-wide Prometheus metrics, rendered as text at `/metrics`.
//!
//! Counters and histograms are lock-free atomics; labelled counters use a
//! small mutex-guarded map. Nothing here may block on I/O or hold a lock
//! across an await.

pub mod history;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
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

/// Counter with label values, e.g. status/reason.
pub struct LabelledCounter(Mutex<BTreeMap<Vec<String>, u64>>);

impl LabelledCounter {
    pub const fn new() -> Self {
        LabelledCounter(Mutex::new(BTreeMap::new()))
    }
    pub fn inc(&self, labels: &[&str]) {
        let key = labels.iter().map(|s| s.to_string()).collect();
        *self.0.lock().unwrap().entry(key).or_default() += 1;
    }
    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.0.lock().unwrap().get(&key).copied().unwrap_or(0)
    }
    /// Every set of label values counted so far, with its count.
    pub fn snapshot(&self) -> BTreeMap<Vec<String>, u64> {
        self.0.lock().unwrap().clone()
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

/// Latency histogram in microseconds.
pub struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; 12],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, d: std::time::Duration) {
        let us = d.as_micros() as u64;
        for (i, b) in BUCKETS_US.iter().enumerate() {
            if us <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
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
        HistogramTotals {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
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
pub struct LabelledHistogram(Mutex<BTreeMap<Vec<String>, Histogram>>);

impl LabelledHistogram {
    pub const fn new() -> Self {
        LabelledHistogram(Mutex::new(BTreeMap::new()))
    }

    pub fn observe(&self, labels: &[&str], d: std::time::Duration) {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.0.lock().unwrap().entry(key).or_default().observe(d);
    }

    /// Every label set's histogram added up.
    pub fn merged(&self) -> HistogramTotals {
        let mut out = HistogramTotals::default();
        for h in self.0.lock().unwrap().values() {
            let t = h.totals();
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

/// One unlabelled counter or gauge.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn labelled(out: &mut String, name: &str, help: &str, names: &[&str], c: &LabelledCounter) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (vals, n) in c.0.lock().unwrap().iter() {
        let _ = writeln!(out, "{name}{{{}}} {n}", label_set(names, vals));
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
    let _ = writeln!(
        out,
        "# HELP adapter_call_seconds Adapter call latency, by endpoint and adapter (name@version).\n# TYPE adapter_call_seconds histogram"
    );
    for (vals, h) in ADAPTER_CALL_LATENCY.0.lock().unwrap().iter() {
        let labels = label_set(&["endpoint", "adapter"], vals);
        for (i, b) in BUCKETS_US.iter().enumerate() {
            let _ = writeln!(
                out,
                "adapter_call_seconds_bucket{{{labels},le=\"{}\"}} {}",
                *b as f64 / 1e6,
                h.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "adapter_call_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "adapter_call_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "adapter_call_seconds_count{{{labels}}} {count}");
    }
    out
}
