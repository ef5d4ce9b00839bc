//! Sunshine v2 webhooks: a payload carries several events, possibly of
//! several conversations; each handover applies its own, in order.

use crate::State;
use crate::settings::Settings;
use crate::wire::{self, Event, MessagePage};
use handover_adapter_sdk::http::{self, path_segment};
use handover_adapter_sdk::{EndReason, Failure, HttpRequest, Reply, WebhookRoute, events, log};
use serde_json::Value;

/// Most pages of messages read per webhook.
const MAX_PAGES: usize = 20;

pub fn route(s: &Settings, request: &HttpRequest) -> Result<WebhookRoute, Failure> {
    let hook = wire::parse_webhook(&request.body)?;
    let other_app = hook.app["id"].as_str().is_some_and(|app| app != s.app_id);
    let mut keys: Vec<String> = Vec::new();
    if !other_app {
        for key in hook
            .events
            .iter()
            .filter_map(Event::conversation)
            .map(|c| s.key(c))
        {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    // Sunshine retries a payload as it was: its event ids identify it.
    let ids: Vec<&str> = hook.events.iter().map(|e| e.id.as_str()).collect();
    let delivery_id = (!ids.is_empty()).then(|| ids.join(","));
    Ok(WebhookRoute::acknowledged(delivery_id, keys))
}

pub fn handle(s: &Settings, st: &mut State, request: &HttpRequest) -> Reply {
    let hook = wire::parse_webhook(&request.body)?;
    let mut out = Vec::new();
    for event in hook.events {
        if st.closed || st.ended {
            break;
        }
        if event.conversation() != Some(st.conversation_id.as_str()) || st.seen.contains(&event.id)
        {
            continue;
        }
        st.seen.push(event.id.clone());
        let overflow = st.seen.len().saturating_sub(crate::SEEN_EVENTS);
        st.seen.drain(..overflow);
        match event.kind.as_str() {
            "conversation:message" => {
                let message: Option<wire::Message> =
                    serde_json::from_value(event.payload["message"].clone()).ok();
                if message.is_some_and(|m| m.is_reply() && Some(&m.id) != st.cursor.as_ref()) {
                    out.extend(replies(s, st)?);
                }
            }
            "conversation:typing" => {
                let activity = &event.payload["activity"];
                if activity["author"]["type"] == "business" {
                    out.push(events::typing(activity["type"] == "typing:start"));
                }
            }
            "switchboard:acceptControl" => {
                let agent_side = event
                    .active()
                    .is_some_and(|si| wire::names(si, &s.switchboard_integration));
                if agent_side && st.agent.is_none() {
                    let name = event.payload["metadata"]["agentName"]
                        .as_str()
                        .or(event.active().and_then(|si| si["name"].as_str()))
                        .unwrap_or("agent")
                        .to_string();
                    out.push(events::agent_joined(events::agent(&name, &name)));
                    st.agent = Some(name);
                }
            }
            "switchboard:passControl" => match event.active() {
                Some(si) if wire::names(si, &s.switchboard_integration) => {}
                Some(si) if is_bot(s, si) => {
                    end(s, st, &mut out, reason_of(&event, EndReason::AgentClosed))
                }
                Some(si) => {
                    let name = si["name"].as_str().map(String::from);
                    out.push(events::transferred(name, None));
                }
                None => end(
                    s,
                    st,
                    &mut out,
                    reason_of(&event, EndReason::ProviderClosed),
                ),
            },
            "switchboard:releaseControl" => {
                end(
                    s,
                    st,
                    &mut out,
                    reason_of(&event, EndReason::ProviderClosed),
                );
            }
            "conversation:remove" => end(s, st, &mut out, EndReason::ProviderClosed),
            _ => {}
        }
    }
    Ok(out.into())
}

/// Whether control went back to the bot: its configured integration, or,
/// when none is configured, anything but the agent integration.
fn is_bot(s: &Settings, si: &Value) -> bool {
    match &s.bot_switchboard_integration {
        Some(bot) => wire::names(si, bot),
        None => true,
    }
}

/// The end reason of a switchboard event (`ticketClosed` is the agent
/// closing the ticket).
pub(crate) fn reason_of(event: &Event, default: EndReason) -> EndReason {
    match event.payload["reason"].as_str() {
        Some("ticketClosed") => EndReason::AgentClosed,
        Some("transferToEmail") => EndReason::Other("transferred to email".into()),
        Some(other) => EndReason::Other(other.into()),
        None => default,
    }
}

/// Agent replies after the cursor, in conversation order. The first reply
/// of an agent nobody announced reports the agent as joined.
fn replies(s: &Settings, st: &mut State) -> Result<Vec<handover_adapter_sdk::Event>, Failure> {
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut url = s.url(&st.conversation_id, "messages");
        if let Some(cursor) = &st.cursor {
            url = format!("{url}?page%5Bafter%5D={}", path_segment(cursor));
        }
        let page: MessagePage = http::get_json(&url, &[])?;
        for m in &page.messages {
            st.cursor = Some(m.id.clone());
            if !m.is_reply() {
                continue;
            }
            let agent = m.agent();
            if st.agent.is_none()
                && let Some(a) = &agent
            {
                st.agent = Some(a.name.clone());
                out.push(events::agent_joined(a.clone()));
            }
            out.push(events::agent_message(agent, m.text(), m.attachments()));
        }
        if !page.meta.has_more || page.messages.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The agent side ended the handover: replies not yet seen, then `ended`.
/// A failing fetch does not hold the end back.
fn end(
    s: &Settings,
    st: &mut State,
    out: &mut Vec<handover_adapter_sdk::Event>,
    reason: EndReason,
) {
    match replies(s, st) {
        Ok(events) => out.extend(events),
        Err(e) => log::warn(&format!(
            "replies before the end could not be read: {}",
            e.message
        )),
    }
    out.push(events::ended(reason));
    st.ended = true;
}
