//! Canary rollouts: a candidate version serves a share of an endpoint's new
//! handovers beside the stable one, each version's figures are kept apart,
//! and a rule decides when to promote the candidate or roll it back.
//!
//! Owns the assignment, the figures and the decision rule. The assignment
//! is a pure function of the handover's id and creation time and the
//! canary's id: every call of a handover lands on the version it started on
//! for as long as the canary runs, on any replica, with nothing stored per
//! handover. This module never validates a candidate (the registry does,
//! before the canary starts) and never changes what serves: it returns a
//! [`Decision`] and the registry applies it under the endpoint's slot lock.

use handover_core::store::HandoverRow;
use handover_runtime::{CallObserver, CallVerdict, LoadedAdapter};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::VersionInfo;

/// What an operator sets when starting a canary (every field optional in
/// the request; these are the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryPolicy {
    /// Percent of new handovers the candidate takes, in (0, 100).
    pub share_percent: f64,
    /// Candidate handovers that must have ended (or candidate calls made,
    /// for the trap rate) before a rate is compared at all.
    pub min_sample: u32,
    /// How many percentage points the candidate's error-outcome or trap
    /// rate may exceed the stable version's before it is rolled back.
    pub margin_percent: f64,
    /// Promote once this many candidate handovers ended with no regression.
    pub promote_after_handovers: u32,
    /// …or once this many seconds passed with at least `min_sample` ended
    /// and no regression (`None`: only by count).
    pub promote_after_seconds: Option<u64>,
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        CanaryPolicy {
            share_percent: 10.0,
            min_sample: 20,
            margin_percent: 5.0,
            promote_after_handovers: 100,
            promote_after_seconds: None,
        }
    }
}

impl CanaryPolicy {
    /// Every problem with the policy, each saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        let mut errs = vec![];
        if !(self.share_percent > 0.0 && self.share_percent < 100.0) {
            errs.push(format!(
                "share_percent must be above 0 and below 100 (got {}); to move every \
                 handover at once, upload the version instead",
                self.share_percent
            ));
        }
        if self.min_sample == 0 {
            errs.push("min_sample must be at least 1".to_string());
        }
        if !(0.0..=100.0).contains(&self.margin_percent) {
            errs.push(format!(
                "margin_percent must be within 0..=100 (got {})",
                self.margin_percent
            ));
        }
        if self.promote_after_handovers < self.min_sample {
            errs.push(format!(
                "promote_after_handovers ({}) must be at least min_sample ({}): a promotion \
                 needs the sample a rollback would",
                self.promote_after_handovers, self.min_sample
            ));
        }
        if self.promote_after_seconds == Some(0) {
            errs.push("promote_after_seconds must be at least 1 (or left out)".to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        }
    }

    fn share_basis_points(&self) -> u64 {
        (self.share_percent * 100.0).round() as u64
    }
}

/// Which version a handover is on during a canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Stable,
    Candidate,
}

/// A handover as the assignment sees it.
#[derive(Debug, Clone, Copy)]
pub struct Pin<'a> {
    pub id: &'a str,
    pub created_at_ms: i64,
}

impl<'a> Pin<'a> {
    pub fn of(row: &'a HandoverRow) -> Self {
        Pin {
            id: &row.id,
            created_at_ms: row.created_at_ms,
        }
    }
}

/// FNV-1a over the bytes, then splitmix64's finalizer: the same on every
/// replica and every build (unlike `std`'s hasher), well mixed in the low
/// digits the share is cut from.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Latencies kept for the percentiles (the newest calls).
const LATENCY_WINDOW: usize = 2048;

/// One version's figures during a canary (this process's share of them).
#[derive(Default)]
pub struct ArmStats {
    started: AtomicU64,
    ended: AtomicU64,
    errors: AtomicU64,
    /// `status` or `status/end_reason` → handovers.
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
        match verdict {
            CallVerdict::Ok => {}
            CallVerdict::Failed => {
                self.failures.fetch_add(1, Relaxed);
            }
            CallVerdict::Stopped("panic" | "trap") => {
                self.traps.fetch_add(1, Relaxed);
            }
            CallVerdict::Stopped("egress_denied") => {
                self.egress_denied.fetch_add(1, Relaxed);
            }
            CallVerdict::Stopped(_) => {
                self.limit_hits.fetch_add(1, Relaxed);
            }
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
    pub(super) fn started(&self) {
        self.started.fetch_add(1, Relaxed);
    }

    pub(super) fn ended(&self, status: &str, reason: Option<&str>) {
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

    fn error_rate(&self) -> f64 {
        ratio(self.errors.load(Relaxed), self.ended.load(Relaxed))
    }

    /// Traps and limit hits per call (denied egress is a limit hit too: the
    /// candidate reached for something the endpoint does not allow).
    fn trap_rate(&self) -> f64 {
        let bad = self.traps.load(Relaxed)
            + self.limit_hits.load(Relaxed)
            + self.egress_denied.load(Relaxed);
        ratio(bad, self.calls.load(Relaxed))
    }

    fn figures(&self, version: VersionInfo) -> ArmFigures {
        let mut l: Vec<u32> = self.latencies_us.lock().unwrap().iter().copied().collect();
        l.sort_unstable();
        let pct = |p: f64| -> Option<u32> {
            (!l.is_empty()).then(|| l[((l.len() - 1) as f64 * p).round() as usize])
        };
        ArmFigures {
            version,
            handovers_started: self.started.load(Relaxed),
            handovers_ended: self.ended.load(Relaxed),
            outcomes: self.outcomes.lock().unwrap().clone(),
            error_outcome_percent: self.error_rate() * 100.0,
            calls: self.calls.load(Relaxed),
            adapter_failures: self.failures.load(Relaxed),
            traps: self.traps.load(Relaxed),
            limit_hits: self.limit_hits.load(Relaxed),
            egress_denied: self.egress_denied.load(Relaxed),
            trap_percent: self.trap_rate() * 100.0,
            call_p50_us: pct(0.5),
            call_p99_us: pct(0.99),
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One version's figures, as the admin API shows them.
#[derive(Debug, Clone, Serialize)]
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
    pub call_p50_us: Option<u32>,
    pub call_p99_us: Option<u32>,
}

/// A running canary.
pub(super) struct Canary {
    pub id: String,
    pub started_at_ms: i64,
    pub policy: CanaryPolicy,
    pub candidate: Arc<LoadedAdapter>,
    pub candidate_info: VersionInfo,
    /// `name@version`, for metrics and messages.
    pub candidate_label: String,
    /// The candidate's bytes: a promotion records them for replicas.
    pub bytes: Vec<u8>,
    pub stable_stats: Arc<ArmStats>,
    pub candidate_stats: Arc<ArmStats>,
}

/// What the rule says now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Continue,
    Promote(String),
    RollBack(String),
}

impl Canary {
    /// The version a handover is on: one created before the canary began
    /// stays stable; a later one is on the candidate when its hash falls
    /// within the share.
    pub fn arm_of(&self, pin: Pin<'_>) -> Arm {
        if pin.created_at_ms < self.started_at_ms {
            return Arm::Stable;
        }
        let h = stable_hash(&[self.id.as_bytes(), pin.id.as_bytes()]);
        if h % 10_000 < self.policy.share_basis_points() {
            Arm::Candidate
        } else {
            Arm::Stable
        }
    }

    pub fn stats(&self, arm: Arm) -> &Arc<ArmStats> {
        match arm {
            Arm::Stable => &self.stable_stats,
            Arm::Candidate => &self.candidate_stats,
        }
    }

    /// The rule (see docs/rollouts.md): roll back on a regression once the
    /// sample is big enough; promote after enough handovers (or time) with
    /// none.
    pub fn decide(&self, now_ms: i64) -> Decision {
        let p = &self.policy;
        let (s, c) = (&self.stable_stats, &self.candidate_stats);
        let margin = p.margin_percent / 100.0;
        let ended = c.ended.load(Relaxed);
        if ended >= u64::from(p.min_sample) && c.error_rate() > s.error_rate() + margin {
            return Decision::RollBack(format!(
                "error outcomes: candidate {:.1}% of {} ended handovers ({}), stable {:.1}% \
                 of {}; the margin is {} points",
                c.error_rate() * 100.0,
                ended,
                outcome_list(c),
                s.error_rate() * 100.0,
                s.ended.load(Relaxed),
                p.margin_percent
            ));
        }
        let calls = c.calls.load(Relaxed);
        if calls >= u64::from(p.min_sample) && c.trap_rate() > s.trap_rate() + margin {
            return Decision::RollBack(format!(
                "traps and limit hits: candidate {:.1}% of {} calls ({} traps, {} limit hits, \
                 {} denied egress), stable {:.1}% of {}; the margin is {} points",
                c.trap_rate() * 100.0,
                calls,
                c.traps.load(Relaxed),
                c.limit_hits.load(Relaxed),
                c.egress_denied.load(Relaxed),
                s.trap_rate() * 100.0,
                s.calls.load(Relaxed),
                p.margin_percent
            ));
        }
        if ended >= u64::from(p.promote_after_handovers) {
            return Decision::Promote(format!(
                "{ended} candidate handovers ended with no regression"
            ));
        }
        if let Some(secs) = p.promote_after_seconds
            && now_ms - self.started_at_ms >= secs as i64 * 1000
            && ended >= u64::from(p.min_sample)
        {
            return Decision::Promote(format!(
                "{secs} s passed and {ended} candidate handovers ended with no regression"
            ));
        }
        Decision::Continue
    }

    pub fn view(&self, stable: VersionInfo) -> CanaryView {
        CanaryView {
            id: self.id.clone(),
            started_at_ms: self.started_at_ms,
            policy: self.policy.clone(),
            stable: self.stable_stats.figures(stable),
            candidate: self.candidate_stats.figures(self.candidate_info.clone()),
        }
    }
}

fn outcome_list(s: &ArmStats) -> String {
    let o = s.outcomes.lock().unwrap();
    let parts: Vec<String> = o.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    parts.join(", ")
}

/// A canary as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryView {
    pub id: String,
    pub started_at_ms: i64,
    pub policy: CanaryPolicy,
    pub stable: ArmFigures,
    pub candidate: ArmFigures,
}

/// How the last canary ended.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryEnd {
    /// `promoted` | `rolled_back` | `aborted` | `replaced`.
    pub result: &'static str,
    /// `auto` | `operator` | `tenant` | `swap`.
    pub by: &'static str,
    pub reason: String,
    pub at_ms: i64,
    /// Both versions' figures when it ended.
    pub figures: CanaryView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed_across_builds() {
        // A changed hash would move running canaries' handovers between
        // versions after an upgrade: the value is pinned here (checked
        // against an independent Python implementation of the same steps).
        assert_eq!(stable_hash(&[b"a", b"b"]), stable_hash(&[b"a", b"b"]));
        assert_ne!(stable_hash(&[b"ab", b""]), stable_hash(&[b"a", b"b"]));
        assert_eq!(
            stable_hash(&[b"canary", b"handover"]),
            0x8ff3_1f7d_4179_1869
        );
    }

    #[test]
    fn policy_errors_name_what_to_fix() {
        let p = CanaryPolicy {
            share_percent: 100.0,
            min_sample: 0,
            ..CanaryPolicy::default()
        };
        let e = p.check().unwrap_err();
        assert!(
            e.contains("share_percent must be above 0 and below 100 (got 100)"),
            "{e}"
        );
        assert!(e.contains("min_sample must be at least 1"), "{e}");
        let p = CanaryPolicy {
            min_sample: 50,
            promote_after_handovers: 10,
            ..CanaryPolicy::default()
        };
        assert!(
            p.check()
                .unwrap_err()
                .contains("promote_after_handovers (10)")
        );
        assert_eq!(CanaryPolicy::default().check(), Ok(()));
    }

    #[test]
    fn the_share_is_honoured_over_many_ids() {
        let share = |pct: f64| {
            let p = CanaryPolicy {
                share_percent: pct,
                ..CanaryPolicy::default()
            };
            let n = 20_000;
            let hits = (0..n)
                .filter(|i| {
                    let id = format!("0190{i:08x}-7000-8000-aaaa-{i:012x}");
                    stable_hash(&[b"c1", id.as_bytes()]) % 10_000 < p.share_basis_points()
                })
                .count();
            hits as f64 * 100.0 / n as f64
        };
        for pct in [1.0, 10.0, 50.0, 90.0] {
            let got = share(pct);
            assert!((got - pct).abs() < 1.0, "share {pct}%: {got:.2}%");
        }
    }
}
