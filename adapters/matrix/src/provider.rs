//! The matrix adapter's calls: settings, state and one function per WIT
//! export. Every request goes to the homeserver's client-server API; the
//! host adds the bot's `Authorization: Bearer` header.

use crate::sync::{Room, Rules};
use crate::wire::{self, Message};
use handover_adapter_sdk::http::{self, HttpError, Ignored, path_segment};
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::state;
use handover_adapter_sdk::{
    AdapterInfo, Author, Availability, Capabilities, Conversation, Cx, EndReason, Event, Failure,
    HandoverState, InputKind, KeyValue, Level, Output, Polling, Reply, TypedAdapter, UserInput,
    adapter_version, channels, error, events, log, transcript,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The adapter name reported by `describe`.
const NAME: &str = "matrix";
/// Longest `/sync` wait the adapter asks for; the host's poll budget.
pub const MAX_WAIT_MS: u32 = 10_000;
/// Each poll is one `/sync` long poll; the interval only paces retries
/// after failed polls.
const POLLING: Polling = Polling::long_poll(1_000, MAX_WAIT_MS);
/// Channels served when the settings do not list their own. Any text
/// channel works: a Matrix room only ever sees text.
const DEFAULT_CHANNELS: [&str; 4] = ["webchat", "sms", "whatsapp", "messenger"];
/// Most characters per transcript message when the settings do not say.
const DEFAULT_TRANSCRIPT_CHUNK: usize = 4_000;
/// Matrix events are limited to 64 KiB of JSON; stay well below.
const MAX_TRANSCRIPT_CHUNK: usize = 30_000;
/// Timeline events per `/sync`; a busier gap is filled from `/messages`.
const TIMELINE_LIMIT: u32 = 100;
/// Most `/messages` pages read to fill one timeline gap.
const GAP_PAGES: usize = 5;

/// The endpoint's settings (see `settings.schema.json`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    base_url: String,
    agents: Vec<String>,
    #[serde(default = "default_prefix")]
    room_name_prefix: String,
    #[serde(default = "default_close_command")]
    close_command: String,
    channels: Option<Vec<String>>,
    transcript_chunk: Option<usize>,
    sync_timeout_ms: Option<u32>,
}

fn default_prefix() -> String {
    "Handover: ".into()
}

fn default_close_command() -> String {
    "!close".into()
}

impl Validate for Settings {
    /// Checks parsed settings; failures name the field to fix.
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.base_url = settings::require_http_url("base_url", &s.base_url)?;
        if s.agents.is_empty() {
            return Err(settings::invalid(
                "agents",
                "must list at least one agent user id to invite, e.g. \"@alice:example.org\"",
            ));
        }
        for (i, agent) in s.agents.iter().enumerate() {
            if !is_user_id(agent) {
                return Err(settings::invalid(
                    &format!("agents[{i}]"),
                    format!("must be a Matrix user id like \"@alice:example.org\", got {agent:?}"),
                ));
            }
        }
        s.close_command = s.close_command.trim().to_string();
        if s.close_command.is_empty() {
            return Err(settings::invalid("close_command", "must not be empty"));
        }
        settings::require_channels(s.channels.as_ref())?;
        settings::require_min("transcript_chunk", s.transcript_chunk, 100)?;
        let limit = Some("Matrix events are limited to 64 KiB");
        settings::require_max(
            "transcript_chunk",
            s.transcript_chunk,
            MAX_TRANSCRIPT_CHUNK,
            limit,
            true,
        )?;
        if let Some(ms) = s.sync_timeout_ms.filter(|ms| *ms > MAX_WAIT_MS) {
            return Err(settings::invalid(
                "sync_timeout_ms",
                format!("must be at most {MAX_WAIT_MS}, got {ms}"),
            ));
        }
        Ok(())
    }
}

impl Settings {
    /// Fails with `unsupported` unless this endpoint serves `channel`.
    fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        channels::check(channel, self.channels.as_ref(), &DEFAULT_CHANNELS, "matrix")
    }

    /// `{base_url}/_matrix/client/v3{path}`.
    fn api(&self, path: &str) -> String {
        format!("{}/_matrix/client/v3{path}", self.base_url)
    }

    /// `{base_url}/_matrix/client/v3/rooms/{roomId}{path}`.
    fn room_api(&self, room_id: &str, path: &str) -> String {
        self.api(&format!("/rooms/{}{path}", path_segment(room_id)))
    }

    fn transcript_chunk(&self) -> usize {
        self.transcript_chunk.unwrap_or(DEFAULT_TRANSCRIPT_CHUNK)
    }

    fn sync_timeout_ms(&self) -> u32 {
        self.sync_timeout_ms.unwrap_or(MAX_WAIT_MS)
    }
}

/// `@localpart:server`.
fn is_user_id(id: &str) -> bool {
    id.strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| {
            !local.is_empty() && !server.is_empty() && !id.contains(char::is_whitespace)
        })
}

/// What the host keeps for us between calls.
#[derive(Serialize, Deserialize, Default)]
pub struct State {
    room_id: String,
    bot_user_id: String,
    /// `/sync` position (`next_batch`) after the last applied response.
    since: String,
    /// Messages the bot sent; each one's transaction id derives from it, so
    /// a call repeated with the same state cannot post twice.
    txn: u64,
    /// The conversation ended and the bot left the room.
    #[serde(default)]
    left: bool,
    #[serde(flatten)]
    room: Room,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(!self.room_id.is_empty(), "Matrix room")
    }
}

/// One conversation's calls: settings, state and handover id together.
struct Desk<'a> {
    settings: &'a Settings,
    state: &'a mut State,
    handover_id: &'a str,
}

impl Desk<'_> {
    /// `PUT /rooms/{roomId}/send/m.room.message/{txnId}`; the transaction
    /// id is `<handover>.<n>` with `n` the state's message counter.
    fn send(&mut self, message: &Message) -> Result<(), Failure> {
        self.state.txn += 1;
        let txn = format!("{}.{}", self.handover_id, self.state.txn);
        let url = self.settings.room_api(
            &self.state.room_id,
            &format!("/send/m.room.message/{}", path_segment(&txn)),
        );
        let _: Ignored = put_json(&url, message)?;
        Ok(())
    }

    /// `GET /sync` for this room; `timeout_ms` 0 answers at once.
    fn sync(&self, timeout_ms: u32) -> Result<wire::SyncResponse, Failure> {
        let filter = wire::sync_filter(&self.state.room_id, TIMELINE_LIMIT);
        let mut url = format!(
            "{}?timeout={timeout_ms}&filter={}",
            self.settings.api("/sync"),
            path_segment(&filter)
        );
        if !self.state.since.is_empty() {
            url += &format!("&since={}", path_segment(&self.state.since));
        }
        Ok(http::get_json(&url, &[])?)
    }

    /// Applies one sync response for the room; fills a timeline gap first.
    fn apply_sync(&mut self, mut response: wire::SyncResponse) -> Result<Vec<Event>, Failure> {
        let mut room = response.take_room(&self.state.room_id);
        let gap = room.timeline.limited && !self.state.since.is_empty();
        if gap && let Some(from) = room.timeline.prev_batch.take() {
            let mut older = self.fill_gap(&from)?;
            older.append(&mut room.timeline.events);
            room.timeline.events = older;
        }
        let rules = Rules {
            bot: &self.state.bot_user_id,
            invited: &self.settings.agents,
            close_command: &self.settings.close_command,
        };
        let events = self.state.room.apply(&rules, &room);
        self.state.since = response.next_batch;
        Ok(events)
    }

    /// The timeline events between the last sync (`since`) and `from`, oldest
    /// first, from `GET /rooms/{roomId}/messages` backwards.
    fn fill_gap(&self, from: &str) -> Result<Vec<wire::RoomEvent>, Failure> {
        let mut token = from.to_string();
        let mut newest_first = Vec::new();
        for _ in 0..GAP_PAGES {
            let url = format!(
                "{}?dir=b&limit={TIMELINE_LIMIT}&from={}&to={}&filter={}",
                self.settings.room_api(&self.state.room_id, "/messages"),
                path_segment(&token),
                path_segment(&self.state.since),
                path_segment(&wire::messages_filter()),
            );
            let page: wire::MessagesPage = http::get_json(&url, &[])?;
            if page.chunk.is_empty() {
                break;
            }
            newest_first.extend(page.chunk);
            match page.end {
                Some(end) if end != token => token = end,
                _ => break,
            }
        }
        log::with_fields(
            Level::Info,
            "filled a Matrix timeline gap",
            &[("events", &newest_first.len().to_string())],
        );
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Posts `text` as an `end` notice, rescinds the invites of agents who
    /// never came, and leaves the room.
    fn leave(&mut self, end: &'static str, text: &str) -> Result<(), Failure> {
        let mut notice = Message::notice("end", text);
        notice.end = Some(end);
        self.send(&notice)?;
        let pending = self.settings.agents.iter().filter(|a| {
            !self.state.room.joined.contains(a) && !self.state.room.declined.contains(a)
        });
        for agent in pending {
            let url = self.settings.room_api(&self.state.room_id, "/kick");
            let kick = wire::Kick {
                user_id: agent,
                reason: "the handover ended",
            };
            if let Err(e) = http::post_json::<_, Ignored>(&url, &[], &kick) {
                log::warn(&format!("could not rescind the invite of {agent}: {e}"));
            }
        }
        let url = self.settings.room_api(&self.state.room_id, "/leave");
        let _: Ignored = http::post_json(&url, &[], &wire::Empty {})?;
        self.state.left = true;
        Ok(())
    }

    fn step(self, events: Vec<Event>) -> Output {
        events.into()
    }
}

/// `PUT url` with a JSON body; parses the JSON response.
fn put_json<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, HttpError> {
    let bytes = serde_json::to_vec(body).map_err(|e| HttpError::InvalidRequest {
        target: "PUT".into(),
        message: e.to_string(),
    })?;
    let length = bytes.len().to_string();
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("content-length", length.as_str()),
    ];
    let response = http::send("PUT", url, &headers, Some(&bytes))?;
    response.json("PUT /_matrix/client/v3/rooms/…/send")
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    attachments: false,
    queue_position: false,
    ..Capabilities::ALL
};
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

/// The matrix adapter.
pub struct Matrix;

impl TypedAdapter for Matrix {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new(NAME, adapter_version!(), &DEFAULT_CHANNELS).with(
            CAPABILITIES,
            POLLING,
            SCHEMA,
        )
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let settings = &cx.settings;
        settings.check_channel(&conversation.channel)?;
        let me: wire::WhoAmI = http::get_json(&settings.api("/account/whoami"), &[])?;
        let create = wire::CreateRoom {
            preset: "private_chat",
            visibility: "private",
            invite: &settings.agents,
            name: format!("{}{}", settings.room_name_prefix, user_name(&conversation)),
            topic: format!(
                "Handover {} · {} · {} · user {}",
                conversation.handover_id,
                conversation.channel,
                conversation.locale,
                conversation.user_id
            ),
            is_direct: false,
        };
        let created: wire::RoomCreated =
            http::post_json(&settings.api("/createRoom"), &[], &create)?;
        log::with_fields(
            Level::Info,
            "matrix room created",
            &[("room_id", &created.room_id)],
        );
        *state = State {
            room_id: created.room_id.clone(),
            bot_user_id: me.user_id,
            ..State::default()
        };
        let mut desk = Desk {
            settings,
            state,
            handover_id: &cx.handover_id,
        };
        match open_room(&mut desk, &conversation) {
            Ok(mut found) => {
                let mut events = vec![events::queued(None, None)];
                events.append(&mut found);
                Ok(desk.step(events).with_key(created.room_id))
            }
            Err(failure) => {
                // Leave the half-prepared room so no agent joins it.
                let text = "The handover could not be started; the bot has left this room.";
                if let Err(e) = desk.leave("failed", text) {
                    log::warn(&format!(
                        "could not leave the half-prepared room: {}",
                        e.message
                    ));
                }
                Err(failure)
            }
        }
    }

    fn user_message(cx: &Cx<Settings>, state: &mut State, input: UserInput) -> Reply {
        let mut desk = desk(cx, state);
        if desk.state.left {
            return Err(error("the Matrix room of this handover was already left"));
        }
        desk.send(&Message::text("user", user_text(&input)))?;
        Ok(desk.step(Vec::new()))
    }

    fn cancel(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let text = "The user cancelled the handover; the bot has left this room.";
        leave_call(desk(cx, state), "cancel", text)
    }

    fn close(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let text = "The bot side closed the conversation; the bot has left this room.";
        leave_call(desk(cx, state), "close", text)
    }

    /// Matrix has no agent availability; the closest is presence: agents
    /// are available when one of the configured agents is `online`.
    fn check_availability(settings: &Settings) -> Result<Availability, Failure> {
        let (mut online, mut visible) = (0, 0);
        for agent in &settings.agents {
            let url = settings.api(&format!("/presence/{}/status", path_segment(agent)));
            match http::get_json::<wire::Presence>(&url, &[]) {
                Ok(p) => {
                    visible += 1;
                    online += usize::from(p.presence == "online");
                }
                // Presence is only visible to users sharing a room (403).
                Err(e) if e.status() == Some(403) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if visible == 0 {
            return Err(error(
                "the presence of the configured agents is not visible to the bot user: \
                 Synapse shows presence only to users sharing a room, so add the bot to a \
                 room with the agents (or presence is disabled on the homeserver)",
            ));
        }
        Ok(Availability {
            agents_available: online > 0,
            open: true,
            estimated_wait_seconds: None,
            message: Some(format!(
                "{online} of {} agents online ({visible} visible)",
                settings.agents.len()
            )),
        })
    }

    fn poll(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let mut desk = desk(cx, state);
        if desk.state.left {
            return Ok(Output::none());
        }
        let response = desk.sync(cx.settings.sync_timeout_ms())?;
        let events = desk.apply_sync(response)?;
        if let Some(Event::Ended(reason)) = events.last() {
            // The agents are done: say so and leave, as far as possible.
            let end = match reason {
                EndReason::AgentClosed => Some("agent-closed"),
                EndReason::AgentLeft => Some("agent-left"),
                EndReason::NoAgentAvailable => Some("no-agent"),
                // The bot was removed from the room: nothing left to do.
                _ => None,
            };
            let text = "The conversation has ended; the bot has left this room.";
            match end {
                Some(end) => {
                    if let Err(e) = desk.leave(end, text) {
                        log::warn(&format!("could not leave the ended room: {}", e.message));
                    }
                }
                None => desk.state.left = true,
            }
        }
        Ok(desk.step(events))
    }
}

fn desk<'a>(cx: &'a Cx<Settings>, state: &'a mut State) -> Desk<'a> {
    Desk {
        settings: &cx.settings,
        state,
        handover_id: &cx.handover_id,
    }
}

/// `cancel` and `close`: an end notice, then leave (once).
fn leave_call(mut desk: Desk, end: &'static str, text: &str) -> Reply {
    if desk.state.left {
        return Ok(Output::none());
    }
    desk.leave(end, text)?;
    Ok(desk.step(Vec::new()))
}

/// Posts the intro notice (routing, profile) and the transcript, then
/// takes the first sync position (reporting anything already there).
fn open_room(desk: &mut Desk, c: &Conversation) -> Result<Vec<Event>, Failure> {
    let mut intro = Message::notice("intro", intro_text(c, &desk.settings.close_command));
    intro.routing = Some(routing_data(c));
    desk.send(&intro)?;
    for message in transcript_messages(c, desk.settings.transcript_chunk()) {
        desk.send(&message)?;
    }
    let first = desk.sync(0)?;
    desk.apply_sync(first)
}

/// The user's name from the profile (`name`, `display_name`, …), else the id.
fn user_name(c: &Conversation) -> &str {
    const KEYS: [&str; 4] = ["name", "display_name", "displayname", "full_name"];
    KEYS.iter()
        .find_map(|k| {
            c.user_profile
                .iter()
                .find(|kv| kv.key.eq_ignore_ascii_case(k) && !kv.value.trim().is_empty())
        })
        .map_or(c.user_id.as_str(), |kv| kv.value.as_str())
}

fn pairs(list: &[KeyValue]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    items.join(", ")
}

/// The first notice: who asks, the routing attributes, how to close.
pub fn intro_text(c: &Conversation, close_command: &str) -> String {
    let mut lines = vec![format!(
        "Handover {}: {} ({}, {}) asks for an agent.",
        c.handover_id,
        user_name(c),
        c.channel,
        c.locale
    )];
    let r = &c.routing;
    let mut routing = Vec::new();
    if !r.skills.is_empty() {
        routing.push(format!("skills {}", r.skills.join(", ")));
    }
    if let Some(language) = &r.language {
        routing.push(format!("language {language}"));
    }
    if let Some(priority) = r.priority {
        routing.push(format!("priority {priority}"));
    }
    if let Some(queue) = &r.queue {
        routing.push(format!("queue {queue}"));
    }
    if !r.custom.is_empty() {
        routing.push(pairs(&r.custom));
    }
    if !routing.is_empty() {
        lines.push(format!("Routing: {}", routing.join(" · ")));
    }
    if !c.user_profile.is_empty() {
        lines.push(format!("Profile: {}", pairs(&c.user_profile)));
    }
    if !c.transcript.is_empty() {
        lines.push(format!(
            "The conversation so far follows ({} entries).",
            c.transcript.len()
        ));
    }
    lines.push(format!(
        "Messages you send here reach the user. Send {close_command} to end the conversation."
    ));
    lines.join("\n")
}

/// The routing attributes and profile as data (`io.handover.routing`).
fn routing_data(c: &Conversation) -> Value {
    let map = |list: &[KeyValue]| -> serde_json::Map<String, Value> {
        list.iter()
            .map(|kv| (kv.key.clone(), Value::String(kv.value.clone())))
            .collect()
    };
    let r = &c.routing;
    let context = serde_json::from_str::<Value>(&c.context)
        .ok()
        .filter(|v| v.as_object().is_none_or(|o| !o.is_empty()));
    json!({
        "handover_id": c.handover_id,
        "session_id": c.session_id,
        "user_id": c.user_id,
        "channel": c.channel,
        "locale": c.locale,
        "profile": map(&c.user_profile),
        "skills": r.skills,
        "language": r.language,
        "priority": r.priority,
        "queue": r.queue,
        "custom": map(&r.custom),
        "context": context,
    })
}

/// The transcript as room messages of at most `chunk` characters: lines
/// `Author: text`, consecutive lines of the same kind packed together;
/// user and agent lines as `m.text`, bot and system lines as `m.notice`.
pub fn transcript_messages(c: &Conversation, chunk: usize) -> Vec<Message> {
    const LABEL_MAX: usize = "System: ".len();
    let entries = transcript::chunk(&c.transcript, chunk.saturating_sub(LABEL_MAX).max(1));
    let mut messages: Vec<Message> = Vec::new();
    let mut length = 0;
    for entry in entries {
        let (label, notice) = match entry.author {
            Author::User => ("User", false),
            Author::Agent => ("Agent", false),
            Author::Bot => ("Bot", true),
            Author::System => ("System", true),
        };
        let line = format!("{label}: {}", entry.text);
        let line_length = line.chars().count();
        let msgtype = if notice { "m.notice" } else { "m.text" };
        match messages.last_mut() {
            Some(last) if last.msgtype == msgtype && length + 1 + line_length <= chunk => {
                last.body.push('\n');
                last.body.push_str(&line);
                length += 1 + line_length;
            }
            _ => {
                messages.push(if notice {
                    Message::notice("transcript", line)
                } else {
                    Message::text("transcript", line)
                });
                length = line_length;
            }
        }
    }
    messages
}

/// The user's input as message text; attachments as links below it.
pub fn user_text(input: &UserInput) -> String {
    let mut text = match input.kind {
        InputKind::Intent => format!("[intent] {}", input.text),
        InputKind::Text | InputKind::QuickReply => input.text.clone(),
    };
    for a in &input.attachments {
        let name = a.name.as_deref().unwrap_or("attachment");
        text.push_str(&format!("\n[{name} ({})] {}", a.content_type, a.url));
    }
    text
}
