//! The Open Messaging calls: settings, state and one function per WIT export.

use crate::wire::{self, Recipient};
use handover_adapter_sdk::http::{self, path_segment};
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::state::{self, AgentRef};
use handover_adapter_sdk::transcript::PackLimits;
use handover_adapter_sdk::{
    AdapterInfo, Attachment, Capabilities, Conversation, Cx, EndReason, Event, Failure,
    HandoverState, HttpRequest, Level, Output, Polling, Reply, SignatureAlgorithm,
    SignatureEncoding, TypedAdapter, UserInput, WebhookRoute, WebhookSignature, adapter_version,
    channels, error, events, log, unsupported,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NAME: &str = "genesys-open-messaging";
const DEFAULT_CHANNELS: [&str; 4] = ["webchat", "sms", "messenger", "whatsapp"];
/// Transcript messages: one request each (see [`PackLimits::PER_REQUEST`]).
const TRANSCRIPT: PackLimits = PackLimits::PER_REQUEST;
/// How often the host calls `poll`: it releases held agent messages and,
/// with `poll_conversation`, checks the participants.
const POLL_INTERVAL_MS: u32 = 1000;
/// Least time between two participant checks (the provider's API quota).
const CHECK_INTERVAL_MS: u64 = 3000;
/// Open Messaging webhooks carry no sequence: agent messages wait this
/// long for earlier ones (by `channel.time`) delivered late or retried.
const REORDER_WINDOW_MS: u64 = 1000;
const DEFAULT_CANCEL_NOTICE: &str =
    "The customer cancelled the request for an agent and has left the conversation.";
/// The opening message when the bot passes no transcript at all.
const EMPTY_TRANSCRIPT: &str = "The customer asked to talk to an agent.";

/// The endpoint's settings (see `settings.schema.json`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    api_url: String,
    integration_id: String,
    channels: Option<Vec<String>>,
    transcript_chunk: Option<usize>,
    transcript_max_messages: Option<usize>,
    cancel_notice: Option<String>,
    #[serde(default)]
    poll_conversation: bool,
}

impl Validate for Settings {
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.api_url = settings::require_http_url("api_url", &s.api_url)?;
        let id = s.integration_id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(settings::invalid(
                "integration_id",
                format!("must be the integration's id (letters, digits, `-`), got {id:?}"),
            ));
        }
        s.integration_id = id.to_string();
        TRANSCRIPT.validate(s.transcript_chunk, s.transcript_max_messages)?;
        settings::require_channels(s.channels.as_ref())
    }
}

impl Settings {
    fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        channels::check(
            channel,
            self.channels.as_ref(),
            &DEFAULT_CHANNELS,
            "Genesys Open Messaging",
        )
    }

    fn inbound_url(&self) -> String {
        format!(
            "{}/api/v2/conversations/messages/{}/inbound/open/message?prefetchConversationId=true",
            self.api_url,
            path_segment(&self.integration_id)
        )
    }
}

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default)]
pub struct State {
    /// `channel.from` of every inbound message; its id (the handover id)
    /// is what outbound webhooks carry in `channel.to.id`.
    from: Option<Recipient>,
    /// From the first inbound response (`prefetchConversationId`).
    #[serde(default)]
    conversation_id: Option<String>,
    /// Inbound messages sent so far (makes `channel.messageId` unique).
    #[serde(default)]
    sent: u64,
    /// The agent reported to the host, once one joined.
    #[serde(default)]
    agent: Option<AgentRef>,
    /// The agent's user id as last seen by `poll` (connected, else none).
    #[serde(default)]
    polled_agent: Option<String>,
    #[serde(default)]
    ended: bool,
    /// Agent messages waiting out the reorder window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    held: Vec<Held>,
    /// When `poll` last fetched the participants.
    #[serde(default)]
    checked_ms: u64,
}

/// An agent message in the reorder window.
#[derive(Serialize, Deserialize)]
struct Held {
    /// `channel.time`, ISO-8601 UTC (sorts as text).
    time: String,
    arrived_ms: u64,
    sender: AgentRef,
    text: String,
    attachments: Vec<(String, String, Option<String>)>,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(self.from.is_some(), "Genesys conversation")
    }
}

impl State {
    fn user_id(&self) -> &str {
        self.from.as_ref().map_or("", |f| f.id.as_str())
    }

    /// Sends one inbound message as the user.
    fn post(
        &mut self,
        settings: &Settings,
        text: &str,
        attachments: &[Attachment],
        attributes: Option<BTreeMap<String, String>>,
    ) -> Result<wire::Posted, Failure> {
        let from = self
            .from
            .as_ref()
            .ok_or_else(|| error("no sender in state"))?;
        self.sent += 1;
        let body = wire::InboundMessage {
            channel: wire::InboundChannel {
                message_id: format!("{}-{}", from.id, self.sent),
                from,
                time: wire::iso8601(now_ms()),
                metadata: attributes
                    .map(|custom_attributes| wire::ChannelMetadata { custom_attributes }),
            },
            text,
            content: attachments.iter().map(wire::InboundContent::from).collect(),
        };
        Ok(http::post_json(&settings.inbound_url(), &[], &body)?)
    }

    /// Releases, in `channel.time` order, the held messages that waited out
    /// the window (and those sent before them); all of them when `all`.
    fn release(&mut self, now: u64, all: bool) -> Vec<Event> {
        self.held.sort_by(|a, b| a.time.cmp(&b.time));
        let due = if all {
            self.held.len()
        } else {
            self.held
                .iter()
                .rposition(|h| h.arrived_ms + REORDER_WINDOW_MS <= now)
                .map_or(0, |i| i + 1)
        };
        let agent = self.agent.clone();
        self.held
            .drain(..due)
            .map(|h| {
                let attachments = h
                    .attachments
                    .into_iter()
                    .map(|(url, content_type, name)| Attachment {
                        url,
                        content_type,
                        name,
                    })
                    .collect();
                let from = agent.as_ref().unwrap_or(&h.sender).to_agent();
                events::agent_message(Some(from), h.text, attachments)
            })
            .collect()
    }

    /// `agent-joined` unless an agent was already reported.
    fn join(&mut self, id: String, name: String) -> Vec<Event> {
        if self.agent.is_some() {
            return Vec::new();
        }
        let agent = AgentRef { id, name };
        let joined = events::agent_joined(agent.to_agent());
        self.agent = Some(agent);
        vec![joined]
    }
}

/// Logs through the host; a no-op in native unit tests (no host there).
fn note(message: &str) {
    #[cfg(target_arch = "wasm32")]
    log::info(message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `channel.from` for the user: the handover id (one Genesys conversation
/// per handover, so webhooks never reach another handover of the same
/// user) with the profile's names for the agent's view.
fn recipient(c: &Conversation) -> Recipient {
    let profile = |key: &str| c.profile(key).map(str::to_string);
    let first_name = profile("first_name");
    let last_name = profile("last_name");
    let nickname = profile("name")
        .or_else(|| {
            let full = [&first_name, &last_name]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            (!full.is_empty()).then_some(full)
        })
        .or_else(|| Some(c.user_id.clone()).filter(|u| !u.is_empty()));
    Recipient {
        id: c.handover_id.clone(),
        id_type: "Opaque".into(),
        nickname,
        first_name,
        last_name,
        email: profile("email"),
    }
}

/// Participant data for the inbound flow: the routing request and the
/// handover's identity. Custom keys never override these.
fn custom_attributes(c: &Conversation) -> BTreeMap<String, String> {
    let r = &c.routing;
    let mut attrs = r.custom_map();
    let mut set = |k: &str, v: String| {
        attrs.insert(k.to_string(), v);
    };
    set("handover_id", c.handover_id.clone());
    set("session_id", c.session_id.clone());
    set("user_id", c.user_id.clone());
    set("channel", c.channel.clone());
    set("locale", c.locale.clone());
    if !r.skills.is_empty() {
        set("skills", r.skills.join(","));
    }
    if let Some(v) = &r.language {
        set("language", v.clone());
    }
    if let Some(v) = r.priority {
        set("priority", v.to_string());
    }
    if let Some(v) = &r.queue {
        set("queue", v.clone());
    }
    attrs
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    queue_position: false,
    availability_check: false,
    bot_side_close: false,
    ..Capabilities::ALL
};
/// How the host fetches provider traffic.
const POLLING: Polling = Polling::periodic(POLL_INTERVAL_MS);
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

pub struct Genesys;

impl TypedAdapter for Genesys {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new(NAME, adapter_version!(), &DEFAULT_CHANNELS)
            .with(CAPABILITIES, POLLING, SCHEMA)
            .signed(WebhookSignature::body(
                SignatureAlgorithm::HmacSha256,
                "X-Hub-Signature-256",
                SignatureEncoding::Base64,
                Some("sha256="),
            ))
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let settings = &cx.settings;
        settings.check_channel(&conversation.channel)?;
        let (chunk, max) = (settings.transcript_chunk, settings.transcript_max_messages);
        let mut texts = TRANSCRIPT.pack(&conversation.transcript, chunk, max);
        if texts.is_empty() {
            texts.push(EMPTY_TRANSCRIPT.into());
        }
        let mut st = State {
            from: Some(recipient(&conversation)),
            ..State::default()
        };
        let mut attributes = Some(custom_attributes(&conversation));
        for text in &texts {
            let posted = st.post(settings, text, &[], attributes.take())?;
            if st.conversation_id.is_none() {
                st.conversation_id = posted.conversation_id;
            }
        }
        log::with_fields(
            Level::Info,
            "genesys open messaging conversation started",
            &[
                ("from_id", st.user_id()),
                (
                    "conversation_id",
                    st.conversation_id.as_deref().unwrap_or(""),
                ),
            ],
        );
        let mut out = Output::from(vec![events::queued(None, None)]).with_key(st.user_id());
        if let Some(id) = &st.conversation_id {
            out = out.with_key(id.clone());
        }
        *state = st;
        Ok(out)
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        st.post(&cx.settings, &input.text, &input.attachments, None)?;
        Ok(Output::none())
    }

    /// Open Messaging cannot disconnect from the customer side: tell the
    /// agent (who disconnects the interaction) and let the host end its side.
    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        let settings = &cx.settings;
        let notice = settings
            .cancel_notice
            .as_deref()
            .unwrap_or(DEFAULT_CANCEL_NOTICE);
        st.post(settings, notice, &[], None)?;
        Ok(Output::none())
    }

    fn close(_cx: &Cx<Settings>, _state: &mut State) -> Reply {
        Err(unsupported(
            "Genesys Open Messaging cannot disconnect a conversation from the customer side; \
             the agent ends it in Genesys Cloud",
        ))
    }

    fn route_webhook(_settings: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let message = wire::Outbound::parse(&request.body)?;
        let correlation_keys = match message.to_id() {
            Some(to) if message.is_outbound() => vec![to.to_string()],
            _ => Vec::new(),
        };
        let delivery_id = message
            .id
            .clone()
            .or_else(|| message.channel.message_id.clone());
        Ok(WebhookRoute::acknowledged(delivery_id, correlation_keys))
    }

    fn handle_webhook(_cx: &Cx<Settings>, st: &mut State, request: HttpRequest) -> Reply {
        let message = wire::Outbound::parse(&request.body)?;
        if message.to_id() != Some(st.user_id()) {
            return Err(error(format!(
                "webhook for Open Messaging user {:?} reached the handover of user {:?}",
                message.to_id(),
                st.user_id()
            )));
        }
        if st.ended || !message.is_outbound() {
            return Ok(Output::none());
        }
        let (id, name) = message.sender();
        let mut out = Vec::new();
        match message.kind.as_str() {
            "Text" | "Structured" => {
                if message.originating_entity.as_deref() == Some("Bot") {
                    note("ignoring an outbound message from a Genesys bot or flow");
                    return Ok(Output::none());
                }
                out.extend(st.join(id.clone(), name.clone()));
                st.held.push(Held {
                    time: message.time().to_string(),
                    arrived_ms: now_ms(),
                    sender: AgentRef { id, name },
                    text: message.text.clone().unwrap_or_default(),
                    attachments: message
                        .attachments()
                        .into_iter()
                        .map(|a| (a.url, a.content_type, a.name))
                        .collect(),
                });
                out.extend(st.release(now_ms(), false));
            }
            "Event" => {
                for event in &message.events {
                    match (&event.event_type[..], &event.typing) {
                        ("Typing", Some(typing)) => {
                            out.extend(st.join(id.clone(), name.clone()));
                            out.push(events::typing(typing.kind != "Off"));
                        }
                        (other, _) => note(&format!("ignoring Open Messaging event {other:?}")),
                    }
                }
            }
            other => note(&format!("ignoring Open Messaging message type {other:?}")),
        }
        Ok(out.into())
    }

    /// Releases held agent messages; with `poll_conversation`, the
    /// participants tell who the agent is, transfers and the end, which no
    /// webhook carries.
    fn poll(cx: &Cx<Settings>, st: &mut State) -> Reply {
        let settings = &cx.settings;
        let now = now_ms();
        let mut out = st.release(now, false);
        let check =
            settings.poll_conversation && !st.ended && now >= st.checked_ms + CHECK_INTERVAL_MS;
        let conversation_id = st.conversation_id.clone().filter(|_| check);
        let Some(conversation_id) = conversation_id else {
            return Ok(out.into());
        };
        st.checked_ms = now;
        let url = format!(
            "{}/api/v2/conversations/messages/{}",
            settings.api_url,
            path_segment(&conversation_id)
        );
        let conversation: wire::Conversation = http::get_json(&url, &[])?;
        out.extend(apply_participants(st, &conversation.participants));
        Ok(out.into())
    }
}

/// Compares the participants with what was last reported.
fn apply_participants(st: &mut State, participants: &[wire::Participant]) -> Vec<Event> {
    let agent = participants
        .iter()
        .rfind(|p| p.purpose == "agent" && p.is_connected())
        .map(wire::Participant::agent);
    let customer_gone = participants
        .iter()
        .any(|p| p.purpose == "customer" && p.is_gone());
    let mut out = Vec::new();
    match (st.polled_agent.clone(), agent) {
        (previous, Some((id, name))) if previous.as_deref() != Some(id.as_str()) => {
            let named = AgentRef {
                id: id.clone(),
                name,
            };
            if previous.is_some() {
                out.push(events::transferred(None, Some(named.to_agent())));
            } else if st.agent.is_none() {
                out.push(events::agent_joined(named.to_agent()));
            }
            // Joined through a webhook already: keep quiet, learn the name.
            st.agent = Some(named);
            st.polled_agent = Some(id);
        }
        (Some(_), None) if !customer_gone => {
            let left = st
                .agent
                .take()
                .map_or_else(|| events::agent("", ""), |a| a.to_agent());
            out.push(events::agent_left(left));
            st.polled_agent = None;
        }
        _ => {}
    }
    if customer_gone {
        out.extend(st.release(0, true));
        let reason = if st.agent.is_some() {
            EndReason::AgentClosed
        } else {
            EndReason::ProviderClosed
        };
        out.push(events::ended(reason));
        st.ended = true;
    }
    out
}

#[cfg(test)]
pub mod tests_support {
    use super::*;
    use handover_adapter_sdk::state;

    fn load(bytes: &[u8]) -> State {
        let st: State = state::load(bytes).unwrap();
        st.check().unwrap();
        st
    }

    /// [`State::release`] at `now` on state bytes.
    pub fn release(bytes: Vec<u8>, now: u64) -> (Vec<u8>, Vec<Event>) {
        let mut st = load(&bytes);
        let out = st.release(now, false);
        (state::save(&st), out)
    }

    /// [`apply_participants`] on state bytes, returning the new bytes.
    pub fn apply(bytes: Vec<u8>, participants: &[wire::Participant]) -> (Vec<u8>, Vec<Event>) {
        let mut st = load(&bytes);
        let out = apply_participants(&mut st, participants);
        (state::save(&st), out)
    }
}
