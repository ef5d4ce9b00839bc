//! `template`: a starting point for a new provider adapter. Copy this crate,
//! rename it (package name and `NAME`), add it to `adapters/Cargo.toml` and
//! `scripts/build-adapters.sh`, then replace every TODO with provider logic.
//! `adapters/sim` is a complete example of each call.

use handover_adapter_sdk::http::{self, Ignored, path_segment};
use handover_adapter_sdk::{
    Adapter, AdapterInfo, CallContext, Capabilities, Conversation, Failure, Polling, Step,
    UserInput, adapter_version, error, events, settings, state,
};
use serde::{Deserialize, Serialize};

/// The adapter name reported by `describe`.
const NAME: &str = "chatwoot";

/// The endpoint's settings. TODO: add the provider's fields (credentials
/// are passed as settings too; never put them in failure messages or logs).
#[derive(Deserialize)]
struct Settings {
    base_url: String,
}

impl Settings {
    fn parse(text: &str) -> Result<Self, Failure> {
        let mut parsed: Settings = settings::parse(text)?;
        parsed.base_url = settings::require_http_url("base_url", &parsed.base_url)?;
        Ok(parsed)
    }
}

/// What the host keeps between calls. TODO: whatever the provider needs.
#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
}

struct Template;

impl Adapter for Template {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: NAME.into(),
            version: adapter_version!().into(),
            // TODO: the channels the provider serves ("*" for any).
            channels: vec!["webchat".into()],
            // TODO: switch on what the adapter implements.
            capabilities: Capabilities::NONE,
            // TODO: describe how the provider signs webhooks, if it sends any.
            webhook_signature: None,
            // TODO: `Polling::periodic(ms)` if the host must poll instead.
            polling: Polling::NONE,
            settings_schema: "{}".into(),
        }
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        let conversation_id = open_conversation(&settings, &conversation)?;
        let state = State {
            conversation_id: conversation_id.clone(),
        };
        // TODO: report what the provider said (queue position, wait).
        let queued = events::queued(None, None);
        Ok(Step::new(state::save(&state), vec![queued]).with_key(conversation_id))
    }

    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        let current: State = state::load(&state)?;
        // TODO: the provider's "send message" call and body.
        let url = format!(
            "{}/conversations/{}/messages",
            settings.base_url,
            path_segment(&current.conversation_id)
        );
        let _: Ignored = http::post_json(&url, &[], &input.text)?;
        Ok(Step::unchanged(state))
    }

    // TODO: implement cancel, close, check_availability, route_webhook,
    // handle_webhook and/or poll as the provider allows; the defaults
    // return `unsupported`. Events come from `events::*`, e.g.
    // `events::agent_joined(events::agent(id, name))`.
}

/// TODO: the provider's "create conversation" call, e.g.
/// `let created: Created = http::post_json(&url, &[], &body)?;`
/// returning the provider's conversation id.
fn open_conversation(settings: &Settings, conversation: &Conversation) -> Result<String, Failure> {
    let _ = (&settings.base_url, &conversation.handover_id);
    Err(error("template adapter: start is not implemented yet"))
}

handover_adapter_sdk::export!(Template);
