//! Simulator of Salesforce Messaging for In-App and Web (MIAW), the
//! Messaging API v2 of a custom client, written from Salesforce's public
//! docs and sample app:
//!
//! - `POST /iamessage/api/v2/authorization/unauthenticated/access-token`
//!   (checks `orgId` / `esDeveloperName`, hands out a JWT-like token and
//!   the stream's current `lastEventId`);
//! - `POST /iamessage/api/v2/conversation` (Bearer; lowercase UUID
//!   `conversationId`, `routingAttributes`), then a routing result event;
//! - `POST /iamessage/api/v2/conversation/{id}/message` (Bearer; text of at
//!   most 3,000 characters; a repeated message id is accepted once), echoed
//!   on the stream as an end-user message like the real service does;
//! - `POST /iamessage/api/v2/conversation/{id}/entry` (Bearer; the end
//!   user's `TypingStartedIndicator` / `TypingStoppedIndicator`, recorded);
//! - `DELETE /iamessage/api/v2/conversation/{id}?esDeveloperName=…`;
//! - `GET /eventrouter/v1/sse` (Bearer, `X-Org-Id`, `Last-Event-Id`): the
//!   identity's events after `Last-Event-Id` (only new ones without it),
//!   then new events as they happen, with keep-alive comments.
//!
//! Every conversation entry names the conversation's MessagingSession
//! record (`0Mw…`) in `relatedRecords`; an end user's message entry has the
//! client's message id as its `identifier`.
//!
//! Scriptable: never send the close event (the agent only leaves), fail
//! routing (no agent), drop the stream after N events (so clients must
//! resume with `Last-Event-Id`), and API faults. The agent side can send
//! choices (`ChoicesMessage` buttons / quick replies), links (`RichLink`)
//! and delivery / read acknowledgements of the end user's messages.

mod api;
mod driver;

pub use crate::kit::RecordedRequest;
pub use driver::MiawDriver;

use crate::driver::ProviderDriver;
use crate::kit::{self, Gate, Provider, Simulator};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The org id the driver's endpoints use.
pub const ORG_ID: &str = "00DSIM000000001";
/// The Embedded Service deployment the driver's endpoints use.
pub const ES_DEVELOPER_NAME: &str = "Handover_Sim";
/// MIAW's limit on the text of one message.
pub const MAX_TEXT_CHARS: usize = 3_000;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(MiawDriver::start().await?))
}

/// A conversation as the simulator knows it.
#[derive(Debug, Clone, Serialize)]
pub struct MiawConversation {
    pub id: String,
    /// The identity (access token subject) that created it.
    pub subject: String,
    pub routing_attributes: Map<String, Value>,
    /// Messages the end user sent, in order.
    pub messages: Vec<MiawMessage>,
    /// Agents currently in the conversation.
    pub agents: Vec<MiawAgent>,
    /// Closed by the end user (`DELETE`).
    pub closed: bool,
    /// The MessagingSession record id (`0Mw…`, 18 characters).
    pub session_record: String,
    /// The end user's typing indicators, in order (`true`: started).
    pub user_typing: Vec<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MiawMessage {
    pub id: String,
    pub text: String,
    /// A delivery acknowledgement was sent for it.
    pub delivered: bool,
    /// A read acknowledgement was sent for it.
    pub read: bool,
}

/// The format of an agent's `ChoicesMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoicesFormat {
    Buttons,
    QuickReplies,
}

impl ChoicesFormat {
    fn name(self) -> &'static str {
        match self {
            ChoicesFormat::Buttons => "Buttons",
            ChoicesFormat::QuickReplies => "QuickReplies",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiawAgent {
    pub id: String,
    pub name: String,
}

/// One event on the stream of `subject`.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub id: u64,
    pub subject: String,
    pub name: String,
    pub data: Value,
}

/// The MIAW simulator's state.
pub struct State {
    pub(crate) org_id: String,
    pub(crate) es_developer_name: String,
    /// Access token → subject.
    pub(crate) identities: Vec<(String, String)>,
    pub(crate) conversations: Vec<MiawConversation>,
    pub(crate) events: Vec<StoredEvent>,
    pub(crate) next_id: u64,
    pub(crate) send_close_event: bool,
    pub(crate) routing_failure: Option<String>,
    pub(crate) estimated_wait: Option<u32>,
    pub(crate) events_per_connection: Option<usize>,
    /// The `Last-Event-Id` of every stream connection, in order.
    pub(crate) sse_connections: Vec<Option<String>>,
}

impl State {
    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut MiawConversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    /// The conversation `id`, or the refusal naming it.
    fn known_conversation(&mut self, id: &str) -> Result<&mut MiawConversation, String> {
        self.conversation_mut(id)
            .ok_or_else(|| format!("unknown MIAW conversation {id}"))
    }

    pub fn last_event_id(&self) -> u64 {
        self.events.last().map_or(0, |e| e.id)
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Stores an event of `conversation` with a conversation entry from
    /// `sender` (role, subject, display name) carrying `payload`.
    pub fn emit(
        &mut self,
        conversation: &str,
        name: &str,
        entry_type: &str,
        sender: (&str, &str, &str),
        payload: Value,
    ) -> Result<(), String> {
        let (subject, record) = self
            .conversations
            .iter()
            .find(|c| c.id == conversation)
            .map(|c| (c.subject.clone(), c.session_record.clone()))
            .ok_or_else(|| format!("unknown MIAW conversation {conversation}"))?;
        let id = self.next();
        let now = kit::unix_ms();
        let (role, sender_subject, display) = sender;
        // A message entry is identified by its message id (the client's
        // choice for the end user's messages).
        let identifier = payload
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("entry-{id}"), String::from);
        let data = json!({
            "channelPlatformKey": "sim-platform-key",
            "channelType": "embedded_messaging",
            "channelAddressIdentifier": "sim-channel-address",
            "conversationId": conversation,
            "conversationEntry": {
                "senderDisplayName": display,
                "identifier": identifier,
                "entryType": entry_type,
                "entryPayload": payload.to_string(),
                "sender": {"appType": app_type(role), "subject": sender_subject, "role": role},
                "clientTimestamp": now,
                "transcriptedTimestamp": now,
                "relatedRecords": [record],
            }
        });
        self.events.push(StoredEvent {
            id,
            subject,
            name: name.into(),
            data,
        });
        Ok(())
    }
}

impl State {
    /// [`State::emit`] from the system (routing, participants, close).
    fn emit_system(
        &mut self,
        conversation: &str,
        name: &str,
        entry_type: &str,
        payload: Value,
    ) -> Result<(), String> {
        let system = ("System", "system", "System");
        self.emit(conversation, name, entry_type, system, payload)
    }
}

fn app_type(role: &str) -> &'static str {
    match role {
        "Agent" | "Supervisor" => "agent",
        "EndUser" => "iamessage",
        "Chatbot" => "chatbot",
        _ => "conversation",
    }
}

impl Provider for State {
    type Config = ();
    type Request = RecordedRequest;
}

/// State shared by the server, the Rust API and the streams.
pub(crate) type Shared = kit::Shared<State>;

/// A running MIAW simulator; clones drive the same server.
pub type MiawSim = Simulator<State>;

impl Simulator<State> {
    /// Serves on `127.0.0.1:<free port>` for [`ORG_ID`] / [`ES_DEVELOPER_NAME`].
    pub async fn start() -> std::io::Result<MiawSim> {
        let state = State {
            org_id: ORG_ID.into(),
            es_developer_name: ES_DEVELOPER_NAME.into(),
            identities: Vec::new(),
            conversations: Vec::new(),
            events: Vec::new(),
            next_id: 0,
            send_close_event: true,
            routing_failure: None,
            estimated_wait: Some(60),
            events_per_connection: None,
            sse_connections: Vec::new(),
        };
        let gate =
            Gate::new(|status, message| api::error(status, message)).with_body_limit(16 << 20);
        Simulator::serve(Shared::new((), state, gate), api::router).await
    }

    // ---- inspection ----

    pub fn conversations(&self) -> Vec<MiawConversation> {
        self.shared.lock().conversations.clone()
    }

    pub fn conversation(&self, id: &str) -> Option<MiawConversation> {
        self.shared
            .lock()
            .conversations
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// The `Last-Event-Id` each stream connection carried, in order.
    pub fn sse_connections(&self) -> Vec<Option<String>> {
        self.shared.lock().sse_connections.clone()
    }

    /// Waits for a conversation whose routing attribute `key` is `value`.
    pub async fn wait_for_conversation_with(
        &self,
        key: &str,
        value: &str,
        timeout: Duration,
    ) -> Option<MiawConversation> {
        self.wait_until(timeout, |st| {
            st.conversations
                .iter()
                .find(|c| c.routing_attributes.get(key).and_then(Value::as_str) == Some(value))
                .cloned()
        })
        .await
    }

    /// Waits until the conversation has at least `n` end-user messages.
    pub async fn wait_for_messages(
        &self,
        id: &str,
        n: usize,
        timeout: Duration,
    ) -> Option<Vec<MiawMessage>> {
        self.wait_until(timeout, |st| {
            st.conversations
                .iter()
                .find(|c| c.id == id && c.messages.len() >= n)
                .map(|c| c.messages.clone())
        })
        .await
    }

    /// Waits until the conversation has at least `n` typing indicators of
    /// the end user.
    pub async fn wait_for_user_typing(
        &self,
        id: &str,
        n: usize,
        timeout: Duration,
    ) -> Option<Vec<bool>> {
        self.wait_until(timeout, |st| {
            st.conversations
                .iter()
                .find(|c| c.id == id && c.user_typing.len() >= n)
                .map(|c| c.user_typing.clone())
        })
        .await
    }

    /// Waits until the end user closed the conversation.
    pub async fn wait_for_closed(&self, id: &str, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| {
            st.conversations
                .iter()
                .find(|c| c.id == id && c.closed)
                .map(drop)
        })
        .await
        .is_some()
    }

    // ---- scripting ----

    /// Whether [`MiawSim::end`] sends `CONVERSATION_CLOSE_CONVERSATION`
    /// before the agent leaves (default true). Off: the agent only leaves.
    pub fn set_send_close_event(&self, on: bool) {
        self.shared.lock().send_close_event = on;
    }

    /// Later routing results fail with `failure_type` (e.g. `RoutingError`):
    /// no agent will ever join. `None` routes normally.
    pub fn set_routing_failure(&self, failure_type: Option<&str>) {
        self.shared.lock().routing_failure = failure_type.map(String::from);
    }

    /// The estimated wait of later routing results (default 60 s).
    pub fn set_estimated_wait(&self, seconds: Option<u32>) {
        self.shared.lock().estimated_wait = seconds;
    }

    /// Ends every later stream connection after `n` events (`None`: never),
    /// so a client only sees everything if it resumes with `Last-Event-Id`.
    pub fn set_events_per_connection(&self, n: Option<usize>) {
        self.shared.lock().events_per_connection = n;
    }

    // ---- the agent side ----

    /// An agent joins (`CONVERSATION_PARTICIPANT_CHANGED`, `add`); returns
    /// the agent's id.
    pub fn agent_join(&self, conversation: &str, name: &str) -> Result<String, String> {
        self.change(|st| {
            let n = st.next();
            let agent = MiawAgent {
                id: format!("005SIM{n:09}"),
                name: name.into(),
            };
            st.known_conversation(conversation)?
                .agents
                .push(agent.clone());
            st.emit_system(
                conversation,
                "CONVERSATION_PARTICIPANT_CHANGED",
                "ParticipantChanged",
                participants("add", std::slice::from_ref(&agent)),
            )?;
            Ok(agent.id)
        })
    }

    /// The (first) agent sends a text message.
    pub fn agent_message(&self, conversation: &str, text: &str) -> Result<(), String> {
        self.emit_as_agent(conversation, |st, agent| {
            st.emit(
                conversation,
                "CONVERSATION_MESSAGE",
                "Message",
                ("Agent", &agent.id, &agent.name),
                json!({
                    "entryType": "Message",
                    "id": format!("agent-msg-{}", st.next_id + 1),
                    "abstractMessage": {
                        "messageType": "StaticContentMessage",
                        "id": format!("agent-msg-{}", st.next_id + 1),
                        "staticContent": {"formatType": "Text", "text": text},
                    },
                    "messageReason": null,
                }),
            )
        })
    }

    /// The (first) agent sends a `ChoicesMessage` of `format` with `text`
    /// and one option per (`optionIdentifier`, title) of `options`.
    pub fn agent_choices(
        &self,
        conversation: &str,
        format: ChoicesFormat,
        text: &str,
        options: &[(&str, &str)],
    ) -> Result<(), String> {
        let items: Vec<Value> = options
            .iter()
            .map(|(id, title)| {
                json!({"itemType": "TitleOptionItem", "optionIdentifier": id,
                    "titleItem": {"itemType": "TitleItem", "title": title, "subTitle": null}})
            })
            .collect();
        self.agent_entry(
            conversation,
            json!({
                "messageType": "ChoicesMessage",
                "choices": {"formatType": format.name(), "text": text, "optionItems": items},
            }),
        )
    }

    /// The (first) agent sends a link (`StaticContentMessage` / `RichLink`).
    pub fn agent_link(&self, conversation: &str, title: &str, url: &str) -> Result<(), String> {
        self.agent_entry(
            conversation,
            json!({
                "messageType": "StaticContentMessage",
                "staticContent": {"formatType": "RichLink", "linkItem": {"url": url,
                    "titleItem": {"itemType": "TitleItem", "title": title}}},
            }),
        )
    }

    /// A `CONVERSATION_MESSAGE` from the (first) agent whose
    /// `abstractMessage` is `message` (its `id` is added).
    fn agent_entry(&self, conversation: &str, mut message: Value) -> Result<(), String> {
        self.emit_as_agent(conversation, |st, agent| {
            let id = format!("agent-msg-{}", st.next_id + 1);
            message["id"] = json!(id);
            st.emit(
                conversation,
                "CONVERSATION_MESSAGE",
                "Message",
                ("Agent", &agent.id, &agent.name),
                json!({"entryType": "Message", "id": id, "abstractMessage": message,
                    "messageReason": null}),
            )
        })
    }

    /// The agent's side acknowledges every end-user message not yet
    /// acknowledged so (`CONVERSATION_DELIVERY_ACKNOWLEDGEMENT`, or with
    /// `read` `CONVERSATION_READ_ACKNOWLEDGEMENT`), one event per message;
    /// returns the acknowledged message ids.
    pub fn acknowledge(&self, conversation: &str, read: bool) -> Result<Vec<String>, String> {
        let (name, entry_type) = if read {
            ("CONVERSATION_READ_ACKNOWLEDGEMENT", "ReadAcknowledgement")
        } else {
            (
                "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
                "DeliveryAcknowledgement",
            )
        };
        self.emit_as_agent(conversation, |st, agent| {
            let c = st.known_conversation(conversation)?;
            let mut ids = Vec::new();
            for m in c.messages.iter_mut() {
                let done = if read { &mut m.read } else { &mut m.delivered };
                if !*done {
                    *done = true;
                    ids.push(m.id.clone());
                }
            }
            for entry in &ids {
                let n = st.next_id + 1;
                st.emit(
                    conversation,
                    name,
                    entry_type,
                    ("Agent", &agent.id, &agent.name),
                    json!({"entryType": entry_type, "id": format!("ack-{n}"),
                        "acknowledgementTimestamp": kit::unix_ms(),
                        "acknowledgedConversationEntryIdentifier": entry}),
                )?;
            }
            Ok(ids)
        })
    }

    /// The (first) agent starts or stops typing.
    pub fn agent_typing(&self, conversation: &str, on: bool) -> Result<(), String> {
        let (name, entry) = if on {
            (
                "CONVERSATION_TYPING_STARTED_INDICATOR",
                "TypingStartedIndicator",
            )
        } else {
            (
                "CONVERSATION_TYPING_STOPPED_INDICATOR",
                "TypingStoppedIndicator",
            )
        };
        self.emit_as_agent(conversation, |st, agent| {
            st.emit(
                conversation,
                name,
                entry,
                ("Agent", &agent.id, &agent.name),
                json!({"entryType": entry}),
            )
        })
    }

    /// A transfer starts (routing result of type `Transfer`).
    pub fn transfer(&self, conversation: &str) -> Result<(), String> {
        self.change(|st| {
            st.emit_system(
                conversation,
                "CONVERSATION_ROUTING_RESULT",
                "RoutingResult",
                json!({"entryType": "RoutingResult", "routingType": "Transfer", "failureType": "None",
                    "estimatedWaitTime": {"isEWTRequested": false, "estimatedWaitTimeInSeconds": -1}}),
            )
        })
    }

    /// Every agent leaves (participant change, `remove`), without a close event.
    pub fn agent_leave(&self, conversation: &str) -> Result<(), String> {
        self.change(|st| {
            let agents = std::mem::take(&mut st.known_conversation(conversation)?.agents);
            if agents.is_empty() {
                return Ok(());
            }
            st.emit_system(
                conversation,
                "CONVERSATION_PARTICIPANT_CHANGED",
                "ParticipantChanged",
                participants("remove", &agents),
            )
        })
    }

    /// The agent ends the chat: the close event (unless scripted off), then
    /// the agents leave.
    pub fn end(&self, conversation: &str) -> Result<(), String> {
        {
            let mut st = self.shared.lock();
            if st.send_close_event {
                st.emit_system(
                    conversation,
                    "CONVERSATION_CLOSE_CONVERSATION",
                    "CloseConversation",
                    json!({"entryType": "CloseConversation"}),
                )?;
            }
        }
        self.agent_leave(conversation)
    }

    /// Emits with the conversation's first agent as the sender.
    fn emit_as_agent<R>(
        &self,
        conversation: &str,
        emit: impl FnOnce(&mut State, &MiawAgent) -> Result<R, String>,
    ) -> Result<R, String> {
        self.change(|st| {
            let agent = st
                .known_conversation(conversation)?
                .agents
                .first()
                .cloned()
                .unwrap_or(MiawAgent {
                    id: "005SIM000000000".into(),
                    name: "Agent".into(),
                });
            emit(st, &agent)
        })
    }

    /// Runs `change` on the state and, when it succeeds, wakes the waiters.
    fn change<R>(&self, change: impl FnOnce(&mut State) -> Result<R, String>) -> Result<R, String> {
        let r = change(&mut self.shared.lock())?;
        self.shared.bump();
        Ok(r)
    }
}

/// A `ParticipantChanged` payload for `agents`.
fn participants(operation: &str, agents: &[MiawAgent]) -> Value {
    let entries: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({
                "operation": operation,
                "displayName": a.name,
                "participant": {"appType": "agent", "subject": a.id, "role": "Agent"},
            })
        })
        .collect();
    json!({"entryType": "ParticipantChanged", "entries": entries})
}

#[cfg(test)]
mod tests;
