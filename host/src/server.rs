//! Assembling a running host from a config: runtime, registry, store,
//! engine, workers, file watcher and the HTTP listener.
//!
//! Start-up refuses to serve if any endpoint's adapter is refused (one line
//! per endpoint). Owns process wiring only; no request handling lives here.

use crate::api::{self, AppState};
use crate::config::LoadedConfig;
use crate::engine::{Engine, EngineConfig};
use crate::registry::{self, Registry};
use crate::runtime::egress::Resolver;
use crate::runtime::{Runtime, RuntimeConfig};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;

/// A running host.
pub struct Server {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serve until the process ends or the task is aborted.
    pub async fn wait(self) -> Result<()> {
        self.task.await.context("server task")
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

pub async fn start(cfg: &LoadedConfig) -> Result<Server> {
    let c = &cfg.config;
    let data = cfg.data_dir();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        fuel: c.runtime.fuel,
        cache_dir: cfg.cache_dir(),
        cache_key_file: cfg.cache_key_file(),
        max_instances: c.runtime.max_instances,
        max_memory_mib: c.runtime.max_memory_mib,
        ..Default::default()
    })?;
    let registry = match Registry::from_config(runtime, cfg).await {
        Ok(r) => Arc::new(r),
        Err(errors) => {
            let lines: Vec<String> = errors
                .iter()
                .map(|(ep, e)| format!("endpoint `{ep}`: {e}"))
                .collect();
            anyhow::bail!(
                "refusing to start; adapters failed validation:\n{}",
                lines.join("\n")
            );
        }
    };
    let store = crate::store::open(&c.store, &data).await?;
    let listener = tokio::net::TcpListener::bind(c.server.listen.get_ref().as_str())
        .await
        .with_context(|| format!("cannot listen on {}", c.server.listen.get_ref()))?;
    let addr = listener.local_addr()?;
    let public_url = c
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    crate::adapter_sync::start(
        registry.clone(),
        store.clone(),
        std::time::Duration::from_millis(500),
    )
    .await?;
    // Every kept version is loaded (config and recorded swaps): what the
    // cache holds beyond them is garbage.
    registry.collect_cache_garbage().await;
    let resolver = Arc::new(Resolver::with_overrides(cfg.resolver_overrides()));
    let engine = Engine::new(
        store,
        registry.clone(),
        EngineConfig {
            public_url,
            inline_webhook_budget: std::time::Duration::from_millis(c.server.inline_webhook_ms),
            retention: c.retention.clone(),
            max_poll_wait: std::time::Duration::from_secs(c.runtime.max_poll_wait_s),
            ..Default::default()
        },
        resolver,
        api::encode_event,
    );
    engine.spawn_workers();
    let watcher = if c.server.watch_adapters {
        Some(registry::watch_files(registry.clone())?)
    } else {
        None
    };
    let app = api::router(AppState {
        engine: engine.clone(),
        public_metrics: c.server.public_metrics,
    });
    // TCP_NODELAY: SSE streams are many small writes; with Nagle's
    // algorithm each can wait for the client's delayed ACK (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("server stopped: {e}");
        }
    });
    tracing::info!(%addr, endpoints = registry.endpoints().count(), "handover-host listening");
    Ok(Server {
        addr,
        engine,
        _watcher: watcher,
        task,
    })
}
