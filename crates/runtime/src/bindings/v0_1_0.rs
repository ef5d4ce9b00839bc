//! `handover:provider@0.1.0`: generated bindings and model conversions.
//!
//! Owns the mapping between WIT values and `handover_core::model`; it must stay a
//! pure translation (no policy, no limits, no I/O).

use handover_core::model as m;

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
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
            actions: vec![],
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
    }
}

pub fn user_input(i: &m::UserInput) -> t::UserInput {
    t::UserInput {
        kind: input_kind(i.kind),
        text: i.text.clone(),
        attachments: i.attachments.iter().map(to_attachment).collect(),
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
            ..Default::default()
        },
        webhook_signature: i.webhook_signature.map(signature),
        polling: polling(i.polling),
        settings_schema: i.settings_schema,
        permissions: None,
        webhook_routing: None,
    }
}
