//! The WIT calls and the handover state of the MIAW adapter.

use crate::ids;
use crate::settings::{MAX_POLL_WAIT_MS, Settings};
use crate::sse::{self, Frame};
use crate::transcript::{self, MAX_MESSAGE_CHARS};
use crate::wire::{self, AgentRef, Incoming};
use handover_adapter_sdk::http::{self, Ignored, StreamLimits};
use handover_adapter_sdk::state;
use handover_adapter_sdk::v0_2::{self, Action, ReceiptStatus};
use handover_adapter_sdk::{
    AdapterInfo, Capabilities, Conversation, Cx, EndReason, Event, Failure, HandoverState,
    InputKind, Level, Output, Polling, Reply, TypedAdapter, UserInput, adapter_version, channels,
    error, events, log,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The adapter name reported by `describe`.
const NAME: &str = "salesforce-miaw";
/// MIAW serves web and mobile-app chat clients.
const CHANNELS: [&str; 2] = ["webchat", "in-app"];
/// Events one poll reports at most (the host refuses more than 256 per call).
const MAX_EVENTS_PER_POLL: usize = 200;
/// User messages the state remembers until the agent has read them (the
/// oldest is forgotten first: its receipts are then not reported).
const MAX_PENDING: usize = 64;
/// Quick replies of the latest agent choices the state remembers.
const MAX_OPTIONS: usize = 20;

/// A message the adapter sent for the user's input, until it is read.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Sent {
    /// MIAW's message id (the conversation entry's identifier).
    pub miaw: String,
    /// The host's `user-input.id` it carries (a long input is several).
    pub host: String,
    /// A delivery acknowledgement came for it.
    #[serde(default)]
    pub delivered: bool,
}

/// A quick reply the agent offered: pressing it sends `title` as text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Offered {
    pub payload: String,
    pub title: String,
}

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
pub struct State {
    pub conversation_id: String,
    /// The conversation's own JWT from the access-token call (a provider
    /// token for this conversation only, not an operator secret).
    pub access_token: String,
    /// Resume point of the event stream (`Last-Event-Id`).
    #[serde(default)]
    pub last_event_id: String,
    /// Messages sent so far; numbers the derived message ids.
    #[serde(default)]
    pub messages_sent: u32,
    /// Human agents currently in the conversation.
    #[serde(default)]
    pub agents: Vec<AgentRef>,
    /// A transfer is under way: an agent leaving does not end the chat.
    #[serde(default)]
    pub transferring: bool,
    /// The conversation ended (reported, or closed by the bot side).
    #[serde(default)]
    pub ended: bool,
    /// The user's messages not yet read, for receipts.
    #[serde(default)]
    pub pending: Vec<Sent>,
    /// The quick replies of the agent's latest choices.
    #[serde(default)]
    pub offered: Vec<Offered>,
    /// The MessagingSession record reported as the provider reference.
    #[serde(default)]
    pub session_record: String,
    /// Typing indicators sent so far; numbers their entry ids.
    #[serde(default)]
    pub typing_sent: u32,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        let present = !self.conversation_id.is_empty() && !self.access_token.is_empty();
        state::require(present, "MIAW conversation")
    }
}

impl State {
    fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }

    /// Sends one text message as the end user, with the derived id.
    fn send_text(&mut self, s: &Settings, handover_id: &str, text: &str) -> Result<(), Failure> {
        let id = ids::message_id(handover_id, self.messages_sent);
        self.send_text_as(s, &id, text)
    }

    /// Sends one text message as the end user with MIAW message id `id`.
    fn send_text_as(&mut self, s: &Settings, id: &str, text: &str) -> Result<(), Failure> {
        let bearer = self.bearer();
        let body = wire::NewMessage::text(s, id, text);
        let _: Ignored = http::post_json(
            &s.message_url(&self.conversation_id),
            &[("authorization", &bearer)],
            &body,
        )?;
        self.messages_sent += 1;
        Ok(())
    }

    /// Applies complete stream frames in order: moves the resume point and
    /// returns the normalized events plus notes on what was passed over.
    /// Nothing after the end is reported (the resume point still moves);
    /// frames past [`MAX_EVENTS_PER_POLL`] events wait for the next poll.
    pub fn apply(&mut self, frames: &[Frame]) -> (Vec<Event>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for frame in frames {
            if out.len() >= MAX_EVENTS_PER_POLL {
                // The rest is read again from the resume point next time.
                break;
            }
            if let Some(id) = &frame.id {
                self.last_event_id = id.clone();
            }
            if self.ended {
                continue;
            }
            match wire::parse_event(&frame.event, &frame.data, &self.conversation_id) {
                Ok(incoming) => {
                    for item in incoming {
                        if !self.ended {
                            self.apply_one(item, &mut out, &mut notes);
                        }
                    }
                }
                // One bad event must not wedge the stream: skip it.
                Err(failure) => notes.push(failure.message),
            }
        }
        (out, notes)
    }

    fn apply_one(&mut self, item: Incoming, out: &mut Vec<Event>, notes: &mut Vec<String>) {
        match item {
            Incoming::Routed { wait_seconds } => out.push(events::queued(None, wait_seconds)),
            Incoming::RoutingFailed { reason } if self.transferring => {
                // The agent who asked for the transfer keeps the chat.
                self.transferring = false;
                notes.push(format!("transfer failed: {reason}"));
            }
            Incoming::RoutingFailed { reason } if self.agents.is_empty() => {
                notes.push(format!("routing failed: {reason}"));
                self.end(EndReason::NoAgentAvailable, out);
            }
            Incoming::RoutingFailed { reason } => notes.push(format!("routing failed: {reason}")),
            Incoming::TransferStarted => {
                self.transferring = true;
                out.push(events::transferred(None, None));
            }
            Incoming::AgentJoined(agent) => {
                self.transferring = false;
                if !self.agents.iter().any(|a| a.id == agent.id) {
                    out.push(events::agent_joined(agent.to_agent()));
                    self.agents.push(agent);
                }
            }
            Incoming::AgentLeft(agent) => {
                let known = self.agents.iter().position(|a| a.id == agent.id);
                if let Some(i) = known {
                    self.agents.remove(i);
                }
                out.push(events::agent_left(agent.to_agent()));
                // MIAW does not always send the close event: the last agent
                // leaving outside a transfer ends the conversation.
                if known.is_some() && self.agents.is_empty() && !self.transferring {
                    self.end(EndReason::AgentLeft, out);
                }
            }
            Incoming::AgentText {
                agent,
                text,
                attachments,
                actions,
            } => {
                let offered: Vec<Offered> = actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::QuickReply(q) => Some(Offered {
                            payload: q.payload.clone(),
                            title: q.title.clone(),
                        }),
                        Action::Link(_) => None,
                    })
                    .take(MAX_OPTIONS)
                    .collect();
                if !offered.is_empty() {
                    self.offered = offered;
                }
                out.push(v0_2::rich_message(
                    Some(agent.to_agent()),
                    text,
                    attachments,
                    actions,
                ));
            }
            Incoming::AgentTyping(on) => out.push(events::typing(on)),
            Incoming::Acknowledged {
                entry_id,
                read,
                timestamp_ms,
            } => {
                if let Some(receipt) = self.acknowledge(&entry_id, read, timestamp_ms) {
                    out.push(receipt);
                }
            }
            Incoming::SessionRecord(id) => {
                if self.session_record != id {
                    self.session_record = id.clone();
                    out.push(v0_2::provider_reference("messaging_session", id, None));
                }
            }
            Incoming::Closed => self.end(EndReason::AgentClosed, out),
            Incoming::SessionEnded => self.end(EndReason::ProviderClosed, out),
            Incoming::Ignored(why) => notes.push(why),
        }
    }

    /// Applies an acknowledgement of MIAW entry `entry_id`: the receipt of
    /// the host's message once every MIAW message carrying it is delivered
    /// (or read); `None` for entries that are not the user's input.
    fn acknowledge(&mut self, entry_id: &str, read: bool, ts: Option<u64>) -> Option<Event> {
        let i = self
            .pending
            .iter()
            .position(|p| p.miaw.eq_ignore_ascii_case(entry_id))?;
        let host = self.pending[i].host.clone();
        let status = if read {
            // Read implies delivered: the message is done with.
            self.pending.remove(i);
            let unread = self.pending.iter().any(|p| p.host == host);
            if unread {
                return None;
            }
            ReceiptStatus::Read
        } else {
            if self.pending[i].delivered {
                return None;
            }
            self.pending[i].delivered = true;
            let undelivered = self.pending.iter().any(|p| p.host == host && !p.delivered);
            if undelivered {
                return None;
            }
            ReceiptStatus::Delivered
        };
        Some(v0_2::receipt(vec![host], status, ts))
    }

    /// Remembers that MIAW message `miaw` carries the host's message `host`.
    fn remember(&mut self, miaw: &str, host: &str) {
        if host.is_empty() {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Sent {
            miaw: miaw.to_string(),
            host: host.to_string(),
            delivered: false,
        });
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Event>) {
        self.ended = true;
        out.push(events::ended(reason));
    }
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    // Agent files arrive as links; user files are sent as links too.
    attachments: false,
    typing: true,
    // The estimated wait of the routing result (no position).
    queue_position: true,
    availability_check: false,
    bot_side_close: true,
    transcript: true,
    // MIAW's client API has no hand-back to the client's bot, no wrap-up
    // (disposition) and no survey in its events.
    hand_back: false,
    wrap_up: false,
    // CONVERSATION_DELIVERY_ACKNOWLEDGEMENT / _READ_ACKNOWLEDGEMENT.
    receipts: true,
    // POST …/conversation/{id}/entry with a typing indicator.
    user_typing: true,
    // ChoicesMessage buttons / quick replies, RichLink and WebView links.
    rich_messages: true,
};
/// Each poll reads the event stream for up to the configured wait;
/// the interval is the base of the host's retry backoff.
const POLLING: Polling = Polling::long_poll(1_000, MAX_POLL_WAIT_MS);
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

/// The MIAW adapter.
pub struct Miaw;

impl TypedAdapter for Miaw {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        // No operator secrets: the access token is made per conversation.
        AdapterInfo::new(NAME, adapter_version!(), &CHANNELS)
            .with(CAPABILITIES, POLLING, SCHEMA)
            .needs(&["{base_url}"], &[])
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let s = &cx.settings;
        channels::require(
            &conversation.channel,
            &CHANNELS,
            "Salesforce Messaging for In-App and Web",
        )?;
        let token: wire::Token = http::post_json(&s.token_url(), &[], &wire::TokenRequest::new(s))?;
        let mut st = State {
            conversation_id: ids::conversation_id(&conversation.handover_id),
            access_token: token.access_token.clone(),
            last_event_id: token.last_event_id(),
            ..State::default()
        };
        if st.access_token.is_empty() {
            return Err(error("MIAW access-token response has an empty accessToken"));
        }
        let bearer = st.bearer();
        let body = wire::NewConversation::new(s, &st.conversation_id, &conversation);
        let _: Ignored =
            http::post_json(&s.conversations_url(), &[("authorization", &bearer)], &body)?;
        let texts = transcript::messages(
            &conversation.transcript,
            &s.transcript_header,
            MAX_MESSAGE_CHARS,
        );
        for text in &texts {
            if let Err(failure) = st.send_text(s, &conversation.handover_id, text) {
                // Do not leave a half-started conversation in the agents' queue.
                let _ = delete_conversation(s, &st);
                return Err(failure);
            }
        }
        log::with_fields(
            Level::Info,
            "MIAW conversation created",
            &[
                ("conversation_id", &st.conversation_id),
                ("transcript_messages", &texts.len().to_string()),
            ],
        );
        let key = st.conversation_id.clone();
        *state = st;
        let queued = events::queued(None, None);
        Ok(Output::from(vec![queued]).with_key(key))
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        let s = &cx.settings;
        let mut text = input.text.clone();
        // A quick reply of the agent's choices reaches the agent as its
        // title. (The host passes input as `text` while an agent is active,
        // so the payload is matched whatever the kind but an intent.)
        if input.kind != InputKind::Intent
            && let Some(o) = st.offered.iter().find(|o| o.payload == input.text)
        {
            text = o.title.clone();
        }
        // MIAW file upload is a separate multipart API; links reach the agent.
        for a in &input.attachments {
            let name = a.name.as_deref().unwrap_or("attachment");
            text.push_str(&format!("\n{name}: {}", a.url));
        }
        if text.trim().is_empty() {
            return Ok(Output::none());
        }
        let pieces = handover_adapter_sdk::transcript::chunk_text(&text, MAX_MESSAGE_CHARS);
        let single = pieces.len() == 1;
        for piece in pieces {
            // MIAW lets the client choose the message id (a UUID): the
            // host's id when it is one, so acknowledgements name it.
            let id = if single && ids::is_uuid(&input.id) {
                input.id.clone()
            } else {
                ids::message_id(&cx.handover_id, st.messages_sent)
            };
            st.send_text_as(s, &id, piece)?;
            st.remember(&id, &input.id);
        }
        Ok(Output::none())
    }

    fn user_typing(cx: &Cx<Settings>, st: &mut State, typing: bool) -> Reply {
        let s = &cx.settings;
        if st.ended {
            return Ok(Output::none());
        }
        let id = ids::entry_id(&cx.handover_id, st.typing_sent);
        let bearer = st.bearer();
        let _: Ignored = http::post_json(
            &s.entry_url(&st.conversation_id),
            &[("authorization", &bearer)],
            &wire::NewEntry::typing(typing, &id),
        )?;
        st.typing_sent += 1;
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        close_call(&cx.settings, st)
    }

    fn close(cx: &Cx<Settings>, st: &mut State) -> Reply {
        close_call(&cx.settings, st)
    }

    fn poll(cx: &Cx<Settings>, st: &mut State) -> Reply {
        let s = &cx.settings;
        if st.ended {
            return Ok(Output::none());
        }
        let bearer = st.bearer();
        let last_event_id = st.last_event_id.clone();
        let mut headers = vec![
            ("accept", "text/event-stream"),
            ("cache-control", "no-cache"),
            ("authorization", bearer.as_str()),
            ("x-org-id", s.org_id.as_str()),
        ];
        if !last_event_id.is_empty() {
            headers.push(("last-event-id", last_event_id.as_str()));
        }
        let limits = StreamLimits {
            max_wait: Duration::from_millis(s.poll_wait_ms.into()),
            idle_gap: Duration::from_millis(s.poll_idle_ms.into()),
        };
        let read = http::read_stream("GET", &s.sse_url(), &headers, limits, sse::has_event)?;
        let frames = sse::frames(&String::from_utf8_lossy(&read.response.body));
        if frames.is_empty() {
            return Ok(Output::none());
        }
        let (events, notes) = st.apply(&frames);
        for note in notes {
            log::with_fields(
                Level::Debug,
                "MIAW event passed over",
                &[("why", &note), ("conversation_id", &st.conversation_id)],
            );
        }
        Ok(events.into())
    }
}

/// `cancel` and `close`: MIAW closes a conversation with `DELETE`; one the
/// provider no longer knows (404) counts as closed.
fn close_call(s: &Settings, st: &mut State) -> Reply {
    match delete_conversation(s, st) {
        Ok(()) => {}
        Err(e) if e.status() == Some(404) => {}
        Err(e) => return Err(e.into()),
    }
    st.ended = true;
    Ok(Output::none())
}

fn delete_conversation(s: &Settings, st: &State) -> Result<(), http::HttpError> {
    let bearer = st.bearer();
    let url = s.close_url(&st.conversation_id);
    http::send("DELETE", &url, &[("authorization", &bearer)], None).map(drop)
}
