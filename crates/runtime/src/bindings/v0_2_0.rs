//! `handover:provider@0.2.0`: generated bindings and model conversions.
//!
//! Owns the mapping between 0.2.0's WIT values and `handover_core::model`
//! (the types 0.2.0 shares with 0.1.0 come from `convert`); it must stay a
//! pure translation (no policy, no limits, no I/O).

use handover_core::model as m;

wasmtime::component::bindgen!({
    path: "../../wit/v0.2.0",
    world: "handover-adapter",
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use exports::handover::provider::adapter as guest;
pub use handover::provider::log as log_if;
pub use handover::provider::types as t;

super::convert::shared_conversions!();

fn action(a: t::Action) -> m::Action {
    match a {
        t::Action::QuickReply(q) => m::Action::QuickReply {
            title: q.title,
            payload: q.payload,
        },
        t::Action::Link(l) => m::Action::Link {
            title: l.title,
            url: l.url,
        },
    }
}

pub fn event(e: t::Event) -> m::ProviderEvent {
    use m::ProviderEvent as E;
    match e {
        t::Event::Queued(q) => E::Queued {
            position: q.position,
            estimated_wait_seconds: q.estimated_wait_seconds,
        },
        t::Event::AgentJoined(a) => E::AgentJoined { agent: agent(a) },
        t::Event::AgentMessage(msg) => E::AgentMessage {
            agent: msg.agent.map(agent),
            text: msg.text,
            attachments: msg.attachments.into_iter().map(attachment).collect(),
            actions: msg.actions.into_iter().map(action).collect(),
        },
        t::Event::AgentTyping(on) => E::AgentTyping { typing: on },
        t::Event::AgentLeft(a) => E::AgentLeft { agent: agent(a) },
        t::Event::Transferred(tr) => E::Transferred {
            to_queue: tr.to_queue,
            to_agent: tr.to_agent.map(agent),
        },
        t::Event::Ended(r) => E::Ended {
            reason: end_reason(r),
        },
        t::Event::ReturnedToBot(h) => E::ReturnedToBot {
            variables: h.variables,
            note: h.note,
        },
        t::Event::WrapUp(w) => E::WrapUp {
            disposition: w.disposition,
            resolution_code: w.resolution_code,
            notes: w.notes,
        },
        t::Event::Survey(s) => E::Survey {
            score: s.score,
            scale_max: s.scale_max,
            comment: s.comment,
        },
        t::Event::Receipt(r) => E::Receipt {
            message_ids: r.message_ids,
            status: match r.status {
                t::ReceiptStatus::Delivered => m::ReceiptStatus::Delivered,
                t::ReceiptStatus::Read => m::ReceiptStatus::Read,
            },
            timestamp_ms: r.timestamp_ms,
        },
        t::Event::ProviderReference(p) => E::ProviderReference {
            kind: p.kind,
            id: p.id,
            url: p.url,
        },
    }
}

pub fn user_input(i: &m::UserInput) -> t::UserInput {
    t::UserInput {
        id: i.id.clone(),
        kind: input_kind(i.kind),
        text: i.text.clone(),
        attachments: i.attachments.iter().map(to_attachment).collect(),
    }
}

fn locator(l: t::Locator) -> m::Locator {
    match l {
        t::Locator::Header(h) => m::Locator::Header(h),
        t::Locator::JsonPointer(p) => m::Locator::JsonPointer(p),
    }
}

pub fn adapter_info(i: t::AdapterInfo) -> m::AdapterInfo {
    let c = i.capabilities;
    m::AdapterInfo {
        name: i.name,
        version: i.version,
        channels: i.channels,
        capabilities: m::Capabilities {
            attachments: c.attachments,
            typing: c.typing,
            queue_position: c.queue_position,
            availability_check: c.availability_check,
            bot_side_close: c.bot_side_close,
            transcript: c.transcript,
            hand_back: c.hand_back,
            wrap_up: c.wrap_up,
            receipts: c.receipts,
            user_typing: c.user_typing,
            rich_messages: c.rich_messages,
        },
        webhook_signature: i.webhook_signature.map(signature),
        polling: polling(i.polling),
        settings_schema: i.settings_schema,
        permissions: Some(m::Permissions {
            egress: i.permissions.egress,
            secrets: i.permissions.secrets,
        }),
        webhook_routing: i.webhook_routing.map(|r| m::WebhookRouting {
            correlation_key: locator(r.correlation_key),
            key_prefix: r.key_prefix,
            delivery_id: r.delivery_id.map(locator),
            response: m::HttpResponse {
                status: r.response.status,
                headers: kv(r.response.headers),
                body: r.response.body,
            },
        }),
    }
}
