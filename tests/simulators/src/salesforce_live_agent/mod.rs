//! Simulator of the Salesforce Live Agent (legacy chat) REST API, written
//! from the public Live Agent REST API guide:
//!
//! - `GET /chat/rest/System/SessionId` (`X-LIVEAGENT-API-VERSION`,
//!   `X-LIVEAGENT-AFFINITY: null`) → key, affinity token, id;
//! - `POST /chat/rest/Chasitor/ChasitorInit`, `…/ChatMessage`, `…/ChatEnd`
//!   with the session key, affinity and `X-LIVEAGENT-SEQUENCE`, which must
//!   count up by one per session (409 otherwise; nothing is acted on);
//! - `GET /chat/rest/System/Messages?ack=N`: a long poll answering 200 with
//!   the messages after `ack` (or after the last batch delivered) and the
//!   batch's `sequence`, or 204 when nothing happened within the hold time;
//! - `GET /chat/rest/Visitor/Availability?org_id=…&deployment_id=…&Availability.ids=…`.
//!
//! Scriptable: no agent available (`ChatRequestFail`), the agent drops
//! (`AgentDisconnect`) instead of ending, the hold time, and API faults
//! (e.g. 503 on `Messages`).

mod api;
mod driver;

pub use crate::kit::RecordedRequest;
pub use driver::LiveAgentDriver;

use crate::driver::ProviderDriver;
use crate::kit::{self, Gate, Provider, Simulator};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The org, deployment and button the driver's endpoints use.
pub const ORG_ID: &str = "00DSIM000000001";
pub const DEPLOYMENT_ID: &str = "572SIM000000001";
pub const BUTTON_ID: &str = "573SIM000000001";
/// A second button, for routing by queue.
pub const VIP_BUTTON_ID: &str = "573SIM000000002";

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(LiveAgentDriver::start().await?))
}

/// One pre-chat detail as the visitor sent it.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

/// A visitor session and its chat request, as the simulator knows them.
#[derive(Debug, Clone, Serialize)]
pub struct LiveAgentChat {
    /// The session id (`id` of `SessionId`).
    pub id: String,
    pub key: String,
    pub affinity: String,
    /// The last accepted `X-LIVEAGENT-SEQUENCE`.
    pub sequence: u64,
    /// `false` until `ChasitorInit` is accepted.
    pub requested: bool,
    pub button_id: String,
    pub visitor_name: String,
    pub language: String,
    pub prechat_details: Vec<Detail>,
    /// Texts of `Chasitor/ChatMessage`, in order.
    pub user_messages: Vec<String>,
    /// `waiting`, `queued`, `active`, `ended_by_agent`, `ended_by_client`
    /// or `failed` (no agent).
    pub status: String,
    pub agent: Option<(String, String)>,
}

impl LiveAgentChat {
    /// The value of the pre-chat detail labelled `label`.
    pub fn detail(&self, label: &str) -> Option<&str> {
        self.prechat_details
            .iter()
            .find(|d| d.label == label)
            .map(|d| d.value.as_str())
    }

    pub fn is_over(&self) -> bool {
        self.status.starts_with("ended") || self.status == "failed"
    }
}

/// One message of a session's `Messages` stream.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub seq: i64,
    pub kind: String,
    pub message: Value,
}

pub(crate) struct Session {
    pub chat: LiveAgentChat,
    pub messages: Vec<Queued>,
    /// The highest message sequence delivered so far.
    pub delivered: i64,
}

/// The Live Agent simulator's state.
pub struct State {
    pub(crate) sessions: Vec<Session>,
    pub(crate) next_id: u64,
    pub(crate) agents_available: bool,
    pub(crate) queue_position: u32,
    pub(crate) estimated_wait: u32,
    pub(crate) disconnect_instead_of_end: bool,
    pub(crate) hold: Duration,
}

impl State {
    pub(crate) fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.chat.id == id)
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Queues a message for the session's next `Messages` poll.
    pub(crate) fn push(&mut self, id: &str, kind: &str, message: Value) -> Result<(), String> {
        let s = self
            .session_mut(id)
            .ok_or_else(|| format!("unknown Live Agent session {id}"))?;
        let seq = s.messages.last().map_or(1, |m| m.seq + 1);
        s.messages.push(Queued {
            seq,
            kind: kind.into(),
            message,
        });
        Ok(())
    }
}

impl Provider for State {
    type Config = ();
    type Request = RecordedRequest;
}

pub(crate) type Shared = kit::Shared<State>;

/// A running Live Agent simulator; clones drive the same server.
pub type LiveAgentSim = Simulator<State>;

impl Simulator<State> {
    /// Serves on `127.0.0.1:<free port>`; `Messages` is held for `hold`
    /// when nothing is pending (the real service holds it about 30 s).
    pub async fn start(hold: Duration) -> std::io::Result<LiveAgentSim> {
        let state = State {
            sessions: Vec::new(),
            next_id: 0,
            agents_available: true,
            queue_position: 1,
            estimated_wait: 30,
            disconnect_instead_of_end: false,
            hold,
        };
        let gate =
            Gate::new(|status, message| api::error(status, message)).with_body_limit(16 << 20);
        Simulator::serve(Shared::new((), state, gate), api::router).await
    }

    // ---- inspection ----

    pub fn chats(&self) -> Vec<LiveAgentChat> {
        self.shared
            .lock()
            .sessions
            .iter()
            .map(|s| s.chat.clone())
            .collect()
    }

    pub fn chat(&self, id: &str) -> Option<LiveAgentChat> {
        self.chats().into_iter().find(|c| c.id == id)
    }

    /// Waits for a requested chat whose pre-chat detail `label` is `value`.
    pub async fn wait_for_chat_with(
        &self,
        label: &str,
        value: &str,
        timeout: Duration,
    ) -> Option<LiveAgentChat> {
        self.wait_until(timeout, |st| {
            st.sessions
                .iter()
                .map(|s| &s.chat)
                .find(|c| c.requested && c.detail(label) == Some(value))
                .cloned()
        })
        .await
    }

    /// Waits until the chat's status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| {
            st.sessions
                .iter()
                .find(|s| s.chat.id == id && s.chat.status == status)
                .map(drop)
        })
        .await
        .is_some()
    }

    /// Waits until the visitor sent at least `n` messages.
    pub async fn wait_for_user_messages(
        &self,
        id: &str,
        n: usize,
        timeout: Duration,
    ) -> Option<Vec<String>> {
        self.wait_until(timeout, |st| {
            st.sessions
                .iter()
                .find(|s| s.chat.id == id && s.chat.user_messages.len() >= n)
                .map(|s| s.chat.user_messages.clone())
        })
        .await
    }

    // ---- scripting ----

    /// Whether agents are online: availability answers, and later chat
    /// requests get `ChatRequestSuccess` or `ChatRequestFail` (no agent).
    pub fn set_agents_available(&self, on: bool) {
        self.shared.lock().agents_available = on;
    }

    /// Queue position and estimated wait (s) of later chat requests and
    /// availability answers (default 1 and 30).
    pub fn set_queue(&self, position: u32, estimated_wait: u32) {
        let mut st = self.shared.lock();
        st.queue_position = position;
        st.estimated_wait = estimated_wait;
    }

    /// [`LiveAgentSim::end`] sends `AgentDisconnect` instead of `ChatEnded`.
    pub fn set_disconnect_instead_of_end(&self, on: bool) {
        self.shared.lock().disconnect_instead_of_end = on;
    }

    /// How long `Messages` is held when nothing is pending.
    pub fn set_hold(&self, hold: Duration) {
        self.shared.lock().hold = hold;
    }

    // ---- the agent side ----

    fn act(&self, f: impl FnOnce(&mut State) -> Result<(), String>) -> Result<(), String> {
        let result = f(&mut self.shared.lock());
        self.shared.bump();
        result
    }

    /// `QueueUpdate` with a new position and wait.
    pub fn queue_update(&self, id: &str, position: u32, wait: u32) -> Result<(), String> {
        self.act(|st| {
            st.push(
                id,
                "QueueUpdate",
                json!({"position": position, "estimatedWaitTime": wait}),
            )
        })
    }

    /// An agent accepts the chat (`ChatEstablished`); returns the agent id.
    pub fn agent_join(&self, id: &str, name: &str) -> Result<String, String> {
        let mut agent_id = String::new();
        self.act(|st| {
            agent_id = format!("005SIM{:09}", st.next());
            let s = st
                .session_mut(id)
                .ok_or_else(|| format!("unknown Live Agent session {id}"))?;
            s.chat.status = "active".into();
            s.chat.agent = Some((agent_id.clone(), name.into()));
            st.push(
                id,
                "ChatEstablished",
                json!({"name": name, "userId": agent_id, "items": [], "sneakPeekEnabled": false,
                    "chasitorIdleTimeout": {"isEnabled": false, "warningTime": 0, "timeout": 0}}),
            )
        })?;
        Ok(agent_id)
    }

    /// The agent sends a text.
    pub fn agent_message(&self, id: &str, text: &str) -> Result<(), String> {
        self.act(|st| {
            let (agent_id, name) = st
                .session_mut(id)
                .and_then(|s| s.chat.agent.clone())
                .unwrap_or_else(|| ("005SIM000000000".into(), "Agent".into()));
            st.push(
                id,
                "ChatMessage",
                json!({"name": name, "text": text, "agentId": agent_id}),
            )
        })
    }

    /// `AgentTyping` / `AgentNotTyping`.
    pub fn agent_typing(&self, id: &str, on: bool) -> Result<(), String> {
        let kind = if on { "AgentTyping" } else { "AgentNotTyping" };
        self.act(|st| st.push(id, kind, json!({})))
    }

    /// The chat moves to another agent (`ChatTransferred`).
    pub fn transfer(&self, id: &str, name: &str) -> Result<(), String> {
        self.act(|st| {
            let agent_id = format!("005SIM{:09}", st.next());
            if let Some(s) = st.session_mut(id) {
                s.chat.agent = Some((agent_id.clone(), name.into()));
            }
            st.push(
                id,
                "ChatTransferred",
                json!({"name": name, "userId": agent_id, "sneakPeekEnabled": false}),
            )
        })
    }

    /// The agent ends the chat: `ChatEnded` (or `AgentDisconnect` when scripted).
    pub fn end(&self, id: &str) -> Result<(), String> {
        self.act(|st| {
            let disconnect = st.disconnect_instead_of_end;
            let s = st
                .session_mut(id)
                .ok_or_else(|| format!("unknown Live Agent session {id}"))?;
            if !s.chat.is_over() {
                s.chat.status = "ended_by_agent".into();
            }
            if disconnect {
                st.push(id, "AgentDisconnect", json!({}))
            } else {
                st.push(
                    id,
                    "ChatEnded",
                    json!({"reason": "agent", "attachedRecords": []}),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests;
