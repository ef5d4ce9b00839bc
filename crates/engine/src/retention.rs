//! The background pruner: deletes finished records past their retention
//! (`[retention]`), so nothing the host stores grows without bound.
//!
//! Owns: the pass loop and the cutoffs it computes from the settings. Must
//! never: delete an open handover or pending work (the store's `prune`
//! selects only finished rows), or hold the store's writer for more than
//! one batch at a time.

use super::{Engine, now_ms};
use handover_core::config::RetentionSection;
use handover_core::store::{Pruned, Retention};
use std::sync::Arc;
use std::time::Duration;

/// Rows of each kind one store call deletes.
const BATCH: u32 = 500;
/// Batches one pass runs at most (then it waits for the next pass).
const MAX_BATCHES: usize = 40;

/// The cutoffs for a pass at `now_ms`: `None` where the setting is 0.
pub(crate) fn cutoffs(r: &RetentionSection, now_ms: i64) -> Retention {
    let before = |s: u64| {
        (s != 0).then(|| {
            now_ms.saturating_sub(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX))
        })
    };
    Retention {
        handovers_ended_before_ms: before(r.ended_handovers_s),
        callbacks_before_ms: before(r.callbacks_s),
        inbox_before_ms: before(r.inbox_s),
        deliveries_before_ms: before(r.webhook_deliveries_s),
        versions_kept: (r.adapter_versions_kept != 0).then_some(r.adapter_versions_kept),
        batch: BATCH,
    }
}

impl Engine {
    /// Prune every `interval_s`, in batches, until nothing old is left or
    /// the pass's batch budget is spent.
    pub(crate) async fn loop_prune(self: Arc<Self>) {
        let every = Duration::from_secs(self.cfg.retention.interval_s.max(1));
        loop {
            tokio::time::sleep(every).await;
            let mut total = Pruned::default();
            for _ in 0..MAX_BATCHES {
                let r = cutoffs(&self.cfg.retention, now_ms());
                match self.store.prune(&r).await {
                    Ok(p) => {
                        let more = p.full(r.batch);
                        add(&mut total, &p);
                        if !more {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("pruning failed (retried next pass): {e}");
                        break;
                    }
                }
            }
            if total != Pruned::default() {
                tracing::info!(?total, "pruned records past their retention");
            }
        }
    }
}

fn add(total: &mut Pruned, p: &Pruned) {
    total.handovers += p.handovers;
    total.events += p.events;
    total.callbacks += p.callbacks;
    total.inbox += p.inbox;
    total.deliveries += p.deliveries;
    total.adapter_versions += p.adapter_versions;
    total.adapter_blobs += p.adapter_blobs;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_keeps_forever_and_cutoffs_never_overflow() {
        let r = RetentionSection {
            ended_handovers_s: 10,
            callbacks_s: 0,
            inbox_s: u64::MAX,
            adapter_versions_kept: 0,
            ..Default::default()
        };
        let c = cutoffs(&r, 100_000);
        assert_eq!(c.handovers_ended_before_ms, Some(90_000));
        assert_eq!(c.callbacks_before_ms, None);
        assert_eq!(c.inbox_before_ms, Some(100_000 - i64::MAX));
        assert_eq!(c.versions_kept, None);
        assert_eq!(c.deliveries_before_ms, Some(100_000 - 7 * 86_400_000));
    }
}
