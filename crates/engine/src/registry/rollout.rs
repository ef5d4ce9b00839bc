//! The registry's side of canary rollouts: starting one (the candidate is
//! validated exactly like an upload), counting each handover's start and
//! end in its version's figures, and applying a decision (automatic or an
//! operator's) under the endpoint's swap lock.
//!
//! Fails closed: a candidate that fails validation never serves a single
//! handover; a canary's end (promotion, rollback, abort, or a swap that
//! replaces it) always leaves exactly one serving version and says why in
//! the swap history and the log. Never decides anything itself: the rule is
//! in [`super::canary`].

use super::canary::{Arm, Canary, CanaryEnd, CanaryPolicy, CanaryView, Decision, Pin};
use super::{Endpoint, Registry, Serving, Slot, Source, SwapError, UploadPermit, VersionInfo};
use super::{now_ms, version_info};
use handover_core::store::{CanaryRecord, HandoverRow};
use handover_metrics as metrics;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A canary's start or end, for the store (see `canary_sync`).
#[derive(Debug, Clone)]
pub enum CanaryEvent {
    Started {
        record: CanaryRecord,
        bytes: Vec<u8>,
    },
    Ended {
        record: CanaryRecord,
    },
}

/// Called with every canary start and end of this process, in order.
pub type CanaryHook = Arc<dyn Fn(CanaryEvent) + Send + Sync>;

/// What every endpoint shares about canaries.
#[derive(Default)]
pub struct CanaryLink {
    hook: OnceLock<CanaryHook>,
    /// Replicas share a store: decisions are taken through it (one wins),
    /// never by one process alone.
    pub(super) shared: AtomicBool,
    /// Wakes the sync loop when an observation asks for a decision.
    pub nudge: tokio::sync::Notify,
}

impl CanaryLink {
    fn emit(&self, e: CanaryEvent) {
        if let Some(h) = self.hook.get() {
            h(e);
        }
    }

    pub(super) fn hook_cell(&self) -> &OnceLock<CanaryHook> {
        &self.hook
    }

    fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }
}

/// The stored document of a running canary.
pub(super) fn running_doc(c: &Canary) -> Value {
    json!({
        "started_at_ms": c.started_at_ms,
        "policy": c.policy,
        "candidate": c.candidate_info,
    })
}

/// The stored document of a canary that ended as `end`.
pub(super) fn ended_doc(c: &Canary, end: &CanaryEnd) -> Value {
    let mut doc = running_doc(c);
    doc["end"] = json!(end);
    doc
}

impl Endpoint {
    /// The running canary, with both versions' figures.
    pub fn canary(&self) -> Option<CanaryView> {
        let slot = self.slot.read().unwrap();
        let stable = slot.current.info.clone();
        slot.canary.as_ref().map(|c| c.view(stable))
    }

    /// How the last canary ended.
    pub fn last_canary(&self) -> Option<CanaryEnd> {
        self.slot.read().unwrap().last_canary.clone()
    }

    /// Which version a handover is on (`None`: no canary running).
    pub fn arm_of(&self, pin: Pin<'_>) -> Option<Arm> {
        self.slot
            .read()
            .unwrap()
            .canary
            .as_ref()
            .map(|c| c.arm_of(pin))
    }

    /// Count a new handover in its version's figures.
    pub fn observe_start(&self, pin: Pin<'_>) {
        let slot = self.slot.read().unwrap();
        if let Some(c) = &slot.canary {
            let arm = c.arm_of(pin);
            c.stats(arm).started();
            let label = version_label(c, &slot, arm);
            metrics::CANARY_HANDOVERS.inc(&[&self.id, &label, "started"]);
        }
    }

    /// Count an ended handover in its version's figures. A rollback the
    /// rule now asks for happens here, before the step that ended the
    /// handover returns (the next handover is already on the stable
    /// version); `true` when it asks for a promotion, which the caller runs
    /// apart ([`Registry::decide_canary`]: it records the new version for
    /// replicas under the swap lock).
    pub fn observe_end(&self, row: &HandoverRow) -> bool {
        let decision = {
            let slot = self.slot.read().unwrap();
            let Some(c) = &slot.canary else {
                return false;
            };
            let arm = c.arm_of(Pin::of(row));
            c.stats(arm)
                .ended(row.status.as_str(), row.end_reason.as_deref());
            let label = version_label(c, &slot, arm);
            metrics::CANARY_HANDOVERS.inc(&[&self.id, &label, row.status.as_str()]);
            c.decide(now_ms() as i64)
        };
        match decision {
            Decision::Continue => false,
            Decision::Promote(_) => true,
            // Replicas decide through the store.
            Decision::RollBack(_) if self.canary_link.shared() => true,
            Decision::RollBack(_) => {
                let mut slot = self.slot.write().unwrap();
                // Decided again under the write lock: another step may have
                // ended this canary (or started the next) meanwhile.
                if let Some(Decision::RollBack(reason)) =
                    slot.canary.as_ref().map(|c| c.decide(now_ms() as i64))
                {
                    self.end_canary(&mut slot, "rolled_back", "auto", &reason);
                    drop(slot);
                    self.clear_warm();
                }
                false
            }
        }
    }

    /// End a running canary (under the slot lock): kept as the last one,
    /// in the history and the log. `result`: what happened; `by`: who.
    pub(super) fn end_canary(
        &self,
        slot: &mut Slot,
        result: &str,
        by: &str,
        reason: &str,
    ) -> Option<Canary> {
        let c = slot.canary.take()?;
        let figures = c.view(slot.current.info.clone());
        let msg = format!(
            "canary of {}@{} {}{}: {reason}",
            c.candidate_info.name,
            c.candidate_info.version,
            result.replace('_', " "),
            if by == "auto" { " automatically" } else { "" },
        );
        if result == "promoted" {
            tracing::info!(endpoint = %self.id, tenant = %self.tenant, by, "{msg}");
        } else {
            tracing::warn!(endpoint = %self.id, tenant = %self.tenant, by, "{msg}");
        }
        metrics::CANARY_ENDS.inc(&[&self.id, result, by]);
        let sha = c.candidate_info.sha256.clone();
        self.record(slot, Source::Canary, &sha, result == "promoted", msg);
        let end = CanaryEnd {
            result: result.to_string(),
            by: by.to_string(),
            reason: reason.to_string(),
            at_ms: now_ms() as i64,
            figures,
        };
        self.canary_link.emit(CanaryEvent::Ended {
            record: CanaryRecord {
                endpoint_id: self.id.clone(),
                canary_id: c.id.clone(),
                running: false,
                doc: ended_doc(&c, &end),
            },
        });
        slot.last_canary = Some(end);
        Some(c)
    }
}

/// `name@version` of an arm, for metrics.
fn version_label(c: &Canary, slot: &Slot, arm: Arm) -> String {
    match arm {
        Arm::Stable => format!("{}@{}", slot.current.info.name, slot.current.info.version),
        Arm::Candidate => c.candidate_label.clone(),
    }
}

impl Registry {
    /// Validate `bytes` as `id`'s candidate and start serving it to
    /// `policy.share_percent` of new handovers.
    pub async fn start_canary(
        &self,
        id: &str,
        bytes: &[u8],
        source: Source,
        policy: CanaryPolicy,
        _permit: UploadPermit,
    ) -> Result<CanaryView, SwapError> {
        policy.check().map_err(SwapError::BadPolicy)?;
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let _serial = ep.swap_lock.lock().await;
        if let Some(c) = ep.canary() {
            return Err(SwapError::CanaryRunning(canary_name(&c)));
        }
        let (sha, checked) = self.check_candidate(&ep, bytes).await;
        let adapter = match checked {
            Ok(a) => a,
            Err(e) => {
                let mut slot = ep.slot.write().unwrap();
                ep.record(
                    &mut slot,
                    source,
                    &sha,
                    false,
                    format!("canary refused: {e}"),
                );
                return Err(SwapError::Refused(e));
            }
        };
        let info = version_info(&adapter, source);
        let mut slot = ep.slot.write().unwrap();
        // One millisecond ahead: a handover whose creation time was read
        // before this point stays on the stable version even if it reads
        // the canary within the same millisecond (see `Canary::arm_of`).
        let started_at_ms = now_ms() as i64 + 1;
        let id = uuid::Uuid::now_v7().to_string();
        let canary = new_canary(id, started_at_ms, policy, adapter, info, bytes);
        ep.canary_link.emit(CanaryEvent::Started {
            record: CanaryRecord {
                endpoint_id: ep.id.clone(),
                canary_id: canary.id.clone(),
                running: true,
                doc: running_doc(&canary),
            },
            bytes: bytes.to_vec(),
        });
        let msg = format!(
            "canary of {} ({}) started: {}% of new handovers",
            canary.candidate_label,
            &sha[..12],
            canary.policy.share_percent
        );
        ep.record(&mut slot, source, &sha, true, msg);
        slot.canary = Some(canary);
        let view = slot
            .canary
            .as_ref()
            .map(|c| c.view(slot.current.info.clone()))
            .expect("just set");
        Ok(view)
    }

    /// Make the candidate the serving version (`by`: `operator`, `tenant`
    /// or `auto`).
    pub async fn promote_canary(
        &self,
        id: &str,
        by: &'static str,
        reason: &str,
    ) -> Result<VersionInfo, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let _serial = ep.swap_lock.lock().await;
        self.apply_end(&ep, "promoted", by, reason, Source::Canary)
            .await?;
        Ok(ep.current_info())
    }

    /// Stop the canary: every handover is on the stable version again.
    pub async fn abort_canary(
        &self,
        id: &str,
        by: &'static str,
        reason: &str,
    ) -> Result<CanaryEnd, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let _serial = ep.swap_lock.lock().await;
        let result = if by == "auto" {
            "rolled_back"
        } else {
            "aborted"
        };
        self.apply_end(&ep, result, by, reason, Source::Canary)
            .await?;
        Ok(ep.last_canary().expect("just ended"))
    }

    /// End `ep`'s running canary as `result` (the caller holds the swap
    /// lock). A promotion makes the candidate serve, recorded for replicas
    /// as `source` (`Replica`: it follows another replica's decision, which
    /// recorded it already).
    pub(super) async fn apply_end(
        &self,
        ep: &Endpoint,
        result: &str,
        by: &str,
        reason: &str,
        source: Source,
    ) -> Result<(), SwapError> {
        let promoted = {
            let mut slot = ep.slot.write().unwrap();
            let c = ep
                .end_canary(&mut slot, result, by, reason)
                .ok_or(SwapError::NoCanary)?;
            (result == "promoted").then(|| {
                let mut info = c.candidate_info.clone();
                info.source = Source::Canary;
                let old = std::mem::replace(
                    &mut slot.current,
                    Serving {
                        adapter: c.candidate.clone(),
                        info: info.clone(),
                    },
                );
                slot.previous.push(old);
                if slot.previous.len() > 10 {
                    slot.previous.remove(0);
                }
                (info.sha256, c.bytes)
            })
        };
        ep.clear_warm();
        if let Some((sha, bytes)) = promoted {
            self.notify(&ep.id, &sha, Some(bytes), source);
        }
        self.collect_cache_garbage().await;
        Ok(())
    }

    /// Apply what the rule says now for `id`'s canary, if anything (called
    /// after an observation asked for it, and periodically for time-based
    /// promotion). Decides again under the swap lock, so two callers never
    /// both act. Replicas sharing a store decide in the sync loop instead
    /// (woken here).
    pub async fn decide_canary(&self, id: &str) {
        if self.canary_link.shared() {
            self.canary_link.nudge.notify_one();
            return;
        }
        let Some(ep) = self.endpoint(id) else { return };
        let _serial = ep.swap_lock.lock().await;
        let decision = {
            let slot = ep.slot.read().unwrap();
            match &slot.canary {
                Some(c) => c.decide(now_ms() as i64),
                None => return,
            }
        };
        let Some((result, reason)) = decision.ending() else {
            return;
        };
        let _ = self
            .apply_end(&ep, result, "auto", &reason, Source::Canary)
            .await;
    }

    /// Endpoints with a running canary.
    pub fn canaries(&self) -> Vec<String> {
        self.endpoints()
            .filter(|ep| ep.slot.read().unwrap().canary.is_some())
            .map(|ep| ep.id.clone())
            .collect()
    }
}

pub(super) fn new_canary(
    id: String,
    started_at_ms: i64,
    policy: CanaryPolicy,
    adapter: Arc<handover_runtime::LoadedAdapter>,
    info: VersionInfo,
    bytes: &[u8],
) -> Canary {
    Canary {
        id,
        started_at_ms,
        policy,
        candidate_label: format!("{}@{}", info.name, info.version),
        candidate: adapter,
        candidate_info: info,
        bytes: bytes.to_vec(),
        stable_stats: Arc::default(),
        candidate_stats: Arc::default(),
        others: Default::default(),
    }
}

fn canary_name(c: &CanaryView) -> String {
    format!(
        "{}@{}",
        c.candidate.version.name, c.candidate.version.version
    )
}
