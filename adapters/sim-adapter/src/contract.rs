//! What differs between the contract 0.1.0 build (`sim`, `sim-poll`) and
//! the 0.2.0 build (`sim-v2`, feature `contract-0-2`): the declarations
//! `describe` adds and how the provider's newer events are reported. A
//! 0.1.0 build reports a hand-back as the end of the conversation
//! (`other("returned_to_bot")`) and drops what 0.1.0 cannot carry, with a
//! warning in the log.

use handover_adapter_sdk::{AdapterInfo, Agent, Attachment, Event};
use sim_logic::{Action, Normalized};

#[cfg(not(feature = "contract-0-2"))]
use handover_adapter_sdk::{EndReason, events, log};

/// `describe`'s answer for this contract.
#[cfg(not(feature = "contract-0-2"))]
pub fn describe(info: AdapterInfo) -> AdapterInfo {
    info
}

/// `describe`'s answer for this contract: it needs the provider's origin
/// (`base_url`) and no secret, and webhooks name their conversation at
/// `/conversation_id` and their delivery at `/event_id`.
#[cfg(feature = "contract-0-2")]
pub fn describe(info: AdapterInfo) -> AdapterInfo {
    use handover_adapter_sdk::v0_2::{Locator, WebhookRouting};
    let body = std::str::from_utf8(sim_logic::WEBHOOK_RESPONSE_BODY).unwrap_or("{}");
    info.needs(&["{base_url}"], &[])
        .routed_by(WebhookRouting::json(
            "/conversation_id",
            "",
            Some(Locator::JsonPointer("/event_id".into())),
            body,
        ))
}

/// An agent's message; its buttons and links only where the contract has them.
pub fn agent_message(
    agent: Option<Agent>,
    text: String,
    attachments: Vec<Attachment>,
    actions: Vec<Action>,
) -> Event {
    #[cfg(feature = "contract-0-2")]
    {
        use handover_adapter_sdk::v0_2;
        let actions = actions
            .into_iter()
            .map(|a| match a {
                Action::QuickReply { title, payload } => v0_2::quick_reply(title, payload),
                Action::Link { title, url } => v0_2::link(title, url),
            })
            .collect();
        v0_2::rich_message(agent, text, attachments, actions)
    }
    #[cfg(not(feature = "contract-0-2"))]
    {
        if !actions.is_empty() {
            log::warn("contract 0.1.0 carries no buttons or links: the agent's were dropped");
        }
        events::agent_message(agent, text, attachments)
    }
}

/// The events newer than 0.1.0, as this contract reports them.
#[cfg(not(feature = "contract-0-2"))]
pub fn newer(event: Normalized) -> Option<Event> {
    match event {
        Normalized::ReturnedToBot { .. } => {
            Some(events::ended(EndReason::Other("returned_to_bot".into())))
        }
        other => {
            log::warn(&format!(
                "contract 0.1.0 cannot carry this provider event, dropped: {other:?}"
            ));
            None
        }
    }
}

/// The events newer than 0.1.0, as this contract reports them.
#[cfg(feature = "contract-0-2")]
pub fn newer(event: Normalized) -> Option<Event> {
    use handover_adapter_sdk::v0_2::{self, ReceiptStatus};
    Some(match event {
        Normalized::ReturnedToBot { variables, note } => v0_2::returned_to_bot(&variables, note),
        Normalized::WrapUp {
            disposition,
            resolution_code,
            notes,
        } => v0_2::wrap_up(disposition, resolution_code, notes),
        Normalized::Survey {
            score,
            scale_max,
            comment,
        } => v0_2::survey(score, scale_max, comment),
        Normalized::Receipt {
            message_ids,
            read,
            ts,
        } => {
            let status = if read {
                ReceiptStatus::Read
            } else {
                ReceiptStatus::Delivered
            };
            v0_2::receipt(message_ids, status, ts)
        }
        Normalized::Ticket(t) => v0_2::provider_reference("ticket", t.id, t.url),
        // Plain events are mapped by the caller.
        _ => return None,
    })
}
