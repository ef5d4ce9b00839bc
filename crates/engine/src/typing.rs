//! The user's typing signal, forwarded to the agent through adapters that
//! can (contract 0.2.0 `user-typing`).
//!
//! Typing is advisory: it never ends a handover, and an adapter that cannot
//! forward it (a 0.1.0 adapter, or one without the capability) is answered
//! "not forwarded" with the reason, without being run. Must never: fail the
//! handover on a typing failure, or write anything when nothing was
//! forwarded.

use super::handover::arm_inactivity;
use super::outcome::{HandoverView, TypingResult};
use super::{Engine, EngineError, TypingRequest, now_ms, rules};
use crate::registry::Pin;
use handover_core::model::CallContext;
use handover_runtime::{Call, CallOutput};

impl Engine {
    /// Tell the provider the user started or stopped typing.
    pub async fn typing(&self, id: &str, req: TypingRequest) -> Result<TypingResult, EngineError> {
        let _g = self.lock(id).await?;
        let mut row = self.open_row(id).await?;
        let ep = self.endpoint(&row.endpoint_id)?;
        let pinned = ep.pinned(Pin::of(&row));
        let adapter = &pinned.adapter;
        if !adapter.info.capabilities.user_typing {
            return Ok(TypingResult {
                forwarded: false,
                detail: Some(format!(
                    "adapter `{}` {} ({}) does not forward the user's typing \
                     (capability `user_typing`)",
                    adapter.info.name,
                    adapter.info.version,
                    adapter.version.number()
                )),
                handover: HandoverView::from(&row),
            });
        }
        let _slot = self.slot(&ep, false).await?;
        let ctx = CallContext {
            handover_id: id.to_string(),
            settings: ep.settings_json.clone(),
        };
        let call = Call::UserTyping(ctx, row.provider_state.clone(), req.typing);
        let env = ep.env_pinned(&pinned);
        match self.registry.invoke_pinned(&ep, &pinned, env, call).await {
            Ok(CallOutput::Step(step)) => {
                let now = now_ms();
                // Typing is the user's activity: the inactivity timers restart.
                arm_inactivity(&mut row, &ep, now);
                row.provider_state = step.state;
                row.updated_at_ms = now;
                let events = rules::apply_provider_events(&mut row, &step.events, now);
                self.commit(&mut row, events, step.correlation_keys, vec![])
                    .await?;
                Ok(TypingResult {
                    forwarded: true,
                    detail: None,
                    handover: HandoverView::from(&row),
                })
            }
            Ok(other) => Ok(TypingResult {
                forwarded: false,
                detail: Some(format!("adapter returned {other:?}")),
                handover: HandoverView::from(&row),
            }),
            Err(f) => {
                tracing::info!(handover = id, "typing not forwarded: {f}");
                Ok(TypingResult {
                    forwarded: false,
                    detail: Some(f.to_string()),
                    handover: HandoverView::from(&row),
                })
            }
        }
    }
}
