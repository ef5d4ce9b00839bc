//! The handover engine: the product the bot platform talks to.
//!
//! Owns the handover lifecycle (create, user input, cancel, close, status,
//! availability), provider traffic (webhooks via the inbox, polls), timers
//! and callback delivery. Every step is: lock the handover, read its row,
//! call the adapter, apply the result with `rules`, commit state + events +
//! outbox in one store transaction, then wake the streams. It never talks
//! HTTP to the bot directly (that is `api`) and never runs guest code itself
//! (that is `runtime`, through the registry).
//!
//! Returns typed results (`outcome`: [`HandoverView`], [`Created`],
//! [`InputResult`], [`CloseOutcome`], [`Availability`]; [`WebhookReply`]
//! with a [`WebhookRefusal`]; [`EngineError`]). It never builds a bot-facing
//! JSON body nor picks an HTTP status: the API layer owns the wire.
//!
//! Also owns the endpoint registry (`registry`: which adapter version serves
//! which endpoint) and the tenants (`tenancy`: keys and quotas). This crate
//! cannot name the API layer: how an event looks on the wire to the bot is
//! given to [`Engine::new`] as an [`EventEncoder`] by whoever wires the host.

pub mod adapter_sync;
pub mod canary_sync;
mod drain;
mod fair;
mod handover;
mod locks;
pub mod outcome;
mod recording;
pub mod registry;
pub mod replay;
pub mod request;
mod retention;
mod route_hint;
mod streams;
pub mod tenancy;
pub use handover_core::{rules, signature};
mod typing;
mod webhook;
mod workers;

pub use outcome::{
    Availability, BotMessage, CloseOutcome, Created, FinalOutcome, HandoverView, InputOutcome,
    InputResult, TypingResult,
};
pub use request::{CreateRequest, InputRequest, TypingRequest};
pub use streams::StreamWake;
pub use webhook::{WebhookRefusal, WebhookReply};

use crate::registry::{Endpoint, Registry};
use handover_core::store::{Change, HandoverRow, NewEvent, Store, StoreError, StoredEvent};
use handover_egress::{CallLabels, EgressConfig, Resolver};
use handover_metrics as metrics;
use locks::Locks;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The handover already ended; carries its final object.
    #[error("the handover has already ended")]
    Ended(FinalOutcome),
    #[error("{0}")]
    Conflict(String),
    #[error("the provider could not be reached: {0}")]
    Upstream(String),
    #[error(transparent)]
    Quota(#[from] tenancy::QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Base URL providers use to reach this host (for URL-signed webhooks).
    pub public_url: String,
    /// Largest webhook body accepted, bytes.
    pub max_webhook_bytes: usize,
    /// How long an unknown correlation key is retried before a webhook is
    /// stored as concerning no handover (covers webhooks racing `start`).
    pub correlation_grace: Duration,
    /// Callback delivery attempts before a delivery is given up (kept as dead).
    pub callback_attempts: u32,
    /// A webhook for one handover whose inbox is empty is applied inline
    /// (one durable write, answered after it) while the endpoint's recent
    /// `handle-webhook` calls average at most this; slower adapters get the
    /// inbox (answered once stored, applied after). Zero: always the inbox.
    pub inline_webhook_budget: Duration,
    /// What the background pruner deletes, and how often it runs.
    pub retention: handover_core::config::RetentionSection,
    /// The longest I/O wait a long poll may add to its call's wall time
    /// (`[runtime] max_poll_wait_s`), whatever the adapter declares.
    pub max_poll_wait: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            public_url: "http://127.0.0.1:8080".into(),
            max_webhook_bytes: 1 << 20,
            correlation_grace: Duration::from_secs(3),
            callback_attempts: 12,
            inline_webhook_budget: Duration::from_millis(5),
            retention: Default::default(),
            max_poll_wait: Duration::from_secs(60),
        }
    }
}

/// Encodes a stored event as the body the bot receives (SSE data and
/// callback bodies). Owned by the API layer; injected at wiring so the
/// engine never depends on it.
pub type EventEncoder = fn(&StoredEvent) -> Vec<u8>;

pub struct Engine {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    pub cfg: EngineConfig,
    locks: Locks,
    wakers: streams::Wakers,
    /// Wakes the callback-delivery loop early (see `workers::loop_outbox`).
    outbox_wake: tokio::sync::Notify,
    /// Set on SIGTERM: see `drain`.
    drain: drain::Drain,
    resolver: Arc<Resolver>,
    encode_event: EventEncoder,
    me: std::sync::Weak<Engine>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        cfg: EngineConfig,
        resolver: Arc<Resolver>,
        encode_event: EventEncoder,
    ) -> Arc<Engine> {
        Arc::new_cyclic(|me| Engine {
            store,
            registry,
            cfg,
            locks: Locks::default(),
            wakers: Default::default(),
            outbox_wake: tokio::sync::Notify::new(),
            drain: Default::default(),
            resolver,
            encode_event,
            me: me.clone(),
        })
    }

    fn self_arc(&self) -> Arc<Engine> {
        self.me
            .upgrade()
            .expect("the engine outlives its tasks' spawning")
    }

    /// Who holds `key` (a bearer API key); `None` for a missing or unknown
    /// key, unless no tenants are configured (the local open mode).
    pub fn authenticate(&self, key: Option<&str>) -> Option<tenancy::Caller> {
        self.registry.tenants().authenticate(key)
    }

    /// The endpoint `id`, if configured.
    pub fn find_endpoint(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.registry.endpoint(id)
    }

    /// Every configured endpoint.
    pub fn endpoints(&self) -> impl Iterator<Item = &Arc<Endpoint>> {
        self.registry.endpoints()
    }

    /// What an upload to `ep` holds from before its body is read until its
    /// candidate is accepted or refused: the tenant's one compile and one
    /// of its call slots. A tenant's own upload waits for neither (a quota
    /// error, 429); the operator's waits.
    pub async fn reserve_upload(
        &self,
        ep: &Endpoint,
        by_tenant: bool,
    ) -> Result<registry::UploadPermit, EngineError> {
        if by_tenant {
            Ok(registry::UploadPermit::try_now(ep)?)
        } else {
            Ok(registry::UploadPermit::wait(ep).await)
        }
    }

    /// Hot-swaps endpoint `id` to the component `bytes` (validated first
    /// under `permit`; the serving version is kept on refusal).
    pub async fn swap_adapter(
        &self,
        id: &str,
        bytes: &[u8],
        source: registry::Source,
        permit: registry::UploadPermit,
    ) -> Result<registry::VersionInfo, registry::SwapError> {
        self.registry.swap_reserved(id, bytes, source, permit).await
    }

    /// Starts a canary of `bytes` on endpoint `id` (validated first, like
    /// an upload, under `permit`).
    pub async fn start_canary(
        &self,
        id: &str,
        bytes: &[u8],
        source: registry::Source,
        policy: registry::CanaryPolicy,
        permit: registry::UploadPermit,
    ) -> Result<registry::CanaryView, registry::SwapError> {
        self.registry
            .start_canary(id, bytes, source, policy, permit)
            .await
    }

    /// Promotes endpoint `id`'s canary now (`by`: who asked).
    pub async fn promote_canary(
        &self,
        id: &str,
        by: &'static str,
    ) -> Result<registry::VersionInfo, registry::SwapError> {
        self.registry
            .promote_canary(id, by, &format!("promoted by the {by}"))
            .await
    }

    /// Aborts endpoint `id`'s canary now: every handover on the stable
    /// version again.
    pub async fn abort_canary(
        &self,
        id: &str,
        by: &'static str,
    ) -> Result<registry::CanaryEnd, registry::SwapError> {
        self.registry
            .abort_canary(id, by, &format!("aborted by the {by}"))
            .await
    }

    /// Replays endpoint `id`'s newest `last` recorded handovers through
    /// the candidate `bytes` (validated first, like an upload, under
    /// `permit`); differences in the event types of `allow` are allowed.
    pub async fn replay(
        &self,
        id: &str,
        bytes: &[u8],
        last: u32,
        allow: &[String],
        permit: registry::UploadPermit,
    ) -> Result<replay::ReplayReport, EngineError> {
        let ep = self.endpoint(id)?;
        if ep.config.record_handovers == 0 {
            return Err(EngineError::BadRequest(format!(
                "endpoint `{id}` records nothing to replay: set `record_handovers` (e.g. 200) \
                 in its config, let traffic flow, then replay"
            )));
        }
        // Nothing recorded compares nothing: said, not reported as a pass.
        let recordings = self.store.recordings(id, last).await?;
        if recordings.is_empty() {
            return Err(EngineError::BadRequest(format!(
                "endpoint `{id}` has recorded no handover yet (it keeps the newest {}): \
                 let traffic flow, then replay",
                ep.config.record_handovers
            )));
        }
        let candidate = self
            .registry
            .validate_candidate(id, bytes, permit)
            .await
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let runtime = self.registry.runtime().clone();
        Ok(replay::replay(&runtime, &ep, &candidate, recordings, allow).await)
    }

    /// Puts endpoint `id` back on its previous adapter version (a tenant
    /// only a version it uploaded: [`registry::Registry::rollback`]).
    pub async fn rollback_adapter(
        &self,
        id: &str,
        by_tenant: bool,
    ) -> Result<registry::VersionInfo, registry::SwapError> {
        self.registry.rollback(id, by_tenant).await
    }

    /// The handover `id`'s row, if it exists (no tenant check: callers do it).
    pub async fn handover(&self, id: &str) -> Result<Option<HandoverRow>, StoreError> {
        self.store.get_handover(id).await
    }

    /// Up to `limit` events of `scope` with ids above `after`, in id order.
    pub async fn events_after(
        &self,
        scope: &handover_core::store::EventScope,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.events_after(scope, after, limit).await
    }

    /// Wake-ups for a stream of `scope`: pushed when events of that
    /// handover or endpoint are committed here, or when another replica
    /// wrote events; the stream then reads the store.
    pub fn subscribe(&self, scope: &handover_core::store::EventScope) -> StreamWake {
        self.wakers.subscribe(scope)
    }

    /// Wake every local stream (the PostgreSQL listener: a catch-up after
    /// it reconnected, or notices it missed).
    pub fn wake_all(&self) {
        self.wakers.wake_all();
    }

    /// A slot for one more event stream of `tenant` (held while the stream
    /// is open), or the `event_streams` quota error.
    pub fn open_stream(
        &self,
        tenant: &str,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, EngineError> {
        match self.registry.tenants().get(tenant) {
            Some(t) => Ok(Some(t.try_stream()?)),
            None => Ok(None),
        }
    }

    /// Lock one handover for a step: in this process and, for stores shared
    /// by replicas, across processes.
    async fn lock(
        &self,
        id: &str,
    ) -> Result<(locks::Guard<'_>, handover_core::store::HandoverLock), EngineError> {
        let local = self.locks.lock(id).await;
        let shared = self.store.lock_handover(id).await?;
        Ok((local, shared))
    }

    /// A tenant call slot: API requests fail fast with a quota error;
    /// background work waits for its own tenant's slot only.
    async fn slot(
        &self,
        ep: &Endpoint,
        background: bool,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, EngineError> {
        let Some(t) = &ep.tenant_budget else {
            return Ok(None);
        };
        if background {
            Ok(Some(t.call().await))
        } else {
            Ok(Some(t.try_call()?))
        }
    }

    fn endpoint(&self, id: &str) -> Result<Arc<Endpoint>, EngineError> {
        self.registry
            .endpoint(id)
            .ok_or_else(|| EngineError::NotFound(format!("no endpoint `{id}`")))
    }

    /// Commit one step; returns the stored events. Bumps `row.version`.
    async fn commit(
        &self,
        row: &mut HandoverRow,
        events: Vec<NewEvent>,
        keys: Vec<String>,
        inbox_done: Vec<i64>,
    ) -> Result<Vec<StoredEvent>, EngineError> {
        let change = Change {
            row: None,
            events,
            correlation_keys: keys,
            inbox_done,
            deliveries: vec![],
            without_shared_lock: false,
            route_key: None,
        };
        self.commit_change(row, change).await
    }

    /// Commit `change` with `row` as its row (see [`Engine::commit`]).
    async fn commit_change(
        &self,
        row: &mut HandoverRow,
        mut change: Change,
    ) -> Result<Vec<StoredEvent>, EngineError> {
        let ended = change.events.iter().any(|e| e.kind == "ended");
        // The store does not read the create request on a step (see
        // `Change::row`): the row goes without it, not with a deep copy.
        let request = std::mem::take(&mut row.request);
        change.row = Some(row.clone());
        row.request = request;
        let stored = self.store.apply(change).await?;
        row.version += 1;
        if ended {
            metrics::HANDOVERS_ENDED.inc(&[
                row.status.as_str(),
                row.error_reason.as_deref().unwrap_or(""),
            ]);
            // A canary's figures; its decision runs apart from this step.
            if let Some(ep) = self.registry.endpoint(&row.endpoint_id)
                && ep.observe_end(row)
            {
                let registry = self.registry.clone();
                let id = ep.id.clone();
                tokio::spawn(async move { registry.decide_canary(&id).await });
            }
        }
        if !stored.is_empty() {
            self.wakers.wake(&row.id, &row.endpoint_id);
            if row.callback_url.is_some() {
                self.outbox_wake.notify_one();
            }
        }
        Ok(stored)
    }

    /// Egress settings for bot callbacks of an endpoint.
    fn callback_egress(&self, ep: &Endpoint) -> EgressConfig {
        EgressConfig {
            policy: Arc::new(ep.config.callback_policy()),
            resolver: self.resolver.clone(),
            labels: Arc::new(CallLabels {
                tenant: ep.tenant.clone(),
                endpoint: ep.id.clone(),
                adapter: "callback".into(),
            }),
            timeout: Duration::from_secs(5),
            max_response_bytes: 64 << 10,
            max_requests: 1,
            credentials: None,
        }
    }
}
