//! What the canary sync loop (`crate::canary_sync`) needs from the
//! registry: install the recording hook, resume a stored canary (after a
//! restart, or one another replica started), exchange counts, and follow a
//! stored end.
//!
//! Fails closed: a stored candidate is validated again before it serves
//! here, and one that no longer loads is reported (the caller ends the
//! canary for every replica) rather than served or silently skipped.

use super::canary::{Canary, CanaryEnd, CanaryPolicy, Counts, Decision, StoredEnd};
use super::rollout::{CanaryHook, CanaryLink};
use super::{Registry, Source, SwapError, VersionInfo, now_ms};
use handover_core::store::CanaryRecord;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Registry {
    /// Record every canary start and end through `hook`; with `shared`,
    /// decisions are taken by the sync loop through the store.
    pub fn on_canary(&self, hook: CanaryHook, shared: bool) {
        let _ = self.canary_link.hook_cell().set(hook);
        self.canary_link.shared.store(shared, Ordering::Relaxed);
    }

    pub fn canary_link(&self) -> &Arc<CanaryLink> {
        &self.canary_link
    }

    /// The running canary's id on endpoint `id`.
    pub fn running_canary(&self, id: &str) -> Option<String> {
        let ep = self.endpoint(id)?;
        let slot = ep.slot.read().unwrap();
        slot.canary.as_ref().map(|c| c.id.clone())
    }

    /// This process's counts (stable, candidate) of `canary_id`, if it runs.
    pub fn own_canary_counts(&self, id: &str, canary_id: &str) -> Option<(Counts, Counts)> {
        self.with_canary(id, canary_id, |c| {
            (c.stable_stats.counts(), c.candidate_stats.counts())
        })
    }

    /// Set the other processes' counts of `canary_id`.
    pub fn set_others_counts(&self, id: &str, canary_id: &str, others: (Counts, Counts)) {
        self.with_canary(id, canary_id, |c| *c.others.lock().unwrap() = others);
    }

    /// What the rule says about `canary_id` now (every process's counts).
    pub fn canary_decision(&self, id: &str, canary_id: &str) -> Option<Decision> {
        self.with_canary(id, canary_id, |c| c.decide(now_ms() as i64))
    }

    /// The stored document of an end of `canary_id` decided now.
    pub fn end_doc(&self, id: &str, canary_id: &str, end: &CanaryEnd) -> Option<serde_json::Value> {
        self.with_canary(id, canary_id, |c| super::rollout::ended_doc(c, end))
    }

    fn with_canary<T>(&self, id: &str, canary_id: &str, f: impl FnOnce(&Canary) -> T) -> Option<T> {
        let ep = self.endpoint(id)?;
        let slot = ep.slot.read().unwrap();
        slot.canary.as_ref().filter(|c| c.id == canary_id).map(f)
    }

    /// Serve stored canary `rec` here (validated again from `bytes`), with
    /// its own id and start time, so handovers land on the same versions as
    /// on the replica that started it.
    pub async fn resume_canary(&self, rec: &CanaryRecord, bytes: &[u8]) -> Result<(), SwapError> {
        let id = rec.endpoint_id.as_str();
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let bad =
            |what: &str| SwapError::BadPolicy(format!("stored canary {}: {what}", rec.canary_id));
        let policy: CanaryPolicy = serde_json::from_value(rec.doc["policy"].clone())
            .map_err(|e| bad(&format!("policy: {e}")))?;
        let started_at_ms = rec.doc["started_at_ms"]
            .as_i64()
            .ok_or_else(|| bad("no start time"))?;
        let stored: VersionInfo = serde_json::from_value(rec.doc["candidate"].clone())
            .map_err(|e| bad(&format!("candidate: {e}")))?;
        let _serial = ep.swap_lock.lock().await;
        if ep.slot.read().unwrap().canary.is_some() {
            return Err(SwapError::CanaryRunning(rec.canary_id.clone()));
        }
        let (_, checked) = self.check_candidate(&ep, bytes).await;
        let adapter = checked.map_err(SwapError::Refused)?;
        let mut info = super::version_info(&adapter, stored.source);
        info.loaded_at_ms = stored.loaded_at_ms;
        let canary = super::rollout::new_canary(
            rec.canary_id.clone(),
            started_at_ms,
            policy,
            adapter,
            info,
            bytes,
        );
        tracing::info!(endpoint = %id, canary = %rec.canary_id, "canary of {} resumed from the store", canary.candidate_label);
        ep.slot.write().unwrap().canary = Some(canary);
        Ok(())
    }

    /// End `canary_id` here as `end` says (recorded in the store: decided
    /// here, or by another replica or an operator there). A promotion is
    /// recorded for replicas as `source` (`Replica`: already recorded).
    pub async fn follow_canary_end(
        &self,
        id: &str,
        canary_id: &str,
        end: &StoredEnd,
        source: Source,
    ) {
        let Some(ep) = self.endpoint(id) else { return };
        let _serial = ep.swap_lock.lock().await;
        if self.running_canary(id).as_deref() != Some(canary_id) {
            return;
        }
        let _ = self
            .apply_end(&ep, &end.result, &end.by, &end.reason, source)
            .await;
    }

    /// Show how the stored last canary ended (after a restart).
    pub fn set_last_canary(&self, id: &str, end: CanaryEnd) {
        if let Some(ep) = self.endpoint(id) {
            let mut slot = ep.slot.write().unwrap();
            if slot.last_canary.is_none() && slot.canary.is_none() {
                slot.last_canary = Some(end);
            }
        }
    }
}
