//! Candidates: what an adapter version must pass before it takes traffic
//! (sha256 pin, world, `describe`, `validate-settings`), what it runs
//! under while it is checked (its tenant's one compile, a call slot, the
//! endpoint's limits and the tenant's CPU budget, no egress), and the
//! compiled-component cache around it: a refused candidate's entry is
//! removed, and entries of versions nothing keeps are collected.
//!
//! Must never run a candidate outside its tenant's budgets, nor delete a
//! cache entry a kept or pending version uses.

use super::{Endpoint, Registry};
use crate::tenancy::{CompilePermit, QuotaExceeded, Tenant};
use handover_core::config::EndpointConfig;
use handover_core::permissions;
use handover_egress::{CallLabels, EgressPolicy, Resolver};
use handover_runtime::{Call, CallEnv, Limits, LoadError, LoadedAdapter, Runtime, sha256_hex};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Held while a candidate for an endpoint is compiled and validated (see
/// [`CompilePermit`]); empty for an endpoint without a tenant budget.
pub struct UploadPermit {
    _held: Option<CompilePermit>,
}

impl UploadPermit {
    /// Now, or the tenant's quota error (a tenant's own upload).
    pub fn try_now(ep: &Endpoint) -> Result<UploadPermit, QuotaExceeded> {
        Ok(UploadPermit {
            _held: ep
                .tenant_budget
                .as_ref()
                .map(|t| t.try_compile())
                .transpose()?,
        })
    }

    /// Waiting for it (the operator's uploads, file and replica swaps).
    pub async fn wait(ep: &Endpoint) -> UploadPermit {
        UploadPermit {
            _held: match &ep.tenant_budget {
                Some(t) => Some(t.compile().await),
                None => None,
            },
        }
    }
}

/// What upload-time `describe` and `validate-settings` run under: the
/// endpoint's limits (already capped by its tenant's quotas) and the
/// tenant's CPU budget, like any call of the endpoint, but with no egress
/// and no credentials.
pub(super) fn validation_env(
    endpoint: &str,
    tenant: &str,
    limits: &Limits,
    budget: Option<&Arc<Tenant>>,
    resolver: &Arc<Resolver>,
) -> CallEnv {
    CallEnv {
        limits: limits.clone(),
        policy: Arc::new(EgressPolicy::default()),
        resolver: resolver.clone(),
        labels: Arc::new(CallLabels {
            tenant: tenant.to_string(),
            endpoint: endpoint.to_string(),
            adapter: "(candidate)".into(),
        }),
        credentials: None,
        cpu: budget.map(|t| t.cpu.clone()),
        observer: None,
        tap: None,
        tape: None,
    }
}

/// Everything a candidate must pass before it takes traffic, with default
/// limits and no tenant (`handover-host check`, the conformance kit).
pub async fn validate(
    runtime: &Arc<Runtime>,
    bytes: &[u8],
    pin: Option<&str>,
    settings: &str,
) -> Result<Arc<LoadedAdapter>, LoadError> {
    validate_in(runtime, bytes, pin, settings, &CallEnv::describe(), &|_| {
        false
    })
    .await
}

/// [`validate`] under `env`. A cache entry the candidate wrote is removed
/// if it is refused, unless `in_use` says another version uses it.
pub(super) async fn validate_in(
    runtime: &Arc<Runtime>,
    bytes: &[u8],
    pin: Option<&str>,
    settings: &str,
    env: &CallEnv,
    in_use: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Arc<LoadedAdapter>, LoadError> {
    let sha = sha256_hex(bytes);
    if let Some(pin) = pin
        && pin != sha
    {
        return Err(LoadError::Pinned {
            pinned: pin.to_string(),
            actual: sha,
        });
    }
    // Refusals in `load_with` remove the entry it wrote themselves.
    let adapter = runtime.load_with(bytes, env).await?;
    let validated = runtime
        .invoke(&adapter, env, Call::ValidateSettings(settings.to_string()))
        .await;
    // The compile is charged to the tenant now, after the candidate's own
    // calls (see `Runtime::load_with`).
    if let Some(cpu) = &env.cpu {
        cpu.charge(adapter.compile_time);
    }
    match validated {
        Ok(_) => Ok(adapter),
        Err(f) => {
            if adapter.wrote_cache_entry && !in_use(&sha) {
                runtime.evict_cache_entry(&sha).await;
            }
            Err(LoadError::Settings(f.message))
        }
    }
}

/// The adapter's declared permissions (contract 0.2.0) against what the
/// endpoint `cfg` grants: refused (before it takes traffic) when it needs
/// egress or secrets the endpoint lacks, since every such call would be
/// denied; what the endpoint grants beyond the need is returned as a note
/// for the operator. 0.1.0 adapters declare nothing: always `Ok(None)`.
pub fn check_permissions(
    adapter: &LoadedAdapter,
    cfg: &EndpointConfig,
    settings_json: &str,
) -> Result<Option<String>, LoadError> {
    let Some(declared) = &adapter.info.permissions else {
        return Ok(None);
    };
    let settings: serde_json::Value =
        serde_json::from_str(settings_json).unwrap_or(serde_json::Value::Null);
    let egress: Vec<String> = cfg.egress.iter().map(|e| e.get_ref().clone()).collect();
    let secrets: Vec<String> = cfg.secrets.keys().cloned().collect();
    let c = permissions::compare(
        declared,
        &settings,
        &egress,
        &secrets,
        cfg.webhook_secret.as_deref(),
    );
    match c.missing_text() {
        Some(missing) => Err(LoadError::Permissions(missing)),
        None => Ok(c.unneeded_text()),
    }
}

/// Candidates being validated, by sha256 (how many of each).
#[derive(Default)]
pub(super) struct Pending(Mutex<HashMap<String, usize>>);

/// One candidate counted in [`Pending`] until dropped.
pub(super) struct PendingGuard<'a>(&'a Pending, String);

impl Pending {
    pub(super) fn enter(&self, sha: &str) -> PendingGuard<'_> {
        *self.0.lock().unwrap().entry(sha.to_string()).or_default() += 1;
        PendingGuard(self, sha.to_string())
    }

    fn count(&self, sha: &str) -> usize {
        self.0.lock().unwrap().get(sha).copied().unwrap_or(0)
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap();
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

impl Registry {
    /// The sha256 of every version an endpoint serves or may roll back to.
    fn kept(&self) -> HashSet<String> {
        self.endpoints()
            .flat_map(|ep| {
                let slot = ep.slot.read().unwrap();
                std::iter::once(slot.current.info.sha256.clone())
                    .chain(slot.previous.iter().map(|s| s.info.sha256.clone()))
                    .chain(slot.canary.iter().map(|c| c.candidate_info.sha256.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether a version other than the one candidate asking uses `sha`.
    pub(super) fn in_use_by_others(&self, sha: &str) -> bool {
        self.pending.count(sha) > 1 || self.kept().contains(sha)
    }

    /// With `[runtime] cache_gc` (the default): delete cache entries of
    /// components no endpoint keeps and no candidate is being checked
    /// with (at start-up, after every swap and rollback).
    pub async fn collect_cache_garbage(&self) {
        if !self.cache_gc {
            return;
        }
        let mut keep = self.kept();
        keep.extend(self.pending.0.lock().unwrap().keys().cloned());
        self.runtime.collect_cache_garbage(keep).await;
    }
}
