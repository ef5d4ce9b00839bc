//! Keeping every replica on the same adapter version per endpoint.
//!
//! The store records which component serves each endpoint (bytes stored once
//! per sha256). Accepted swaps and rollbacks on this process are recorded;
//! a loop adopts versions recorded by other processes. At start-up the
//! record wins over the config file, unless the newest record came from the
//! config/file itself and the file has changed since (a new deployment).
//! Never bypasses the registry's validation: adopted bytes are validated
//! like any other swap.

use crate::registry::{Registry, Source};
use handover_core::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Reconcile the registry with the store, install the recording hook and
/// start following other replicas' swaps.
pub async fn start(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    every: Duration,
) -> anyhow::Result<()> {
    for ep in registry.endpoints() {
        let serving = ep.current_info();
        match store.current_adapter_version(&ep.id).await? {
            Some(v) if v.sha256 == serving.sha256 => {}
            // Swapped through the API on another replica: serve that too.
            Some(v) if v.source != "config" && v.source != "file" => {
                adopt(&registry, &*store, &ep.id, &v.sha256).await
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
                    .await?;
            }
        }
    }
    let s = store.clone();
    registry.on_swap(Arc::new(move |endpoint, sha, bytes, source| {
        if source == Source::Replica {
            return;
        }
        let (s, endpoint, sha) = (s.clone(), endpoint.to_string(), sha.to_string());
        tokio::spawn(async move {
            if let Err(e) = s.record_adapter_version(&endpoint, &sha, bytes.as_deref(), source.as_str()).await {
                tracing::error!(%endpoint, %sha, "cannot record the adapter swap for other replicas: {e}");
            }
        });
    }));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            for ep in registry.endpoints() {
                if let Ok(Some(v)) = store.current_adapter_version(&ep.id).await
                    && v.sha256 != ep.current_info().sha256
                {
                    adopt(&registry, &*store, &ep.id, &v.sha256).await;
                }
            }
        }
    });
    Ok(())
}

async fn adopt(registry: &Registry, store: &dyn Store, endpoint: &str, sha: &str) {
    match store.adapter_bytes(sha).await {
        Ok(Some(bytes)) => {
            if let Err(e) = registry.swap(endpoint, &bytes, Source::Replica).await {
                tracing::error!(%endpoint, %sha, "cannot adopt the recorded adapter version: {e}");
            }
        }
        Ok(None) => {
            tracing::error!(%endpoint, %sha, "recorded adapter version has no stored bytes")
        }
        Err(e) => tracing::warn!(%endpoint, "cannot read the recorded adapter version: {e}"),
    }
}
