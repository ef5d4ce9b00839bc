//! `template`: a starting point for a new provider adapter.
//!
//! Copy this crate, rename it (package name and `NAME`), add it to
//! `adapters/Cargo.toml` and `scripts/build-adapters.sh`, then fill in
//! `provider.rs` — that file is the only one with provider logic. This file
//! is the generic glue between the contract and `provider.rs`: state,
//! settings, and one export per WIT call. `adapters/sim` is a complete,
//! hand-written example; `host/tests/template.rs` fills in this template
//! for the sim provider and runs the conformance kit on the result.

mod provider;

use handover_adapter_sdk::{
    Adapter, AdapterInfo, CallContext, Conversation, Failure, HttpRequest, HttpResponse, KeyValue,
    Step, UserInput, WebhookRoute, adapter_version, state,
};
use serde::{Deserialize, Serialize};

/// The adapter name reported by `describe`.
const NAME: &str = "template";

/// What the host keeps between calls: the provider's conversation id plus
/// whatever else `provider.rs` needs (as JSON).
#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
    #[serde(default)]
    extra: serde_json::Value,
}

fn load(bytes: &[u8]) -> Result<State, Failure> {
    state::load(bytes)
}

struct Template;

impl Adapter for Template {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: NAME.into(),
            version: adapter_version!().into(),
            channels: provider::CHANNELS.iter().map(|c| c.to_string()).collect(),
            capabilities: provider::CAPABILITIES,
            webhook_signature: provider::webhook_signature(),
            polling: provider::POLLING,
            settings_schema: "{}".into(),
        }
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        provider::Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        let settings = provider::Settings::parse(&ctx.settings)?;
        let opened = provider::open_conversation(&settings, &conversation)?;
        let s = State { conversation_id: opened.id.clone(), extra: opened.extra };
        Ok(Step::new(state::save(&s), opened.events).with_key(opened.id))
    }

    fn user_message(ctx: CallContext, bytes: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        let settings = provider::Settings::parse(&ctx.settings)?;
        provider::send_message(&settings, &load(&bytes)?.conversation_id, &input)?;
        Ok(Step::unchanged(bytes))
    }

    fn cancel(ctx: CallContext, bytes: Vec<u8>) -> Result<Step, Failure> {
        let settings = provider::Settings::parse(&ctx.settings)?;
        provider::end_conversation(&settings, &load(&bytes)?.conversation_id, provider::Ending::Cancel)?;
        Ok(Step::unchanged(bytes))
    }

    fn close(ctx: CallContext, bytes: Vec<u8>) -> Result<Step, Failure> {
        let settings = provider::Settings::parse(&ctx.settings)?;
        provider::end_conversation(&settings, &load(&bytes)?.conversation_id, provider::Ending::Close)?;
        Ok(Step::unchanged(bytes))
    }

    fn route_webhook(_settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let route = provider::route_webhook(&request.body)?;
        Ok(WebhookRoute {
            response: HttpResponse { status: 200, headers: vec![KeyValue::new("content-type", "application/json")], body: b"{}".to_vec() },
            delivery_id: route.delivery_id,
            correlation_keys: vec![route.conversation_id],
        })
    }

    fn handle_webhook(_ctx: CallContext, bytes: Vec<u8>, request: HttpRequest) -> Result<Step, Failure> {
        let mut s = load(&bytes)?;
        let events = provider::webhook_events(&request.body, &mut s.extra)?;
        Ok(Step::new(state::save(&s), events))
    }
}

handover_adapter_sdk::export!(Template);
