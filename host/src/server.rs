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
use std::time::Duration;

/// A running host.
pub struct Server {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
    /// Tells the listener to stop accepting (graceful: requests in flight
    /// finish, idle connections close).
    close: tokio::sync::watch::Sender<bool>,
    drain_unready: Duration,
    shutdown_grace: Duration,
}

/// What a drain left unfinished when its grace ran out (all zero: clean).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unfinished {
    /// The HTTP listener still had requests in flight.
    pub http: bool,
    /// Steps and background tasks still in flight.
    pub work: usize,
}

impl Server {
    /// Serve until the process ends or the task is aborted.
    pub async fn wait(&mut self) -> Result<()> {
        (&mut self.task).await.context("server task")
    }

    pub fn abort(&self) {
        self.task.abort();
    }

    /// Drain before exit (SIGTERM; docs/replicas.md "Rolling restarts"):
    /// unready at once (`/readyz` 503, event streams end with a retry
    /// hint, no new background work claimed), still accepting for
    /// `drain_unready_ms`, then the listener closes and requests, steps
    /// and deliveries in flight finish, within `shutdown_grace_s` in all.
    /// Handover locks and claims go with the store when the process exits.
    pub async fn drain(mut self) -> Unfinished {
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        self.engine.begin_drain();
        tracing::info!(
            unready_ms = self.drain_unready.as_millis() as u64,
            "draining: unready; finishing work in flight"
        );
        tokio::time::sleep(self.drain_unready).await;
        self.close.send_replace(true);
        let http = tokio::time::timeout_at(deadline, &mut self.task)
            .await
            .is_err();
        let drained = self.engine.wait_drained(deadline).await;
        let left = Unfinished {
            http,
            work: if drained {
                0
            } else {
                self.engine.work_in_flight()
            },
        };
        if left == Unfinished::default() {
            tracing::info!("drained");
        } else {
            tracing::warn!(?left, "shutdown grace over: exiting with work in flight");
        }
        left
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
    handover_engine::canary_sync::start(
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
    spawn_metrics_sampler();
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
    let (close, mut closed) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = closed.wait_for(|c| *c).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("server stopped: {e}");
        }
    });
    tracing::info!(%addr, endpoints = registry.endpoints().count(), "handover-host listening");
    Ok(Server {
        addr,
        engine,
        _watcher: watcher,
        task,
        close,
        drain_unready: Duration::from_millis(c.server.drain_unready_ms),
        shutdown_grace: Duration::from_secs(c.server.shutdown_grace_s),
    })
}

/// The console's charts (`GET /admin/metrics/history`): one sample of the
/// host's own metrics every 10 s (a second sampler in the process is a no-op).
fn spawn_metrics_sampler() {
    use crate::metrics::history;
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_millis(history::INTERVAL_MS as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            history::sample_now(now);
        }
    });
}
