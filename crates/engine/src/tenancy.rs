//! Tenants: who is calling (API keys, compared as sha256 hashes in constant
//! time) and what each tenant may spend (quotas).
//!
//! Every budget is per tenant — its own semaphore, CPU window and webhook
//! bucket — so one tenant at its limit never queues behind, or delays,
//! another tenant's work. This module decides nothing about handovers; it
//! only answers "who is this" and "may this tenant spend more now".

use handover_core::config::{Config, Quotas};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Who made an API request.
#[derive(Clone)]
pub enum Caller {
    /// The operator key: every tenant.
    Operator,
    Tenant(Arc<Tenant>),
    /// No tenants are configured: local, unauthenticated use.
    Open,
}

impl Caller {
    /// Whether the caller may see resources of `tenant`.
    pub fn may_access(&self, tenant: &str) -> bool {
        match self {
            Caller::Operator | Caller::Open => true,
            Caller::Tenant(t) => t.id == tenant,
        }
    }
}

/// A quota that stopped a request; the API answers 429 with Retry-After.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tenant `{tenant}` is over its `{quota}` quota (limit {limit}); retry after {retry_after_s} s"
)]
pub struct QuotaExceeded {
    pub tenant: String,
    pub quota: &'static str,
    pub limit: u64,
    pub retry_after_s: u64,
}

pub use handover_runtime::budget::CpuBudget;

/// Held while a candidate adapter of the tenant's is compiled and
/// validated (`describe`, `validate-settings`): the tenant's one compile
/// and one of its call slots, so an upload is counted like a call.
#[derive(Debug)]
pub struct CompilePermit {
    _compile: OwnedSemaphorePermit,
    _call: OwnedSemaphorePermit,
}

pub struct Tenant {
    pub id: String,
    pub quotas: Quotas,
    key_hashes: Vec<[u8; 32]>,
    calls: Arc<Semaphore>,
    /// One compile (an upload's candidate) at a time.
    compiling: Arc<Semaphore>,
    /// Event streams open now (`event_streams`).
    streams: Arc<Semaphore>,
    pub cpu: Arc<CpuBudget>,
    webhooks: Mutex<(Instant, f64)>,
}

impl Tenant {
    fn new(id: &str, quotas: Quotas, key_hashes: Vec<[u8; 32]>) -> Tenant {
        Tenant {
            id: id.to_string(),
            calls: Arc::new(Semaphore::new(quotas.concurrent_calls as usize)),
            compiling: Arc::new(Semaphore::new(1)),
            streams: Arc::new(Semaphore::new(quotas.event_streams as usize)),
            cpu: Arc::new(CpuBudget::new(Duration::from_millis(quotas.cpu_ms_per_s))),
            webhooks: Mutex::new((Instant::now(), quotas.webhooks_per_s as f64)),
            key_hashes,
            quotas,
        }
    }

    /// A call slot now, or the quota error (API requests fail fast).
    pub fn try_call(&self) -> Result<OwnedSemaphorePermit, QuotaExceeded> {
        let limit = self.quotas.concurrent_calls;
        self.try_slot(&self.calls, "concurrent_calls", limit, 1)
    }

    /// A slot for one more open event stream, held while it is open, or
    /// the quota error.
    pub fn try_stream(&self) -> Result<OwnedSemaphorePermit, QuotaExceeded> {
        let limit = self.quotas.event_streams;
        self.try_slot(&self.streams, "event_streams", limit, 5)
    }

    /// A permit of `slots` now, or the error for `quota`.
    fn try_slot(
        &self,
        slots: &Arc<Semaphore>,
        quota: &'static str,
        limit: u32,
        retry_after_s: u64,
    ) -> Result<OwnedSemaphorePermit, QuotaExceeded> {
        slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| QuotaExceeded {
                tenant: self.id.clone(),
                quota,
                limit: limit.into(),
                retry_after_s,
            })
    }

    /// A call slot, waiting for one (background work: webhooks, polls, timers).
    pub async fn call(&self) -> OwnedSemaphorePermit {
        self.calls
            .clone()
            .acquire_owned()
            .await
            .expect("never closed")
    }

    /// The tenant's one compile and one of its call slots now, or the quota
    /// error (a tenant's upload fails fast, before its body is read).
    pub fn try_compile(&self) -> Result<CompilePermit, QuotaExceeded> {
        let compile = self
            .compiling
            .clone()
            .try_acquire_owned()
            .map_err(|_| QuotaExceeded {
                tenant: self.id.clone(),
                quota: "concurrent_compiles",
                limit: 1,
                retry_after_s: 2,
            })?;
        Ok(CompilePermit {
            _compile: compile,
            _call: self.try_call()?,
        })
    }

    /// The same, waiting (the operator's uploads, file and replica swaps).
    pub async fn compile(&self) -> CompilePermit {
        let compile = self
            .compiling
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        CompilePermit {
            _compile: compile,
            _call: self.call().await,
        }
    }

    /// Take one webhook token from the tenant's bucket.
    pub fn take_webhook(&self) -> Result<(), QuotaExceeded> {
        let rate = self.quotas.webhooks_per_s as f64;
        let mut b = self.webhooks.lock().unwrap();
        let now = Instant::now();
        b.1 = (b.1 + now.duration_since(b.0).as_secs_f64() * rate).min(rate);
        b.0 = now;
        if b.1 >= 1.0 {
            b.1 -= 1.0;
            Ok(())
        } else {
            Err(QuotaExceeded {
                tenant: self.id.clone(),
                quota: "webhooks_per_s",
                limit: rate as u64,
                retry_after_s: 1,
            })
        }
    }

    /// The `open_handovers` quota, which the store checks with the insert.
    pub fn open_handovers_limit(&self) -> u64 {
        self.quotas.open_handovers
    }

    pub fn open_handovers_exceeded(&self, open: u64) -> Result<(), QuotaExceeded> {
        if open >= self.quotas.open_handovers {
            Err(QuotaExceeded {
                tenant: self.id.clone(),
                quota: "open_handovers",
                limit: self.quotas.open_handovers,
                retry_after_s: 5,
            })
        } else {
            Ok(())
        }
    }
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn parse_hash(h: &str) -> Option<[u8; 32]> {
    hex::decode(h).ok()?.try_into().ok()
}

/// All tenants plus the operator key.
pub struct Tenants {
    by_id: BTreeMap<String, Arc<Tenant>>,
    operator: Option<[u8; 32]>,
    /// No tenants configured: the bot API is open.
    open: bool,
}

impl Tenants {
    pub fn from_config(cfg: &Config) -> Tenants {
        let mut by_id: BTreeMap<String, Arc<Tenant>> = cfg
            .tenants
            .iter()
            .map(|(id, t)| {
                let keys = t
                    .api_key_sha256
                    .iter()
                    .filter_map(|h| parse_hash(h.get_ref()))
                    .collect();
                (
                    id.clone(),
                    Arc::new(Tenant::new(id, t.quotas.clone(), keys)),
                )
            })
            .collect();
        let open = by_id.is_empty();
        // Endpoints of tenants not listed (open mode) get default quotas.
        for ep in &cfg.endpoints {
            by_id
                .entry(ep.tenant.clone())
                .or_insert_with(|| Arc::new(Tenant::new(&ep.tenant, Quotas::default(), vec![])));
        }
        let operator = cfg
            .server
            .admin_key_sha256
            .as_ref()
            .and_then(|h| parse_hash(h.get_ref()))
            .or_else(|| cfg.server.admin_key.as_deref().map(hash));
        Tenants {
            by_id,
            operator,
            open,
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Tenant>> {
        self.by_id.get(id).cloned()
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Identify a bearer key. Compares against every key (no early exit).
    pub fn authenticate(&self, key: Option<&str>) -> Option<Caller> {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return self.open.then_some(Caller::Open);
        };
        let given = hash(key);
        let mut found: Option<Caller> = None;
        if let Some(op) = &self.operator
            && bool::from(given.ct_eq(op))
        {
            found = Some(Caller::Operator);
        }
        for t in self.by_id.values() {
            for h in &t.key_hashes {
                if bool::from(given.ct_eq(h)) && found.is_none() {
                    found = Some(Caller::Tenant(t.clone()));
                }
            }
        }
        found.or_else(|| self.open.then_some(Caller::Open))
    }

    /// Whether an operator key exists (admin API for everything).
    pub fn has_operator(&self) -> bool {
        self.operator.is_some()
    }
}

/// `handover-host hash-key KEY`.
pub fn hash_key(key: &str) -> String {
    hex::encode(hash(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> Quotas {
        Quotas {
            concurrent_calls: 1,
            webhooks_per_s: 2,
            open_handovers: 2,
            event_streams: 2,
            ..Quotas::default()
        }
    }

    #[test]
    fn cpu_budget_pauses_until_the_window_ends_then_resets() {
        let b = CpuBudget::new(Duration::from_millis(50));
        assert_eq!(b.limit(), Duration::from_millis(50));
        for _ in 0..5 {
            assert_eq!(b.charge(Duration::from_millis(10)), Duration::ZERO);
        }
        // Exactly at the budget is still within it; one more tick is over.
        let pause = b.charge(Duration::from_millis(5));
        assert!(
            pause > Duration::ZERO && pause <= Duration::from_secs(1),
            "{pause:?}"
        );
        // Every further charge in the same window pauses until its end.
        let later = b.charge(Duration::from_millis(5));
        assert!(
            later > Duration::ZERO && later <= pause,
            "{later:?} vs {pause:?}"
        );
        // A new window starts with the full budget again.
        std::thread::sleep(Duration::from_millis(1050));
        assert_eq!(b.charge(Duration::from_millis(10)), Duration::ZERO);
    }

    #[test]
    fn cpu_budget_pause_never_exceeds_a_second() {
        let b = CpuBudget::new(Duration::from_millis(1));
        let pause = b.charge(Duration::from_secs(30));
        assert!(
            pause > Duration::from_millis(900) && pause <= Duration::from_secs(1),
            "{pause:?}"
        );
    }

    #[test]
    fn call_slots_and_webhook_bucket() {
        let t = Tenant::new("t", quotas(), vec![]);
        let slot = t.try_call().unwrap();
        let e = t.try_call().unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.retry_after_s),
            ("concurrent_calls", 1, 1)
        );
        drop(slot);
        assert!(t.try_call().is_ok());

        let streams = [t.try_stream().unwrap(), t.try_stream().unwrap()];
        let e = t.try_stream().unwrap_err();
        assert_eq!((e.quota, e.limit, e.retry_after_s), ("event_streams", 2, 5));
        drop(streams);
        assert!(t.try_stream().is_ok());

        // Burst = one second's worth, then refills at the rate.
        assert!(t.take_webhook().is_ok());
        assert!(t.take_webhook().is_ok());
        let e = t.take_webhook().unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.retry_after_s),
            ("webhooks_per_s", 2, 1)
        );
        std::thread::sleep(Duration::from_millis(600));
        assert!(t.take_webhook().is_ok());

        // One compile at a time, and it holds a call slot.
        let compiling = t.try_compile().unwrap();
        let e = t.try_compile().unwrap_err();
        assert_eq!(
            (e.quota, e.limit, e.retry_after_s),
            ("concurrent_compiles", 1, 2)
        );
        assert_eq!(t.try_call().unwrap_err().quota, "concurrent_calls");
        drop(compiling);
        let slot = t.try_call().unwrap();
        assert_eq!(t.try_compile().unwrap_err().quota, "concurrent_calls");
        drop(slot);
        assert!(t.try_compile().is_ok());

        assert!(t.open_handovers_exceeded(1).is_ok());
        let e = t.open_handovers_exceeded(2).unwrap_err();
        assert_eq!(e.quota, "open_handovers");
        assert!(e.to_string().contains("tenant `t`"), "{e}");
    }

    #[test]
    fn keys_identify_tenants_and_the_operator() {
        let src = format!(
            "[server]\nadmin_key_sha256 = \"{}\"\n[tenants.a]\napi_key_sha256 = [\"{}\", \"{}\"]\n[tenants.b]\napi_key_sha256 = [\"{}\"]\n[[endpoints]]\nid = \"e\"\ntenant = \"b\"\nadapter = \"x.wasm\"\n",
            hash_key("op"),
            hash_key("a1"),
            hash_key("a2").to_uppercase(),
            hash_key("b1"),
        );
        let cfg = handover_core::config::parse("t.toml", &src).unwrap();
        let ts = Tenants::from_config(&cfg);
        assert!(!ts.is_open() && ts.has_operator());
        let id = |k: Option<&str>| match ts.authenticate(k) {
            Some(Caller::Tenant(t)) => t.id.clone(),
            Some(Caller::Operator) => "operator".into(),
            Some(Caller::Open) => "open".into(),
            None => "none".into(),
        };
        assert_eq!(id(Some("a1")), "a");
        assert_eq!(id(Some("a2")), "a");
        assert_eq!(id(Some("b1")), "b");
        assert_eq!(id(Some("op")), "operator");
        assert_eq!(id(Some("nope")), "none");
        assert_eq!(id(Some(&hash_key("a1"))), "none");
        assert_eq!(id(Some("")), "none");
        assert_eq!(id(None), "none");
        let Some(Caller::Tenant(a)) = ts.authenticate(Some("a1")) else {
            unreachable!()
        };
        let a = Caller::Tenant(a);
        assert!(a.may_access("a") && !a.may_access("b"));
        assert!(Caller::Operator.may_access("b"));

        // No tenants: the bot API is open, whatever the key.
        let open = Tenants::from_config(&handover_core::config::parse("t.toml", "").unwrap());
        assert!(open.is_open() && !open.has_operator());
        assert!(matches!(open.authenticate(None), Some(Caller::Open)));
        assert!(matches!(open.authenticate(Some("x")), Some(Caller::Open)));
    }
}
