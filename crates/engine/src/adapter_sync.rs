//! Keeping every replica on the same adapter version per endpoint.
//!
//! The store records which component serves each endpoint (bytes stored once
//! per sha256). Accepted swaps and rollbacks on this process are recorded,
//! by one task in the order they happened; a loop adopts versions recorded
//! by other processes. At start-up the record wins over the config file,
//! unless the newest record came from the config/file itself and the file
//! has changed since (a new deployment). Never bypasses the registry's
//! validation: adopted bytes are validated like any other swap.
//!
//! Must never undo a local swap with a stale record: only records newer
//! (by `seq`) than any this process has seen are adopted, never while a
//! local swap is still being recorded, and only if the endpoint has not
//! been swapped here since the loop looked (checked under its swap lock).
//! (Before, a swap's record was written by a spawned task while the loop
//! could read the previous record and "adopt" it, silently reverting an
//! operator's upload for one loop period, or for good when two records
//! landed out of order.)

use crate::registry::{Registry, Source};
use handover_core::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Reconcile the registry with the store, install the recording hook and
/// start following other replicas' swaps.
pub async fn start(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    every: Duration,
) -> anyhow::Result<()> {
    // The newest record seen per endpoint: only newer ones are adopted.
    let mut seen: HashMap<String, i64> = HashMap::new();
    for ep in registry.endpoints() {
        let serving = ep.current_info();
        let record = match store.current_adapter_version(&ep.id).await? {
            Some(v) if v.sha256 == serving.sha256 => v,
            // Swapped through the API on another replica: serve that too.
            Some(v) if v.source != "config" && v.source != "file" => {
                adopt(&registry, &*store, &ep.id, &v.sha256, || true).await;
                v
            }
            // Nothing recorded yet, or the file changed while no replica
            // watched it (a new deployment): record what the file holds.
            _ => {
                let bytes = tokio::fs::read(&ep.adapter_path).await?;
                store
                    .record_adapter_version(
                        &ep.id,
                        &serving.sha256,
                        Some(&bytes),
                        Source::Config.as_str(),
                    )
                    .await?
            }
        };
        seen.insert(ep.id.clone(), record.seq);
    }
    // Local swaps not recorded yet. Counted by the hook, which the registry
    // calls under the endpoint's swap lock, so `adopt`'s check under that
    // lock sees every local swap.
    let pending = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let counted = pending.clone();
    registry.on_swap(Arc::new(move |endpoint, sha, bytes, source| {
        if source == Source::Replica {
            return;
        }
        counted.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send((endpoint.to_string(), sha.to_string(), bytes, source));
    }));
    let (s, recorded) = (store.clone(), pending.clone());
    tokio::spawn(async move {
        while let Some((endpoint, sha, bytes, source)) = rx.recv().await {
            let bytes: Option<Vec<u8>> = bytes;
            let source: Source = source;
            if let Err(e) = s
                .record_adapter_version(&endpoint, &sha, bytes.as_deref(), source.as_str())
                .await
            {
                tracing::error!(%endpoint, %sha, "cannot record the adapter swap for other replicas: {e}");
            }
            recorded.fetch_sub(1, Ordering::SeqCst);
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            for ep in registry.endpoints() {
                let Ok(Some(v)) = store.current_adapter_version(&ep.id).await else {
                    continue;
                };
                let newest = seen.entry(ep.id.clone()).or_insert(i64::MIN);
                if v.seq <= *newest || pending.load(Ordering::SeqCst) > 0 {
                    continue;
                }
                let serving = ep.current_info().sha256;
                if v.sha256 != serving {
                    let pending = &pending;
                    let unchanged = || {
                        pending.load(Ordering::SeqCst) == 0 && ep.current_info().sha256 == serving
                    };
                    adopt(&registry, &*store, &ep.id, &v.sha256, unchanged).await;
                }
                *newest = v.seq;
            }
        }
    });
    Ok(())
}

async fn adopt(
    registry: &Registry,
    store: &dyn Store,
    endpoint: &str,
    sha: &str,
    still: impl FnOnce() -> bool,
) {
    match store.adapter_bytes(sha).await {
        Ok(Some(bytes)) => {
            match registry
                .swap_when(endpoint, &bytes, Source::Replica, still)
                .await
            {
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(%endpoint, %sha, "cannot adopt the recorded adapter version: {e}")
                }
            }
        }
        Ok(None) => {
            tracing::error!(%endpoint, %sha, "recorded adapter version has no stored bytes")
        }
        Err(e) => tracing::warn!(%endpoint, "cannot read the recorded adapter version: {e}"),
    }
}
