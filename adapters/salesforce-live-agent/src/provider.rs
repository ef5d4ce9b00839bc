//! The WIT calls and the handover state of the Live Agent adapter.

use crate::settings::Settings;
use crate::wire::{self, AgentRef, Incoming};
use handover_adapter_sdk::http::{self, HttpError};
use handover_adapter_sdk::state;
use handover_adapter_sdk::{
    AdapterInfo, Availability, Capabilities, Conversation, Cx, EndReason, Event, Failure,
    HandoverState, Level, Output, Polling, Reply, TypedAdapter, UserInput, adapter_version,
    channels, error, events, log,
};
use serde::{Deserialize, Serialize};

/// The adapter name reported by `describe`.
const NAME: &str = "salesforce-live-agent";
/// Live Agent chat is a web chat window.
const CHANNELS: [&str; 1] = ["webchat"];
/// Longest a `Messages` request is held by the server (its client poll
/// timeout is 40 s): declared so the host's limits cover a held request.
const MAX_WAIT_MS: u32 = 40_000;

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
pub struct State {
    /// `X-LIVEAGENT-SESSION-KEY`: this chat's own key (not an operator secret).
    pub key: String,
    /// `X-LIVEAGENT-AFFINITY`.
    pub affinity: String,
    pub session_id: String,
    /// The last `X-LIVEAGENT-SEQUENCE` sent (`ChasitorInit` is 1).
    pub sequence: u64,
    /// The sequence of the last `Messages` batch applied (sent as `ack`).
    #[serde(default)]
    pub ack: Option<i64>,
    /// The agent currently in the chat.
    #[serde(default)]
    pub agent: Option<AgentRef>,
    /// The chat ended (reported, or ended by the bot side).
    #[serde(default)]
    pub ended: bool,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(!self.key.is_empty(), "Live Agent session")
    }
}

impl State {
    /// Headers of every call in this chat's session.
    fn session_headers<'a>(&'a self, s: &'a Settings) -> Vec<(&'static str, &'a str)> {
        vec![
            ("x-liveagent-api-version", s.api_version.as_str()),
            ("x-liveagent-affinity", self.affinity.as_str()),
            ("x-liveagent-session-key", self.key.as_str()),
        ]
    }

    /// POSTs a `Chasitor/*` request with the next sequence number; the
    /// number is kept only if the call succeeds.
    fn chasitor<B: Serialize>(
        &mut self,
        s: &Settings,
        resource: &str,
        body: &B,
    ) -> Result<(), HttpError> {
        let sequence = (self.sequence + 1).to_string();
        let mut headers = self.session_headers(s);
        headers.push(("x-liveagent-sequence", &sequence));
        post(&s.url(resource), &headers, body)?;
        self.sequence += 1;
        Ok(())
    }

    /// Applies one `Messages` batch; a batch already applied (its sequence
    /// is not past `ack`) is dropped. Returns the events and notes on what
    /// was passed over. Nothing after the end is reported.
    pub fn apply(&mut self, batch: wire::Messages) -> (Vec<Event>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        if let Some(seq) = batch.sequence {
            if self.ack.is_some_and(|ack| seq <= ack) {
                notes.push(format!("batch {seq} was already applied"));
                return (out, notes);
            }
            self.ack = Some(seq);
        }
        for message in &batch.messages {
            if self.ended {
                break;
            }
            match message.parse() {
                Incoming::Queued {
                    position,
                    wait_seconds,
                } => out.push(events::queued(position, wait_seconds)),
                Incoming::RequestFailed(reason) => {
                    notes.push(format!("chat request failed: {reason}"));
                    self.end(EndReason::NoAgentAvailable, &mut out);
                }
                Incoming::Established(agent) => {
                    out.push(events::agent_joined(agent.to_agent()));
                    self.agent = Some(agent);
                }
                Incoming::Text { agent, text } => {
                    let agent = agent.or_else(|| self.agent.clone());
                    out.push(events::agent_message(
                        agent.as_ref().map(AgentRef::to_agent),
                        text,
                        Vec::new(),
                    ));
                }
                Incoming::Typing(on) => out.push(events::typing(on)),
                Incoming::Transferred(agent) => {
                    out.push(events::transferred(None, Some(agent.to_agent())));
                    self.agent = Some(agent);
                }
                Incoming::AgentDisconnected => {
                    let agent = self
                        .agent
                        .take()
                        .map_or_else(|| events::agent("", ""), |a| a.to_agent());
                    out.push(events::agent_left(agent));
                    self.end(EndReason::AgentLeft, &mut out);
                }
                Incoming::Ended(reason) => {
                    notes.push(format!("chat ended ({reason})"));
                    self.end(EndReason::AgentClosed, &mut out);
                }
                Incoming::Ignored(why) => notes.push(why),
            }
        }
        (out, notes)
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Event>) {
        self.ended = true;
        out.push(events::ended(reason));
    }
}

/// POSTs JSON; Live Agent answers `OK` (not JSON), so the body is ignored.
fn post<B: Serialize>(url: &str, headers: &[(&str, &str)], body: &B) -> Result<(), HttpError> {
    let bytes = serde_json::to_vec(body).map_err(|e| HttpError::InvalidRequest {
        target: "POST".into(),
        message: e.to_string(),
    })?;
    let length = bytes.len().to_string();
    let mut all = headers.to_vec();
    all.push(("content-type", "application/json"));
    all.push(("content-length", &length));
    http::send("POST", url, &all, Some(&bytes))?;
    Ok(())
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    attachments: false,
    ..Capabilities::ALL
};
/// One held `Messages` request per poll; the interval is the base
/// of the host's retry backoff.
const POLLING: Polling = Polling::long_poll(1_000, MAX_WAIT_MS);
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

/// The Live Agent adapter.
pub struct LiveAgent;

impl TypedAdapter for LiveAgent {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new(NAME, adapter_version!(), &CHANNELS).with(CAPABILITIES, POLLING, SCHEMA)
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let s = &cx.settings;
        channels::require(
            &conversation.channel,
            &CHANNELS,
            "Salesforce Live Agent chat",
        )?;
        let headers = [
            ("x-liveagent-api-version", s.api_version.as_str()),
            ("x-liveagent-affinity", "null"),
        ];
        let session: wire::Session = http::get_json(&s.url("System/SessionId"), &headers)?;
        let mut st = State {
            key: session.key,
            affinity: session.affinity_token,
            session_id: session.id,
            ..State::default()
        };
        if st.key.is_empty() {
            return Err(error("Live Agent SessionId response has an empty key"));
        }
        let session_id = st.session_id.clone();
        let init = wire::ChasitorInit::new(s, &session_id, &conversation);
        st.chasitor(s, "Chasitor/ChasitorInit", &init)?;
        log::with_fields(
            Level::Info,
            "Live Agent chat requested",
            &[
                ("session_id", &session_id),
                (
                    "button_id",
                    s.button_for(conversation.routing.queue.as_deref()),
                ),
            ],
        );
        *state = st;
        let queued = events::queued(None, None);
        Ok(Output::from(vec![queued]).with_key(session_id))
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        let s = &cx.settings;
        let mut text = input.text.clone();
        for a in &input.attachments {
            let name = a.name.as_deref().unwrap_or("attachment");
            text.push_str(&format!("\n{name}: {}", a.url));
        }
        if text.trim().is_empty() {
            return Ok(Output::none());
        }
        st.chasitor(
            s,
            "Chasitor/ChatMessage",
            &wire::ChatMessage { text: &text },
        )?;
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        end_chat(&cx.settings, st)
    }

    fn close(cx: &Cx<Settings>, st: &mut State) -> Reply {
        end_chat(&cx.settings, st)
    }

    fn check_availability(s: &Settings) -> Result<Availability, Failure> {
        let headers = [("x-liveagent-api-version", s.api_version.as_str())];
        let response: wire::AvailabilityResponse = http::get_json(&s.availability_url(), &headers)?;
        let (available, wait) =
            wire::button_availability(&response, &s.button_id).ok_or_else(|| {
                error(format!(
                    "Live Agent availability does not mention button {}",
                    s.button_id
                ))
            })?;
        Ok(Availability {
            agents_available: available,
            // Live Agent does not say whether it is outside business hours.
            open: true,
            estimated_wait_seconds: wait,
            message: (!available).then(|| "no agent is online for this chat button".to_string()),
        })
    }

    fn poll(cx: &Cx<Settings>, st: &mut State) -> Reply {
        let s = &cx.settings;
        if st.ended {
            return Ok(Output::none());
        }
        let mut url = s.url("System/Messages");
        if let Some(ack) = st.ack {
            url.push_str(&format!("?ack={ack}"));
        }
        let mut headers = st.session_headers(s);
        headers.push(("accept", "application/json"));
        let response = http::send("GET", &url, &headers, None)?;
        if response.status == 204 || response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Output::none());
        }
        let batch: wire::Messages = response.json("GET /chat/rest/System/Messages")?;
        let (events, notes) = st.apply(batch);
        for note in notes {
            log::with_fields(
                Level::Debug,
                "Live Agent message passed over",
                &[("why", &note), ("session_id", &st.session_id)],
            );
        }
        Ok(events.into())
    }
}

/// `cancel` and `close`: the visitor ends the chat. A session the server no
/// longer knows (403/404) has ended already.
fn end_chat(s: &Settings, st: &mut State) -> Reply {
    if !st.ended {
        match st.chasitor(s, "Chasitor/ChatEnd", &wire::ChatEnd { reason: "client" }) {
            Ok(()) => {}
            Err(e) if matches!(e.status(), Some(403 | 404)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    st.ended = true;
    Ok(Output::none())
}
