//! File-watch hot swap: when an endpoint's adapter file changes on disk, the
//! new bytes are validated and swapped in.
//!
//! Debounced so a file written in several steps is read once it settles; a
//! half-written or invalid file is refused and the old version keeps serving
//! (the next write triggers another attempt). Never swaps identical bytes.

use super::{Registry, Source};
use handover_runtime::sha256_hex;
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Watch every endpoint's adapter file. The returned watcher must be kept
/// alive; dropping it stops watching.
pub fn watch_files(registry: Arc<Registry>) -> notify::Result<notify::RecommendedWatcher> {
    let mut by_path: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for ep in registry.endpoints() {
        let p = ep
            .adapter_path
            .canonicalize()
            .unwrap_or_else(|_| ep.adapter_path.clone());
        by_path.entry(p).or_default().push(ep.id.clone());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && (ev.kind.is_modify() || ev.kind.is_create())
        {
            for p in ev.paths {
                let _ = tx.send(p);
            }
        }
    })?;
    let dirs: BTreeSet<PathBuf> = by_path
        .keys()
        .filter_map(|p| p.parent().map(|d| d.to_path_buf()))
        .collect();
    for d in &dirs {
        watcher.watch(d, RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut changed = BTreeSet::from([first]);
            // Debounce: collect everything that changes within the window.
            while let Ok(Some(p)) =
                tokio::time::timeout(Duration::from_millis(150), rx.recv()).await
            {
                changed.insert(p);
            }
            for path in changed {
                let path = path.canonicalize().unwrap_or(path);
                let Some(ids) = by_path.get(&path) else {
                    continue;
                };
                let Ok(bytes) = tokio::fs::read(&path).await else {
                    continue;
                };
                let sha = sha256_hex(&bytes);
                for id in ids {
                    let Some(ep) = registry.endpoint(id) else {
                        continue;
                    };
                    if ep.current_info().sha256 == sha {
                        continue;
                    }
                    // The outcome is logged and recorded in the swap history.
                    let _ = registry.swap(id, &bytes, Source::File).await;
                }
            }
        }
    });
    Ok(watcher)
}
