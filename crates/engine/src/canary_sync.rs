//! Canaries that survive restarts and span replicas.
//!
//! Every canary start and end of this process is written to the store by
//! one task, in order. At start-up a canary the store runs is resumed
//! (same id and start time, so every handover stays on its version) with
//! the counts written before. A loop (every `every`, or at once when a
//! handover's end asks for a decision) writes this process's counts; when
//! replicas share the store it also reads everyone's, resumes a canary
//! another replica started, and follows an end recorded elsewhere. With replicas on one store, the automatic
//! decision is taken here, on every process's counts, and only the process
//! whose `finish_canary` wins applies it first; the others follow it.
//!
//! Must never serve a stored candidate without validating it again, nor
//! decide on one process's counts alone when replicas share the store.

use crate::registry::canary::{CanaryEnd, Counts, Decision, StoredEnd};
use crate::registry::{CanaryEvent, Registry, Source};
use handover_core::store::{CanaryRecord, Store};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Resume what the store runs, install the recording hook and start the
/// loop.
pub async fn start(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    every: Duration,
) -> anyhow::Result<()> {
    let shared = store.event_notifications().is_some();
    let replica = uuid::Uuid::now_v7().to_string();
    for ep in registry.endpoints() {
        match store.canary_record(&ep.id).await? {
            Some(r) if r.running => {
                resume(&registry, &*store, &r).await;
                // The counts written before (earlier runs, other replicas)
                // count from the first request on.
                share_counts(&registry, &*store, &replica, &ep.id, &r.canary_id).await;
            }
            Some(r) => {
                if let Ok(end) = serde_json::from_value::<CanaryEnd>(r.doc["end"].clone()) {
                    registry.set_last_canary(&ep.id, end);
                }
            }
            None => {}
        }
    }
    // This process's starts and ends, written in order; counted until
    // written so the loop never mistakes a start not yet written for an
    // end recorded elsewhere.
    let pending = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<CanaryEvent>();
    let counted = pending.clone();
    registry.on_canary(
        Arc::new(move |e| {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(e);
        }),
        shared,
    );
    let (r, s, written) = (registry.clone(), store.clone(), pending.clone());
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            record(&r, &*s, e).await;
            written.fetch_sub(1, Ordering::SeqCst);
        }
    });
    tokio::spawn(async move {
        let nudge = registry.canary_link().clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = nudge.nudge.notified() => {}
            }
            for ep in registry.endpoints() {
                tick(&registry, &*store, &replica, shared, &pending, &ep.id).await;
            }
        }
    });
    Ok(())
}

/// Write one start or end. A start refused because another canary runs
/// on the endpoint (started on another replica at the same time) ends
/// this one here; the loop then resumes the stored one.
async fn record(registry: &Registry, store: &dyn Store, e: CanaryEvent) {
    match e {
        CanaryEvent::Started { record, bytes } => match store.begin_canary(&record, &bytes).await {
            Ok(true) => {}
            Ok(false) => {
                let end = StoredEnd {
                    result: "aborted".into(),
                    by: "replica".into(),
                    reason: "another canary was started on this endpoint at the same time, on \
                             another replica; that one runs"
                        .into(),
                };
                registry
                    .follow_canary_end(&record.endpoint_id, &record.canary_id, &end, Source::Canary)
                    .await;
            }
            Err(e) => {
                tracing::error!(endpoint = %record.endpoint_id, "cannot record the canary's start: {e}")
            }
        },
        CanaryEvent::Ended { record } => {
            let r = &record;
            if let Err(e) = store
                .finish_canary(&r.endpoint_id, &r.canary_id, &r.doc)
                .await
            {
                tracing::error!(endpoint = %r.endpoint_id, "cannot record the canary's end: {e}");
            }
        }
    }
}

/// Serve a stored running canary here; one whose candidate no longer
/// loads is ended for every replica, with the reason.
async fn resume(registry: &Registry, store: &dyn Store, r: &CanaryRecord) {
    let bytes = match store.canary_bytes(&r.endpoint_id, &r.canary_id).await {
        Ok(Some(b)) => b,
        _ => return,
    };
    match registry.resume_canary(r, &bytes).await {
        Ok(()) => {}
        Err(crate::registry::SwapError::CanaryRunning(_)) => {}
        Err(e) => {
            tracing::error!(endpoint = %r.endpoint_id, canary = %r.canary_id, "cannot resume the stored canary: {e}");
            let _ = store
                .finish_canary(&r.endpoint_id, &r.canary_id, &unloadable(r, &e))
                .await;
        }
    }
}

/// The stored document of canary `r` ended because its candidate does not
/// load here (no figures: this process never ran it).
fn unloadable(r: &CanaryRecord, e: &crate::registry::SwapError) -> serde_json::Value {
    let mut doc = r.doc.clone();
    doc["end"] = json!({
        "result": "aborted", "by": "replica", "at_ms": crate::now_ms(),
        "reason": format!("the candidate does not load on a replica: {e}"),
        "figures": null,
    });
    doc
}

/// What following a stored end needs: its result, who and why. The
/// figures are each process's own, so an end recorded without them (by a
/// replica that could not load the candidate) is followed all the same.
fn stored_end(doc: &serde_json::Value) -> Option<StoredEnd> {
    serde_json::from_value(doc["end"].clone()).ok()
}

async fn tick(
    registry: &Registry,
    store: &dyn Store,
    replica: &str,
    shared: bool,
    pending: &AtomicUsize,
    id: &str,
) {
    let local = registry.running_canary(id);
    if let Some(cid) = &local {
        share_counts(registry, store, replica, id, cid).await;
    }
    // A store of this process alone holds no start or end but its own, all
    // of them applied here already: only replicas read it back.
    if !shared || pending.load(Ordering::SeqCst) > 0 {
        return;
    }
    let Ok(Some(rec)) = store.canary_record(id).await else {
        return;
    };
    match local {
        None if rec.running => resume(registry, store, &rec).await,
        Some(l) if l == rec.canary_id && !rec.running => {
            if let Some(end) = stored_end(&rec.doc) {
                registry
                    .follow_canary_end(id, &l, &end, Source::Replica)
                    .await;
            }
        }
        Some(l) if l == rec.canary_id => decide(registry, store, id, &l).await,
        _ => {}
    }
}

/// Write this process's counts and take everyone else's.
async fn share_counts(registry: &Registry, store: &dyn Store, replica: &str, id: &str, cid: &str) {
    let Some((s, c)) = registry.own_canary_counts(id, cid) else {
        return;
    };
    let mine = json!({"stable": s, "candidate": c});
    match store.share_canary_counts(cid, replica, &mine).await {
        Ok(rows) => {
            let mut others = (Counts::default(), Counts::default());
            for (r, v) in rows.iter().filter(|(r, _)| r != replica) {
                let arm = |k: &str| serde_json::from_value::<Counts>(v[k].clone());
                match (arm("stable"), arm("candidate")) {
                    (Ok(s), Ok(c)) => {
                        others.0.add(&s);
                        others.1.add(&c);
                    }
                    _ => tracing::warn!(canary = %cid, replica = %r, "unreadable canary counts"),
                }
            }
            registry.set_others_counts(id, cid, others);
        }
        Err(e) => tracing::warn!(endpoint = %id, "cannot share the canary's counts: {e}"),
    }
}

/// The rule on every replica's counts; the first replica to record the
/// end applies it (recording a promotion's version for the others).
async fn decide(registry: &Registry, store: &dyn Store, id: &str, cid: &str) {
    let Some((result, reason)) = registry.canary_decision(id, cid).and_then(Decision::ending)
    else {
        return;
    };
    let Some(figures) = registry.endpoint(id).and_then(|e| e.canary()) else {
        return;
    };
    let end = CanaryEnd {
        result: result.into(),
        by: "auto".into(),
        reason,
        at_ms: crate::now_ms(),
        figures,
    };
    let Some(doc) = registry.end_doc(id, cid, &end) else {
        return;
    };
    if let Ok(true) = store.finish_canary(id, cid, &doc).await {
        let end = StoredEnd {
            result: end.result,
            by: end.by,
            reason: end.reason,
        };
        registry
            .follow_canary_end(id, cid, &end, Source::Canary)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_recorded_without_figures_is_still_followed() {
        let r = CanaryRecord {
            endpoint_id: "ep".into(),
            canary_id: "c1".into(),
            running: true,
            doc: json!({"started_at_ms": 1, "policy": {}, "candidate": {}}),
        };
        let e = crate::registry::SwapError::NoCanary;
        let doc = unloadable(&r, &e);
        let end = stored_end(&doc).expect("followable");
        assert_eq!(
            (end.result.as_str(), end.by.as_str()),
            ("aborted", "replica")
        );
        assert!(
            end.reason
                .starts_with("the candidate does not load on a replica")
        );
        // (Read as a full `CanaryEnd`, which needs figures, it is not.)
        assert!(serde_json::from_value::<CanaryEnd>(doc["end"].clone()).is_err());
    }
}
