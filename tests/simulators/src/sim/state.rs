//! The simulator's shared state and the one place events are emitted:
//! `Shared::emit` numbers an event, stores it for polling, applies its
//! effect on the conversation and hands it to webhook delivery.

use super::types::{AgentInfo, ConversationRecord, Delivery, RecordedRequest, SimError};
use super::webhook::DeliveryJob;
use serde_json::{Map, Value, json};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// State shared by the HTTP server, the Rust API and background tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped on every change waiters may care about.
    changed: watch::Sender<u64>,
    pub(crate) http: reqwest::Client,
    pub(crate) secret: String,
    pub(crate) auto_agent: Option<super::AutoAgent>,
    tasks: Mutex<Vec<AbortHandle>>,
}

pub(crate) struct State {
    pub convs: Vec<Conv>,
    pub next_conv: u64,
    pub next_event: u64,
    pub requests: Vec<RecordedRequest>,
    pub deliveries: Vec<Delivery>,
    pub faults: Vec<Fault>,
    pub availability: Value,
    pub queue_position: Option<u32>,
    pub queue_wait: Option<u32>,
    pub webhook_url: Option<String>,
    pub duplicate: bool,
    pub hold: bool,
    pub held: Vec<DeliveryJob>,
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

pub(crate) struct Conv {
    pub record: ConversationRecord,
    pub events: Vec<Value>,
    /// Feeds this conversation's delivery task (in-order delivery).
    pub deliveries: mpsc::UnboundedSender<DeliveryJob>,
    /// Feeds the auto agent's task with user message texts.
    pub auto_agent: Option<mpsc::UnboundedSender<String>>,
    pub last_agent: Option<AgentInfo>,
}

/// A scripted failure: the next `remaining` matching requests get `status`.
pub(crate) struct Fault {
    pub path_prefix: String,
    pub status: u16,
    pub remaining: u32,
}

impl State {
    pub fn conv(&self, id: &str) -> Option<&Conv> {
        self.convs.iter().find(|c| c.record.id == id)
    }

    pub fn conv_mut(&mut self, id: &str) -> Option<&mut Conv> {
        self.convs.iter_mut().find(|c| c.record.id == id)
    }

    /// Adds a fault after those already scripted.
    pub fn add_fault(&mut self, path_prefix: &str, status: u16, count: u32) {
        if count > 0 {
            let path_prefix = path_prefix.to_string();
            self.faults.push(Fault {
                path_prefix,
                status,
                remaining: count,
            });
        }
    }

    /// Consumes one use of the first fault matching `path`.
    pub fn take_fault(&mut self, path: &str) -> Option<u16> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.starts_with(&f.path_prefix))?;
        fault.remaining -= 1;
        let status = fault.status;
        self.faults.retain(|f| f.remaining > 0);
        Some(status)
    }
}

impl Shared {
    pub fn new(
        secret: String,
        webhook_url: Option<String>,
        auto: Option<super::AutoAgent>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("reqwest client");
        Shared {
            state: Mutex::new(State {
                convs: Vec::new(),
                next_conv: 1,
                next_event: 1,
                requests: Vec::new(),
                deliveries: Vec::new(),
                faults: Vec::new(),
                availability: json!({
                    "agents_available": true,
                    "open": true,
                    "estimated_wait_seconds": 30,
                }),
                queue_position: Some(1),
                queue_wait: Some(30),
                webhook_url,
                duplicate: false,
                hold: false,
                held: Vec::new(),
                max_attempts: 8,
                first_backoff: Duration::from_millis(50),
            }),
            changed: watch::Sender::new(0),
            http,
            secret,
            auto_agent: auto,
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes everyone waiting for a change.
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Keeps `handle` so `shutdown` can stop the task.
    pub fn track(&self, handle: AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    pub fn abort_all(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
        }
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
            let (webhook, hold, copies) = (
                st.webhook_url.is_some(),
                st.hold,
                if st.duplicate { 2 } else { 1 },
            );
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
            let job = DeliveryJob::new(&event, copies);
            let to_queue = (webhook && !hold).then(|| c.deliveries.clone());
            st.next_event += 1;
            if let Some(tx) = to_queue {
                let _ = tx.send(job);
            } else if webhook {
                st.held.push(job);
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
