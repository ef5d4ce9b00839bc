//! `sunshine-conversations`: hands a Zendesk Sunshine Conversations
//! conversation to the agent side through the switchboard.
//!
//! The conversation already exists at Sunshine (the user talks to the bot
//! through it): its id comes from the flow's context
//! (`sunshine_conversation_id`) or, failing that, the session id; the user
//! from `sunshine_user_id` or the handover's user id as external id.
//!
//! Start: post the transcript (optional), note where the conversation's
//! messages stand (the cursor), then `passControl` to the agent
//! integration with the routing as metadata. User input is posted as
//! user-authored messages. Webhooks (`X-API-Key` shared secret): a
//! business `conversation:message` → fetch messages after the cursor (so
//! duplicated, late or out-of-order webhooks yield each reply once, in
//! order), `conversation:typing` → typing, `switchboard:acceptControl` by
//! the agent integration → agent joined, `switchboard:releaseControl` or
//! control passed back → ended. Cancel and close pass control back to the
//! bot integration (or release it).

mod settings;
mod webhook;
mod wire;

#[cfg(test)]
mod tests;

use handover_adapter_sdk::http::{self, Ignored};
use handover_adapter_sdk::{
    Adapter, AdapterInfo, CallContext, Capabilities, Conversation, Failure, HttpRequest, Level,
    Polling, SignatureAlgorithm, SignatureEncoding, SignedContent, Step, UserInput, WebhookRoute,
    WebhookSignature, adapter_version, error, events, log, state,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use settings::{DEFAULT_CHANNELS, Settings};
use wire::UserAuthor;

/// Event ids remembered to drop duplicates that arrive in another payload.
const SEEN_EVENTS: usize = 100;

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
    author: UserAuthor,
    /// Id of the newest message already looked at (`page[after]`).
    #[serde(default)]
    cursor: Option<String>,
    /// Display name of the agent reported as joined.
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    seen: Vec<String>,
    /// Control handed back by the bot side (cancel/close).
    #[serde(default)]
    closed: bool,
    /// The agent side ended it: `ended` was reported.
    #[serde(default)]
    ended: bool,
}

impl State {
    fn load(bytes: &[u8]) -> Result<Self, Failure> {
        let st: State = state::load(bytes)?;
        if st.conversation_id.is_empty() {
            return Err(error("no Sunshine conversation in the handover state"));
        }
        Ok(st)
    }
}

struct Sunshine;

impl Adapter for Sunshine {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "sunshine-conversations".into(),
            version: adapter_version!().into(),
            channels: DEFAULT_CHANNELS.map(String::from).to_vec(),
            capabilities: Capabilities {
                attachments: true,
                typing: true,
                queue_position: false,
                availability_check: false,
                bot_side_close: true,
                transcript: true,
            },
            webhook_signature: Some(WebhookSignature {
                algorithm: SignatureAlgorithm::SharedSecret,
                header: "X-API-Key".into(),
                encoding: SignatureEncoding::Hex,
                prefix: None,
                signed: SignedContent::Body,
                timestamp_header: None,
                delivery_id_header: None,
            }),
            polling: Polling::NONE,
            settings_schema: include_str!("../settings.schema.json").into(),
        }
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        let s = Settings::parse(&ctx.settings)?;
        s.check_channel(&conversation.channel)?;
        let (id, author) = wire::identify(&conversation)?;
        let metadata = wire::routing_metadata(&conversation)?;
        let mut cursor = None;
        if s.post_transcript.unwrap_or(true) {
            for post in wire::transcript_posts(&s, &conversation, &author) {
                let posted: wire::Posted = http::post_json(&s.url(&id, "messages"), &[], &post)?;
                cursor = posted.messages.last().map(|m| m.id.clone()).or(cursor);
            }
        }
        if cursor.is_none() {
            // Replies are what comes after the newest message right now.
            let page: wire::MessagePage = http::get_json(&s.url(&id, "messages"), &[])?;
            cursor = page.messages.last().map(|m| m.id.clone());
        }
        let body =
            json!({"switchboardIntegration": s.switchboard_integration, "metadata": metadata});
        let _: Ignored = http::post_json(&s.url(&id, "passControl"), &[], &body)?;
        log::with_fields(
            Level::Info,
            "sunshine control passed",
            &[("conversation_id", &id), ("to", &s.switchboard_integration)],
        );
        let st = State {
            conversation_id: id.clone(),
            author,
            cursor,
            ..State::default()
        };
        Ok(Step::new(state::save(&st), vec![events::queued(None, None)]).with_key(s.key(&id)))
    }

    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        let s = Settings::parse(&ctx.settings)?;
        let st = State::load(&state)?;
        if st.closed || st.ended {
            return Err(error(format!(
                "the handover of Sunshine conversation {} is over",
                st.conversation_id
            )));
        }
        let url = s.url(&st.conversation_id, "messages");
        for content in wire::user_contents(&input.text, &input.attachments) {
            let _: Ignored = http::post_json(&url, &[], &wire::user_post(&st.author, content))?;
        }
        Ok(Step::unchanged(state))
    }

    fn cancel(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        give_back(&ctx, state, "cancelled")
    }

    fn close(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        give_back(&ctx, state, "closed")
    }

    fn route_webhook(settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let s = Settings::parse(&settings)?;
        webhook::route(&s, &request)
    }

    fn handle_webhook(
        ctx: CallContext,
        state: Vec<u8>,
        request: HttpRequest,
    ) -> Result<Step, Failure> {
        let s = Settings::parse(&ctx.settings)?;
        let st = State::load(&state)?;
        webhook::handle(&s, st, &request)
    }
}

/// The bot side takes the conversation back: passControl to the bot's
/// integration when configured, else releaseControl.
fn give_back(ctx: &CallContext, state: Vec<u8>, outcome: &str) -> Result<Step, Failure> {
    let s = Settings::parse(&ctx.settings)?;
    let mut st = State::load(&state)?;
    let metadata = json!({"handover_id": ctx.handover_id, "handover_outcome": outcome});
    let _: Ignored = match &s.bot_switchboard_integration {
        Some(bot) => http::post_json(
            &s.url(&st.conversation_id, "passControl"),
            &[],
            &json!({"switchboardIntegration": bot, "metadata": metadata}),
        )?,
        None => http::post_json(
            &s.url(&st.conversation_id, "releaseControl"),
            &[],
            &json!({ "metadata": metadata }),
        )?,
    };
    st.closed = true;
    Ok(Step::new(state::save(&st), Vec::new()))
}

handover_adapter_sdk::export!(Sunshine);
