//! Durable state behind one trait: handovers, events, correlation keys, the
//! webhook inbox with its dedupe keys, and the callback outbox.
//!
//! The engine talks only to [`Store`]; SQLite (embedded, the default) and
//! PostgreSQL (replicas) implement it. Every method is one transaction. A
//! handover row carries a `version`; [`Store::apply`] writes only if the
//! version is unchanged, so concurrent writers (tasks or replicas) cannot
//! interleave steps of one handover. The checks every backend makes alike
//! (a rowless change, an identity change, a stale version, the schema
//! version) and the row decoding ([`columns`]) are pure functions here, so
//! the backends keep only their SQL. This layer never calls adapters, never
//! decides handover semantics and never does I/O itself.

pub mod columns;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The handover changed since it was read (optimistic concurrency).
    #[error("handover {0} was changed concurrently")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The webhook delivery id of a [`Change::deliveries`] was recorded before:
    /// nothing of the change was written.
    #[error("webhook delivery {0} was already accepted")]
    Duplicate(String),
    /// The backend failed; `source` is the driver's own error when there
    /// is one (kept as the cause, not flattened into the message).
    #[error("storage error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// A backend failure the store itself detected (no driver error).
    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// A backend failure caused by the driver error `source`.
    pub fn backend_caused(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl StoreError {
    /// A versioned write of handover `id` matched no row: `Conflict` if the
    /// handover `exists` (its version moved), `NotFound` otherwise.
    pub fn stale_or_missing(id: &str, exists: bool) -> Self {
        if exists {
            StoreError::Conflict(id.to_owned())
        } else {
            StoreError::NotFound(format!("handover {id}"))
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An outbox write that changed nothing names an unknown item: `NotFound`.
pub fn outbox_item_found(changed: bool, id: i64) -> Result<()> {
    if changed {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("outbox item {id}")))
    }
}

/// Whether a database at schema version `found` can be brought to `known`
/// (this build's): one written by a newer build is refused, never modified.
pub fn check_schema_version(found: i64, known: i64) -> Result<()> {
    if found > known {
        return Err(StoreError::backend(format!(
            "database schema version {found} is newer than this build supports ({known}); \
             run a newer handover-host or restore a matching backup"
        )));
    }
    if found < 0 {
        return Err(StoreError::backend(format!(
            "invalid database schema version {found}"
        )));
    }
    Ok(())
}

/// The migration to schema `version` failed with `cause`.
pub fn migration_failed(version: i64, cause: impl std::fmt::Display) -> StoreError {
    StoreError::backend(format!(
        "migration to schema version {version} failed: {cause}"
    ))
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::backend_caused(format!("sqlite: {e}"), e)
    }
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // `Display` of a server error is only "db error"; name the cause.
        match e.as_db_error() {
            Some(db) => {
                let message = format!(
                    "postgres: {} ({}): {}",
                    db.message(),
                    db.code().code(),
                    db.detail().unwrap_or("")
                );
                StoreError::backend_caused(message, e)
            }
            None => StoreError::backend_caused(format!("postgres: {e}"), e),
        }
    }
}

/// Handover status (the product's three final values plus the open ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Requested,
    Queued,
    Active,
    Completed,
    Cancelled,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Queued => "queued",
            Status::Active => "active",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "requested" => Status::Requested,
            "queued" => Status::Queued,
            "active" => Status::Active,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            "error" => Status::Error,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(self, Status::Requested | Status::Queued | Status::Active)
    }
}

/// One handover as stored. `version` increments on every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoverRow {
    pub id: String,
    pub endpoint_id: String,
    pub tenant: String,
    pub session_id: String,
    pub idempotency_key: Option<String>,
    pub status: Status,
    /// `unsupported` | `error` when status is `error`.
    pub error_reason: Option<String>,
    pub error_message: Option<String>,
    pub end_reason: Option<String>,
    /// The create request as JSON (conversation, messages, cancel settings, callback).
    pub request: serde_json::Value,
    pub provider_state: Vec<u8>,
    pub queue_position: Option<u32>,
    pub estimated_wait_seconds: Option<u32>,
    /// Current agent as JSON (`{"id","name"}`), if any.
    pub agent: Option<serde_json::Value>,
    pub callback_url: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub agent_joined_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub last_user_activity_ms: i64,
    /// Timers: absolute deadlines in ms since the epoch; `None` = not armed.
    pub no_agent_deadline_ms: Option<i64>,
    pub inactivity_warn_at_ms: Option<i64>,
    pub inactivity_end_at_ms: Option<i64>,
    pub next_poll_at_ms: Option<i64>,
    pub poll_failures: u32,
    /// What contract 0.2.0 adapters report beyond the status, as a JSON
    /// object: `variables` (a hand-back's), `wrap_up`, `survey`,
    /// `references` (the provider's tickets or cases). `None` until one
    /// is reported.
    pub extras: Option<serde_json::Value>,
    pub version: i64,
}

/// The columns a handover keeps for life (besides its id): a write may
/// never change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub endpoint_id: &'a str,
    pub tenant: &'a str,
    pub session_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub created_at_ms: i64,
}

impl HandoverRow {
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            endpoint_id: &self.endpoint_id,
            tenant: &self.tenant,
            session_id: &self.session_id,
            idempotency_key: self.idempotency_key.as_deref(),
            created_at_ms: self.created_at_ms,
        }
    }

    /// Refuse (`Backend`) a write of this row over a stored row whose
    /// identity is `stored` when the two differ.
    pub fn check_identity(&self, stored: Identity<'_>) -> Result<()> {
        if stored == self.identity() {
            return Ok(());
        }
        Err(StoreError::backend(format!(
            "handover {}: endpoint, tenant, session, idempotency key and created_at cannot change",
            self.id
        )))
    }

    /// The earliest armed timer deadline (no-agent, inactivity warning or
    /// end), if any.
    pub fn timer_due_ms(&self) -> Option<i64> {
        [
            self.no_agent_deadline_ms,
            self.inactivity_warn_at_ms,
            self.inactivity_end_at_ms,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// A bot-facing event to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// e.g. `queued`, `agent_message`, `ended`.
    pub kind: String,
    /// The full event body as delivered to the bot (without id/seq).
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// The event as appended: event `id`, number `seq` of handover
    /// `handover_id` (of `endpoint_id`), written at `created_at_ms`.
    pub fn stored(
        self,
        id: i64,
        handover_id: &str,
        endpoint_id: &str,
        seq: i64,
        created_at_ms: i64,
    ) -> StoredEvent {
        StoredEvent {
            id,
            handover_id: handover_id.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            seq,
            kind: self.kind,
            payload: self.payload,
            created_at_ms,
        }
    }
}

/// An appended event. `id` is global and strictly increasing (SSE id);
/// `seq` counts per handover from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub handover_id: String,
    pub endpoint_id: String,
    pub seq: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at_ms: i64,
}

/// Everything one step writes, atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// The new row; written only if the stored version equals `row.version`
    /// (the store then increments it). Its `request` is not read: the
    /// create request is written once, by [`Store::insert_handover`], and
    /// never by a step (the engine leaves it `null` here rather than copy
    /// it for every step).
    pub row: Option<HandoverRow>,
    pub events: Vec<NewEvent>,
    pub correlation_keys: Vec<String>,
    /// Inbox items this step consumed.
    pub inbox_done: Vec<i64>,
    /// A webhook applied directly, without an inbox item: its delivery ids
    /// (the provider's id, the digest of what its signature covers) are
    /// recorded for the row's endpoint in the same transaction (the step
    /// *is* the webhook's durable record). If any was recorded before,
    /// nothing is written and [`StoreError::Duplicate`] is returned.
    /// Requires `row`.
    pub deliveries: Vec<String>,
    /// The step ran holding its process's own lock of the handover only,
    /// not [`Store::lock_handover`]'s (an inline webhook step: its commit's
    /// version check is its guard). A store shared by processes writes it
    /// only if no process holds that lock at its commit, and answers
    /// [`StoreError::Conflict`] otherwise, so it never lands inside another
    /// process's locked step (whose own commit would then conflict after
    /// it had called the provider). The SQLite store, whose inline read may
    /// come from its row cache, also refuses it ([`StoreError::Conflict`])
    /// while the handover has unprocessed inbox items.
    pub without_shared_lock: bool,
    /// An inline webhook step: the correlation key that routed its webhook
    /// to `row` (read by [`Store::webhook_target`]). The SQLite store, which
    /// may answer that from its cache, refuses the step
    /// ([`StoreError::Conflict`]) if the key no longer names this handover;
    /// others ignore it (their read was the database's).
    pub route_key: Option<String>,
}

impl StoreError {
    /// `Ok(None)` for [`StoreError::Duplicate`] (nothing was stored), the
    /// stored value or any other error as it is.
    pub fn none_if_duplicate<T>(r: Result<T>) -> Result<Option<T>> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::Duplicate(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Change {
    /// A change without a row may only mark inbox items done: events,
    /// correlation keys and a delivery need the row to know their handover
    /// and endpoint (and to take the version lock), so they are refused
    /// with `Backend`.
    pub fn check_rowless(&self) -> Result<()> {
        let needs_row = !self.events.is_empty()
            || !self.correlation_keys.is_empty()
            || !self.deliveries.is_empty();
        if self.row.is_none() && needs_row {
            return Err(StoreError::backend(
                "a change with events, correlation keys or a delivery must carry its handover row",
            ));
        }
        Ok(())
    }
}

/// Result of inserting a new handover.
#[derive(Debug, Clone, PartialEq)]
pub enum Insert {
    Inserted(HandoverRow),
    /// An open handover already exists for this endpoint and session.
    OpenExists(HandoverRow),
    /// The idempotency key was used before (any status).
    IdempotentReplay(HandoverRow),
    /// The tenant already has `open` open handovers, at or over the limit
    /// the insert was given: nothing was written.
    OverQuota {
        open: u64,
    },
}

/// A verified webhook, stored before the provider gets its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    pub id: i64,
    pub endpoint_id: String,
    pub handover_id: String,
    /// The raw request as JSON: method, path, headers, body (base64).
    pub request: serde_json::Value,
    pub received_at_ms: i64,
}

/// A callback POST waiting to be delivered (in order per handover).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: i64,
    pub handover_id: String,
    /// The handover's tenant (what the delivery is scheduled by).
    pub tenant: String,
    pub event_id: i64,
    pub url: String,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
}

/// How a `due_*` scan shares its `limit` between tenants, so one tenant's
/// backlog (or its work stuck in flight) never hides another's: each
/// tenant's earliest `per_tenant` due items at most, tenants in `skip`
/// (those already at their cap of work in flight) not at all, and when
/// `limit` cuts, it cuts round-robin (every tenant's first item before any
/// tenant's second). Items come back earliest first.
#[derive(Debug, Clone, Copy)]
pub struct Share<'a> {
    pub per_tenant: u32,
    pub skip: &'a [String],
}

impl Share<'static> {
    /// No per-tenant limit, no tenant skipped: the earliest `limit` items.
    pub const ALL: Share<'static> = Share {
        per_tenant: u32::MAX,
        skip: &[],
    };
}

/// What [`Store::prune`] deletes: rows older than their cutoff (wall-clock
/// ms). Only what no open handover or pending work needs: ended handovers
/// (with their request, events, correlation keys, finished deliveries and
/// processed webhooks), finished callback deliveries, processed inbox
/// items, webhook delivery ids, and adapter versions beyond the newest
/// `versions_kept` per endpoint (with blobs no kept record names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub handovers_ended_before_ms: Option<i64>,
    pub callbacks_before_ms: Option<i64>,
    pub inbox_before_ms: Option<i64>,
    pub deliveries_before_ms: Option<i64>,
    pub versions_kept: Option<u32>,
    /// Most rows of each kind one call deletes (the writer is held for one
    /// batch at a time).
    pub batch: u32,
}

/// Rows one [`Store::prune`] call deleted, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub handovers: u64,
    pub events: u64,
    pub callbacks: u64,
    pub inbox: u64,
    pub deliveries: u64,
    pub adapter_versions: u64,
    pub adapter_blobs: u64,
}

impl Pruned {
    /// Whether some kind filled its batch (more may be waiting).
    pub fn full(&self, batch: u32) -> bool {
        let b = u64::from(batch);
        [self.handovers, self.callbacks, self.inbox, self.deliveries]
            .into_iter()
            .any(|n| n >= b)
    }
}

/// Which events to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventScope {
    Handover(String),
    Endpoint(String),
}

/// A wake-up for events another process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventNotice {
    /// Events of one handover (on its endpoint), the newest with id `newest`.
    Handover {
        newest: i64,
        handover: String,
        endpoint: String,
    },
    /// Events of handovers not told apart (a catch-up after the listener
    /// reconnected, or more handovers at once than are worth naming): wake
    /// every stream.
    Any { newest: i64 },
}

impl EventNotice {
    /// The newest event id the notice covers.
    pub fn newest(&self) -> i64 {
        match self {
            EventNotice::Handover { newest, .. } | EventNotice::Any { newest } => *newest,
        }
    }
}

/// Claimed due work given back ([`Store::release_claims`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclaimed<'a> {
    /// Handover ids from `due_timers`.
    Timers(&'a [String]),
    /// Handover ids from `due_polls`.
    Polls(&'a [String]),
    /// Outbox item ids from `due_outbox`.
    Outbox(&'a [i64]),
}

impl Unclaimed<'_> {
    /// Nothing to give back (the common case: every scan asks).
    pub fn is_empty(&self) -> bool {
        match self {
            Unclaimed::Timers(ids) | Unclaimed::Polls(ids) => ids.is_empty(),
            Unclaimed::Outbox(ids) => ids.is_empty(),
        }
    }
}

/// Holds a handover's cross-process step lock until dropped.
pub struct HandoverLock(#[allow(dead_code)] Option<Box<dyn Send + Sync>>);

impl HandoverLock {
    /// A lock that guards nothing beyond the process (single-writer stores).
    pub fn local() -> Self {
        HandoverLock(None)
    }
    pub fn new(guard: Box<dyn Send + Sync>) -> Self {
        HandoverLock(Some(guard))
    }
}

/// One recorded adapter version of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterVersion {
    /// Increases with every record, across endpoints.
    pub seq: i64,
    pub endpoint_id: String,
    pub sha256: String,
    /// `config` | `file` | `admin` | `rollback` | `replica`.
    pub source: String,
    pub recorded_at_ms: i64,
}

/// An endpoint's canary as stored: the running one, or how the last ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRecord {
    pub endpoint_id: String,
    pub canary_id: String,
    pub running: bool,
    /// The engine's document (policy, start time, candidate; once ended,
    /// the result, who, why and the final figures).
    pub doc: serde_json::Value,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Serialize the steps of one handover across processes (replicas).
    /// The engine also locks in-process; a single-process store returns
    /// [`HandoverLock::local`].
    async fn lock_handover(&self, id: &str) -> Result<HandoverLock>;
    /// Wake-ups for events written by *other* processes; `None` when only
    /// this process writes.
    fn event_notifications(&self) -> Option<tokio::sync::broadcast::Receiver<EventNotice>> {
        None
    }
    /// Record that `sha256` serves `endpoint_id` from now on. `bytes` are
    /// stored once per sha256 (pass `None` when they were stored before).
    async fn record_adapter_version(
        &self,
        endpoint_id: &str,
        sha256: &str,
        bytes: Option<&[u8]>,
        source: &str,
    ) -> Result<AdapterVersion>;
    /// The newest record for an endpoint, if any.
    async fn current_adapter_version(&self, endpoint_id: &str) -> Result<Option<AdapterVersion>>;
    /// The stored bytes of a component.
    async fn adapter_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// The endpoint's canary record (without the candidate's bytes).
    async fn canary_record(&self, endpoint_id: &str) -> Result<Option<CanaryRecord>>;
    /// Store `rec` (running) with its candidate's bytes, replacing the
    /// endpoint's ended record, unless a canary is running there already
    /// (`false`, nothing written). The previous canary's counts go.
    async fn begin_canary(&self, rec: &CanaryRecord, bytes: &[u8]) -> Result<bool>;
    /// End canary `canary_id` of the endpoint with `doc`, if it is the one
    /// running: whether this call ended it (one caller wins across
    /// processes).
    async fn finish_canary(
        &self,
        endpoint_id: &str,
        canary_id: &str,
        doc: &serde_json::Value,
    ) -> Result<bool>;
    /// The running or last canary's candidate bytes, if `canary_id` is it.
    async fn canary_bytes(&self, endpoint_id: &str, canary_id: &str) -> Result<Option<Vec<u8>>>;
    /// Append one recorded call of a handover (`entry`: the engine's
    /// JSON); with `keep`, then delete the endpoint's recordings beyond its
    /// newest `keep` handovers (by their first recorded call).
    async fn append_recording(
        &self,
        endpoint_id: &str,
        handover_id: &str,
        entry: &serde_json::Value,
        keep: Option<u32>,
    ) -> Result<()>;
    /// The recorded calls of the endpoint's newest `last` handovers, oldest
    /// handover first, each handover's calls in the order recorded.
    async fn recordings(
        &self,
        endpoint_id: &str,
        last: u32,
    ) -> Result<Vec<(String, Vec<serde_json::Value>)>>;
    /// Replace process `replica`'s counts for canary `canary_id` and return
    /// every process's (replica, counts), this one's included.
    async fn share_canary_counts(
        &self,
        canary_id: &str,
        replica: &str,
        counts: &serde_json::Value,
    ) -> Result<Vec<(String, serde_json::Value)>>;

    /// Insert a new handover unless an open one exists for the same endpoint
    /// and session, or the idempotency key was seen for this endpoint, or
    /// (checked after those two, atomically with the insert, across every
    /// process sharing the store) the row's tenant already has
    /// `open_limit` open handovers.
    async fn insert_handover(&self, row: HandoverRow, open_limit: Option<u64>) -> Result<Insert>;
    async fn get_handover(&self, id: &str) -> Result<Option<HandoverRow>>;
    async fn list_handovers(
        &self,
        endpoint_id: Option<&str>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<HandoverRow>>;
    /// The newest `limit` handovers of `tenant` (all its endpoints, also
    /// ones no longer configured), newest first: one indexed query.
    async fn list_tenant_handovers(&self, tenant: &str, limit: u32) -> Result<Vec<HandoverRow>>;
    /// Apply one step atomically; `Conflict` if the row's version moved.
    async fn apply(&self, change: Change) -> Result<Vec<StoredEvent>>;
    async fn find_by_correlation(&self, endpoint_id: &str, key: &str) -> Result<Option<String>>;
    /// Store a verified webhook: if any of `delivery_ids` was seen for the
    /// endpoint, store nothing and return `None`; otherwise record them all
    /// and store one inbox item per handover.
    async fn accept_webhook(
        &self,
        endpoint_id: &str,
        delivery_ids: &[String],
        handover_ids: &[String],
        request: serde_json::Value,
    ) -> Result<Option<Vec<i64>>>;
    /// The handover's row if it has no unprocessed inbox items (`None` if
    /// it has some, or does not exist); one read where the backend can.
    /// The row is for a webhook step, which never reads the create request
    /// (see [`Change::row`]): its `request` may be left out (`null`).
    async fn handover_if_inbox_empty(&self, id: &str) -> Result<Option<HandoverRow>> {
        if !self.pending_inbox(id).await?.is_empty() {
            return Ok(None);
        }
        self.get_handover(id).await
    }
    /// The handover a webhook's correlation key names, with its row when
    /// it has no unprocessed inbox items (for the inline path; its
    /// `request` may be left out, as for
    /// [`handover_if_inbox_empty`](Store::handover_if_inbox_empty)): one
    /// read where the backend can.
    async fn webhook_target(
        &self,
        endpoint_id: &str,
        key: &str,
    ) -> Result<Option<(String, Option<HandoverRow>)>> {
        let Some(id) = self.find_by_correlation(endpoint_id, key).await? else {
            return Ok(None);
        };
        let row = self.handover_if_inbox_empty(&id).await?;
        Ok(Some((id, row)))
    }
    /// Unprocessed inbox items of one handover, oldest first.
    async fn pending_inbox(&self, handover_id: &str) -> Result<Vec<InboxItem>>;
    /// Handovers with unprocessed inbox items (for recovery after restart).
    async fn handovers_with_pending_inbox(&self) -> Result<Vec<String>>;
    /// Events after `after_id` in id order, at most `limit`. Never one
    /// that a later commit could precede: a reader that resumes after the
    /// last id it got never misses an event (a store whose commits can land
    /// out of id order holds newer events back until they are settled).
    async fn events_after(
        &self,
        scope: &EventScope,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;
    /// Open handovers with a timer deadline (no-agent, inactivity) at or
    /// before `now_ms`, shared between tenants as `share` says.
    async fn due_timers(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>>;
    /// Open handovers whose `next_poll_at_ms` is at or before `now_ms`,
    /// shared between tenants as `share` says.
    async fn due_polls(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>>;
    /// Callback deliveries due, at most one (the oldest) per handover,
    /// shared between tenants as `share` says.
    async fn due_outbox(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<OutboxItem>>;
    /// Give back claims of `due_timers`, `due_polls` or `due_outbox` that
    /// the caller will not run (its caps left them out, or it is shutting
    /// down), so another caller may take them now rather than after the
    /// lease. Stores without leases (one process) have nothing to do.
    async fn release_claims(&self, unclaimed: Unclaimed<'_>) -> Result<()> {
        let _ = unclaimed;
        Ok(())
    }
    async fn outbox_delivered(&self, id: i64) -> Result<()>;
    async fn outbox_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<()>;
    /// Give up on a delivery after the last attempt (kept for inspection).
    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()>;
    /// Handovers still `requested` (their `start` never finished) created
    /// before `created_before_ms`, oldest first, at most `limit`: the
    /// recovery sweep's work, answered from an index rather than by
    /// reading every open handover.
    async fn abandoned_starts(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<HandoverRow>>;
    /// Open handovers of a tenant: one read of a counter the store keeps
    /// exact with every insert, status change and delete (never a scan).
    async fn count_open_handovers(&self, tenant: &str) -> Result<u64>;
    /// Delete what `retention` says is old enough, at most `batch` rows of
    /// each kind, in one transaction.
    async fn prune(&self, retention: &Retention) -> Result<Pruned>;
    /// Highest event id `events_after` can return now (0 if none): a
    /// stream that starts after it gets every event committed later.
    async fn last_event_id(&self) -> Result<i64>;
}

impl HandoverRow {
    /// A handover as it is first written: `requested`, no provider state,
    /// no agent, no timer armed, last user activity `now_ms`, version 0.
    /// Callers set what their step knows beyond that with struct update
    /// syntax (`HandoverRow { callback_url, ..HandoverRow::requested(…) }`).
    pub fn requested(
        id: impl Into<String>,
        endpoint_id: impl Into<String>,
        tenant: impl Into<String>,
        session_id: impl Into<String>,
        request: serde_json::Value,
        now_ms: i64,
    ) -> HandoverRow {
        HandoverRow {
            id: id.into(),
            endpoint_id: endpoint_id.into(),
            tenant: tenant.into(),
            session_id: session_id.into(),
            idempotency_key: None,
            status: Status::Requested,
            error_reason: None,
            error_message: None,
            end_reason: None,
            request,
            provider_state: vec![],
            queue_position: None,
            estimated_wait_seconds: None,
            agent: None,
            callback_url: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            agent_joined_at_ms: None,
            ended_at_ms: None,
            last_user_activity_ms: now_ms,
            no_agent_deadline_ms: None,
            inactivity_warn_at_ms: None,
            inactivity_end_at_ms: None,
            next_poll_at_ms: None,
            poll_failures: 0,
            extras: None,
            version: 0,
        }
    }
}
