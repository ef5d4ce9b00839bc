//! Chatwoot webhooks (account webhooks or the API inbox's callback URL):
//! which conversation one concerns, and what it means for a handover.

use crate::State;
use crate::settings::Settings;
use crate::wire::{self, MessagePage};
use handover_adapter_sdk::http;
use handover_adapter_sdk::state::AgentRef;
use handover_adapter_sdk::v0_2::{self, ReceiptStatus};
use handover_adapter_sdk::{
    EndReason, Event, Failure, HttpRequest, Output, Reply, WebhookRoute, error, events, log,
};
use serde_json::Value;
use std::collections::HashMap;

/// Most pages of 100 messages read per webhook.
const MAX_PAGES: usize = 20;

fn parse(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|e| error(format!("malformed Chatwoot webhook body: {e}")))
}

/// The conversation display id a payload concerns: message and typing
/// events carry `conversation`, conversation events are the conversation.
fn conversation_of(hook: &Value) -> Option<u64> {
    match hook["conversation"]["id"].as_u64() {
        Some(id) => Some(id),
        None if event(hook).starts_with("conversation_") => hook["id"].as_u64(),
        None => None,
    }
}

/// The inbox a payload concerns, when it says.
fn inbox_of(hook: &Value) -> Option<u64> {
    hook["inbox"]["id"]
        .as_u64()
        .or(hook["inbox_id"].as_u64())
        .or(hook["conversation"]["inbox_id"].as_u64())
}

fn event(hook: &Value) -> &str {
    hook["event"].as_str().unwrap_or_default()
}

pub fn route(s: &Settings, request: &HttpRequest) -> Result<WebhookRoute, Failure> {
    let hook = parse(&request.body)?;
    let ours = inbox_of(&hook).is_none_or(|inbox| inbox == s.inbox_id);
    let keys = match conversation_of(&hook) {
        Some(id) if ours => vec![s.key(id)],
        _ => Vec::new(),
    };
    let header = request
        .headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case("x-chatwoot-delivery"))
        .map(|h| h.value.clone());
    // Unsigned (older) Chatwoot sends no delivery id: derive a stable one.
    // Typing events may repeat legitimately and are never deduplicated.
    let derived = match event(&hook) {
        "" => None,
        e if e.starts_with("conversation_typing") => None,
        e if e.starts_with("message_") => hook["id"].as_u64().map(|id| format!("{e}:{id}")),
        e => conversation_of(&hook).map(|id| format!("{e}:{id}:{}", hook["updated_at"])),
    };
    Ok(WebhookRoute::acknowledged(header.or(derived), keys))
}

pub fn handle(s: &Settings, st: &mut State, request: &HttpRequest) -> Reply {
    if st.closed || st.ended {
        return Ok(Output::none());
    }
    let hook = parse(&request.body)?;
    if conversation_of(&hook) != Some(st.conversation_id) {
        return Err(error(format!(
            "Chatwoot webhook for conversation {:?} reached the handover of conversation {}",
            conversation_of(&hook),
            st.conversation_id
        )));
    }
    // Every conversation the webhook shows says when an agent last viewed it.
    let mut out = match last_seen(&hook) {
        Some(at) => seen_by_agent(st, at),
        None => Vec::new(),
    };
    match event(&hook) {
        "message_created" => {
            let message: wire::Message = serde_json::from_value(hook.clone())
                .map_err(|e| error(format!("malformed Chatwoot message_created: {e}")))?;
            if message.is_reply() && message.id > st.last_message_id {
                out.extend(replies(s, st)?);
            }
        }
        "message_updated" => {
            // A status change of one of the user's messages: the webhook
            // only rings the bell, the API's `status` says what changed.
            let message: wire::Message = serde_json::from_value(hook.clone())
                .map_err(|e| error(format!("malformed Chatwoot message_updated: {e}")))?;
            if message.is_incoming() && st.sent.iter().any(|m| m.id == message.id) {
                out.extend(receipts(s, st)?);
            }
        }
        "conversation_updated" => {
            if fresh(st, &hook) {
                assignment(st, &hook, &mut out);
            }
            if hook["status"] == "resolved" {
                end(s, st, &mut out);
            }
        }
        "conversation_status_changed" if hook["status"] == "resolved" => {
            end(s, st, &mut out);
        }
        "conversation_typing_on" | "conversation_typing_off" => {
            let by_agent = hook["user"]["type"] != "contact";
            if by_agent && hook["is_private"] != true {
                out.push(events::typing(event(&hook) == "conversation_typing_on"));
            }
        }
        _ => {}
    }
    Ok(st.keyed(out.into()))
}

/// Whether a conversation event is newer than the last one applied (by its
/// `updated_at`); late, older snapshots must not undo a newer assignment.
fn fresh(st: &mut State, hook: &Value) -> bool {
    match hook["updated_at"].as_f64() {
        Some(t) if t <= st.last_update => false,
        Some(t) => {
            st.last_update = t;
            true
        }
        None => true,
    }
}

/// Assignee and team changes: joined, transferred to another agent or
/// team, or left (unassigned).
fn assignment(st: &mut State, hook: &Value, out: &mut Vec<Event>) {
    let meta = &hook["meta"];
    let assignee = meta
        .get("assignee")
        .filter(|a| a.is_object())
        .and_then(wire::sender_agent)
        .map(|a| AgentRef::from(&a));
    match (&st.agent, &assignee) {
        (None, Some(a)) => out.push(events::agent_joined(a.to_agent())),
        (Some(old), Some(a)) if old.id != a.id => {
            out.push(events::transferred(None, Some(a.to_agent())))
        }
        (Some(old), None) => out.push(events::agent_left(old.to_agent())),
        _ => {}
    }
    st.agent = assignee;
    let team = meta["team"]["id"].as_u64();
    if team.is_some() && team != st.team_id {
        let name = meta["team"]["name"].as_str().map(String::from);
        out.push(events::transferred(name, None));
    }
    st.team_id = team;
}

/// Agent replies newer than `last_message_id`, in id order, fetched from
/// the conversation (the webhook only rings the bell). The first reply of
/// an agent nobody announced reports that agent as joined.
fn replies(s: &Settings, st: &mut State) -> Result<Vec<Event>, Failure> {
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let url = s.conversation_url(
            st.conversation_id,
            &format!("messages?after={}", st.last_message_id),
        );
        let page: MessagePage = http::get_json(&url, &[])?;
        // Chatwoot pages `after` by 100; versions without `after` send the
        // latest 20, filtered here.
        let full = page.payload.len() >= 100;
        let mut new: Vec<wire::Message> = page
            .payload
            .into_iter()
            .filter(|m| m.id > st.last_message_id)
            .collect();
        if new.is_empty() {
            break;
        }
        new.sort_by_key(|m| m.id);
        for m in new {
            st.last_message_id = m.id;
            if !m.is_reply() {
                continue;
            }
            let agent = m.agent();
            if st.agent.is_none()
                && let Some(a) = &agent
            {
                st.agent = Some(AgentRef::from(a));
                out.push(events::agent_joined(a.clone()));
            }
            out.push(v0_2::rich_message(
                agent,
                m.content.clone().unwrap_or_default(),
                m.attachments(),
                m.actions(),
            ));
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// The conversation's `agent_last_seen_at` (Unix seconds) in a webhook:
/// message and typing events carry the conversation, conversation events
/// are the conversation. `None` when absent or 0 (never viewed).
fn last_seen(hook: &Value) -> Option<u64> {
    let conversation = match hook.get("conversation") {
        Some(c) if c.is_object() => c,
        _ if event(hook).starts_with("conversation_") => hook,
        _ => return None,
    };
    let at = &conversation["agent_last_seen_at"];
    at.as_u64()
        .or_else(|| at.as_f64().map(|f| f as u64))
        .filter(|&t| t > 0)
}

/// An agent viewed the conversation at `at`: the user's messages created
/// before then (every part) are read. Both are whole seconds: a message of
/// the same second may have come after the view, and waits for a later one.
fn seen_by_agent(st: &mut State, at: u64) -> Vec<Event> {
    let mut read: Vec<String> = Vec::new();
    for m in &st.sent {
        if read.contains(&m.host) {
            continue;
        }
        let all_seen = st
            .sent
            .iter()
            .filter(|x| x.host == m.host)
            .all(|x| x.at > 0 && x.at < at);
        if all_seen {
            read.push(m.host.clone());
        }
    }
    if read.is_empty() {
        return Vec::new();
    }
    st.sent.retain(|m| !read.contains(&m.host));
    vec![v0_2::receipt(read, ReceiptStatus::Read, Some(at * 1000))]
}

/// Receipts of the user's messages whose status moved on: `delivered` (once)
/// and `read` (then forgotten), by the host's ids. A host message split
/// into several Chatwoot messages counts as far as its least advanced part.
/// The statuses are read from the conversation's messages from the oldest
/// awaited one on.
fn receipts(s: &Settings, st: &mut State) -> Result<Vec<Event>, Failure> {
    let Some(first) = st.sent.iter().map(|m| m.id).min() else {
        return Ok(Vec::new());
    };
    // Chatwoot message id → (progress, updated_at seconds).
    let mut seen: HashMap<u64, (u8, Option<u64>)> = HashMap::new();
    let mut after = first.saturating_sub(1);
    for _ in 0..MAX_PAGES {
        let url = s.conversation_url(st.conversation_id, &format!("messages?after={after}"));
        let page: MessagePage = http::get_json(&url, &[])?;
        let full = page.payload.len() >= 100;
        let newest = page.payload.iter().map(|m| m.id).max().unwrap_or(after);
        for m in page.payload {
            if st.sent.iter().any(|x| x.id == m.id) {
                seen.insert(m.id, (m.progress(), m.updated_at.as_u64()));
            }
        }
        if !full || newest <= after {
            break;
        }
        after = newest;
    }
    let mut hosts: Vec<&str> = Vec::new();
    for m in &st.sent {
        if !hosts.contains(&m.host.as_str()) {
            hosts.push(&m.host);
        }
    }
    let (mut read, mut delivered) = (Vec::new(), Vec::new());
    let (mut read_at, mut delivered_at) = (None, None);
    for host in hosts {
        let parts: Vec<&crate::Sent> = st.sent.iter().filter(|m| m.host == host).collect();
        let progress = parts
            .iter()
            .map(|m| seen.get(&m.id).map_or(0, |p| p.0))
            .min()
            .unwrap_or(0);
        let at = parts.iter().filter_map(|m| seen.get(&m.id)?.1).max();
        if progress == 2 {
            read.push(host.to_string());
            read_at = read_at.max(at);
        } else if progress == 1 && !parts.iter().all(|m| m.delivered) {
            delivered.push(host.to_string());
            delivered_at = delivered_at.max(at);
        }
    }
    st.sent.retain(|m| !read.contains(&m.host));
    for m in st.sent.iter_mut().filter(|m| delivered.contains(&m.host)) {
        m.delivered = true;
    }
    let ms = |t: Option<u64>| t.map(|s| s * 1000);
    let mut out = Vec::new();
    if !delivered.is_empty() {
        out.push(v0_2::receipt(
            delivered,
            ReceiptStatus::Delivered,
            ms(delivered_at),
        ));
    }
    if !read.is_empty() {
        out.push(v0_2::receipt(read, ReceiptStatus::Read, ms(read_at)));
    }
    Ok(out)
}

/// The agent resolved the conversation: report replies not yet seen, then
/// `ended`. A failing fetch does not hold the end back.
fn end(s: &Settings, st: &mut State, out: &mut Vec<Event>) {
    match replies(s, st) {
        Ok(events) => out.extend(events),
        Err(e) => log::warn(&format!(
            "replies before the end could not be read: {}",
            e.message
        )),
    }
    out.push(events::ended(EndReason::AgentClosed));
    st.ended = true;
}
