//! `template`: a starting point for a new provider adapter.
//!
//! To start an adapter: copy this folder to `adapters/<name>/`, rename the
//! package in its `Cargo.toml` to `adapter-<name>` (the workspace picks the
//! folder up by itself, the build names the component `<name>.wasm` and
//! `describe` reports `<name>`), then fill in `provider.rs` — the only file
//! with provider logic. No file outside the new folder needs an edit.
//!
//! This file is the generic glue between the contract and `provider.rs`: the
//! SDK's typed layer parses the settings (with `provider::Settings::parse`)
//! and loads and saves the [`State`]; each export calls one provider
//! function. `adapters/sim-adapter` is a complete, hand-written example;
//! `host/tests/template.rs` fills in this template for the sim provider and
//! runs the conformance kit on the result.

mod provider;

use handover_adapter_sdk::{
    AdapterInfo, Conversation, Cx, EndpointSettings, Failure, HandoverState, HttpRequest,
    HttpResponse, KeyValue, Output, Reply, TypedAdapter, UserInput, WebhookRoute, adapter_version,
};
use serde::{Deserialize, Serialize};

/// The adapter name reported by `describe`: the package name without its
/// `adapter-` prefix (`adapter-template` → `template`).
fn name() -> &'static str {
    let package = env!("CARGO_PKG_NAME");
    package.strip_prefix("adapter-").unwrap_or(package)
}

/// What the host keeps between calls: the provider's conversation id plus
/// whatever else `provider.rs` needs (as JSON).
#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
    #[serde(default)]
    extra: serde_json::Value,
}

impl HandoverState for State {}

/// The endpoint's settings as `provider::Settings::parse` reads them.
struct Settings(provider::Settings);

impl EndpointSettings for Settings {
    fn parse(text: &str) -> Result<Self, Failure> {
        provider::Settings::parse(text).map(Settings)
    }
}

struct Template;

impl TypedAdapter for Template {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        let mut info = AdapterInfo::new(name(), adapter_version!(), provider::CHANNELS).with(
            provider::CAPABILITIES,
            provider::POLLING,
            "{}",
        );
        info.webhook_signature = provider::webhook_signature();
        info
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let opened = provider::open_conversation(&cx.settings.0, &conversation)?;
        state.conversation_id = opened.id.clone();
        state.extra = opened.extra;
        Ok(Output::from(opened.events).with_key(opened.id))
    }

    fn user_message(cx: &Cx<Settings>, state: &mut State, input: UserInput) -> Reply {
        provider::send_message(&cx.settings.0, &state.conversation_id, &input)?;
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let ending = provider::Ending::Cancel;
        provider::end_conversation(&cx.settings.0, &state.conversation_id, ending)?;
        Ok(Output::none())
    }

    fn close(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let ending = provider::Ending::Close;
        provider::end_conversation(&cx.settings.0, &state.conversation_id, ending)?;
        Ok(Output::none())
    }

    fn route_webhook(_settings: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let route = provider::route_webhook(&request.body)?;
        Ok(WebhookRoute {
            response: HttpResponse {
                status: 200,
                headers: vec![KeyValue::new("content-type", "application/json")],
                body: b"{}".to_vec(),
            },
            delivery_id: route.delivery_id,
            correlation_keys: vec![route.conversation_id],
        })
    }

    fn handle_webhook(_cx: &Cx<Settings>, state: &mut State, request: HttpRequest) -> Reply {
        Ok(provider::webhook_events(&request.body, &mut state.extra)?.into())
    }
}

handover_adapter_sdk::export!(Template);
