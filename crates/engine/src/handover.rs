//! Bot-side operations: create, user input (cancel or forward), close,
//! status and availability.
//!
//! Each runs under the handover's lock and commits one step. Semantics are
//! the product spec's: cancel only while no agent is active; once an agent
//! is active the same input is forwarded as ordinary text.
//!
//! Answers are the typed results of `outcome` (never JSON bodies or HTTP
//! statuses: those belong to `handover-api`).

use super::outcome::{
    Availability, CloseOutcome, Created, FinalOutcome, HandoverView, InputOutcome, InputResult,
};
use super::rules::{self, Outcome};
use super::workers::never_started;
use super::{CreateRequest, Engine, EngineError, InputRequest, now_ms};
use crate::registry::{Endpoint, Pin};
use crate::tenancy::Caller;
use handover_core::model::{CallContext, Failure, FailureReason, InputKind, UserInput};
use handover_core::store::{HandoverRow, Insert, NewEvent, Status};
use handover_metrics as metrics;
use handover_runtime::{Call, CallOutput};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn ctx(ep: &Endpoint, handover_id: &str) -> CallContext {
    CallContext {
        handover_id: handover_id.to_string(),
        settings: ep.settings_json.clone(),
    }
}

pub(super) fn arm_inactivity(row: &mut HandoverRow, ep: &Endpoint, now: i64) {
    let t = &ep.config.timers;
    row.last_user_activity_ms = now;
    row.inactivity_warn_at_ms = t.inactivity_warning_s.map(|s| now + s as i64 * 1000);
    row.inactivity_end_at_ms = t.inactivity_timeout_s.map(|s| now + s as i64 * 1000);
}

impl Engine {
    pub async fn create(
        &self,
        endpoint_id: &str,
        req: CreateRequest,
    ) -> Result<Created, EngineError> {
        let ep = self.endpoint(endpoint_id)?;
        let problems = req.problems();
        if !problems.is_empty() {
            return Err(EngineError::BadRequest(problems.join("; ")));
        }
        if let Some(url) = &req.callback_url {
            let policy = ep.config.callback_policy();
            let uri: http::Uri = url
                .parse()
                .map_err(|e| EngineError::BadRequest(format!("callback_url: {e}")))?;
            if let Err(d) = policy.admit(
                url,
                uri.scheme_str().unwrap_or(""),
                uri.host().unwrap_or(""),
                uri.port_u16(),
            ) {
                return Err(EngineError::BadRequest(format!(
                    "callback_url: {} (add it to the endpoint's `callback_allow`)",
                    d.why
                )));
            }
        }
        let _slot = self.slot(&ep, false).await?;
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        // The version this handover runs on (during a canary, its own).
        let pinned = ep.pinned(Pin {
            id: &id,
            created_at_ms: now,
        });
        let adapter = pinned.adapter.clone();
        let request = serde_json::to_value(&req).unwrap_or(Value::Null);
        let mut row = HandoverRow {
            idempotency_key: req.idempotency_key.clone(),
            callback_url: req.callback_url.clone(),
            no_agent_deadline_ms: ep
                .config
                .timers
                .no_agent_timeout_s
                .map(|s| now + s as i64 * 1000),
            ..HandoverRow::requested(&id, &ep.id, &ep.tenant, &req.session_id, request, now)
        };
        arm_inactivity(&mut row, &ep, now);
        // The store checks the `open_handovers` quota atomically with the
        // insert (one counter read; exact across replicas), after answering
        // a retried create of a session that has an open handover.
        let open_limit = ep.tenant_budget.as_ref().map(|t| t.open_handovers_limit());
        match self.store.insert_handover(row, open_limit).await? {
            Insert::OverQuota { open } => {
                let t = ep
                    .tenant_budget
                    .as_ref()
                    .expect("a limit came from the tenant");
                return Err(t.open_handovers_exceeded(open).unwrap_err().into());
            }
            Insert::IdempotentReplay(r) if r.session_id != req.session_id => {
                return Err(EngineError::Conflict(format!(
                    "idempotency_key `{}` was already used for handover {} of another session",
                    req.idempotency_key.as_deref().unwrap_or(""),
                    r.id
                )));
            }
            Insert::OpenExists(r) | Insert::IdempotentReplay(r) => {
                return Ok(Created::of(&r, true));
            }
            Insert::Inserted(_) => {}
        }
        metrics::HANDOVERS_CREATED.inc();
        ep.observe_start(Pin {
            id: &id,
            created_at_ms: now,
        });
        let _g = self.lock(&id).await?;
        // Another replica's recovery may have started it while we waited.
        match self.store.get_handover(&id).await? {
            Some(r) if r.status == Status::Requested => row = r,
            Some(r) => return Ok(Created::of(&r, false)),
            None => return Err(EngineError::NotFound(format!("handover `{id}` vanished"))),
        }
        let info = &adapter.info;
        let missing: Vec<&String> = req
            .required_capabilities
            .iter()
            .filter(|c| !has_capability(&info.capabilities, c))
            .collect();
        let events = if !info.supports_channel(&req.channel) {
            let msg = format!(
                "channel `{}` is not supported by adapter `{}` (supported: {})",
                req.channel,
                info.name,
                info.channels.join(", ")
            );
            vec![rules::finish(
                &mut row,
                Outcome::Error {
                    reason: "unsupported",
                    message: msg,
                },
                "unsupported",
                None,
                now_ms(),
            )]
        } else if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            let msg = format!(
                "adapter `{}` does not support: {}",
                info.name,
                names.join(", ")
            );
            vec![rules::finish(
                &mut row,
                Outcome::Error {
                    reason: "unsupported",
                    message: msg,
                },
                "unsupported",
                None,
                now_ms(),
            )]
        } else {
            let env = ep.env_pinned(&pinned);
            let out = self
                .registry
                .runtime()
                .invoke(
                    &adapter,
                    &env,
                    Call::Start(ctx(&ep, &id), req.conversation(&id)),
                )
                .await;
            return self
                .after_start(&ep, row, out)
                .await
                .map(|r| Created::of(&r, false));
        };
        self.commit(&mut row, events, vec![], vec![]).await?;
        Ok(Created::of(&row, false))
    }

    /// Apply the result of `start` (also used when resuming after a restart).
    pub(super) async fn after_start(
        &self,
        ep: &Endpoint,
        mut row: HandoverRow,
        out: Result<CallOutput, Failure>,
    ) -> Result<HandoverRow, EngineError> {
        let now = now_ms();
        let (events, keys) = match out {
            Ok(CallOutput::Step(step)) => {
                row.provider_state = step.state;
                let mut events = rules::apply_provider_events(&mut row, &step.events, now);
                if row.status == Status::Requested {
                    row.status = Status::Queued;
                    events.insert(0, NewEvent { kind: "queued".into(), payload: json!({"type": "queued", "position": null, "estimated_wait_seconds": null}) });
                }
                let polling = ep.pinned(Pin::of(&row)).adapter.info.polling;
                if polling.mode != handover_core::model::PollMode::None && row.status.is_open() {
                    row.next_poll_at_ms = Some(now + polling.interval_ms as i64);
                }
                (events, step.correlation_keys)
            }
            Ok(other) => (
                vec![rules::finish(
                    &mut row,
                    Outcome::error(format!("adapter returned {other:?} from start")),
                    "adapter_error",
                    None,
                    now,
                )],
                vec![],
            ),
            Err(f) => {
                let end = if f.reason == handover_core::model::FailureReason::Unsupported {
                    "unsupported"
                } else {
                    "start_failed"
                };
                (
                    vec![rules::finish(
                        &mut row,
                        Outcome::from_failure(&f),
                        end,
                        None,
                        now,
                    )],
                    vec![],
                )
            }
        };
        self.commit(&mut row, events, keys, vec![]).await?;
        Ok(row)
    }

    pub(super) async fn open_row(&self, id: &str) -> Result<HandoverRow, EngineError> {
        let row = self
            .store
            .get_handover(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no handover `{id}`")))?;
        if !row.status.is_open() {
            let ended = FinalOutcome::of(&row).expect("a handover that is not open has ended");
            return Err(EngineError::Ended(ended));
        }
        Ok(row)
    }

    pub async fn status(&self, id: &str) -> Result<HandoverView, EngineError> {
        let row = self
            .store
            .get_handover(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no handover `{id}`")))?;
        Ok(HandoverView::from(&row))
    }

    pub async fn input(&self, id: &str, req: InputRequest) -> Result<InputResult, EngineError> {
        if req.text.len() > 64 << 10 {
            return Err(EngineError::BadRequest("text: at most 64 KiB".into()));
        }
        if let Some(m) = &req.message_id
            && (m.is_empty() || m.chars().count() > 128)
        {
            return Err(EngineError::BadRequest(
                "message_id: 1 to 128 characters (or leave it out and the host makes one)".into(),
            ));
        }
        let _g = self.lock(id).await?;
        let mut row = self.open_row(id).await?;
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, false).await?;
        let now = now_ms();
        arm_inactivity(&mut row, &ep, now);
        let agent_active = row.status == Status::Active;
        if !agent_active && rules::is_cancel(&row.request, req.kind, &req.text) {
            let detail = match never_started(&row) {
                Some(detail) => Some(detail),
                None => match self
                    .registry
                    .invoke_for(
                        &ep,
                        Pin::of(&row),
                        Call::Cancel(ctx(&ep, id), row.provider_state.clone()),
                    )
                    .await
                {
                    Ok(CallOutput::Step(s)) => {
                        row.provider_state = s.state;
                        None
                    }
                    Ok(_) => None,
                    Err(f) => Some(format!("the provider was not told: {}", f.message)),
                },
            };
            let ev = rules::finish(
                &mut row,
                Outcome::Cancelled,
                "user_cancelled",
                detail,
                now_ms(),
            );
            self.commit(&mut row, vec![ev], vec![], vec![]).await?;
            return Ok(InputResult {
                outcome: InputOutcome::Cancelled,
                message_id: None,
                handover: HandoverView::from(&row),
            });
        }
        // Once an agent is active, everything (even the cancel words) is
        // text for the agent; except the press of a quick reply the agent
        // sent (contract 0.2.0 `rich-messages`), which reaches an adapter
        // that sends quick replies as what it is.
        let pinned = ep.pinned(Pin::of(&row));
        let agents_reply =
            req.kind == InputKind::QuickReply && pinned.adapter.info.capabilities.rich_messages;
        let kind = if agent_active && !agents_reply {
            InputKind::Text
        } else {
            req.kind
        };
        let message_id = req
            .message_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let input = UserInput {
            id: message_id.clone(),
            kind,
            text: req.text,
            attachments: req.attachments,
        };
        // Run again only a call that told the provider nothing: every
        // request it made failed before it was sent (no connection). One
        // that reached the provider (an answer, even a refusal, or a
        // request lost after sending) may have delivered part of the input:
        // repeating it could show the agent the same text twice.
        let mut last = None;
        let mut attempts = 0;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
            }
            attempts += 1;
            let reach = Arc::new(handover_egress::Reach::default());
            let call = Call::UserMessage(ctx(&ep, id), row.provider_state.clone(), input.clone());
            let env = ep.env_pinned(&pinned);
            let out = reach
                .scope(self.registry.invoke_pinned(&ep, &pinned, env, call))
                .await;
            match out {
                Ok(CallOutput::Step(step)) => {
                    row.provider_state = step.state;
                    row.updated_at_ms = now_ms();
                    let events = rules::apply_provider_events(&mut row, &step.events, now_ms());
                    self.commit(&mut row, events, step.correlation_keys, vec![])
                        .await?;
                    return Ok(InputResult {
                        outcome: InputOutcome::Forwarded,
                        message_id: Some(message_id),
                        handover: HandoverView::from(&row),
                    });
                }
                Ok(other) => {
                    last = Some(Failure::error(format!("adapter returned {other:?}")));
                    break;
                }
                Err(f) => {
                    let again = f.reason == FailureReason::Error && reach.nothing_delivered();
                    last = Some(f);
                    if !again {
                        break;
                    }
                }
            }
        }
        let f = last.expect("at least one attempt");
        let detail = match attempts {
            1 => format!("forwarding user input failed: {}", f.message),
            n => format!(
                "forwarding user input failed {n} times (the provider was not reached): {}",
                f.message
            ),
        };
        let ev = rules::finish(
            &mut row,
            Outcome::from_failure(&f),
            "adapter_error",
            Some(detail),
            now_ms(),
        );
        self.commit(&mut row, vec![ev], vec![], vec![]).await?;
        Ok(InputResult {
            outcome: InputOutcome::Error,
            message_id: Some(message_id),
            handover: HandoverView::from(&row),
        })
    }

    pub async fn close(&self, id: &str) -> Result<CloseOutcome, EngineError> {
        let _g = self.lock(id).await?;
        let mut row = match self.open_row(id).await {
            Err(EngineError::Ended(_)) => {
                let row = self.store.get_handover(id).await?.expect("exists");
                return Ok(CloseOutcome::AlreadyEnded {
                    handover: HandoverView::from(&row),
                });
            }
            r => r?,
        };
        let ep = self.endpoint(&row.endpoint_id)?;
        let _slot = self.slot(&ep, false).await?;
        let pinned = ep.pinned(Pin::of(&row));
        let adapter = &pinned.adapter;
        let (provider_closed, detail) = if let Some(detail) = never_started(&row) {
            (false, Some(detail))
        } else if adapter.info.capabilities.bot_side_close {
            let env = ep.env_pinned(&pinned);
            let call = Call::Close(ctx(&ep, id), row.provider_state.clone());
            match self.registry.invoke_pinned(&ep, &pinned, env, call).await {
                Ok(CallOutput::Step(s)) => {
                    row.provider_state = s.state;
                    (true, None)
                }
                Ok(_) => (true, None),
                Err(f) => (
                    false,
                    Some(format!(
                        "closing at the provider failed ({}); the handover ended on the host only",
                        f.message
                    )),
                ),
            }
        } else {
            (
                false,
                Some(format!(
                    "adapter `{}` cannot close from the bot side; the handover ended on the host only",
                    adapter.info.name
                )),
            )
        };
        let outcome = if row.agent_joined_at_ms.is_some() {
            Outcome::Completed
        } else {
            Outcome::Cancelled
        };
        let mut ev = rules::finish(&mut row, outcome, "bot_closed", detail.clone(), now_ms());
        ev.payload["provider_closed"] = json!(provider_closed);
        self.commit(&mut row, vec![ev], vec![], vec![]).await?;
        Ok(CloseOutcome::Closed {
            provider_closed,
            detail,
            handover: HandoverView::from(&row),
        })
    }

    pub async fn availability(&self, endpoint_id: &str) -> Result<Availability, EngineError> {
        let ep = self.endpoint(endpoint_id)?;
        let _slot = self.slot(&ep, false).await?;
        let adapter = ep.current();
        if !adapter.info.capabilities.availability_check {
            return Ok(Availability::Unsupported {
                message: format!("adapter `{}` cannot check availability", adapter.info.name),
            });
        }
        match self
            .registry
            .invoke(&ep, Call::CheckAvailability(ctx(&ep, "")))
            .await
        {
            Ok(CallOutput::Availability(a)) => Ok(Availability::Supported(a)),
            Ok(other) => Err(EngineError::Upstream(format!("adapter returned {other:?}"))),
            Err(f) => Err(EngineError::Upstream(f.to_string())),
        }
    }

    /// Handovers of an endpoint (newest first).
    pub async fn list(
        &self,
        endpoint_id: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<HandoverView>, EngineError> {
        Ok(self
            .store
            .list_handovers(endpoint_id, open_only, 500)
            .await?
            .iter()
            .map(HandoverView::from)
            .collect())
    }

    /// The newest 500 handovers `caller` may see, newest first. A tenant's
    /// are selected by tenant in the query, so a busy neighbour's handovers
    /// cannot fill the limit and hide them (before: one read per endpoint
    /// it owns, merged here; before that: the newest 500 of all tenants,
    /// filtered afterwards).
    pub async fn list_for(&self, caller: &Caller) -> Result<Vec<HandoverView>, EngineError> {
        const LIMIT: u32 = 500;
        let Caller::Tenant(t) = caller else {
            return self.list(None, false).await;
        };
        let rows = self.store.list_tenant_handovers(&t.id, LIMIT).await?;
        Ok(rows.iter().map(HandoverView::from).collect())
    }

    pub(super) fn endpoint_arc(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.registry.endpoint(id)
    }
}

fn has_capability(c: &handover_core::model::Capabilities, name: &str) -> bool {
    match name {
        "attachments" => c.attachments,
        "typing" => c.typing,
        "queue_position" => c.queue_position,
        "availability_check" => c.availability_check,
        "bot_side_close" => c.bot_side_close,
        "transcript" => c.transcript,
        "hand_back" => c.hand_back,
        "wrap_up" => c.wrap_up,
        "receipts" => c.receipts,
        "user_typing" => c.user_typing,
        "rich_messages" => c.rich_messages,
        _ => false,
    }
}
