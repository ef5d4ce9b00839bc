//! One version's figures during a canary: what this process counts live
//! ([`ArmStats`], lock-free on the call path) and the summable [`Counts`]
//! that processes share through the store, so every replica decides on the
//! same totals. Never decides anything (see `canary`).

use handover_runtime::{CallObserver, CallVerdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::VersionInfo;

/// Latencies kept for the percentiles (this process's newest calls).
const LATENCY_WINDOW: usize = 2048;

/// Counts of one version, summable across processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub started: u64,
    pub ended: u64,
    pub errors: u64,
    /// `status` or `status/end_reason` → handovers.
    pub outcomes: BTreeMap<String, u64>,
    pub calls: u64,
    pub failures: u64,
    pub traps: u64,
    pub limit_hits: u64,
    pub egress_denied: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.started += o.started;
        self.ended += o.ended;
        self.errors += o.errors;
        for (k, n) in &o.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += n;
        }
        self.calls += o.calls;
        self.failures += o.failures;
        self.traps += o.traps;
        self.limit_hits += o.limit_hits;
        self.egress_denied += o.egress_denied;
    }

    /// Ended handovers whose status is `error`, per ended handover.
    pub fn error_rate(&self) -> f64 {
        ratio(self.errors, self.ended)
    }

    /// Traps, limit hits and denied egress per call (denied egress counts:
    /// the candidate reached for what the endpoint does not allow).
    pub fn trap_rate(&self) -> f64 {
        ratio(
            self.traps + self.limit_hits + self.egress_denied,
            self.calls,
        )
    }

    pub fn bad_calls(&self) -> u64 {
        self.traps + self.limit_hits + self.egress_denied
    }

    pub fn outcome_list(&self) -> String {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        parts.join(", ")
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One version's live counts in this process.
#[derive(Default)]
pub struct ArmStats {
    started: AtomicU64,
    ended: AtomicU64,
    errors: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    calls: AtomicU64,
    failures: AtomicU64,
    traps: AtomicU64,
    limit_hits: AtomicU64,
    egress_denied: AtomicU64,
    latencies_us: Mutex<VecDeque<u32>>,
}

impl CallObserver for ArmStats {
    fn observe(&self, _export: &'static str, elapsed: Duration, verdict: CallVerdict) {
        self.calls.fetch_add(1, Relaxed);
        let counter = match verdict {
            CallVerdict::Ok => None,
            CallVerdict::Failed => Some(&self.failures),
            CallVerdict::Stopped("panic" | "trap") => Some(&self.traps),
            CallVerdict::Stopped("egress_denied") => Some(&self.egress_denied),
            CallVerdict::Stopped(_) => Some(&self.limit_hits),
        };
        if let Some(c) = counter {
            c.fetch_add(1, Relaxed);
        }
        let us = elapsed.as_micros().min(u32::MAX as u128) as u32;
        let mut l = self.latencies_us.lock().unwrap();
        if l.len() == LATENCY_WINDOW {
            l.pop_front();
        }
        l.push_back(us);
    }
}

impl ArmStats {
    pub fn started(&self) {
        self.started.fetch_add(1, Relaxed);
    }

    pub fn ended(&self, status: &str, reason: Option<&str>) {
        self.ended.fetch_add(1, Relaxed);
        if status == "error" {
            self.errors.fetch_add(1, Relaxed);
        }
        let key = match reason {
            Some(r) if !r.is_empty() => format!("{status}/{r}"),
            _ => status.to_string(),
        };
        *self.outcomes.lock().unwrap().entry(key).or_default() += 1;
    }

    /// This process's counts now.
    pub fn counts(&self) -> Counts {
        Counts {
            started: self.started.load(Relaxed),
            ended: self.ended.load(Relaxed),
            errors: self.errors.load(Relaxed),
            outcomes: self.outcomes.lock().unwrap().clone(),
            calls: self.calls.load(Relaxed),
            failures: self.failures.load(Relaxed),
            traps: self.traps.load(Relaxed),
            limit_hits: self.limit_hits.load(Relaxed),
            egress_denied: self.egress_denied.load(Relaxed),
        }
    }

    /// This process's call latency percentiles (p50, p99), µs.
    fn percentiles(&self) -> (Option<u32>, Option<u32>) {
        let mut l: Vec<u32> = self.latencies_us.lock().unwrap().iter().copied().collect();
        l.sort_unstable();
        let pct = |p: f64| (!l.is_empty()).then(|| l[((l.len() - 1) as f64 * p).round() as usize]);
        (pct(0.5), pct(0.99))
    }

    /// The figures for the admin API: `total` (every process's counts) and
    /// this process's latencies.
    pub fn figures(&self, version: VersionInfo, total: Counts) -> ArmFigures {
        let (p50, p99) = self.percentiles();
        ArmFigures {
            version,
            handovers_started: total.started,
            handovers_ended: total.ended,
            error_outcome_percent: total.error_rate() * 100.0,
            calls: total.calls,
            adapter_failures: total.failures,
            traps: total.traps,
            limit_hits: total.limit_hits,
            egress_denied: total.egress_denied,
            trap_percent: total.trap_rate() * 100.0,
            outcomes: total.outcomes,
            call_p50_us: p50,
            call_p99_us: p99,
        }
    }
}

/// One version's figures, as the admin API shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmFigures {
    pub version: VersionInfo,
    pub handovers_started: u64,
    pub handovers_ended: u64,
    /// `status` or `status/end_reason` → handovers.
    pub outcomes: BTreeMap<String, u64>,
    pub error_outcome_percent: f64,
    pub calls: u64,
    pub adapter_failures: u64,
    pub traps: u64,
    pub limit_hits: u64,
    pub egress_denied: u64,
    pub trap_percent: f64,
    /// This process's calls (percentiles do not add up across replicas).
    pub call_p50_us: Option<u32>,
    pub call_p99_us: Option<u32>,
}
