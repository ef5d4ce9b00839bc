//! Turning the room's `/sync` traffic into normalized events. Pure logic
//! (no I/O): the part of the adapter the unit tests cover.
//!
//! - an agent's `m.room.member` join → `agent-joined` (once per agent);
//! - an agent leaving → `agent-left`; the last one leaving → `ended(agent-left)`;
//! - every invited agent declining before anyone joined → `ended(no-agent-available)`;
//! - the bot removed from the room → `ended(provider-closed)`;
//! - `m.room.message` from anyone but the bot → `agent-message`, except the
//!   close command → `ended(agent-closed)`;
//! - ephemeral `m.typing` → `agent-typing` when "some agent is typing" changes.
//!
//! Events after an `ended` are not reported.

use crate::wire::{RoomEvent, SyncRoom};
use handover_adapter_sdk::{EndReason, Event, events};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the adapter remembers about the room's members between calls.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
#[serde(default)]
pub struct Room {
    /// Agents currently in the room, in join order.
    pub joined: Vec<String>,
    /// Display names seen in membership events.
    pub names: BTreeMap<String, String>,
    /// Invited agents who declined (left without ever joining).
    pub declined: Vec<String>,
    /// Whether any agent ever joined.
    pub ever_joined: bool,
    /// Whether an agent was typing at the last `m.typing` update.
    pub typing: bool,
}

/// The fixed facts `apply` needs.
pub struct Rules<'a> {
    /// The bot's own user id (its traffic is not agent traffic).
    pub bot: &'a str,
    /// The agents the room was created for.
    pub invited: &'a [String],
    /// The agent command that ends the conversation, e.g. `!close`.
    pub close_command: &'a str,
}

impl Room {
    /// Applies one room part of a sync response: membership state (changes
    /// before the timeline, e.g. in a gap), the timeline in order, then
    /// typing. Returns the events, `ended` last if the conversation ended.
    pub fn apply(&mut self, rules: &Rules, room: &SyncRoom) -> Vec<Event> {
        let mut out = Vec::new();
        let timeline = room.state.events.iter().chain(&room.timeline.events);
        for event in timeline {
            let ended = match event.kind.as_str() {
                "m.room.member" => self.membership(rules, event, &mut out),
                "m.room.message" => self.message(rules, event, &mut out),
                _ => false,
            };
            if ended {
                return out;
            }
        }
        for event in &room.ephemeral.events {
            if event.kind == "m.typing" {
                self.typing(rules, event, &mut out);
            }
        }
        out
    }

    /// The agent as the host reports it: user id and display name.
    fn agent(&self, user_id: &str) -> handover_adapter_sdk::Agent {
        let name = self.names.get(user_id).map_or(user_id, String::as_str);
        events::agent(user_id, name)
    }

    /// Returns true when the conversation ended.
    fn membership(&mut self, rules: &Rules, event: &RoomEvent, out: &mut Vec<Event>) -> bool {
        let Some(user) = event.state_key.as_deref() else {
            return false;
        };
        let membership = event.text("membership").unwrap_or_default();
        if user == rules.bot {
            if matches!(membership, "leave" | "ban") {
                out.push(events::ended(EndReason::ProviderClosed));
                return true;
            }
            return false;
        }
        if let Some(name) = event.text("displayname").filter(|n| !n.trim().is_empty()) {
            self.names.insert(user.to_string(), name.to_string());
        }
        let was_joined = self.joined.iter().any(|j| j == user);
        match membership {
            "join" if !was_joined => {
                self.joined.push(user.to_string());
                self.ever_joined = true;
                out.push(events::agent_joined(self.agent(user)));
            }
            "leave" | "ban" if was_joined => {
                self.joined.retain(|j| j != user);
                out.push(events::agent_left(self.agent(user)));
                if self.joined.is_empty() {
                    out.push(events::ended(EndReason::AgentLeft));
                    return true;
                }
            }
            "leave" | "ban" if !self.ever_joined && rules.invited.iter().any(|i| i == user) => {
                if !self.declined.iter().any(|d| d == user) {
                    self.declined.push(user.to_string());
                }
                let all_declined = rules
                    .invited
                    .iter()
                    .all(|i| self.declined.iter().any(|d| d == i));
                if all_declined {
                    out.push(events::ended(EndReason::NoAgentAvailable));
                    return true;
                }
            }
            _ => {}
        }
        false
    }

    /// Returns true when the message was the close command.
    fn message(&mut self, rules: &Rules, event: &RoomEvent, out: &mut Vec<Event>) -> bool {
        if event.sender == rules.bot || event.sender.is_empty() {
            return false;
        }
        let Some(text) = message_text(event, self.agent(&event.sender).name.as_str()) else {
            return false;
        };
        if text.trim().eq_ignore_ascii_case(rules.close_command) {
            out.push(events::ended(EndReason::AgentClosed));
            return true;
        }
        out.push(events::agent_message(
            Some(self.agent(&event.sender)),
            text,
            Vec::new(),
        ));
        false
    }

    fn typing(&mut self, rules: &Rules, event: &RoomEvent, out: &mut Vec<Event>) {
        let typing = event
            .content
            .get("user_ids")
            .and_then(|ids| ids.as_array())
            .is_some_and(|ids| ids.iter().any(|id| id.as_str() != Some(rules.bot)));
        if typing != self.typing {
            self.typing = typing;
            out.push(events::typing(typing));
        }
    }
}

/// The text of an agent's `m.room.message` for the user; `None` for
/// events without a body (e.g. redacted ones). Edits are forwarded as new
/// messages marked "(edited)"; files and other media are named but not
/// forwarded (their `mxc://` URLs need the bot's credentials).
pub fn message_text(event: &RoomEvent, sender_name: &str) -> Option<String> {
    let content = &event.content;
    let relates = content.get("m.relates_to");
    let is_edit = relates
        .and_then(|r| r.get("rel_type"))
        .and_then(|t| t.as_str())
        == Some("m.replace");
    if is_edit {
        let new = content.get("m.new_content")?;
        let body = new.get("body")?.as_str()?;
        return Some(format!("(edited) {body}"));
    }
    let body = event.text("body")?;
    let msgtype = event.text("msgtype").unwrap_or("m.text");
    Some(match msgtype {
        "m.text" | "m.notice" => body.to_string(),
        "m.emote" => format!("* {sender_name} {body}"),
        "m.image" | "m.file" | "m.audio" | "m.video" => {
            let what = msgtype.trim_start_matches("m.");
            format!("[the agent sent a {what} in Matrix: {body}; files are not forwarded]")
        }
        _ => body.to_string(),
    })
}
