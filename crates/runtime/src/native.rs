//! Benchmarks only (cargo feature `bench-native`): the `sim` adapter's
//! `route-webhook` and `handle-webhook` compiled into the host, so the
//! end-to-end benchmark can run the same provider logic with and without the
//! sandbox and report the sandbox's overhead.
//!
//! Selected only when the feature is built in AND the process runs with
//! `HANDOVER_BENCH_NATIVE=1`, and only for an adapter whose `describe` says
//! `sim`. It mirrors `adapters/sim/src/{provider,wire}.rs` (same state
//! format, same events, same failures); every other export still runs in
//! the sandbox. Never part of a production build or config.

use super::call::{Call, CallOutput};
use super::{Limits, LoadedAdapter};
use handover_core::model::{self as m, Failure};
use serde::{Deserialize, Serialize};

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

const MAX_HELD: usize = 32;

#[derive(Deserialize, Serialize, Clone)]
struct Agent {
    id: String,
    name: String,
}

#[derive(Deserialize, Serialize, Clone)]
struct Attachment {
    url: String,
    content_type: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Serialize, Clone)]
struct Event {
    event_id: String,
    conversation_id: String,
    seq: u64,
    #[serde(rename = "type")]
    kind: String,
    position: Option<u32>,
    estimated_wait_seconds: Option<u32>,
    agent: Option<Agent>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    typing: Option<bool>,
    to_queue: Option<String>,
    to_agent: Option<Agent>,
    reason: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
    last_event_seq: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    held: Vec<Event>,
}

fn parse_webhook(body: &[u8]) -> Result<Event, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::error(format!("malformed webhook body: {e}")))
}

fn route_webhook(req: &m::HttpRequest, limits: &Limits) -> Result<CallOutput, Failure> {
    let event = parse_webhook(&req.body)?;
    let route = m::WebhookRoute {
        response: m::HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"ok":true}"#.to_vec(),
        },
        delivery_id: Some(event.event_id),
        correlation_keys: vec![event.conversation_id],
    };
    if route.correlation_keys.len() > limits.max_events {
        return Err(Failure::error(
            "oversized output: too many correlation keys",
        ));
    }
    Ok(CallOutput::Route(route))
}

fn agent(a: &Agent) -> m::Agent {
    m::Agent {
        id: a.id.clone(),
        name: a.name.clone(),
    }
}

impl Event {
    fn missing(&self, field: &str) -> Failure {
        Failure::error(format!(
            "sim event {} ({}) has no `{field}`",
            self.event_id, self.kind
        ))
    }

    fn to_event(&self) -> Result<Option<m::ProviderEvent>, Failure> {
        use m::ProviderEvent as E;
        Ok(Some(match self.kind.as_str() {
            "queued" => E::Queued {
                position: self.position,
                estimated_wait_seconds: self.estimated_wait_seconds,
            },
            "agent_joined" => E::AgentJoined {
                agent: agent(self.agent.as_ref().ok_or_else(|| self.missing("agent"))?),
            },
            "agent_message" => E::AgentMessage {
                agent: self.agent.as_ref().map(agent),
                text: self.text.clone().unwrap_or_default(),
                attachments: self
                    .attachments
                    .iter()
                    .map(|a| m::Attachment {
                        url: a.url.clone(),
                        content_type: a.content_type.clone(),
                        name: a.name.clone(),
                    })
                    .collect(),
            },
            "agent_typing" => E::AgentTyping {
                typing: self.typing.ok_or_else(|| self.missing("typing"))?,
            },
            "agent_left" => E::AgentLeft {
                agent: self.agent.as_ref().map(agent).unwrap_or(m::Agent {
                    id: String::new(),
                    name: String::new(),
                }),
            },
            "transferred" => E::Transferred {
                to_queue: self.to_queue.clone(),
                to_agent: self.to_agent.as_ref().map(agent),
            },
            "ended" => E::Ended {
                reason: match self.reason.as_deref() {
                    Some("agent_closed") => m::EndReason::AgentClosed,
                    Some("agent_left") => m::EndReason::AgentLeft,
                    Some("provider_closed") => m::EndReason::ProviderClosed,
                    Some("no_agent") => m::EndReason::NoAgentAvailable,
                    Some(other) => m::EndReason::Other {
                        detail: other.to_string(),
                    },
                    None => m::EndReason::Other {
                        detail: "unspecified".into(),
                    },
                },
            },
            _ => return Ok(None),
        }))
    }
}

fn handle_webhook(
    state: &[u8],
    req: &m::HttpRequest,
    limits: &Limits,
) -> Result<CallOutput, Failure> {
    let mut current: State = if state.is_empty() {
        State::default()
    } else {
        serde_json::from_slice(state)
            .map_err(|e| Failure::error(format!("corrupt adapter state: {e}")))?
    };
    if current.conversation_id.is_empty() {
        return Err(Failure::error("no sim conversation in the handover state"));
    }
    let event = parse_webhook(&req.body)?;
    if event.conversation_id != current.conversation_id {
        return Err(Failure::error(format!(
            "webhook for sim conversation {} reached the handover of conversation {}",
            event.conversation_id, current.conversation_id
        )));
    }
    let before = (current.last_event_seq, current.held.len());
    let seen =
        event.seq <= current.last_event_seq || current.held.iter().any(|h| h.seq == event.seq);
    if !seen {
        current.held.push(event);
    }
    current.held.sort_by_key(|e| e.seq);
    let mut events = Vec::new();
    while let Some(next) = current.held.first() {
        let in_order = next.seq == current.last_event_seq + 1;
        if !in_order && current.held.len() <= MAX_HELD {
            break;
        }
        let next = current.held.remove(0);
        events.extend(next.to_event()?);
        current.last_event_seq = next.seq;
    }
    let step = if (current.last_event_seq, current.held.len()) == before {
        m::Step {
            state: state.to_vec(),
            events: vec![],
            correlation_keys: vec![],
        }
    } else {
        m::Step {
            state: serde_json::to_vec(&current).expect("state serialises"),
            events,
            correlation_keys: vec![],
        }
    };
    if step.state.len() > limits.max_state_bytes || step.events.len() > limits.max_events {
        return Err(Failure::error("oversized output"));
    }
    Ok(CallOutput::Step(step))
}
