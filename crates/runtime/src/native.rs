//! Benchmarks only (cargo feature `bench-native`): the `sim` adapter's
//! `route-webhook` and `handle-webhook` compiled into the host, so the
//! end-to-end benchmark can run the same provider logic with and without the
//! sandbox and report the sandbox's overhead.
//!
//! Selected only when the feature is built in AND the process runs with
//! `HANDOVER_BENCH_NATIVE=1`, and only for an adapter whose `describe` says
//! `sim`. The provider logic is the `sim-logic` crate itself, the one the
//! `sim` component is built from (compiled natively here), so the two paths
//! cannot drift; this module only converts to the host's types. Every other
//! export still runs in the sandbox. Never part of a production build or
//! config.

use super::call::{Call, CallOutput};
use super::{Limits, LoadedAdapter};
use handover_core::model::{self as m, Failure};

/// The environment switch read at load time.
pub const SWITCH: &str = "HANDOVER_BENCH_NATIVE";

/// Whether `adapter` (just described) should run natively.
pub fn selected(adapter: &LoadedAdapter) -> bool {
    adapter.info.name == "sim" && std::env::var(SWITCH).is_ok_and(|v| v == "1")
}

/// The native result of `call`, or `None` for exports that stay in wasm.
pub fn invoke(call: &Call, limits: &Limits) -> Option<Result<CallOutput, Failure>> {
    match call {
        Call::RouteWebhook(_, req) => Some(route_webhook(req, limits)),
        Call::HandleWebhook(_, state, req) => Some(handle_webhook(state, req, limits)),
        _ => None,
    }
}

fn failure(e: sim_logic::Error) -> Failure {
    Failure::error(e.0)
}

fn route_webhook(req: &m::HttpRequest, limits: &Limits) -> Result<CallOutput, Failure> {
    let r = sim_logic::route(&req.body).map_err(failure)?;
    let route = m::WebhookRoute {
        response: m::HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: sim_logic::WEBHOOK_RESPONSE_BODY.to_vec(),
        },
        delivery_id: Some(r.delivery_id),
        correlation_keys: vec![r.correlation_key],
    };
    if route.correlation_keys.len() > limits.max_events {
        return Err(Failure::error(
            "oversized output: too many correlation keys",
        ));
    }
    Ok(CallOutput::Route(route))
}

fn agent(a: sim_logic::Agent) -> m::Agent {
    m::Agent {
        id: a.id,
        name: a.name,
    }
}

fn event(n: sim_logic::Normalized) -> m::ProviderEvent {
    use m::ProviderEvent as E;
    use sim_logic::{EndReason as R, Normalized as N};
    match n {
        N::Queued {
            position,
            estimated_wait_seconds,
        } => E::Queued {
            position,
            estimated_wait_seconds,
        },
        N::AgentJoined(a) => E::AgentJoined { agent: agent(a) },
        N::AgentMessage {
            agent: a,
            text,
            attachments,
            actions,
        } => E::AgentMessage {
            agent: a.map(agent),
            text,
            attachments: attachments
                .into_iter()
                .map(|a| m::Attachment {
                    url: a.url,
                    content_type: a.content_type,
                    name: a.name,
                })
                .collect(),
            actions: actions
                .into_iter()
                .map(|a| match a {
                    sim_logic::Action::QuickReply { title, payload } => {
                        m::Action::QuickReply { title, payload }
                    }
                    sim_logic::Action::Link { title, url } => m::Action::Link { title, url },
                })
                .collect(),
        },
        N::AgentTyping(typing) => E::AgentTyping { typing },
        N::AgentLeft(a) => E::AgentLeft { agent: agent(a) },
        N::Transferred { to_queue, to_agent } => E::Transferred {
            to_queue,
            to_agent: to_agent.map(agent),
        },
        N::Ended(reason) => E::Ended {
            reason: match reason {
                R::AgentClosed => m::EndReason::AgentClosed,
                R::AgentLeft => m::EndReason::AgentLeft,
                R::ProviderClosed => m::EndReason::ProviderClosed,
                R::NoAgentAvailable => m::EndReason::NoAgentAvailable,
                R::Other(detail) => m::EndReason::Other { detail },
            },
        },
        // The contract 0.2.0 events, as the `sim-v2` build reports them.
        N::ReturnedToBot { variables, note } => E::ReturnedToBot {
            variables: variables.to_string(),
            note,
        },
        N::WrapUp {
            disposition,
            resolution_code,
            notes,
        } => E::WrapUp {
            disposition,
            resolution_code,
            notes,
        },
        N::Survey {
            score,
            scale_max,
            comment,
        } => E::Survey {
            score,
            scale_max,
            comment,
        },
        N::Receipt {
            message_ids,
            read,
            ts,
        } => E::Receipt {
            message_ids,
            status: if read {
                m::ReceiptStatus::Read
            } else {
                m::ReceiptStatus::Delivered
            },
            timestamp_ms: ts,
        },
        N::Ticket(t) => E::ProviderReference {
            kind: "ticket".into(),
            id: t.id,
            url: t.url,
        },
    }
}

fn handle_webhook(
    state: &[u8],
    req: &m::HttpRequest,
    limits: &Limits,
) -> Result<CallOutput, Failure> {
    let mut current = sim_logic::State::load(state).map_err(failure)?;
    let applied = current.handle_webhook(&req.body).map_err(failure)?;
    let step = m::Step {
        state: if applied.changed {
            current.save()
        } else {
            state.to_vec()
        },
        events: applied.events.into_iter().map(event).collect(),
        correlation_keys: vec![],
    };
    if step.state.len() > limits.max_state_bytes || step.events.len() > limits.max_events {
        return Err(Failure::error("oversized output"));
    }
    Ok(CallOutput::Step(step))
}
