//! Background work: timers (no-agent, inactivity), polls, callback delivery
//! and recovery after a restart.
//!
//! Each loop reads what is due from the store, so nothing depends on memory
//! that a crash would lose. A poll or timer step runs under the handover's
//! lock like any other step. Callbacks are delivered in event order per
//! handover, with retries and backoff; a delivery is marked done only after
//! the receiver answered 2xx (at-least-once; the event id lets receivers
//! dedupe).

use super::fair::{self, InFlight};
use super::rules::{self, Outcome};
use super::{Engine, EngineError, now_ms};
use crate::registry::Pin;
use handover_core::model::{CallContext, PollMode};
use handover_core::store::StoreError;
use handover_core::store::{
    EventNotice, EventScope, HandoverRow, NewEvent, OutboxItem, Status, Unclaimed,
};
use handover_metrics as metrics;
use handover_runtime::{Call, CallOutput};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(50);
/// After a wake-up (a callback queued, a delivery finished), the outbox loop
/// waits this long before its scan, so a burst of commits costs one read.
const OUTBOX_COALESCE: Duration = Duration::from_millis(5);
/// Most due items one scan reads (shared between tenants: `fair`).
const SCAN: u32 = 200;
const MAX_POLL_FAILURES: u32 = 10;
/// How often [`Engine::loop_sweep`] looks for abandoned work, and how old
/// work must be to count as abandoned.
const SWEEP: Duration = Duration::from_secs(5);
const STALE: Duration = Duration::from_secs(5);
/// Warm instances (`instance_reuse`) unused this long are dropped, so an
/// endpoint's quiet spell gives their memory back.
const WARM_IDLE: Duration = Duration::from_secs(30);

/// Handles of the background loops; dropping them does not stop the loops
/// (they stop with the runtime).
pub struct Workers;

impl Engine {
    /// Start the timer, poll and callback loops and resume interrupted work.
    pub fn spawn_workers(self: &Arc<Self>) -> Workers {
        if let Some(mut rx) = self.store.event_notifications() {
            // Events written by other replicas wake this process's streams.
            let e = self.clone();
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match rx.recv().await {
                        Ok(EventNotice::Handover {
                            handover, endpoint, ..
                        }) => e.wakers.wake(&handover, &endpoint),
                        // A catch-up, or notices missed: every stream reads.
                        Ok(EventNotice::Any { .. }) | Err(RecvError::Lagged(_)) => e.wake_all(),
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        for ep in self.registry.endpoints() {
            crate::recording::install(ep, self.store.clone());
        }
        let e = self.clone();
        tokio::spawn(async move { e.recover().await });
        let e = self.clone();
        tokio::spawn(async move { e.loop_due(Due::Timers).await });
        let e = self.clone();
        tokio::spawn(async move { e.loop_due(Due::Polls).await });
        let e = self.clone();
        tokio::spawn(async move { e.loop_outbox().await });
        let e = self.clone();
        tokio::spawn(async move { e.loop_sweep().await });
        let e = self.clone();
        tokio::spawn(async move { e.loop_prune().await });
        Workers
    }

    /// After a restart: finish stored webhooks and interrupted starts.
    async fn recover(self: Arc<Self>) {
        if let Ok(ids) = self.store.handovers_with_pending_inbox().await {
            for id in ids {
                self.process_inbox(&id).await;
            }
        }
        // Only starts old enough to be abandoned: a younger one may be in
        // progress on another replica (which holds its lock and commits).
        self.resume_abandoned_starts(now_ms() - 5_000).await;
    }

    /// Run again every start still `requested` that began before
    /// `created_before_ms` (its process died during it).
    async fn resume_abandoned_starts(&self, created_before_ms: i64) {
        if let Ok(rows) = self.store.abandoned_starts(created_before_ms, 10_000).await {
            for row in rows {
                if let Err(e) = self.resume_start(row).await {
                    tracing::warn!("resuming an interrupted start failed: {e}");
                }
            }
        }
    }

    /// Take over work another process (replica) left behind when it died:
    /// webhooks stored but not processed, and starts interrupted midway;
    /// and drop warm instances idle for [`WARM_IDLE`].
    /// Only work older than [`STALE`] is touched, so the process doing it
    /// (which holds the handover lock meanwhile) is not raced.
    async fn loop_sweep(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SWEEP) => {}
                _ = self.draining() => return,
            }
            let stale = now_ms() - STALE.as_millis() as i64;
            if let Ok(ids) = self.store.handovers_with_pending_inbox().await {
                for id in ids {
                    let old = self
                        .store
                        .pending_inbox(&id)
                        .await
                        .ok()
                        .and_then(|items| items.first().map(|i| i.received_at_ms < stale));
                    if old == Some(true) {
                        self.process_inbox(&id).await;
                    }
                }
            }
            self.resume_abandoned_starts(stale).await;
            self.registry.trim_warm(WARM_IDLE);
            // Time-based canary promotion.
            for id in self.registry.canaries() {
                self.registry.decide_canary(&id).await;
            }
        }
    }

    /// `start` was interrupted (the process died during it): run it again.
    async fn resume_start(&self, row: HandoverRow) -> Result<(), EngineError> {
        let _g = self.lock(&row.id).await?;
        let Some(row) = self.store.get_handover(&row.id).await? else {
            return Ok(());
        };
        if row.status != Status::Requested {
            return Ok(());
        }
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, true).await?;
        let req: super::CreateRequest = serde_json::from_value(row.request.clone())
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let ctx = CallContext {
            handover_id: row.id.clone(),
            settings: ep.settings_json.clone(),
        };
        let out = self
            .registry
            .invoke_for(
                &ep,
                Pin::of(&row),
                Call::Start(ctx, req.conversation(&row.id)),
            )
            .await;
        self.after_start(&ep, row, out).await.map(|_| ())
    }

    /// Most of each tenant's background work of one kind in flight.
    fn background_cap(&self, tenant: &str) -> usize {
        let quota = match self.registry.tenants().get(tenant) {
            Some(t) => t.quotas.background_in_flight,
            None => handover_core::config::Quotas::default().background_in_flight,
        };
        quota.max(1) as usize
    }

    /// Start due timer steps or polls, shared fairly between tenants (see
    /// `fair`).
    async fn loop_due(self: Arc<Self>, kind: Due) {
        let flight = InFlight::<String>::new();
        let cap = |t: &str| self.background_cap(t);
        let largest = self.largest_background_cap();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.draining() => return,
            }
            let now = now_ms();
            let scan = flight.before_scan(cap);
            let given = match kind {
                Due::Timers => Unclaimed::Timers(&scan.give_back),
                Due::Polls => Unclaimed::Polls(&scan.give_back),
            };
            self.give_back(given).await;
            let share = fair::share(largest, &scan.skip);
            let rows = match kind {
                Due::Timers => self.store.due_timers(now, SCAN, &share).await,
                Due::Polls => self.store.due_polls(now, SCAN, &share).await,
            };
            let Ok(rows) = rows else { continue };
            // Claimed but not run here (caps, or draining): given back.
            let mut unclaimed = vec![];
            for row in fair::round_robin(rows, |r| r.tenant.as_str()) {
                let (id, draining) = (row.id.clone(), self.is_draining());
                let cap = cap(&row.tenant);
                let Some(started) =
                    flight.start_or_unclaim(id, &row.tenant, cap, draining, &mut unclaimed)
                else {
                    continue;
                };
                let e = self.clone();
                let busy = self.drain.busy();
                tokio::spawn(async move {
                    let _busy = busy;
                    let id = row.id;
                    let r = match kind {
                        Due::Timers => e.fire_timers(&id).await,
                        Due::Polls => e.poll_once(&id).await,
                    };
                    if let Err(err) = r {
                        tracing::warn!(handover = %id, "{kind:?} step failed: {err}");
                    }
                    drop(started);
                });
            }
            let unclaimed = match kind {
                Due::Timers => Unclaimed::Timers(&unclaimed),
                Due::Polls => Unclaimed::Polls(&unclaimed),
            };
            self.give_back(unclaimed).await;
        }
    }

    /// Give claims back, for a later scan (here or on another replica) to
    /// run their work; a failure only lets them expire instead.
    async fn give_back(&self, claims: Unclaimed<'_>) {
        if let Err(e) = self.store.release_claims(claims).await {
            tracing::warn!("giving back claims failed (they expire instead): {e}");
        }
    }

    /// The largest `background_in_flight` of any tenant (the per-tenant
    /// share of a scan is sized by it).
    fn largest_background_cap(&self) -> usize {
        self.endpoints()
            .map(|ep| self.background_cap(&ep.tenant))
            .chain([self.background_cap("")])
            .max()
            .unwrap_or(1)
    }

    /// Tells the provider a timer ended the handover (`make` builds the
    /// cancel or close). Ending is idempotent, so a failed call is tried
    /// again, three attempts in all, 100 ms then 400 ms apart: one lost
    /// request under load must not leave the conversation open at the
    /// provider (an `unsupported` answer is final: nothing to tell).
    /// Returns what the ended event says when the provider was not told.
    ///
    /// A handover whose `start` never completed (its create waited longer
    /// than a timeout for the handover's lock, or the process died during
    /// `start`) has no provider state, so the call could only fail, three
    /// times, holding the lock and a call slot: it is not made, and the
    /// ended event says why. A conversation a dead process's `start` may
    /// have opened is unknown to the host either way.
    async fn end_at_provider(
        &self,
        ep: &Arc<crate::registry::Endpoint>,
        row: &HandoverRow,
        make: impl Fn() -> Call,
    ) -> Option<String> {
        if let Some(detail) = never_started(row) {
            return Some(detail);
        }
        let pin = Pin::of(row);
        let mut last = None;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
            }
            match self.registry.invoke_for(ep, pin, make()).await {
                Ok(_) => return None,
                // The adapter cannot end at this provider: nothing to tell.
                Err(f) if f.reason == handover_core::model::FailureReason::Unsupported => {
                    return None;
                }
                Err(f) => {
                    tracing::warn!(endpoint = %ep.id, attempt, "ending at the provider failed: {}", f.message);
                    last = Some(f.message);
                }
            }
        }
        last.map(|m| format!("the provider was not told: {m}"))
    }

    async fn fire_timers(&self, id: &str) -> Result<(), EngineError> {
        let _g = self.lock(id).await?;
        let Some(mut row) = self.store.get_handover(id).await? else {
            return Ok(());
        };
        if !row.status.is_open() {
            return Ok(());
        }
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, true).await?;
        let now = now_ms();
        let due = |t: Option<i64>| t.is_some_and(|t| t <= now);
        let ctx = CallContext {
            handover_id: id.to_string(),
            settings: ep.settings_json.clone(),
        };
        let event = if due(row.no_agent_deadline_ms) && row.status != Status::Active {
            let state = row.provider_state.clone();
            let not_told = self
                .end_at_provider(&ep, &row, || Call::Cancel(ctx.clone(), state.clone()))
                .await;
            let secs = ep.config.timers.no_agent_timeout_s.unwrap_or(0);
            let outcome = match ep
                .config
                .timers
                .no_agent_outcome
                .as_ref()
                .map(|s| s.get_ref().as_str())
            {
                Some("completed") => Outcome::Completed,
                _ => Outcome::error(format!("no agent joined within {secs} s")),
            };
            rules::finish(&mut row, outcome, "no_agent_timeout", not_told, now)
        } else if due(row.inactivity_end_at_ms) {
            let (active, state) = (row.status == Status::Active, row.provider_state.clone());
            let not_told = self
                .end_at_provider(&ep, &row, || match active {
                    true => Call::Close(ctx.clone(), state.clone()),
                    false => Call::Cancel(ctx.clone(), state.clone()),
                })
                .await;
            let outcome = if row.agent_joined_at_ms.is_some() {
                Outcome::Completed
            } else {
                Outcome::Cancelled
            };
            let secs = ep.config.timers.inactivity_timeout_s.unwrap_or(0);
            let detail = match not_told {
                Some(why) => format!("no user input for {secs} s; {why}"),
                None => format!("no user input for {secs} s"),
            };
            rules::finish(&mut row, outcome, "user_inactivity", Some(detail), now)
        } else if due(row.inactivity_warn_at_ms) {
            row.inactivity_warn_at_ms = None;
            let left = row
                .inactivity_end_at_ms
                .map(|t| ((t - now).max(0) + 999) / 1000);
            NewEvent {
                kind: "inactivity_warning".into(),
                payload: json!({"type": "inactivity_warning", "seconds_left": left}),
            }
        } else {
            // A deadline that no longer applies (e.g. no-agent while active).
            if row.status == Status::Active {
                row.no_agent_deadline_ms = None;
            }
            self.commit(&mut row, vec![], vec![], vec![]).await?;
            return Ok(());
        };
        self.commit(&mut row, vec![event], vec![], vec![]).await?;
        Ok(())
    }

    /// One poll. The adapter's call runs without the handover's lock (a
    /// long poll may wait a minute, and user input or a webhook must not
    /// wait behind it); its result is committed under the lock only if no
    /// other step moved the handover meanwhile (the row's version).
    /// Otherwise it is dropped, its claim given back, and the poll runs
    /// again from the new state at the next scan: as after a crash between
    /// a poll and its commit, an adapter's poll must be repeatable from the
    /// state it was given (docs: contract semantics).
    async fn poll_once(&self, id: &str) -> Result<(), EngineError> {
        let Some(mut row) = self.store.get_handover(id).await? else {
            return Ok(());
        };
        let now = now_ms();
        if !row.status.is_open() || row.next_poll_at_ms.is_none_or(|t| t > now) {
            return Ok(());
        }
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, true).await?;
        let pinned = ep.pinned(Pin::of(&row));
        let polling = pinned.adapter.info.polling;
        let mut env = ep.env_pinned(&pinned);
        if polling.mode == PollMode::LongPoll {
            // The declared wait lets the call wait on I/O (up to the
            // operator's maximum), never execute longer.
            let declared = Duration::from_millis(polling.max_wait_ms.into());
            env.limits = env.limits.for_long_poll(declared, self.cfg.max_poll_wait);
        }
        let ctx = CallContext {
            handover_id: id.to_string(),
            settings: ep.settings_json.clone(),
        };
        let out = self
            .registry
            .runtime()
            .invoke(
                &pinned.adapter,
                &env,
                Call::Poll(ctx, row.provider_state.clone()),
            )
            .await;
        let now = now_ms();
        let interval = polling.interval_ms.max(10) as i64;
        let (events, keys) = match out {
            Ok(CallOutput::Step(step)) => {
                row.provider_state = step.state;
                row.poll_failures = 0;
                row.next_poll_at_ms = Some(if polling.mode == PollMode::LongPoll {
                    now
                } else {
                    now + interval
                });
                (
                    rules::apply_provider_events(&mut row, &step.events, now),
                    step.correlation_keys,
                )
            }
            other => {
                let msg = match other {
                    Err(f) => f.message,
                    Ok(o) => format!("adapter returned {o:?}"),
                };
                row.poll_failures += 1;
                if row.poll_failures >= MAX_POLL_FAILURES {
                    let m = format!(
                        "polling the provider failed {} times in a row; last error: {msg}",
                        row.poll_failures
                    );
                    (
                        vec![rules::finish(
                            &mut row,
                            Outcome::error(m),
                            "poll_failed",
                            None,
                            now,
                        )],
                        vec![],
                    )
                } else {
                    let backoff = (interval * (1 << row.poll_failures.min(10))).min(30_000);
                    row.next_poll_at_ms = Some(now + backoff);
                    tracing::info!(
                        handover = id,
                        failures = row.poll_failures,
                        backoff_ms = backoff,
                        "poll failed: {msg}"
                    );
                    (vec![], vec![])
                }
            }
        };
        row.updated_at_ms = now;
        let _g = self.lock(id).await?;
        match self.commit(&mut row, events, keys, vec![]).await {
            Err(EngineError::Store(StoreError::Conflict(_))) => {
                metrics::POLLS_SUPERSEDED.inc();
                tracing::debug!(
                    handover = id,
                    "poll result dropped: another step came first"
                );
                self.store
                    .release_claims(Unclaimed::Polls(&[id.to_string()]))
                    .await?;
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Start due callback deliveries, shared fairly between tenants (see
    /// `fair`). A delivery leaves "in flight" only before the next read
    /// after its outcome is committed: a read that began earlier still
    /// lists it as due, and must find it in flight (else it would be
    /// delivered again after a 2xx). The next read comes at the tick, or
    /// sooner when this process queued a callback or a delivery ended
    /// (freeing its tenant's slot): a tenant's deliveries are not held to
    /// its cap per tick (32 per 50 ms), nor a callback to the next tick.
    /// Other replicas' callbacks are found at the tick.
    async fn loop_outbox(self: Arc<Self>) {
        let flight = InFlight::<i64>::new();
        let cap = |t: &str| self.background_cap(t);
        let largest = self.largest_background_cap();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.outbox_wake.notified() => tokio::time::sleep(OUTBOX_COALESCE).await,
                _ = self.draining() => return,
            }
            let scan = flight.before_scan(cap);
            let given = Unclaimed::Outbox(&scan.give_back);
            self.give_back(given).await;
            let share = fair::share(largest, &scan.skip);
            let Ok(items) = self.store.due_outbox(now_ms(), SCAN, &share).await else {
                continue;
            };
            // Claimed but not run here (caps, or draining): given back.
            let mut unclaimed = vec![];
            for item in fair::round_robin(items, |i| i.tenant.as_str()) {
                let (cap, draining) = (cap(&item.tenant), self.is_draining());
                let Some(started) =
                    flight.start_or_unclaim(item.id, &item.tenant, cap, draining, &mut unclaimed)
                else {
                    continue;
                };
                let e = self.clone();
                let busy = self.drain.busy();
                tokio::spawn(async move {
                    e.deliver(item).await;
                    drop(started);
                    drop(busy);
                    e.outbox_wake.notify_one();
                });
            }
            self.give_back(Unclaimed::Outbox(&unclaimed)).await;
        }
    }

    async fn deliver(&self, item: OutboxItem) {
        let scope = EventScope::Handover(item.handover_id.clone());
        let event = match self.store.events_after(&scope, item.event_id - 1, 1).await {
            Ok(mut v) if !v.is_empty() && v[0].id == item.event_id => v.remove(0),
            _ => {
                let _ = self.store.outbox_dead(item.id, "event not found").await;
                return;
            }
        };
        let Some(ep) = self.endpoint_arc(&event.endpoint_id) else {
            return;
        };
        let body = (self.encode_event)(&event);
        let headers = vec![
            ("x-handover-event-id".to_string(), event.id.to_string()),
            ("x-handover-id".to_string(), event.handover_id.clone()),
        ];
        let cfg = self.callback_egress(&ep);
        let result = handover_egress::post_json(&cfg, &item.url, &headers, body).await;
        let err = match result {
            Ok(s) if (200..300).contains(&s) => {
                let _ = self.store.outbox_delivered(item.id).await;
                return;
            }
            Ok(s) => format!("receiver answered HTTP {s}"),
            Err(e) => e,
        };
        let attempts = item.attempts + 1;
        if attempts >= self.cfg.callback_attempts {
            tracing::warn!(handover = %item.handover_id, event = item.event_id, "callback given up after {attempts} attempts: {err}");
            let _ = self.store.outbox_dead(item.id, &err).await;
        } else {
            let backoff = (200i64 << attempts.min(8)).min(60_000);
            tracing::info!(handover = %item.handover_id, event = item.event_id, attempts, backoff_ms = backoff, "callback failed: {err}");
            let _ = self
                .store
                .outbox_retry(item.id, attempts, now_ms() + backoff, &err)
                .await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Due {
    Timers,
    Polls,
}

/// What an ended event says when the handover's `start` never completed (its
/// create waited longer than a timeout for the handover's lock, or the
/// process died during `start`): no provider state, so no conversation the
/// adapter could cancel or close. `None` for a handover that started.
pub(crate) fn never_started(row: &HandoverRow) -> Option<String> {
    (row.status == Status::Requested).then(|| {
        "the provider was not told: the adapter's `start` had not completed, \
         so no conversation was known to end"
            .to_string()
    })
}
