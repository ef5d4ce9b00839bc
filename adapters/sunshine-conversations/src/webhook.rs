//! Sunshine v2 webhooks: a payload carries several events, possibly of
//! several conversations; each handover applies its own, in order.

use crate::State;
use crate::settings::Settings;
use crate::wire::{self, Event, MessagePage};
use handover_adapter_sdk::http::{self, path_segment};
use handover_adapter_sdk::v0_2::{self, ReceiptStatus};
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
            // The agent side read the conversation: every user message
            // Sunshine received before that is read.
            "conversation:read" if event.by_business() => {
                out.extend(read(st, event.created_ms()));
            }
            "conversation:typing" if event.by_business() => {
                let start = event.payload["activity"]["type"] == "typing:start";
                out.push(events::typing(start));
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
                Some(si) if is_bot(s, si) => end(s, st, &mut out, given_back(&event)),
                Some(si) => {
                    let name = si["name"].as_str().map(String::from);
                    out.push(events::transferred(name, None));
                }
                None => {
                    let last = events::ended(reason_of(&event, EndReason::ProviderClosed));
                    end(s, st, &mut out, last)
                }
            },
            "switchboard:releaseControl" => end(s, st, &mut out, given_back(&event)),
            "conversation:remove" => end(s, st, &mut out, events::ended(EndReason::ProviderClosed)),
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

/// Control given back to the bot (passed to it, or released so that the
/// switchboard's default takes the next message): the agent handed the
/// conversation back, with the event's `metadata` as the variables. With
/// a `reason` (`ticketClosed`: the agent closed the ticket;
/// `transferToEmail`) the conversation ended instead.
pub(crate) fn given_back(event: &Event) -> handover_adapter_sdk::Event {
    if event.payload["reason"].is_string() {
        events::ended(reason_of(event, EndReason::AgentClosed))
    } else {
        v0_2::returned_to_bot(&event.variables(), None)
    }
}

/// A read receipt of the user's messages Sunshine received up to `at`
/// (all of them when the time is unknown); they are forgotten.
fn read(st: &mut State, at: Option<u64>) -> Option<handover_adapter_sdk::Event> {
    let (read, unread): (Vec<_>, Vec<_>) = std::mem::take(&mut st.unread)
        .into_iter()
        .partition(|u| at.is_none_or(|t| u.received_ms <= t));
    st.unread = unread;
    (!read.is_empty()).then(|| {
        let ids = read.into_iter().map(|u| u.id).collect();
        v0_2::receipt(ids, ReceiptStatus::Read, at)
    })
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
            let (actions, dropped) = m.actions();
            if !dropped.is_empty() {
                log::warn(&format!(
                    "Sunshine actions with no equivalent left out of message {}: {}",
                    m.id,
                    dropped.join(", ")
                ));
            }
            out.push(v0_2::rich_message(
                agent,
                m.text(),
                m.attachments(),
                actions,
            ));
        }
        if !page.meta.has_more || page.messages.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The agent side ended the handover: replies not yet seen, then `last`
/// (`ended` or `returned-to-bot`). A failing fetch does not hold the end
/// back.
fn end(
    s: &Settings,
    st: &mut State,
    out: &mut Vec<handover_adapter_sdk::Event>,
    last: handover_adapter_sdk::Event,
) {
    match replies(s, st) {
        Ok(events) => out.extend(events),
        Err(e) => log::warn(&format!(
            "replies before the end could not be read: {}",
            e.message
        )),
    }
    out.push(last);
    st.ended = true;
}
