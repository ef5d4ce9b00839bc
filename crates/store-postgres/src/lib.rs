//! The PostgreSQL implementation of [`Store`], for several host replicas
//! sharing one database.
//!
//! Owns: the connection pools (queries; handover locks), the migrations at
//! connect, the event listener, and how trait calls become transactions.
//! Each trait method is exactly one transaction (READ COMMITTED), with the
//! same semantics as the SQLite store (steps written while others are in
//! flight share theirs, each with its own outcome: see `batch`), plus what
//! replicas need:
//! - `lock_handover` takes a session advisory lock (see `lock`), so one
//!   step of a handover runs at a time across replicas; a crashed
//!   replica's locks die with its connections; a step that ran without it
//!   (`Change::without_shared_lock`) takes it shared for its commit, or is
//!   refused while another process holds it;
//! - event ids are made from the writing transaction's id, with no lock,
//!   and endpoint reads return only events no unfinished transaction can
//!   precede (see `watermark`), so a stream reading `id > last` never skips
//!   one;
//! - after `apply` commits events, the store notifies
//!   `handover_events_<schema digest>` (batched, outside the write: see
//!   `notify`), which other stores' `event_notifications` forward (see
//!   `listen`);
//! - `due_timers`, `due_polls` and `due_outbox` claim what they return
//!   (`FOR UPDATE SKIP LOCKED` plus a lease column), so one replica runs
//!   each; a claim never completed (a dead replica's) expires after the
//!   lease, and every write of a handover drops its claims.
//!
//! Must never: hold a pooled connection across anything but its own
//! transaction (lock connections excepted), or decide handover semantics.
//!
//! Layout: `schema` (migrations), `rows` (column encoding), `ops` (the SQL
//! of each method), `step` (`apply`, one step's write, pipelined in two
//! round trips), `batch` (steps in flight written together, or each by
//! `step`), `lookup` (webhook target lookups in flight read together),
//! `watermark` (event ids and their visibility), `lock`, `listen`, `tests`.

mod batch;
mod canary;
mod groups;
mod listen;
mod lock;
mod lookup;
mod notify;
mod ops;
mod rows;
mod schema;
mod step;
#[cfg(test)]
mod tests;
mod watermark;

use ops::Due;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{broadcast, watch};
use tokio_postgres::NoTls;

use handover_core::store::{
    AdapterVersion, CanaryRecord, Change, EventNotice, EventScope, HandoverLock, HandoverRow,
    InboxItem, Insert, OutboxItem, Pruned, Result, Retention, Share, Store, StoreError,
    StoredEvent, Unclaimed,
};

/// Sizes and leases of a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections for queries (each store call holds one for one transaction).
    pub pool_size: usize,
    /// Connections for handover locks (each held lock holds one): the most
    /// steps this process runs at once.
    pub lock_pool_size: usize,
    /// How long a claim of `due_timers`, `due_polls` or `due_outbox` keeps
    /// other callers away from the claimed rows.
    pub claim_lease: Duration,
    /// How long a caller waits for a free pooled connection.
    pub pool_wait: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            lock_pool_size: 16,
            claim_lease: Duration::from_secs(30),
            pool_wait: Duration::from_secs(30),
        }
    }
}

/// PostgreSQL-backed [`Store`]. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    locks: Pool,
    config: tokio_postgres::Config,
    claim_lease_ms: i64,
    /// The listener's channel, created (and the listener started) on first use.
    events: OnceLock<broadcast::Sender<EventNotice>>,
    /// This store's id in its notifications (its listener drops its own).
    sender: String,
    /// The queue of notifications to send (see `notify`), started on first use.
    notify: OnceLock<notify::Queue>,
    /// The queue of step writes written together (see `batch`), started on
    /// first use.
    batcher: OnceLock<batch::Batcher>,
    /// The queue of webhook target lookups read together (see `lookup`),
    /// started on first use.
    lookups: OnceLock<lookup::Lookups>,
    /// Endpoints with a task waiting for a held-back event to settle.
    watching: watermark::Watching,
    /// Dropped with the store: stops the listener.
    _stop: watch::Sender<()>,
    stop: watch::Receiver<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.inner.pool.status())
            .field("locks", &self.inner.locks.status())
            .finish()
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => e.into(),
        e => StoreError::backend(format!("postgres pool: {e}")),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parse a connection URL (`postgres://user:pass@host:port/db?options=...`)
/// or key-value string; name the application if the URL does not.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::backend(format!("invalid PostgreSQL connection URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("handover-host");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

impl PgStore {
    /// Connect with default [`PgOptions`] and bring the schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connect, bring the schema (the first schema of the connection's
    /// `search_path`) up to date, and set up the pools (connections open
    /// lazily).
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgStore> {
        let config = parse_url(url)?;
        {
            let (mut client, connection) = config.connect(NoTls).await.map_err(|e| {
                StoreError::backend(format!(
                    "cannot connect to PostgreSQL: {}",
                    StoreError::from(e)
                ))
            })?;
            let driver = tokio::spawn(connection);
            let migrated = schema::migrate(&mut client).await;
            drop(client);
            let _ = driver.await;
            migrated?;
        }
        let pool = |size: usize| {
            let manager = Manager::from_config(
                config.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size.max(1))
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(options.pool_wait))
                .create_timeout(Some(Duration::from_secs(10)))
                .build()
                .map_err(|e| StoreError::backend(format!("postgres pool: {e}")))
        };
        let (stop_tx, stop_rx) = watch::channel(());
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool: pool(options.pool_size)?,
                locks: pool(options.lock_pool_size)?,
                config,
                claim_lease_ms: options.claim_lease.as_millis() as i64,
                events: OnceLock::new(),
                watching: Default::default(),
                sender: uuid::Uuid::new_v4().simple().to_string(),
                notify: OnceLock::new(),
                batcher: OnceLock::new(),
                lookups: OnceLock::new(),
                _stop: stop_tx,
                stop: stop_rx,
            }),
        })
    }

    /// A pooled connection (for tests and tools; store calls use their own).
    pub async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    fn lease(&self) -> (i64, i64) {
        let wall = now_ms();
        (wall, wall.saturating_add(self.inner.claim_lease_ms))
    }
}

/// Run `ops::$op(&tx, args...)` in one transaction on a pooled
/// connection; commit if it yields `Ok`, roll back otherwise.
macro_rules! in_tx {
    ($store:expr, ops::$op:ident($($arg:expr),* $(,)?)) => {{
        let mut client = $store.client().await?;
        let tx = client.transaction().await?;
        let out = ops::$op(&tx, $($arg),*).await?;
        tx.commit().await?;
        Ok(out)
    }};
}

/// Run `ops::$op(&c, args...)` (one statement) on a pooled connection `c`:
/// a single statement is a transaction of its own (the due_* claims are
/// one `WITH ... SELECT ... FOR UPDATE SKIP LOCKED` + `UPDATE`).
macro_rules! single {
    ($store:expr, ops::$op:ident($($arg:expr),* $(,)?)) => {{
        let c = $store.client().await?;
        ops::$op(&c, $($arg),*).await
    }};
}

impl PgStore {
    /// Claim the handovers whose timers or polls are due (see
    /// [`ops::claim_due`]).
    async fn claim_due(
        &self,
        due: Due,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>> {
        let (wall, until) = self.lease();
        single!(self, ops::claim_due(due, now_ms, limit, share, wall, until))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn lock_handover(&self, id: &str) -> Result<HandoverLock> {
        lock::lock_handover(&self.inner.locks, id).await
    }

    fn event_notifications(&self) -> Option<broadcast::Receiver<EventNotice>> {
        let tx = self.inner.events.get_or_init(|| {
            let (tx, _) = broadcast::channel(1024);
            tokio::spawn(listen::run(
                self.inner.config.clone(),
                tx.clone(),
                self.inner.stop.clone(),
                self.inner.sender.clone(),
            ));
            tx
        });
        Some(tx.subscribe())
    }

    async fn record_adapter_version(
        &self,
        endpoint_id: &str,
        sha256: &str,
        bytes: Option<&[u8]>,
        source: &str,
    ) -> Result<AdapterVersion> {
        in_tx!(
            self,
            ops::record_adapter_version(endpoint_id, sha256, bytes, source, now_ms())
        )
    }

    async fn current_adapter_version(&self, endpoint_id: &str) -> Result<Option<AdapterVersion>> {
        single!(self, ops::current_adapter_version(endpoint_id))
    }

    async fn adapter_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        single!(self, ops::adapter_bytes(sha256))
    }

    async fn canary_record(&self, endpoint_id: &str) -> Result<Option<CanaryRecord>> {
        let c = self.client().await?;
        canary::record(&c, endpoint_id).await
    }

    async fn begin_canary(&self, rec: &CanaryRecord, bytes: &[u8]) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let began = canary::begin(&tx, rec, bytes).await?;
        tx.commit().await?;
        Ok(began)
    }

    async fn finish_canary(
        &self,
        endpoint_id: &str,
        canary_id: &str,
        doc: &serde_json::Value,
    ) -> Result<bool> {
        let c = self.client().await?;
        canary::finish(&c, endpoint_id, canary_id, &doc.to_string()).await
    }

    async fn canary_bytes(&self, endpoint_id: &str, canary_id: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        canary::bytes(&c, endpoint_id, canary_id).await
    }

    async fn append_recording(
        &self,
        endpoint_id: &str,
        handover_id: &str,
        entry: &serde_json::Value,
        keep: Option<u32>,
    ) -> Result<()> {
        let c = self.client().await?;
        canary::append_recording(&c, endpoint_id, handover_id, &entry.to_string(), keep).await
    }

    async fn recordings(
        &self,
        endpoint_id: &str,
        last: u32,
    ) -> Result<Vec<(String, Vec<serde_json::Value>)>> {
        let c = self.client().await?;
        canary::recordings(&c, endpoint_id, last).await
    }

    async fn share_canary_counts(
        &self,
        canary_id: &str,
        replica: &str,
        counts: &serde_json::Value,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let all =
            canary::share_counts(&tx, canary_id, replica, &counts.to_string(), now_ms()).await?;
        tx.commit().await?;
        Ok(all)
    }

    async fn insert_handover(&self, row: HandoverRow, open_limit: Option<u64>) -> Result<Insert> {
        in_tx!(self, ops::insert_handover(row, open_limit))
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        in_tx!(self, ops::prune(retention))
    }

    async fn count_open_handovers(&self, tenant: &str) -> Result<u64> {
        single!(self, ops::count_open_handovers(tenant))
    }

    async fn get_handover(&self, id: &str) -> Result<Option<HandoverRow>> {
        single!(self, ops::get_handover(id))
    }

    async fn abandoned_starts(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<HandoverRow>> {
        single!(self, ops::abandoned_starts(created_before_ms, limit))
    }

    async fn list_handovers(
        &self,
        endpoint_id: Option<&str>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<HandoverRow>> {
        single!(self, ops::list_handovers(endpoint_id, open_only, limit))
    }

    async fn list_tenant_handovers(&self, tenant: &str, limit: u32) -> Result<Vec<HandoverRow>> {
        single!(self, ops::list_tenant_handovers(tenant, limit))
    }

    /// See [`step::apply`]: a missing handover is `NotFound`; a moved version
    /// is `Conflict`; either way nothing of the change is written. Written
    /// alone, or in a batch with the steps in flight beside it (`batch`),
    /// with the same outcome.
    async fn apply(&self, change: Change) -> Result<Vec<StoredEvent>> {
        let stored = if batch::batchable(&change) {
            let batcher =
                (self.inner.batcher).get_or_init(|| batch::Batcher::start(self.inner.pool.clone()));
            batcher.apply(change, now_ms()).await?
        } else {
            step::apply(self.client().await?, change, now_ms()).await?
        };
        if let Some(last) = stored.last() {
            self.notify_events(last);
        }
        Ok(stored)
    }

    async fn find_by_correlation(&self, endpoint_id: &str, key: &str) -> Result<Option<String>> {
        single!(self, ops::find_by_correlation(endpoint_id, key))
    }

    async fn handover_if_inbox_empty(&self, id: &str) -> Result<Option<HandoverRow>> {
        single!(self, ops::handover_if_inbox_empty(id))
    }

    async fn webhook_target(
        &self,
        endpoint_id: &str,
        key: &str,
    ) -> Result<Option<(String, Option<HandoverRow>)>> {
        // Read with the lookups in flight beside it (see `lookup`).
        let lookups =
            (self.inner.lookups).get_or_init(|| lookup::Lookups::start(self.inner.pool.clone()));
        lookups.webhook_target(endpoint_id, key).await
    }

    async fn accept_webhook(
        &self,
        endpoint_id: &str,
        delivery_ids: &[String],
        handover_ids: &[String],
        request: serde_json::Value,
    ) -> Result<Option<Vec<i64>>> {
        // A duplicate ends the transaction uncommitted: no id of this
        // webhook is recorded.
        let stored: Result<Vec<i64>> = async {
            in_tx!(
                self,
                ops::accept_webhook(endpoint_id, delivery_ids, handover_ids, &request, now_ms())
            )
        }
        .await;
        StoreError::none_if_duplicate(stored)
    }

    async fn pending_inbox(&self, handover_id: &str) -> Result<Vec<InboxItem>> {
        single!(self, ops::pending_inbox(handover_id))
    }

    async fn handovers_with_pending_inbox(&self) -> Result<Vec<String>> {
        single!(self, ops::handovers_with_pending_inbox())
    }

    async fn events_after(
        &self,
        scope: &EventScope,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        match scope {
            EventScope::Handover(id) => single!(self, ops::handover_events(id, after_id, limit)),
            EventScope::Endpoint(id) => self.settled_events(id, after_id, limit).await,
        }
    }

    async fn due_timers(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>> {
        self.claim_due(Due::Timers, now_ms, limit, share).await
    }

    async fn due_polls(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<HandoverRow>> {
        self.claim_due(Due::Polls, now_ms, limit, share).await
    }

    async fn due_outbox(
        &self,
        now_ms: i64,
        limit: u32,
        share: &Share<'_>,
    ) -> Result<Vec<OutboxItem>> {
        let (wall, until) = self.lease();
        single!(self, ops::due_outbox(now_ms, limit, share, wall, until))
    }

    async fn release_claims(&self, unclaimed: Unclaimed<'_>) -> Result<()> {
        if unclaimed.is_empty() {
            return Ok(()); // every scan asks: no connection for nothing
        }
        single!(self, ops::release_claims(unclaimed))
    }

    async fn outbox_delivered(&self, id: i64) -> Result<()> {
        single!(self, ops::outbox_delivered(id, now_ms()))
    }

    async fn outbox_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<()> {
        single!(
            self,
            ops::outbox_retry(id, attempts, next_attempt_at_ms, error, now_ms())
        )
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        single!(self, ops::outbox_dead(id, error, now_ms()))
    }

    async fn last_event_id(&self) -> Result<i64> {
        watermark::newest_settled(self).await
    }
}
