//! The simulator's shared state and the one place events are emitted:
//! `Shared::emit` numbers an event, stores it for polling, applies its
//! effect on the conversation and hands it to webhook delivery.

use super::api;
use super::types::{AgentInfo, ConversationRecord, SimError};
use super::webhook;
use crate::kit::{Changes, Gate, Job, Outbox, lock};
use serde_json::{Map, Value, json};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// State shared by the HTTP server, the Rust API and background tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped on every change waiters may care about.
    pub(crate) changes: Changes,
    /// Records API requests and answers scripted faults.
    pub(crate) gate: Gate,
    pub(crate) outbox: Outbox,
    pub(crate) auto_agent: Option<super::AutoAgent>,
    tasks: Mutex<Vec<AbortHandle>>,
}

pub(crate) struct State {
    pub convs: Vec<Conv>,
    pub next_conv: u64,
    pub next_event: u64,
    pub availability: Value,
    pub queue_position: Option<u32>,
    pub queue_wait: Option<u32>,
}

pub(crate) struct Conv {
    pub record: ConversationRecord,
    pub events: Vec<Value>,
    /// Feeds the auto agent's task with user message texts.
    pub auto_agent: Option<mpsc::UnboundedSender<String>>,
    pub last_agent: Option<AgentInfo>,
}

impl State {
    pub fn conv(&self, id: &str) -> Option<&Conv> {
        self.convs.iter().find(|c| c.record.id == id)
    }

    pub fn conv_mut(&mut self, id: &str) -> Option<&mut Conv> {
        self.convs.iter_mut().find(|c| c.record.id == id)
    }
}

impl Shared {
    pub fn new(
        secret: String,
        webhook_url: Option<String>,
        auto: Option<super::AutoAgent>,
    ) -> Self {
        let outbox = webhook::outbox(secret);
        outbox.set_url(webhook_url);
        Shared {
            state: Mutex::new(State {
                convs: Vec::new(),
                next_conv: 1,
                next_event: 1,
                availability: json!({
                    "agents_available": true,
                    "open": true,
                    "estimated_wait_seconds": 30,
                }),
                queue_position: Some(1),
                queue_wait: Some(30),
            }),
            changes: Changes::default(),
            gate: Gate::new(|status, message| api::error(status, message)),
            outbox,
            auto_agent: auto,
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wakes everyone waiting for a change.
    pub fn bump(&self) {
        self.changes.bump();
    }

    /// Waits until `probe` finds something in the state (re-checked on
    /// every change) or `timeout` passes.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        probe: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        self.changes.wait_until(&self.state, timeout, probe).await
    }

    /// Keeps `handle` so `shutdown` can stop the task.
    pub fn track(&self, handle: AbortHandle) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    /// Stops the auto-agent tasks and webhook delivery.
    pub fn abort_all(&self) {
        for t in std::mem::take(&mut *lock(&self.tasks)) {
            t.abort();
        }
        self.outbox.shutdown();
    }

    /// Emits an event of `kind` with `fields` on conversation `conv` and
    /// returns it. Events on terminal conversations are still emitted.
    pub fn emit(
        &self,
        conv: &str,
        kind: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, SimError> {
        let event = {
            let mut st = self.lock();
            let event_no = st.next_event;
            let c = st
                .conv_mut(conv)
                .ok_or_else(|| SimError::UnknownConversation(conv.to_string()))?;
            c.record.events_emitted += 1;
            let mut event = Map::new();
            event.insert("event_id".into(), json!(format!("e-{event_no}")));
            event.insert("conversation_id".into(), json!(conv));
            event.insert("seq".into(), json!(c.record.events_emitted));
            event.insert("type".into(), json!(kind));
            event.extend(fields);
            let with_agent = ["agent_message", "agent_typing", "agent_left", "transferred"];
            if with_agent.contains(&kind) && !event.contains_key("agent") {
                let agent = match kind {
                    "agent_left" => c.record.agent.as_ref().or(c.last_agent.as_ref()),
                    _ => c.record.agent.as_ref(),
                };
                if let Some(agent) = agent {
                    event.insert("agent".into(), json!(agent));
                }
            }
            let event = Value::Object(event);
            apply(c, kind, &event);
            c.events.push(event.clone());
            st.next_event += 1;
            // Queued (or held) under the state lock: in event order. Without
            // a webhook URL the event is only stored for polling.
            if self.outbox.has_url() {
                let id = format!("e-{event_no}");
                self.outbox.send(Job::new(id, kind, conv, &event));
            }
            event
        };
        self.bump();
        Ok(event)
    }
}

/// The effect of an event on its conversation's record.
fn apply(c: &mut Conv, kind: &str, event: &Value) {
    let terminal = c.record.is_terminal();
    let set = |c: &mut Conv, status: &str| {
        if !terminal {
            c.record.status = status.into();
        }
    };
    match kind {
        "agent_joined" => {
            let agent: Option<AgentInfo> = serde_json::from_value(event["agent"].clone()).ok();
            c.last_agent = agent.clone().or(c.last_agent.take());
            c.record.agent = agent;
            set(c, "active");
        }
        "agent_left" => {
            c.record.agent = None;
            set(c, "queued");
        }
        "transferred" => {
            c.record.agent = None;
            c.record.queue = event["to_queue"].as_str().map(String::from);
            set(c, "queued");
        }
        "ended" => {
            set(c, "ended");
            c.auto_agent = None;
        }
        _ => {}
    }
}
