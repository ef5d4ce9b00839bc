//! `sunshine-conversations`: hands a Zendesk Sunshine Conversations
//! conversation to the agent side through the switchboard (contract
//! `handover:provider@0.2.0`).
//!
//! The conversation already exists at Sunshine (the user talks to the bot
//! through it): its id comes from the flow's context
//! (`sunshine_conversation_id`) or, failing that, the session id; the user
//! from `sunshine_user_id` or the handover's user id as external id.
//!
//! Start: post the transcript (optional), note where the conversation's
//! messages stand (the cursor), then `passControl` to the agent
//! integration with the routing as metadata. User input is posted as
//! user-authored messages (the host's message id in `metadata`, and kept
//! until the agent side reads it). Webhooks (`X-API-Key` shared secret): a
//! business `conversation:message` → fetch messages after the cursor (so
//! duplicated, late or out-of-order webhooks yield each reply once, in
//! order; `reply` and `link` actions become the message's quick replies and
//! links), `conversation:typing` → typing, `conversation:read` by the
//! business → a read receipt of the user's messages received before it,
//! `switchboard:acceptControl` by the agent integration → agent joined,
//! `switchboard:releaseControl` or control passed back to the bot → the
//! conversation returned to the bot with the event's `metadata` as the
//! hand-back variables (or, with a `reason` such as `ticketClosed`, ended).
//! Cancel and close pass control back to the bot integration (or release
//! it).
//!
//! Not offered by Sunshine, so not declared: the user's typing (`POST
//! .../activity` accepts only `conversation:read` from a user author), a
//! wrap-up or survey event. Webhooks are routed by `route-webhook`, not by
//! a declared locator: one payload may carry events of several
//! conversations.

mod settings;
mod webhook;
mod wire;

#[cfg(test)]
mod tests;

use handover_adapter_sdk::http::{self, Ignored};
use handover_adapter_sdk::state;
use handover_adapter_sdk::{
    AdapterInfo, Capabilities, Conversation, Cx, Failure, HandoverState, HttpRequest, InputKind,
    Level, Output, Polling, Reply, SignatureAlgorithm, SignatureEncoding, TypedAdapter, UserInput,
    WebhookRoute, WebhookSignature, adapter_version, error, events, log,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use settings::{DEFAULT_CHANNELS, Settings};
use wire::UserAuthor;

/// Event ids remembered to drop duplicates that arrive in another payload.
const SEEN_EVENTS: usize = 100;
/// The user's messages remembered until the agent side reads them (the
/// oldest are forgotten first).
const UNREAD: usize = 100;
/// The secrets the host's `[[endpoints.auth]]` basic rule for `base_url`
/// injects (the app key id and secret).
pub const SECRETS: [&str; 2] = ["sunshine_key_id", "sunshine_key_secret"];

/// A user message forwarded and not yet read by the agent side.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Unread {
    /// The host's id of the message (`user-input.id`).
    id: String,
    /// When Sunshine received it (its `received`, ms; 0 when unknown).
    received_ms: u64,
}

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
    /// The agent side ended it: `ended` (or `returned-to-bot`) was reported.
    #[serde(default)]
    ended: bool,
    /// The user's messages the agent side has not read yet, oldest first.
    #[serde(default)]
    unread: Vec<Unread>,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(!self.conversation_id.is_empty(), "Sunshine conversation")
    }
}

/// What the adapter implements: not queue positions or availability
/// (Sunshine has neither), not the user's typing (a user-authored activity
/// can only be `conversation:read`), no wrap-up or survey.
const CAPABILITIES: Capabilities = Capabilities {
    queue_position: false,
    availability_check: false,
    hand_back: true,
    wrap_up: false,
    receipts: true,
    user_typing: false,
    rich_messages: true,
    ..Capabilities::ALL
};
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

struct Sunshine;

impl TypedAdapter for Sunshine {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new(
            "sunshine-conversations",
            adapter_version!(),
            &DEFAULT_CHANNELS,
        )
        .with(CAPABILITIES, Polling::NONE, SCHEMA)
        .signed(WebhookSignature::body(
            SignatureAlgorithm::SharedSecret,
            "X-API-Key",
            SignatureEncoding::Hex,
            None,
        ))
        .needs(&["{base_url}"], &SECRETS)
    }

    fn start(cx: &Cx<Settings>, st: &mut State, conversation: Conversation) -> Reply {
        let s = &cx.settings;
        s.check_channel(&conversation.channel)?;
        let (id, author) = wire::identify(&conversation)?;
        let metadata = wire::routing_metadata(&conversation)?;
        let mut cursor = None;
        if s.post_transcript.unwrap_or(true) {
            for post in wire::transcript_posts(s, &conversation, &author) {
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
        st.conversation_id = id.clone();
        st.author = author;
        st.cursor = cursor;
        Ok(Output::from(vec![events::queued(None, None)]).with_key(s.key(&id)))
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        let s = &cx.settings;
        if st.closed || st.ended {
            return Err(error(format!(
                "the handover of Sunshine conversation {} is over",
                st.conversation_id
            )));
        }
        let url = s.url(&st.conversation_id, "messages");
        let quick_reply = matches!(input.kind, InputKind::QuickReply);
        let mut received = None;
        for content in wire::user_contents(&input.text, &input.attachments, quick_reply) {
            let mut post = wire::user_post(&st.author, content);
            if !input.id.is_empty() {
                post["metadata"] = json!({ wire::MESSAGE_ID_KEY: input.id });
            }
            let posted: wire::Posted = http::post_json(&url, &[], &post)?;
            received = posted
                .messages
                .last()
                .and_then(wire::Message::received_ms)
                .or(received);
        }
        if !input.id.is_empty() {
            st.unread.push(Unread {
                id: input.id,
                received_ms: received.unwrap_or(0),
            });
            let overflow = st.unread.len().saturating_sub(UNREAD);
            st.unread.drain(..overflow);
        }
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        give_back(cx, st, "cancelled")
    }

    fn close(cx: &Cx<Settings>, st: &mut State) -> Reply {
        give_back(cx, st, "closed")
    }

    fn route_webhook(s: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        webhook::route(s, &request)
    }

    fn handle_webhook(cx: &Cx<Settings>, st: &mut State, request: HttpRequest) -> Reply {
        webhook::handle(&cx.settings, st, &request)
    }
}

/// The bot side takes the conversation back: passControl to the bot's
/// integration when configured, else releaseControl.
fn give_back(cx: &Cx<Settings>, st: &mut State, outcome: &str) -> Reply {
    let s = &cx.settings;
    let metadata = json!({"handover_id": cx.handover_id, "handover_outcome": outcome});
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
    Ok(Output::none())
}

handover_adapter_sdk::export!(Sunshine);
