//! The last hour of the host's own metrics, one sample per 10 s, for the
//! operator console's charts (`GET /admin/metrics/history`): handovers
//! ended by status and reason, adapter calls with their latency (mean, p50,
//! p99) and traps by cause.
//!
//! A sample is the difference between two reads of the process-wide totals
//! ([`Totals::read`]); a ring buffer keeps the last [`CAPACITY`]. The
//! sampler (a task of the binary) calls [`sample_now`] every
//! [`INTERVAL_MS`]; a second sampler in the same process changes nothing
//! (a sample closer than 9/10 of the interval to the last one is skipped).
//!
//! Must never block on I/O, take its lock while reading the other metrics
//! (the totals are read first), or hold more than [`CAPACITY`] samples.

use crate::{ADAPTER_CALL_LATENCY, ADAPTER_TRAPS, BUCKETS_US, HANDOVERS_ENDED, HistogramTotals};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// One sample per this many milliseconds.
pub const INTERVAL_MS: i64 = 10_000;
/// How many samples are kept: one hour.
pub const CAPACITY: usize = 360;
/// The window the samples cover.
pub const WINDOW_MS: i64 = INTERVAL_MS * CAPACITY as i64;

/// The totals a sample is the difference of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Handovers ended, by `[status, reason]`.
    pub ended: BTreeMap<Vec<String>, u64>,
    /// Traps and limit hits, by `[cause]`.
    pub traps: BTreeMap<Vec<String>, u64>,
    /// Adapter call latency, every endpoint and version together.
    pub latency: HistogramTotals,
}

impl Totals {
    /// The process-wide totals now.
    pub fn read() -> Totals {
        Totals {
            ended: HANDOVERS_ENDED.snapshot(),
            traps: ADAPTER_TRAPS.snapshot(),
            latency: ADAPTER_CALL_LATENCY.merged(),
        }
    }
}

/// What happened between `start_ms` and `end_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Handovers ended: (status, reason — empty unless an error's), count.
    pub ended: Vec<(String, String, u64)>,
    /// Traps and limit hits: (cause, count).
    pub traps: Vec<(String, u64)>,
    /// Adapter calls made.
    pub calls: u64,
    /// `None` without calls.
    pub call_mean_us: Option<u64>,
    pub call_p50_us: Option<u64>,
    pub call_p99_us: Option<u64>,
}

/// The ring buffer of samples and the totals of the last read.
pub struct History(Mutex<Inner>);

struct Inner {
    last: Option<(i64, Totals)>,
    samples: VecDeque<Sample>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    pub const fn new() -> History {
        History(Mutex::new(Inner {
            last: None,
            samples: VecDeque::new(),
        }))
    }

    /// Record the sample that ends at `now_ms` with `totals`. The first call
    /// only sets the baseline; a call less than 9/10 of [`INTERVAL_MS`]
    /// after the last one is ignored. Whether a sample was added.
    pub fn record(&self, now_ms: i64, totals: Totals) -> bool {
        let mut inner = self.0.lock().unwrap();
        let sample = match &inner.last {
            Some((at, _)) if now_ms - at < INTERVAL_MS * 9 / 10 => return false,
            Some((at, before)) => Some(difference(*at, now_ms, before, &totals)),
            None => None,
        };
        inner.last = Some((now_ms, totals));
        let Some(sample) = sample else { return false };
        if inner.samples.len() == CAPACITY {
            inner.samples.pop_front();
        }
        inner.samples.push_back(sample);
        true
    }

    /// The samples that ended within the last hour before `now_ms`, oldest
    /// first, and the interval in progress (since the last sample, measured
    /// against `totals`; `None` before the first sample).
    pub fn snapshot(&self, now_ms: i64, totals: &Totals) -> (Vec<Sample>, Option<Sample>) {
        let inner = self.0.lock().unwrap();
        let kept = inner
            .samples
            .iter()
            .filter(|s| s.end_ms > now_ms - WINDOW_MS)
            .cloned()
            .collect();
        let current = inner
            .last
            .as_ref()
            .map(|(at, before)| difference(*at, now_ms.max(*at), before, totals));
        (kept, current)
    }
}

/// The process's history, fed by [`sample_now`].
pub static HISTORY: History = History::new();

/// Record a sample of the process-wide totals at `now_ms` (milliseconds
/// since the Unix epoch).
pub fn sample_now(now_ms: i64) -> bool {
    HISTORY.record(now_ms, Totals::read())
}

/// By how much each count grew from `before` to `after` (counts that did
/// not grow are left out).
fn grown(
    before: &BTreeMap<Vec<String>, u64>,
    after: &BTreeMap<Vec<String>, u64>,
) -> Vec<(Vec<String>, u64)> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn label(labels: &[String], i: usize) -> String {
    labels.get(i).cloned().unwrap_or_default()
}

fn difference(start_ms: i64, end_ms: i64, before: &Totals, after: &Totals) -> Sample {
    let (b, a) = (&before.latency, &after.latency);
    let buckets: [u64; 12] = std::array::from_fn(|i| a.buckets[i].saturating_sub(b.buckets[i]));
    let calls = a.count.saturating_sub(b.count);
    let sum = a.sum_us.saturating_sub(b.sum_us);
    Sample {
        start_ms,
        end_ms,
        ended: grown(&before.ended, &after.ended)
            .into_iter()
            .map(|(k, n)| (label(&k, 0), label(&k, 1), n))
            .collect(),
        traps: grown(&before.traps, &after.traps)
            .into_iter()
            .map(|(k, n)| (label(&k, 0), n))
            .collect(),
        calls,
        call_mean_us: (calls > 0).then(|| sum / calls),
        call_p50_us: quantile(0.5, &buckets, calls),
        call_p99_us: quantile(0.99, &buckets, calls),
    }
}

/// The `q` quantile of `count` observations in cumulative `buckets`,
/// interpolated linearly inside its bucket (as Prometheus'
/// `histogram_quantile`); the top bound when it lies above every bucket.
pub fn quantile(q: f64, buckets: &[u64; 12], count: u64) -> Option<u64> {
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let (mut lower, mut below) = (0u64, 0u64);
    for (bound, &cum) in BUCKETS_US.iter().zip(buckets) {
        if cum > below && cum as f64 >= rank {
            let share = (rank - below as f64) / (cum - below) as f64;
            return Some(lower + ((bound - lower) as f64 * share.clamp(0.0, 1.0)).round() as u64);
        }
        (lower, below) = (*bound, cum.max(below));
    }
    Some(BUCKETS_US[BUCKETS_US.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(ended: &[(&str, &str, u64)], traps: &[(&str, u64)], us: &[u64]) -> Totals {
        let mut latency = HistogramTotals::default();
        for &v in us {
            for (i, b) in BUCKETS_US.iter().enumerate() {
                if v <= *b {
                    latency.buckets[i] += 1;
                }
            }
            latency.count += 1;
            latency.sum_us += v;
        }
        Totals {
            ended: ended
                .iter()
                .map(|(s, r, n)| (vec![s.to_string(), r.to_string()], *n))
                .collect(),
            traps: traps
                .iter()
                .map(|(c, n)| (vec![c.to_string()], *n))
                .collect(),
            latency,
        }
    }

    #[test]
    fn samples_are_differences_of_totals_and_the_buffer_keeps_one_hour() {
        let h = History::new();
        assert!(
            !h.record(0, Totals::default()),
            "the first read is the baseline"
        );
        let t1 = totals(&[("completed", "", 2)], &[("panic", 1)], &[100, 200]);
        assert!(h.record(10_000, t1.clone()));
        assert!(!h.record(12_000, t1.clone()), "too soon after the last one");
        let t2 = totals(
            &[("completed", "", 2), ("error", "error", 3)],
            &[("panic", 4)],
            &[100, 200, 3_000],
        );
        let (samples, current) = h.snapshot(15_000, &t2);
        assert_eq!(samples.len(), 1);
        let s = &samples[0];
        assert_eq!((s.start_ms, s.end_ms), (0, 10_000));
        assert_eq!(s.ended, vec![("completed".into(), "".into(), 2)]);
        assert_eq!(s.traps, vec![("panic".into(), 1)]);
        assert_eq!((s.calls, s.call_mean_us), (2, Some(150)));
        let c = current.unwrap();
        assert_eq!((c.start_ms, c.end_ms), (10_000, 15_000));
        assert_eq!(c.ended, vec![("error".into(), "error".into(), 3)]);
        assert_eq!(c.traps, vec![("panic".into(), 3)]);
        assert_eq!((c.calls, c.call_mean_us), (1, Some(3_000)));
        assert_eq!(c.call_p50_us, Some(3_750), "interpolated in (2.5 ms, 5 ms]");

        for i in 2..=(CAPACITY as i64 + 10) {
            h.record(i * INTERVAL_MS, t2.clone());
        }
        let now = (CAPACITY as i64 + 10) * INTERVAL_MS;
        let (samples, _) = h.snapshot(now, &t2);
        assert_eq!(samples.len(), CAPACITY);
        assert_eq!(samples.last().unwrap().end_ms, now);
        assert!(
            samples
                .iter()
                .all(|s| s.calls == 0 && s.call_p99_us.is_none())
        );
        let (later, _) = h.snapshot(now + WINDOW_MS / 2, &t2);
        assert_eq!(later.len(), CAPACITY / 2, "only the last hour is shown");
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let t = totals(
            &[],
            &[],
            &[40, 40, 40, 40, 900, 900, 900, 900, 900, 7_000_000],
        );
        let b = &t.latency.buckets;
        assert_eq!(
            quantile(0.5, b, 10),
            Some(600),
            "in (500, 1000]: 1/5 of the way"
        );
        assert_eq!(quantile(0.2, b, 10), Some(25));
        assert_eq!(quantile(0.99, b, 10), Some(5_000_000), "above every bucket");
        assert_eq!(quantile(0.5, b, 0), None);
    }
}
