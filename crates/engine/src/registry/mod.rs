//! The adapter registry: endpoint → the adapter version serving it.
//!
//! Owns validation before a version takes traffic (world, `describe`,
//! `validate-settings`, sha256 pin), the atomic swap, rollback and the swap
//! history. A swap replaces one `Arc`; calls already running hold the old
//! one and finish on it. A refused candidate never replaces anything.
//! This module never runs a handover; it only hands out versions.

pub mod canary;
mod canary_replicas;
mod candidate;
mod figures;
mod rollout;
mod watch;

pub use canary::{Arm, CanaryEnd, CanaryPolicy, CanaryView, Pin};
pub use candidate::{UploadPermit, check_permissions, validate};
pub use rollout::{CanaryEvent, CanaryHook};
pub use watch::watch_files;

use handover_core::config::{EndpointConfig, LoadedConfig};
use handover_core::model::Failure;
use handover_egress::{CallLabels, Credentials, EgressPolicy, Resolver};
use handover_metrics as metrics;
use handover_runtime::{
    Call, CallEnv, CallOutput, Limits, LoadError, LoadedAdapter, Runtime, Session, WarmPool,
    sha256_hex,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SwapError {
    #[error("unknown endpoint `{0}`")]
    UnknownEndpoint(String),
    #[error("refused: {0}; the previous version keeps serving")]
    Refused(LoadError),
    #[error("no previous version to roll back to")]
    NothingToRollBack,
    /// A tenant asked to roll back a version it did not upload itself.
    #[error(
        "the serving version came from {} (`{}`), not from an upload with a tenant key; \
         only the operator can roll it back", .0.described(), .0.as_str()
    )]
    NotTenantsVersion(Source),
    /// A canary is already running on the endpoint.
    #[error("a canary of {0} is already running on this endpoint: promote or abort it first")]
    CanaryRunning(String),
    #[error("no canary is running on this endpoint")]
    NoCanary,
    #[error("{0}")]
    BadPolicy(String),
}

/// Where a version came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Config,
    File,
    /// Uploaded with the operator key (or in the open mode).
    Admin,
    /// Uploaded with a tenant's key.
    Tenant,
    Rollback,
    /// Another replica's swap, picked up from the shared store.
    Replica,
    /// A canary's candidate, promoted.
    Canary,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::File => "file",
            Source::Admin => "admin",
            Source::Tenant => "tenant",
            Source::Rollback => "rollback",
            Source::Replica => "replica",
            Source::Canary => "canary",
        }
    }

    /// In words, for messages.
    pub fn described(self) -> &'static str {
        match self {
            Source::Config => "the configuration",
            Source::File => "the adapter file on the host",
            Source::Admin => "an operator upload",
            Source::Tenant => "a tenant upload",
            Source::Rollback => "a rollback",
            Source::Replica => "another replica",
            Source::Canary => "a promoted canary",
        }
    }
}

/// Called after every accepted swap or rollback: (endpoint, sha256, bytes
/// when new, source). The server records it in the store so replicas follow.
pub type SwapHook = Arc<dyn Fn(&str, &str, Option<Vec<u8>>, Source) + Send + Sync>;

/// A version as shown by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub world: String,
    pub loaded_at_ms: u64,
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwapRecord {
    pub at_ms: u64,
    pub source: Source,
    pub sha256: String,
    pub accepted: bool,
    pub message: String,
}

struct Serving {
    adapter: Arc<LoadedAdapter>,
    info: VersionInfo,
}

struct Slot {
    current: Serving,
    previous: Vec<Serving>,
    history: Vec<SwapRecord>,
    /// A candidate serving a share of new handovers beside `current`.
    canary: Option<canary::Canary>,
    /// How the last canary ended.
    last_canary: Option<CanaryEnd>,
}

/// The version one handover's calls run on, with its canary figures.
pub struct Pinned {
    pub adapter: Arc<LoadedAdapter>,
    /// During a canary: the figures of the version this handover is on.
    stats: Option<Arc<canary::ArmStats>>,
}

impl Pinned {
    /// Whether its calls count in a canary's figures.
    pub fn counted(&self) -> bool {
        self.stats.is_some()
    }
}

/// An endpoint with its static config and the version serving it.
pub struct Endpoint {
    pub id: String,
    pub tenant: String,
    pub config: EndpointConfig,
    pub adapter_path: PathBuf,
    pub settings_json: String,
    pub limits: Limits,
    pub policy: Arc<EgressPolicy>,
    /// Credentials the host adds to the adapter's requests (secrets resolved).
    pub credentials: Option<Arc<Credentials>>,
    /// The webhook secret with `{{name}}`/`env:` resolved.
    pub webhook_secret: Option<String>,
    /// The tenant's budgets (quotas).
    pub tenant_budget: Option<Arc<crate::tenancy::Tenant>>,
    /// Recent wall time of this endpoint's `handle-webhook` calls (an
    /// exponentially weighted mean, µs): the engine applies webhooks inline
    /// only while the adapter handles them quickly.
    pub webhook_step_us: Ewma,
    /// Where the adapter's `route-webhook` finds the key (contract 0.1.0):
    /// the handover's row is read before the webhook's instance is made.
    pub route_hints: crate::route_hint::RouteHints,
    /// Instances kept between this endpoint's calls (`instance_reuse`).
    pub warm: Option<Arc<WarmPool>>,
    resolver: Arc<Resolver>,
    slot: RwLock<Slot>,
    swap_lock: tokio::sync::Mutex<()>,
    /// Shared by every endpoint: where canary starts and ends are recorded.
    canary_link: Arc<rollout::CanaryLink>,
    /// Records this endpoint's handover calls for replay (set at start-up
    /// when `record_handovers` > 0).
    pub tap: std::sync::OnceLock<Arc<dyn handover_runtime::CallTap>>,
}

/// An exponentially weighted moving mean of durations (weight 1/8 for the
/// newest sample), lock-free; unknown until the first sample.
#[derive(Debug, Default)]
pub struct Ewma(std::sync::atomic::AtomicU64);

impl Ewma {
    pub fn record(&self, d: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let sample = d.as_micros().min(u64::MAX as u128) as u64;
        // Races between concurrent updates lose a sample at worst.
        let old = self.0.load(Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.0.store(new.max(1), Relaxed);
    }

    /// `None` before the first sample.
    pub fn get(&self) -> Option<std::time::Duration> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            us => Some(std::time::Duration::from_micros(us)),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn version_info(a: &LoadedAdapter, source: Source) -> VersionInfo {
    VersionInfo {
        name: a.info.name.clone(),
        version: a.info.version.clone(),
        sha256: a.sha256.clone(),
        world: a.world.clone(),
        loaded_at_ms: a
            .loaded_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        source,
    }
}

impl Endpoint {
    /// The version serving now (hold the `Arc` for the whole call).
    pub fn current(&self) -> Arc<LoadedAdapter> {
        self.slot.read().unwrap().current.adapter.clone()
    }

    pub fn current_info(&self) -> VersionInfo {
        self.slot.read().unwrap().current.info.clone()
    }

    pub fn previous_info(&self) -> Option<VersionInfo> {
        self.slot
            .read()
            .unwrap()
            .previous
            .last()
            .map(|s| s.info.clone())
    }

    pub fn history(&self) -> Vec<SwapRecord> {
        self.slot.read().unwrap().history.clone()
    }

    /// The version `pin`'s calls run on: during a canary, the one the
    /// handover started on; else the serving one.
    pub fn pinned(&self, pin: Pin<'_>) -> Pinned {
        let slot = self.slot.read().unwrap();
        match &slot.canary {
            None => Pinned {
                adapter: slot.current.adapter.clone(),
                stats: None,
            },
            Some(c) => {
                let arm = c.arm_of(pin);
                Pinned {
                    adapter: match arm {
                        Arm::Stable => slot.current.adapter.clone(),
                        Arm::Candidate => c.candidate.clone(),
                    },
                    stats: Some(c.stats(arm).clone()),
                }
            }
        }
    }

    /// [`Endpoint::env`] for a pinned version: its calls count in its
    /// canary figures.
    pub fn env_pinned(&self, p: &Pinned) -> CallEnv {
        let mut env = self.env(&p.adapter);
        env.observer = p
            .stats
            .clone()
            .map(|s| s as Arc<dyn handover_runtime::CallObserver>);
        env
    }

    pub fn env(&self, adapter: &LoadedAdapter) -> CallEnv {
        CallEnv {
            limits: self.limits.clone(),
            policy: self.policy.clone(),
            resolver: self.resolver.clone(),
            credentials: self.credentials.clone(),
            cpu: self.tenant_budget.as_ref().map(|t| t.cpu.clone()),
            observer: None,
            tap: self.tap.get().cloned(),
            tape: None,
            labels: Arc::new(CallLabels {
                tenant: self.tenant.clone(),
                endpoint: self.id.clone(),
                adapter: format!("{}@{}", adapter.info.name, adapter.info.version),
            }),
        }
    }

    /// What this endpoint's candidates are validated under
    /// ([`candidate`]'s `validation_env`).
    pub fn validation_env(&self) -> CallEnv {
        candidate::validation_env(
            &self.id,
            &self.tenant,
            &self.limits,
            self.tenant_budget.as_ref(),
            &self.resolver,
        )
    }

    /// Drop the warm instances (they run the version just replaced).
    fn clear_warm(&self) {
        if let Some(w) = &self.warm {
            w.clear();
        }
    }

    fn record(
        &self,
        slot: &mut Slot,
        source: Source,
        sha256: &str,
        accepted: bool,
        message: String,
    ) {
        let kind = source.as_str();
        metrics::ADAPTER_SWAPS.inc(&[kind, if accepted { "accepted" } else { "refused" }]);
        if accepted {
            tracing::info!(endpoint = %self.id, tenant = %self.tenant, source = %kind, sha256, %message, "adapter swapped");
        } else {
            tracing::warn!(endpoint = %self.id, tenant = %self.tenant, source = %kind, sha256, %message, "adapter swap refused");
        }
        slot.history.push(SwapRecord {
            at_ms: now_ms(),
            source,
            sha256: sha256.to_string(),
            accepted,
            message,
        });
        if slot.history.len() > 100 {
            slot.history.remove(0);
        }
    }
}

/// All endpoints.
pub struct Registry {
    runtime: Arc<Runtime>,
    tenants: Arc<crate::tenancy::Tenants>,
    endpoints: BTreeMap<String, Arc<Endpoint>>,
    hook: RwLock<Option<SwapHook>>,
    /// Candidates being validated (their cache entries are not garbage).
    pending: candidate::Pending,
    /// `[runtime] cache_gc`.
    cache_gc: bool,
    canary_link: Arc<rollout::CanaryLink>,
}

impl Registry {
    /// Load every endpoint's adapter; any refusal fails the whole start-up
    /// with one line per endpoint.
    pub async fn from_config(
        runtime: Arc<Runtime>,
        cfg: &LoadedConfig,
    ) -> Result<Registry, Vec<(String, LoadError)>> {
        let resolver = Arc::new(Resolver::with_overrides(cfg.resolver_overrides()));
        let canary_link = Arc::new(rollout::CanaryLink::default());
        let defaults = Limits::default().with(&cfg.config.limits);
        let tenants = Arc::new(crate::tenancy::Tenants::from_config(&cfg.config));
        let loads = cfg.config.endpoints.iter().map(|ep| {
            let runtime = runtime.clone();
            let path = cfg.resolve_path(ep.adapter.get_ref());
            let resolver = resolver.clone();
            let canary_link = canary_link.clone();
            let tenant_budget = tenants.get(&ep.tenant);
            let mut limits = defaults.with(&ep.limits);
            if let Some(t) = &tenant_budget {
                // Tenant quotas cap whatever the endpoint asks for.
                limits.memory_bytes = limits
                    .memory_bytes
                    .min((t.quotas.memory_mib as usize) << 20);
                limits.wall_time = limits
                    .wall_time
                    .min(std::time::Duration::from_millis(t.quotas.wall_time_ms));
            }
            async move {
                let id = ep.id.get_ref().clone();
                let settings_json = ep.settings_json();
                let pin = ep.sha256.as_ref().map(|s| s.get_ref().to_ascii_lowercase());
                let bytes = tokio::fs::read(&path).await.map_err(|e| {
                    (
                        id.clone(),
                        LoadError::Read {
                            path: path.display().to_string(),
                            error: e.to_string(),
                        },
                    )
                })?;
                let env = candidate::validation_env(
                    &id,
                    &ep.tenant,
                    &limits,
                    tenant_budget.as_ref(),
                    &resolver,
                );
                let adapter = candidate::validate_in(
                    &runtime,
                    &bytes,
                    pin.as_deref(),
                    &settings_json,
                    &env,
                    &|_| false,
                )
                .await
                .map_err(|e| (id.clone(), e))?;
                if let Some(note) = candidate::check_permissions(&adapter, ep, &settings_json)
                    .map_err(|e| (id.clone(), e))?
                {
                    tracing::warn!(endpoint = %id, "{note}");
                }
                let info = version_info(&adapter, Source::Config);
                let (credentials, webhook_secret) =
                    endpoint_secrets(ep).map_err(|e| (id.clone(), LoadError::Config(e)))?;
                let ep = Endpoint {
                    id: id.clone(),
                    tenant: ep.tenant.clone(),
                    config: ep.clone(),
                    adapter_path: path,
                    settings_json,
                    limits,
                    policy: Arc::new(ep.policy()),
                    credentials,
                    webhook_secret,
                    tenant_budget,
                    webhook_step_us: Ewma::default(),
                    route_hints: Default::default(),
                    warm: (ep.instance_reuse > 0).then(|| WarmPool::new(ep.instance_reuse)),
                    resolver,
                    slot: RwLock::new(Slot {
                        current: Serving { adapter, info },
                        previous: vec![],
                        history: vec![],
                        canary: None,
                        last_canary: None,
                    }),
                    swap_lock: tokio::sync::Mutex::new(()),
                    canary_link: canary_link.clone(),
                    tap: std::sync::OnceLock::new(),
                };
                Ok::<_, (String, LoadError)>((id, Arc::new(ep)))
            }
        });
        let results = futures::future::join_all(loads).await;
        let mut endpoints = BTreeMap::new();
        let mut errors = vec![];
        for r in results {
            match r {
                Ok((id, ep)) => {
                    endpoints.insert(id, ep);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Registry {
                runtime,
                tenants,
                endpoints,
                hook: RwLock::new(None),
                pending: candidate::Pending::default(),
                cache_gc: cfg.config.runtime.cache_gc,
                canary_link,
            })
        } else {
            Err(errors)
        }
    }

    /// Install the hook called after accepted swaps and rollbacks.
    pub fn on_swap(&self, hook: SwapHook) {
        *self.hook.write().unwrap() = Some(hook);
    }

    fn notify(&self, id: &str, sha: &str, bytes: Option<Vec<u8>>, source: Source) {
        let hook = self.hook.read().unwrap().clone();
        if let Some(h) = hook {
            h(id, sha, bytes, source);
        }
    }

    pub fn tenants(&self) -> &Arc<crate::tenancy::Tenants> {
        &self.tenants
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn endpoint(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.endpoints.get(id).cloned()
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Arc<Endpoint>> {
        self.endpoints.values()
    }

    /// A session on the endpoint's current version: calls about one webhook
    /// request, sharing one instance (see [`Session`]).
    pub fn session(&self, ep: &Endpoint) -> Session {
        let adapter = ep.current();
        let env = ep.env(&adapter);
        Session::reusing(self.runtime.clone(), adapter, env, ep.warm.clone())
    }

    /// Run one export on the endpoint's current version: on a fresh
    /// instance, or a warm one if the endpoint reuses instances.
    pub async fn invoke(&self, ep: &Endpoint, call: Call) -> Result<CallOutput, Failure> {
        if ep.warm.is_some() {
            return self.session(ep).call(call).await;
        }
        let adapter = ep.current();
        let env = ep.env(&adapter);
        self.runtime.invoke(&adapter, &env, call).await
    }

    /// Run one export of handover `pin` on the version it is pinned to
    /// ([`Endpoint::pinned`]).
    pub async fn invoke_for(
        &self,
        ep: &Endpoint,
        pin: Pin<'_>,
        call: Call,
    ) -> Result<CallOutput, Failure> {
        let p = ep.pinned(pin);
        if p.stats.is_none() {
            return self.invoke(ep, call).await;
        }
        self.invoke_pinned(ep, &p, ep.env_pinned(&p), call).await
    }

    /// Run one export on a pinned version under `env`.
    pub async fn invoke_pinned(
        &self,
        ep: &Endpoint,
        p: &Pinned,
        env: CallEnv,
        call: Call,
    ) -> Result<CallOutput, Failure> {
        if ep.warm.is_some() {
            let mut s = Session::reusing(
                self.runtime.clone(),
                p.adapter.clone(),
                env,
                ep.warm.clone(),
            );
            return s.call(call).await;
        }
        self.runtime.invoke(&p.adapter, &env, call).await
    }

    /// Drop warm instances unused for longer than `idle` (all endpoints).
    pub fn trim_warm(&self, idle: std::time::Duration) -> usize {
        self.endpoints()
            .filter_map(|ep| ep.warm.as_ref())
            .map(|w| w.trim(idle))
            .sum()
    }

    /// Validate `bytes` and, if they pass, make them the serving version
    /// (waiting for the tenant's compile: [`UploadPermit::wait`]).
    pub async fn swap(
        &self,
        id: &str,
        bytes: &[u8],
        source: Source,
    ) -> Result<VersionInfo, SwapError> {
        let swapped = self.swap_when(id, bytes, source, || true).await?;
        Ok(swapped.expect("a swap without a precondition happens"))
    }

    /// [`Registry::swap`] holding a permit taken before (an upload takes
    /// it before reading its body).
    pub async fn swap_reserved(
        &self,
        id: &str,
        bytes: &[u8],
        source: Source,
        permit: UploadPermit,
    ) -> Result<VersionInfo, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let swapped = self
            .swap_holding(&ep, bytes, source, || true, permit)
            .await?;
        Ok(swapped.expect("a swap without a precondition happens"))
    }

    /// [`Registry::swap`] if `still()` holds once the endpoint's swap lock
    /// is held (`Ok(None)` otherwise, nothing changed): how another
    /// replica's version is adopted only while this process has not swapped
    /// the endpoint since it looked (see `adapter_sync`).
    pub async fn swap_when(
        &self,
        id: &str,
        bytes: &[u8],
        source: Source,
        still: impl FnOnce() -> bool,
    ) -> Result<Option<VersionInfo>, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        // The permit before the swap lock, always (an upload holds it
        // while it waits for the lock).
        let permit = UploadPermit::wait(&ep).await;
        self.swap_holding(&ep, bytes, source, still, permit).await
    }

    async fn swap_holding(
        &self,
        ep: &Arc<Endpoint>,
        bytes: &[u8],
        source: Source,
        still: impl FnOnce() -> bool,
        _permit: UploadPermit,
    ) -> Result<Option<VersionInfo>, SwapError> {
        let id = ep.id.as_str();
        let _serial = ep.swap_lock.lock().await;
        if !still() {
            return Ok(None);
        }
        let (sha, checked) = self.check_candidate(ep, bytes).await;
        let outcome = match checked {
            Ok(adapter) => {
                let info = version_info(&adapter, source);
                let mut slot = ep.slot.write().unwrap();
                let old = std::mem::replace(
                    &mut slot.current,
                    Serving {
                        adapter,
                        info: info.clone(),
                    },
                );
                let msg = format!(
                    "{}@{} replaces {}@{} ({})",
                    info.name,
                    info.version,
                    old.info.name,
                    old.info.version,
                    &old.info.sha256[..12]
                );
                slot.previous.push(old);
                if slot.previous.len() > 10 {
                    slot.previous.remove(0);
                }
                ep.record(&mut slot, source, &sha, true, msg);
                // Another replica promoted the canary and this process
                // adopted its record first: the canary ended promoted.
                let promoted_elsewhere = source == Source::Replica
                    && slot
                        .canary
                        .as_ref()
                        .is_some_and(|c| c.candidate_info.sha256 == sha);
                let (result, by, why) = if promoted_elsewhere {
                    ("promoted", "replica", "promoted on another replica")
                } else {
                    ("replaced", "swap", "another version was swapped in")
                };
                ep.end_canary(&mut slot, result, by, why);
                drop(slot);
                ep.clear_warm();
                self.notify(id, &sha, Some(bytes.to_vec()), source);
                Ok(Some(info))
            }
            Err(e) => {
                let mut slot = ep.slot.write().unwrap();
                ep.record(&mut slot, source, &sha, false, e.to_string());
                Err(SwapError::Refused(e))
            }
        };
        self.collect_cache_garbage().await;
        outcome
    }

    /// Validate a candidate for `ep` (world, `describe`, `validate-settings`,
    /// sha256 pin, declared permissions): its sha256 and the loaded version.
    async fn check_candidate(
        &self,
        ep: &Endpoint,
        bytes: &[u8],
    ) -> (String, Result<Arc<LoadedAdapter>, LoadError>) {
        let pin = ep
            .config
            .sha256
            .as_ref()
            .map(|s| s.get_ref().to_ascii_lowercase());
        let sha = sha256_hex(bytes);
        let pending = self.pending.enter(&sha);
        let checked = candidate::validate_in(
            &self.runtime,
            bytes,
            pin.as_deref(),
            &ep.settings_json,
            &ep.validation_env(),
            &|sha| self.in_use_by_others(sha),
        )
        .await;
        // A 0.2.0 candidate must be granted what it declares it needs.
        let checked = match checked {
            Ok(adapter) => {
                match candidate::check_permissions(&adapter, &ep.config, &ep.settings_json) {
                    Ok(note) => {
                        if let Some(note) = note {
                            tracing::warn!(endpoint = %ep.id, "{note}");
                        }
                        Ok(adapter)
                    }
                    Err(e) => {
                        if adapter.wrote_cache_entry && !self.in_use_by_others(&sha) {
                            self.runtime.evict_cache_entry(&sha).await;
                        }
                        Err(e)
                    }
                }
            }
            Err(e) => Err(e),
        };
        drop(pending);
        (sha, checked)
    }

    /// Validate `bytes` as a candidate for `id` without serving it (for a
    /// replay), holding `permit`.
    pub async fn validate_candidate(
        &self,
        id: &str,
        bytes: &[u8],
        _permit: UploadPermit,
    ) -> Result<Arc<LoadedAdapter>, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        self.check_candidate(&ep, bytes)
            .await
            .1
            .map_err(SwapError::Refused)
    }

    /// Serves the previous version again. With `by_tenant`, only a version
    /// a tenant uploaded itself may be rolled back: a tenant cannot undo
    /// what the operator put in place (config, file, operator upload, a
    /// rollback, another replica's swap).
    pub async fn rollback(&self, id: &str, by_tenant: bool) -> Result<VersionInfo, SwapError> {
        let ep = self
            .endpoint(id)
            .ok_or_else(|| SwapError::UnknownEndpoint(id.to_string()))?;
        let _serial = ep.swap_lock.lock().await;
        let info = Self::roll_back_slot(&ep, by_tenant)?;
        ep.clear_warm();
        self.notify(id, &info.sha256, None, Source::Rollback);
        self.collect_cache_garbage().await;
        Ok(info)
    }

    /// [`Registry::rollback`]'s change of the slot (under the swap lock).
    fn roll_back_slot(ep: &Endpoint, by_tenant: bool) -> Result<VersionInfo, SwapError> {
        let mut slot = ep.slot.write().unwrap();
        let serving = slot.current.info.source;
        if by_tenant && serving != Source::Tenant {
            return Err(SwapError::NotTenantsVersion(serving));
        }
        let mut prev = slot.previous.pop().ok_or(SwapError::NothingToRollBack)?;
        prev.info.source = Source::Rollback;
        let info = prev.info.clone();
        let old = std::mem::replace(&mut slot.current, prev);
        let msg = format!(
            "rolled back from {}@{} to {}@{}",
            old.info.name, old.info.version, info.name, info.version
        );
        ep.record(&mut slot, Source::Rollback, &info.sha256, true, msg);
        ep.end_canary(
            &mut slot,
            "replaced",
            "swap",
            "the endpoint was rolled back",
        );
        Ok(info)
    }
}

/// Resolve an endpoint's credentials and webhook secret (env lookups).
fn endpoint_secrets(
    ep: &EndpointConfig,
) -> Result<(Option<Arc<Credentials>>, Option<String>), String> {
    let creds = Credentials::from_config(ep)?;
    let webhook_secret = match &ep.webhook_secret {
        Some(w) => {
            let secrets = handover_egress::credentials::resolve_secrets(&ep.secrets)?;
            let w = handover_core::config::resolve_secret(w, |v| std::env::var(v).ok())
                .map_err(|e| format!("webhook_secret: {e}"))?;
            Some(
                handover_core::config::expand(&w, &secrets)
                    .map_err(|e| format!("webhook_secret: {e}"))?,
            )
        }
        None => None,
    };
    Ok(((!creds.is_empty()).then(|| Arc::new(creds)), webhook_secret))
}

#[cfg(test)]
mod ewma_tests {
    use super::Ewma;
    use std::time::Duration;

    #[test]
    fn ewma_starts_at_the_first_sample_and_follows_later_ones() {
        let e = Ewma::default();
        assert_eq!(e.get(), None);
        e.record(Duration::from_millis(80));
        assert_eq!(e.get(), Some(Duration::from_millis(80)));
        let get = || e.get().unwrap();
        // Fast calls pull a slow start down: below 5 ms after ~21 samples.
        let mut n = 0;
        while get() > Duration::from_millis(5) {
            e.record(Duration::from_micros(30));
            n += 1;
            assert!(n < 100, "the mean does not decay: {:?}", get());
        }
        assert!((15..=30).contains(&n), "{n} samples");
        // One slow call does not hide a fast adapter for long…
        e.record(Duration::from_millis(40));
        assert!(get() > Duration::from_millis(5));
        // …and zero-length calls pull it down again.
        for _ in 0..40 {
            e.record(Duration::ZERO);
        }
        // (A zero-length sample still counts: the mean stays known.)
        assert!(get() < Duration::from_micros(100), "{:?}", get());
    }
}
