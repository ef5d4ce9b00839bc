//! The sandbox: one wasmtime engine, the linker of what adapters may import,
//! loading (compile, cache, world check, `describe`) and one fresh instance
//! per call under per-call limits (or per [`Session`]: the two calls about
//! one webhook request).
//!
//! Threat: every adapter is hostile until proven otherwise. Fail-closed rule:
//! anything a guest does wrong (trap, deadline, memory overrun, oversized
//! output, denied egress) becomes a `Failure { reason: error }` for that call
//! naming the cause; nothing a guest does may panic or stall the host.

pub mod bindings;
pub mod budget;
pub mod cache;
mod call;
mod clock;
mod dispatch;
mod engine;
pub use handover_egress as egress;
pub mod inspect;
pub use handover_core::limits;
#[cfg(feature = "bench-native")]
pub mod native;
mod session;
mod state;
mod stderr;

pub use call::{Call, CallEnv, CallObserver, CallOutput, CallTap, CallVerdict};
pub use engine::MemorySlots;
pub use limits::{Limits, LimitsOverride};
pub use session::{Session, WarmPool};

pub use bindings::Version;
use bindings::{v0_1_0, v0_1_0_exports, v0_2_0, v0_2_0_exports};
use handover_core::model::AdapterInfo;
use sha2::{Digest, Sha256};
use state::CallState;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

/// Engine-wide settings (each combination needs its own compiled artifacts).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Count fuel in every call (`Limits::fuel`); costs compile time.
    pub fuel: bool,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The key the cache's entries are sealed with (created on first use,
    /// mode 0600); `None`: [`cache::default_key_file`] (`<cache_dir>.key`).
    pub cache_key_file: Option<PathBuf>,
    /// Instances that may exist at once (concurrent calls), pool-wide.
    pub max_instances: u32,
    /// Largest linear memory any endpoint may be granted, MiB (at most
    /// [`limits::MAX_MEMORY_MIB`]).
    pub max_memory_mib: u32,
    /// Epoch tick: the granularity of preemption and wall-time checks.
    pub epoch_tick: Duration,
    /// Reset a finished instance's memory and tables in place (the pages
    /// written in its slot, found with Linux's `PAGEMAP_SCAN`, restored from
    /// the original image or zeroed: without userfaultfd write-protection
    /// the kernel reports every private page the slot holds, so this is the
    /// union of what the slot's instances have written, up to 1 MiB) and
    /// keep them resident, instead of
    /// returning them to the kernel and faulting them in again on the next
    /// call. Roughly halves the cost of a fresh instance per call; each
    /// call still sees pristine memory. Ignored (with the previous
    /// behaviour) where the kernel lacks `PAGEMAP_SCAN` (before 6.7).
    pub keep_resident: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            fuel: false,
            cache_dir: None,
            cache_key_file: None,
            max_instances: 1000,
            max_memory_mib: 256,
            epoch_tick: Duration::from_millis(5),
            keep_resident: true,
        }
    }
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("cannot configure the wasmtime engine")]
    Engine(#[source] wasmtime::Error),
    #[error("cannot start the epoch ticker thread")]
    Ticker(#[source] std::io::Error),
    #[error("cannot build the linker")]
    Linker(#[source] wasmtime::Error),
}

/// Why a component was refused at load. Each message is a diagnosis a
/// third-party author can act on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    #[error("{0}")]
    NotAComponent(String),
    #[error("{0}")]
    WorldMismatch(String),
    #[error("the component failed to compile: {0}")]
    Compile(String),
    #[error("`describe` failed: {0}")]
    Describe(String),
    #[error("the endpoint's settings were refused by `validate-settings`: {0}")]
    Settings(String),
    /// The endpoint does not grant what a 0.2.0 adapter declares it needs.
    #[error("{0}")]
    Permissions(String),
    #[error("sha256 {actual} does not match the pinned sha256 {pinned}")]
    Pinned { pinned: String, actual: String },
    #[error("endpoint configuration: {0}")]
    Config(String),
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: String },
}

/// One loaded, validated adapter version, ready to instantiate.
pub struct LoadedAdapter {
    /// Unique in this process (never reused): which component a kept
    /// instance came from.
    id: u64,
    pub sha256: String,
    pub size: usize,
    /// The contract version it exports, e.g. `handover:provider@0.1.0`.
    pub world: String,
    /// The same, typed: which bindings and linker serve its calls.
    pub version: Version,
    pub info: AdapterInfo,
    pub imports: Vec<String>,
    pub loaded_at: SystemTime,
    /// Loading wrote this component's cache entry (it was not cached): a
    /// refused candidate's entry is removed again.
    pub wrote_cache_entry: bool,
    /// How long compiling (or loading from the cache) took: owed to the
    /// CPU budget of the `env` it was loaded under, which the caller
    /// charges once the candidate's own validation calls have run (see
    /// [`Runtime::load_with`]).
    pub compile_time: std::time::Duration,
    pre: InstancePre<CallState>,
    /// `pre`'s exports, type-checked once here instead of per instance.
    exports: Exports,
    /// Benchmarks only: run the webhook exports natively (see `native`).
    #[cfg(feature = "bench-native")]
    native: bool,
}

impl LoadedAdapter {
    /// Unique in this process, never reused: tells two loads of the same
    /// file apart (state learned about one version is not another's).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// A component's export table, in its contract version's types.
pub(crate) enum Exports {
    V0_1_0(v0_1_0_exports::Exports),
    V0_2_0(v0_2_0_exports::Exports),
}

impl Exports {
    fn new(version: Version, pre: &InstancePre<CallState>) -> wasmtime::Result<Exports> {
        Ok(match version {
            Version::V0_1_0 => Exports::V0_1_0(v0_1_0_exports::Exports::new(pre)?),
            Version::V0_2_0 => Exports::V0_2_0(v0_2_0_exports::Exports::new(pre)?),
        })
    }
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("sha256", &self.sha256)
            .finish()
    }
}

pub struct Runtime {
    engine: Engine,
    /// One linker per contract version (each provides its version's `log`).
    linkers: Vec<(Version, Linker<CallState>)>,
    cfg: RuntimeConfig,
    /// The compiled-component cache; `None` when off or its key unusable.
    cache: Option<Arc<cache::Cache>>,
    stop: Arc<AtomicBool>,
    /// Instances kept between the calls of a [`Session`].
    parked: AtomicUsize,
    /// Compilations (or cache loads) running at once, each on tokio's
    /// blocking pool: half the cores, at least one, so uploads can never
    /// occupy the async workers that serve requests, nor every core.
    compiles: tokio::sync::Semaphore,
    /// How guest memories are laid out (whether compiled code checks bounds).
    memory_slots: MemorySlots,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    pub fn new(cfg: RuntimeConfig) -> Result<Arc<Runtime>, RuntimeError> {
        let (engine, memory_slots) = engine::build(&cfg).map_err(RuntimeError::Engine)?;
        let linkers = Version::ALL
            .iter()
            .map(|&v| build_linker(&engine, v).map(|l| (v, l)))
            .collect::<Result<Vec<_>, _>>()?;
        let cache = cfg.cache_dir.as_ref().and_then(|dir| {
            let key = cfg
                .cache_key_file
                .clone()
                .unwrap_or_else(|| cache::default_key_file(dir));
            cache::Cache::open(&engine, dir, &key)
                .inspect_err(|e| {
                    tracing::error!(
                        "the compiled-component cache is off (every adapter is compiled): {e}"
                    )
                })
                .ok()
                .map(Arc::new)
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s, tick) = (engine.clone(), stop.clone(), cfg.epoch_tick);
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    e.increment_epoch();
                }
            })
            .map_err(RuntimeError::Ticker)?;
        Ok(Arc::new(Runtime {
            engine,
            linkers,
            cfg,
            cache,
            stop,
            parked: AtomicUsize::new(0),
            compiles: tokio::sync::Semaphore::new(compile_slots()),
            memory_slots,
        }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// How guest memories are laid out: [`MemorySlots::Checked`] only where
    /// this process could not reserve the address space for the unchecked
    /// layout (see `engine`).
    pub fn memory_slots(&self) -> MemorySlots {
        self.memory_slots
    }

    /// Compile (or fetch from the cache), check the world, pre-instantiate
    /// and call `describe` with default limits and no egress. Does not
    /// validate settings.
    pub async fn load(self: &Arc<Self>, bytes: &[u8]) -> Result<Arc<LoadedAdapter>, LoadError> {
        self.load_with(bytes, &CallEnv::describe()).await
    }

    /// [`Runtime::load`] with `describe` under `env` (an endpoint's limits
    /// and its tenant's CPU budget). A cache entry this load wrote is
    /// removed if it fails. The compile time is charged to `env`'s budget
    /// here when the load fails, else left in
    /// [`LoadedAdapter::compile_time`] for the caller to charge after the
    /// candidate's validation: charged at once, a compile slower than the
    /// tenant's CPU budget (a busy machine, a large component) paused the
    /// candidate's own `describe` and `validate-settings` past their wall
    /// time, refusing a good adapter.
    pub async fn load_with(
        self: &Arc<Self>,
        bytes: &[u8],
        env: &CallEnv,
    ) -> Result<Arc<LoadedAdapter>, LoadError> {
        let report = inspect::check_component(bytes)?;
        let sha256 = sha256_hex(bytes);
        let (component, wrote, took) = self.compile(&sha256, bytes, env).await?;
        let loaded = self
            .prepare(component, &report, &sha256, bytes.len(), env)
            .await;
        match loaded {
            Ok(mut adapter) => {
                adapter.wrote_cache_entry = wrote;
                adapter.compile_time = took;
                Ok(Arc::new(adapter))
            }
            Err(e) => {
                if let Some(cpu) = &env.cpu {
                    cpu.charge(took);
                }
                if wrote {
                    self.evict_cache_entry(&sha256).await;
                }
                Err(e)
            }
        }
    }

    /// Pre-instantiate and describe a compiled component.
    async fn prepare(
        self: &Arc<Self>,
        component: Component,
        report: &inspect::Report,
        sha256: &str,
        size: usize,
        env: &CallEnv,
    ) -> Result<LoadedAdapter, LoadError> {
        let version = report.version;
        let linker = self
            .linkers
            .iter()
            .find_map(|(v, l)| (*v == version).then_some(l))
            .expect("a linker for every served version");
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WorldMismatch(inspect::explain_link_error(&e, report)))?;
        let exports = Exports::new(version, &pre)
            .map_err(|e| LoadError::WorldMismatch(inspect::explain_link_error(&e, report)))?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let mut adapter = LoadedAdapter {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sha256: sha256.to_string(),
            size,
            world: report.world.clone(),
            version,
            info: placeholder_info(),
            imports: report.imports.clone(),
            loaded_at: SystemTime::now(),
            wrote_cache_entry: false,
            compile_time: Default::default(),
            pre,
            exports,
            #[cfg(feature = "bench-native")]
            native: false,
        };
        match self.invoke(&adapter, env, Call::Describe).await {
            Ok(CallOutput::Info(info)) => adapter.info = *info,
            Ok(_) => unreachable!("describe returns info"),
            Err(f) => return Err(LoadError::Describe(f.message)),
        }
        #[cfg(feature = "bench-native")]
        {
            adapter.native = native::selected(&adapter);
            if adapter.native {
                tracing::warn!(
                    "bench-native: `{}` webhooks run natively, outside the sandbox (benchmark build)",
                    adapter.info.name
                );
            }
        }
        Ok(adapter)
    }
}

impl Runtime {
    /// Compiles `bytes` (or loads it from the cache) on the blocking pool,
    /// at most [`compile_slots`] at a time: cranelift takes seconds of CPU
    /// for a large component, which on an async worker would stall every
    /// request that worker serves (four uploads took `/healthz` from 6 ms
    /// to 5.7 s).
    /// Returns the component, whether this call wrote its cache entry and
    /// the time it took (owed to `env`'s CPU budget; charged here only when
    /// it fails).
    async fn compile(
        &self,
        sha256: &str,
        bytes: &[u8],
        env: &CallEnv,
    ) -> Result<(Component, bool, std::time::Duration), LoadError> {
        let _slot = self
            .compiles
            .acquire()
            .await
            .map_err(|_| LoadError::Compile("the runtime is shutting down".into()))?;
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        let (sha256, bytes) = (sha256.to_string(), bytes.to_vec());
        let started = std::time::Instant::now();
        let compiled = tokio::task::spawn_blocking(move || match &cache {
            Some(cache) => cache.load_or_compile(&engine, &sha256, &bytes),
            None => Component::new(&engine, &bytes)
                .map(|c| (c, false))
                .map_err(|e| LoadError::Compile(format!("{e:#}"))),
        })
        .await
        .map_err(|e| LoadError::Compile(format!("the compiler thread failed: {e}")))?;
        let took = started.elapsed();
        match compiled {
            Ok((component, wrote)) => Ok((component, wrote, took)),
            Err(e) => {
                if let Some(cpu) = &env.cpu {
                    cpu.charge(took);
                }
                Err(e)
            }
        }
    }

    /// The compiled-component cache, if on.
    pub fn cache(&self) -> Option<&Arc<cache::Cache>> {
        self.cache.as_ref()
    }

    /// Remove the cache entry of `sha256` (a refused candidate's).
    pub async fn evict_cache_entry(&self, sha256: &str) {
        if let Some(cache) = self.cache.clone() {
            let sha256 = sha256.to_string();
            let _ = tokio::task::spawn_blocking(move || cache.evict(&sha256)).await;
        }
    }

    /// Delete cache entries of components `keep` does not hold (and the
    /// rest of [`cache::Cache::collect_garbage`]); the names deleted.
    pub async fn collect_cache_garbage(
        &self,
        keep: std::collections::HashSet<String>,
    ) -> Vec<String> {
        let Some(cache) = self.cache.clone() else {
            return vec![];
        };
        tokio::task::spawn_blocking(move || cache.collect_garbage(&|sha| keep.contains(sha)))
            .await
            .unwrap_or_default()
    }
}

/// Compilations one runtime runs at once: half the cores, at least one.
fn compile_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn placeholder_info() -> AdapterInfo {
    AdapterInfo {
        name: String::new(),
        version: String::new(),
        channels: vec![],
        capabilities: Default::default(),
        webhook_signature: None,
        polling: Default::default(),
        settings_schema: "{}".into(),
        permissions: None,
        webhook_routing: None,
    }
}

/// What adapters of `version` may import: all of WASI 0.2 (with nothing
/// granted, so Python and JS components link), wasi:http via the egress
/// hooks, and that version's `log` (only that one: a component mixing
/// versions does not link).
fn build_linker(engine: &Engine, version: Version) -> Result<Linker<CallState>, RuntimeError> {
    use wasmtime::component::HasSelf;
    let err = RuntimeError::Linker;
    let mut linker = Linker::<CallState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(err)?;
    match version {
        Version::V0_1_0 => {
            v0_1_0::log_if::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
        }
        Version::V0_2_0 => {
            v0_2_0::log_if::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
        }
    }
    .map_err(err)?;
    Ok(linker)
}
