//! Webhook ingress and processing.
//!
//! Ingest: verify the signature the adapter declared (with the configured
//! secret), find which handovers the request concerns (where a 0.2.0
//! adapter declared the key, else by asking its `route-webhook`, with the
//! row of the key a learned hint predicts read before the instance is made:
//! `route_hint`), drop
//! duplicates by delivery id, make the request durable, and only then
//! answer the provider. Durable means one of two paths:
//! - **inline** (the common case: one handover, its inbox empty, a free
//!   call slot, an adapter that handles webhooks within the inline budget):
//!   apply the step at once and commit it together with the delivery id,
//!   one write;
//! - **inbox** (everything else): store the request, answer, then each
//!   handover drains its inbox in arrival order under its lock.
//!
//! A refused request changes nothing; a step that fails to commit inline
//! falls back to the inbox, so an accepted webhook is never lost.
//!
//! A refusal is a typed cause ([`WebhookRefusal`]); the HTTP status for it
//! is chosen by the API layer, never here.

use super::signature;
use super::tenancy::QuotaExceeded;
use super::{Engine, EngineError, now_ms, rules};
use crate::registry::{Endpoint, Pin};
use handover_core::model::{CallContext, HttpRequest, HttpResponse};
use handover_core::store::{Change, HandoverRow, NewEvent, StoreError};
use handover_metrics as metrics;
use handover_runtime::{Call, CallOutput, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Unknown correlation keys of one webhook that wait out the correlation
/// grace; further unknown keys are looked up once.
const GRACE_KEYS: usize = 32;

/// What becomes of one webhook request.
#[derive(Debug)]
pub enum WebhookReply {
    /// Stored (or a duplicate): answer with the adapter's response, which
    /// is the provider's answer as the adapter chose it (data, passed on).
    Accepted(HttpResponse),
    /// Refused; nothing changed. The API layer chooses the HTTP answer.
    Refused(WebhookRefusal),
}

/// Why a webhook request was refused (its cause, never an HTTP status).
#[derive(Debug, Error)]
pub enum WebhookRefusal {
    #[error("no endpoint `{0}`")]
    UnknownEndpoint(String),
    #[error("body of {bytes} bytes exceeds {max} bytes")]
    TooLarge { bytes: usize, max: usize },
    /// The signature the adapter declared did not verify (including a
    /// timestamp outside the replay window, or no configured secret).
    #[error("webhook signature verification failed: {0}")]
    BadSignature(#[source] signature::VerifyError),
    /// The tenant is over its webhook rate or its concurrent calls.
    #[error(transparent)]
    RateLimited(#[from] QuotaExceeded),
    /// `route-webhook` returned something other than a route.
    #[error("adapter returned {0}")]
    AdapterMisbehaved(String),
    /// The adapter's `route-webhook` refused the request as malformed.
    #[error("webhook refused by the adapter: {0}")]
    Malformed(String),
    /// The request could not be made durable.
    #[error("cannot store the webhook: {0}")]
    Unstored(#[source] StoreError),
}

impl WebhookRefusal {
    /// A short stable label for metrics and logs.
    pub fn cause(&self) -> &'static str {
        match self {
            WebhookRefusal::UnknownEndpoint(_) => "unknown_endpoint",
            WebhookRefusal::TooLarge { .. } => "too_large",
            WebhookRefusal::BadSignature(e) => e.cause(),
            WebhookRefusal::RateLimited(_) => "quota",
            WebhookRefusal::AdapterMisbehaved(_) => "adapter_error",
            WebhookRefusal::Malformed(_) => "malformed",
            WebhookRefusal::Unstored(_) => "store",
        }
    }
}

fn refuse(why: WebhookRefusal) -> WebhookReply {
    metrics::WEBHOOK_VERIFY_FAILED.inc(&[why.cause()]);
    WebhookReply::Refused(why)
}

use handover_core::inbox::decode as request_from_json;
pub use handover_core::inbox::encode as request_json;

impl Engine {
    /// Process the stored webhooks of `ids` in the background (counted as
    /// work in flight: a draining process finishes them).
    fn spawn_inbox(&self, ids: Vec<String>) {
        for id in ids {
            let engine = self.self_arc();
            let busy = self.drain.busy();
            tokio::spawn(async move {
                engine.process_inbox(&id).await;
                drop(busy);
            });
        }
    }

    /// Verify, route, dedupe and store one webhook request.
    pub async fn ingest_webhook(&self, endpoint_id: &str, req: HttpRequest) -> WebhookReply {
        let Some(ep) = self.endpoint_arc(endpoint_id) else {
            return refuse(WebhookRefusal::UnknownEndpoint(endpoint_id.to_string()));
        };
        if req.body.len() > self.cfg.max_webhook_bytes {
            return refuse(WebhookRefusal::TooLarge {
                bytes: req.body.len(),
                max: self.cfg.max_webhook_bytes,
            });
        }
        // One instance serves this request's `route-webhook` and, inline,
        // its `handle-webhook` (see `runtime::Session`), all on the version
        // whose signature declaration is checked here.
        let mut session = self.registry.session(&ep);
        let adapter = session.adapter().clone();
        // What the signature covers, hashed: a replay carries the same,
        // whatever unsigned delivery id it is given.
        let mut signed_key = None;
        if let Some(decl) = &adapter.info.webhook_signature {
            let url = format!("{}{}", self.cfg.public_url.trim_end_matches('/'), req.path);
            let now_s = now_ms() / 1000;
            if let Err(e) = signature::verify(
                decl,
                ep.webhook_secret.as_deref(),
                &req,
                &url,
                ep.config.replay_window_s,
                now_s,
            ) {
                tracing::warn!(endpoint = %ep.id, tenant = %ep.tenant, cause = e.cause(), "webhook refused: {e}");
                return refuse(WebhookRefusal::BadSignature(e));
            }
            signed_key = Some(signature::replay_key(decl, &req, &url));
        }
        // Per-tenant rate and call slots, after the (cheap) signature check so
        // unsigned junk cannot spend a tenant's budget: a flood from one
        // tenant's provider is refused as rate limited (providers retry)
        // and never slows another tenant.
        if let Some(t) = &ep.tenant_budget
            && let Err(q) = t.take_webhook()
        {
            return refuse(q.into());
        }
        // Declared routing (contract 0.2.0): the key is where `describe`
        // said, so no instance runs to find it; else `route-webhook` does.
        let declared = adapter
            .info
            .webhook_routing
            .as_ref()
            .and_then(|r| handover_core::declared_routing::route(r, &req));
        // A row read before the instance exists, for the key a learned
        // hint predicts (contract 0.1.0; used only if the adapter agrees),
        // or that key found unknown (not read again before the grace).
        let mut early = None;
        let route = match declared {
            Some(route) => route,
            None => {
                let guess = ep.route_hints.guess(adapter.id(), &req.body);
                if let Some(key) = &guess.key
                    && let Ok(target) = self.store.webhook_target(&ep.id, key).await
                {
                    early = Some((key.clone(), target));
                }
                let slot = match ep.tenant_budget.as_ref().map(|t| t.try_call()).transpose() {
                    Ok(s) => s,
                    Err(q) => return refuse(q.into()),
                };
                let route = match session
                    .call(Call::RouteWebhook(ep.settings_json.clone(), req.clone()))
                    .await
                {
                    Ok(CallOutput::Route(r)) => r,
                    Ok(other) => {
                        return refuse(WebhookRefusal::AdapterMisbehaved(format!("{other:?}")));
                    }
                    Err(f) => {
                        return refuse(WebhookRefusal::Malformed(f.message));
                    }
                };
                ep.route_hints
                    .learn(adapter.id(), guess, &req.body, &route.correlation_keys);
                // The slot covers the adapter call only: waiting out the
                // correlation grace and storing the webhook run no adapter,
                // and must not keep the tenant's bot API calls out (quota
                // refusals) meanwhile.
                drop(slot);
                route
            }
        };
        let delivery_id = route.delivery_id.clone().or_else(|| {
            let h = adapter
                .info
                .webhook_signature
                .as_ref()?
                .delivery_id_header
                .as_ref()?;
            signature::header(&req, h).map(str::to_string)
        });
        let deliveries: Vec<String> = delivery_id.into_iter().chain(signed_key).collect();
        let mut ids: Vec<String> = vec![];
        // One key (the common case): its handover's row (read early if the
        // hint predicted this key), for the inline path (`Some(None)`: its
        // inbox has items).
        let mut prefetched = None;
        // The key the target was read by: the inline commit checks it still
        // names that handover (`Change::route_key`).
        let route_key = match route.correlation_keys.as_slice() {
            [key] => Some(key.clone()),
            _ => None,
        };
        let target = match (route.correlation_keys.as_slice(), early) {
            ([key], Some((predicted, target))) if predicted == *key => {
                if target.is_some() {
                    metrics::WEBHOOK_ROWS_READ_EARLY.inc();
                }
                target
            }
            ([key], _) => self.store.webhook_target(&ep.id, key).await.ok().flatten(),
            _ => None,
        };
        if let Some((id, row)) = target {
            ids.push(id);
            prefetched = Some(row);
        } else {
            // Several keys, or none known yet: no inline step (and the
            // correlation grace may wait), so the instance goes now.
            session.release();
            ids = self.resolve_keys(&ep.id, &route.correlation_keys).await;
        }
        if let [id] = ids.as_slice() {
            match self
                .apply_inline(
                    &ep,
                    &mut session,
                    Routed {
                        id,
                        row: prefetched,
                        key: route_key,
                    },
                    &deliveries,
                    &req,
                )
                .await
            {
                Inline::Applied => {
                    metrics::WEBHOOKS_ACCEPTED.inc();
                    metrics::WEBHOOKS_INLINE.inc();
                    return WebhookReply::Accepted(route.response);
                }
                Inline::Duplicate => {
                    tracing::debug!(endpoint = %ep.id, ?deliveries, "duplicate webhook dropped");
                    return WebhookReply::Accepted(route.response);
                }
                Inline::UseInbox => {}
            }
        }
        session.release();
        match self
            .store
            .accept_webhook(&ep.id, &deliveries, &ids, request_json(&req))
            .await
        {
            Ok(Some(_)) => {
                metrics::WEBHOOKS_ACCEPTED.inc();
                self.spawn_inbox(ids);
            }
            Ok(None) => {
                tracing::debug!(endpoint = %ep.id, ?deliveries, "duplicate webhook dropped");
                // A retry: the first copy may have been stored by a process
                // (replica) that died before processing it.
                self.spawn_inbox(ids);
            }
            Err(e) => return refuse(WebhookRefusal::Unstored(e)),
        }
        WebhookReply::Accepted(route.response)
    }

    /// Apply a webhook for one handover at once, when that keeps every
    /// guarantee of the inbox: the handover's inbox is empty (so provider
    /// order holds), the tenant has a free call slot, and the adapter has
    /// been handling webhooks within the inline budget (so the provider's
    /// answer is not held up). The step and the delivery id commit in one
    /// transaction, which is the webhook's durable record; the provider is
    /// answered after it. Anything else goes to the inbox.
    ///
    /// `target.row`: what [`Store::webhook_target`] read before the lock
    /// was taken (`None`: not read yet). If a step committed in between,
    /// the commit's version check refuses this one, which then goes to the
    /// inbox.
    ///
    /// Only this process's lock of the handover is taken, not the store's
    /// shared one (for PostgreSQL, a lock and an unlock statement per
    /// webhook): the commit's version check keeps the step from
    /// interleaving with another replica's, and the store refuses the
    /// commit while another replica holds the shared lock for a step of its
    /// own (`Change::without_shared_lock`), so a timer, poll or input step
    /// there never finds the handover changed under it after calling the
    /// provider. A refused step goes to the inbox, applied under the shared
    /// lock.
    ///
    /// [`Store::webhook_target`]: handover_core::store::Store::webhook_target
    async fn apply_inline(
        &self,
        ep: &Endpoint,
        session: &mut Session,
        target: Routed<'_>,
        deliveries: &[String],
        req: &HttpRequest,
    ) -> Inline {
        let Routed {
            id,
            row: prefetched,
            key: route_key,
        } = target;
        // Inline only for an adapter seen to be fast: the first webhook of
        // an endpoint (and of each process) goes through the inbox, which
        // times the adapter without holding the provider's answer.
        let budget = self.cfg.inline_webhook_budget;
        if budget.is_zero() || ep.webhook_step_us.get().is_none_or(|t| t > budget) {
            return Inline::UseInbox;
        }
        // The lock first, then the slot without waiting: a webhook waiting
        // for the lock holds no slot, so it never keeps the lock's holder
        // (which may be waiting for a slot) from running. No free slot: the
        // tenant is at its concurrency limit; the inbox takes the webhook
        // and waits for one instead of refusing it.
        let _guard = self.locks.lock(id).await;
        let Ok(_slot) = self.slot(ep, false).await else {
            return Inline::UseInbox;
        };
        let row = match prefetched {
            Some(row) => row,
            None => self.store.handover_if_inbox_empty(id).await.ok().flatten(),
        };
        let Some(mut row) = row.filter(|r| r.status.is_open()) else {
            return Inline::UseInbox;
        };
        let (events, keys) = self
            .webhook_step(ep, Some(session), &mut row, req.clone())
            .await;
        // No call is left for the instance: it goes now, not after the
        // commit. Held through the commit's wait (a slow database, a row
        // lock), every webhook waiting kept one and a place among the
        // instances that may be kept between calls (a quarter of the
        // pool), leaving none for other sessions and warm pools.
        session.release();
        let change = Change {
            row: None,
            events,
            correlation_keys: keys,
            inbox_done: vec![],
            deliveries: deliveries.to_vec(),
            without_shared_lock: true,
            route_key,
        };
        match self.commit_change(&mut row, change).await {
            Ok(_) => Inline::Applied,
            Err(EngineError::Store(StoreError::Duplicate(_))) => Inline::Duplicate,
            Err(e) => {
                tracing::warn!(
                    handover = id,
                    "inline webhook step not committed, storing it in the inbox: {e}"
                );
                Inline::UseInbox
            }
        }
    }

    /// The handovers of a webhook's correlation keys (each once). A key may
    /// be committed a moment after the provider's first webhook arrives (it
    /// races `start`), so unknown keys are looked up again for a short
    /// grace — one deadline for the whole request, with backoff, and only
    /// the first [`GRACE_KEYS`] unknown keys wait: a webhook naming many
    /// unknown keys (the request may be unauthenticated) costs at most one
    /// grace and a bounded number of reads, not a grace per key.
    async fn resolve_keys(&self, endpoint_id: &str, keys: &[String]) -> Vec<String> {
        let deadline = Instant::now() + self.cfg.correlation_grace;
        let mut ids: Vec<String> = vec![];
        let mut found = |id: String| {
            if !ids.contains(&id) {
                ids.push(id);
            }
        };
        let mut waiting = vec![];
        let mut unknown = 0;
        for key in keys {
            match self.store.find_by_correlation(endpoint_id, key).await {
                Ok(Some(id)) => found(id),
                _ if waiting.len() < GRACE_KEYS => waiting.push(key.as_str()),
                _ => unknown += 1,
            }
        }
        let mut pause = Duration::from_millis(25);
        while !waiting.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            let mut still = vec![];
            for key in waiting {
                match self.store.find_by_correlation(endpoint_id, key).await {
                    Ok(Some(id)) => found(id),
                    _ => still.push(key),
                }
            }
            waiting = still;
        }
        unknown += waiting.len();
        if unknown > 0 {
            tracing::info!(endpoint = %endpoint_id, unknown, "webhook names keys of no known handover");
        }
        ids
    }

    /// Apply every stored webhook of one handover, oldest first.
    pub async fn process_inbox(&self, id: &str) {
        let r = match self.lock(id).await {
            Ok(_g) => self.drain_inbox(id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::warn!(handover = id, "inbox processing failed (will retry): {e}");
        }
    }

    async fn drain_inbox(&self, id: &str) -> Result<(), EngineError> {
        let items = self.store.pending_inbox(id).await?;
        if items.is_empty() {
            return Ok(());
        }
        let Some(mut row) = self.store.get_handover(id).await? else {
            return Ok(());
        };
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, true).await?;
        for item in items {
            if !row.status.is_open() {
                self.commit(&mut row, vec![], vec![], vec![item.id]).await?;
                continue;
            }
            let req = request_from_json(&item.request);
            let (events, keys) = self.webhook_step(&ep, None, &mut row, req).await;
            self.commit(&mut row, events, keys, vec![item.id]).await?;
        }
        Ok(())
    }

    /// Run the adapter's `handle-webhook` for one request (in `session`,
    /// the one that routed it, if given) and apply its result to `row` (a
    /// failure ends the handover with an error); returns the events and
    /// correlation keys to commit. Records the call's time.
    async fn webhook_step(
        &self,
        ep: &Endpoint,
        session: Option<&mut Session>,
        row: &mut HandoverRow,
        req: HttpRequest,
    ) -> (Vec<NewEvent>, Vec<String>) {
        let ctx = CallContext {
            handover_id: row.id.clone(),
            settings: ep.settings_json.clone(),
        };
        let call = Call::HandleWebhook(ctx, row.provider_state.clone(), req);
        let started = std::time::Instant::now();
        // During a canary the handover's own version runs it: the routing
        // session's instance only if it is that version.
        let pinned = ep.pinned(Pin::of(row));
        let out = match session {
            Some(s) if Arc::ptr_eq(s.adapter(), &pinned.adapter) && !pinned.counted() => {
                s.call(call).await
            }
            _ if pinned.counted() => {
                let env = ep.env_pinned(&pinned);
                self.registry.invoke_pinned(ep, &pinned, env, call).await
            }
            _ => self.registry.invoke(ep, call).await,
        };
        ep.webhook_step_us.record(started.elapsed());
        let now = now_ms();
        match out {
            Ok(CallOutput::Step(step)) => {
                row.provider_state = step.state;
                (
                    rules::apply_provider_events(row, &step.events, now),
                    step.correlation_keys,
                )
            }
            Ok(other) => (
                vec![rules::finish(
                    row,
                    rules::Outcome::error(format!("adapter returned {other:?}")),
                    "adapter_error",
                    None,
                    now,
                )],
                vec![],
            ),
            Err(f) => (
                vec![rules::finish(
                    row,
                    rules::Outcome::error(f.message),
                    "adapter_error",
                    Some("while applying a provider webhook".into()),
                    now,
                )],
                vec![],
            ),
        }
    }
}

/// The one handover a webhook goes to, as routing found it.
struct Routed<'a> {
    id: &'a str,
    /// Its row as [`Store::webhook_target`] read it before the lock was
    /// taken (`Some(None)`: its inbox has items; `None`: not read yet).
    ///
    /// [`Store::webhook_target`]: handover_core::store::Store::webhook_target
    row: Option<Option<HandoverRow>>,
    /// The correlation key that named it, checked again by the commit
    /// (`Change::route_key`).
    key: Option<String>,
}

/// What [`Engine::apply_inline`] did.
enum Inline {
    /// Applied and committed: answer the provider.
    Applied,
    /// The delivery id was accepted before: nothing written, answer.
    Duplicate,
    /// Not applied (nothing written): store it in the inbox.
    UseInbox,
}
