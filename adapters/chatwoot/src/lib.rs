//! `chatwoot`: hands conversations over to agents in a Chatwoot API-channel
//! inbox (and Cognigy Live Agent, a Chatwoot fork with the same API).
//!
//! Start: find the contact by identifier (the user id) or create it in the
//! inbox, open a conversation (team, assignee, custom and additional
//! attributes), add labels and priority, post the transcript as private
//! notes. User input is posted as `incoming` messages. Webhooks (signed
//! `X-Chatwoot-Signature`) drive the rest: `conversation_updated` with an
//! assignee → agent joined / transferred / left, `message_created`
//! (outgoing, not private) → fetch the new messages in id order (so
//! duplicated, late or out-of-order webhooks still yield each agent message
//! once, in order), `conversation_typing_on/off` → typing,
//! `conversation_status_changed` → `resolved` ends it. Cancel and close
//! resolve the conversation.
//!
//! Contract 0.2.0: interactive agent messages (`input_select`, `cards`,
//! `article`) carry their options and links as `actions`; receipts name the
//! host's message ids (kept in the state by the Chatwoot message id and
//! `created_at` the create answer returned): `read` once a webhook's
//! conversation shows `agent_last_seen_at` at or after a message, and
//! `message_updated` of the user's messages → fetch their `status`
//! (`delivered` / `read`); the user's typing goes through
//! the public (contact) API's `toggle_typing` (needs `inbox_identifier`).
//! Message webhooks are routed by declaration (`/conversation/id`).

mod settings;
mod webhook;
mod wire;

#[cfg(test)]
mod tests;

use handover_adapter_sdk::http::{self, Ignored, path_segment};
use handover_adapter_sdk::state::{self, AgentRef};
use handover_adapter_sdk::v0_2::{Locator, WebhookRouting};
use handover_adapter_sdk::{
    AdapterInfo, Availability, Capabilities, Conversation, Cx, Failure, HandoverState, HttpRequest,
    Level, Output, Polling, Reply, TypedAdapter, UserInput, WebhookRoute, WebhookSignature,
    adapter_version, error, events, log, transcript, unsupported,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use settings::{DEFAULT_CHANNELS, KEY_PREFIX, MAX_CONTENT, Settings, routed_key};

/// Most user messages whose receipts are awaited; the oldest are dropped
/// (never reported) beyond it.
const MAX_TRACKED: usize = 100;

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default)]
struct State {
    /// The conversation's display id (what the API calls `id`).
    conversation_id: u64,
    /// Highest message id already looked at for agent replies.
    #[serde(default)]
    last_message_id: u64,
    /// The assignee as last reported.
    #[serde(default)]
    agent: Option<AgentRef>,
    #[serde(default)]
    team_id: Option<u64>,
    /// `updated_at` of the newest conversation webhook applied.
    #[serde(default)]
    last_update: f64,
    /// Resolved by the bot side (cancel/close): later webhooks are ignored.
    #[serde(default)]
    closed: bool,
    /// Resolved by the agent side: `ended` was reported.
    #[serde(default)]
    ended: bool,
    /// The contact's source id in the inbox (the public API's contact
    /// identifier); empty for handovers started before 0.2.0.
    #[serde(default)]
    source_id: String,
    /// The user's messages not yet reported read, oldest first.
    #[serde(default)]
    sent: Vec<Sent>,
    /// The declared-routing key ([`routed_key`]) is registered.
    #[serde(default)]
    routed: bool,
}

/// One Chatwoot message of the user's (a long input is several).
#[derive(Serialize, Deserialize, Clone)]
struct Sent {
    /// Chatwoot's message id (the create answer's `id`).
    id: u64,
    /// The host's id of the user's input (`user-input.id`).
    host: String,
    /// Reported delivered already.
    #[serde(default)]
    delivered: bool,
    /// Its `created_at` (Unix seconds; 0 when the answer had none).
    #[serde(default)]
    at: u64,
}

impl State {
    /// Remembers the Chatwoot messages `created` (id, created_at) of the
    /// host's message `host`.
    fn track(&mut self, host: &str, created: Vec<(u64, u64)>) {
        if host.is_empty() {
            return;
        }
        self.sent.extend(created.into_iter().map(|(id, at)| Sent {
            id,
            host: host.to_string(),
            delivered: false,
            at,
        }));
        let excess = self.sent.len().saturating_sub(MAX_TRACKED);
        self.sent.drain(..excess);
    }

    /// `out` with the declared-routing key added, once per handover (a
    /// handover started before 0.2.0 gets it on its first step).
    fn keyed(&mut self, out: Output) -> Output {
        if self.routed {
            return out;
        }
        self.routed = true;
        out.with_key(routed_key(self.conversation_id))
    }
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(self.conversation_id != 0, "Chatwoot conversation")
    }
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    queue_position: false,
    // Chatwoot has no hand-back to a bot, wrap-up or survey an agent sends
    // through the API-channel conversation.
    hand_back: false,
    wrap_up: false,
    ..Capabilities::ALL
};
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

struct Chatwoot;

impl TypedAdapter for Chatwoot {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new("chatwoot", adapter_version!(), &DEFAULT_CHANNELS)
            .with(CAPABILITIES, Polling::NONE, SCHEMA)
            .signed(WebhookSignature::timestamped_hmac_sha256(
                "X-Chatwoot-Signature",
                "X-Chatwoot-Timestamp",
                "X-Chatwoot-Delivery",
            ))
            // The token is the endpoint's secret `chatwoot_token`, added by
            // an [[endpoints.auth]] header rule for base_url.
            .needs(&["{base_url}"], &["chatwoot_token"])
            // Message and typing webhooks name their conversation at
            // `/conversation/id`; conversation events (the conversation at
            // the top level) go through `route-webhook`.
            .routed_by(WebhookRouting::json(
                "/conversation/id",
                KEY_PREFIX,
                Some(Locator::Header("X-Chatwoot-Delivery".into())),
                "{}",
            ))
    }

    fn start(cx: &Cx<Settings>, st: &mut State, conversation: Conversation) -> Reply {
        let s = &cx.settings;
        s.check_channel(&conversation.channel)?;
        let contact = contact(s, &conversation)?;
        let team_id = team(s, conversation.routing.queue.as_deref())?;
        let body = wire::NewConversation::new(s, &conversation, &contact, team_id);
        let created: wire::Id = http::post_json(&s.url("conversations"), &[], &body)?;
        let id = created.id;
        log::with_fields(
            Level::Info,
            "chatwoot conversation created",
            &[("conversation_id", &id.to_string())],
        );
        if let Err(failure) = decorate(s, id, &conversation) {
            // Do not leave an open conversation nobody will answer for.
            let _ = resolve(s, id);
            return Err(failure);
        }
        st.conversation_id = id;
        st.team_id = team_id;
        st.source_id = contact.source_id;
        let out = Output::from(vec![events::queued(None, None)]).with_key(s.key(id));
        Ok(st.keyed(out))
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        let s = &cx.settings;
        if st.closed || st.ended {
            return Err(error(format!(
                "Chatwoot conversation {} is already resolved",
                st.conversation_id
            )));
        }
        let text = wire::user_text(&input.text, &input.attachments);
        let url = s.conversation_url(st.conversation_id, "messages");
        let mut created = Vec::new();
        for piece in transcript::chunk_text(&text, MAX_CONTENT) {
            let m: wire::Created = http::post_json(&url, &[], &wire::NewMessage::incoming(piece))?;
            created.push((m.id, m.created_at.as_u64().unwrap_or_default()));
        }
        st.track(&input.id, created);
        Ok(st.keyed(Output::none()))
    }

    /// The public API's `toggle_typing` as the contact (`typing_status`
    /// `on` / `off`, in the query as the spec requires and in the body).
    fn user_typing(cx: &Cx<Settings>, st: &mut State, typing: bool) -> Reply {
        let s = &cx.settings;
        if st.source_id.is_empty() {
            return Err(unsupported(
                "this handover started before the adapter kept the contact's source id; its typing cannot be shown",
            ));
        }
        let status = if typing { "on" } else { "off" };
        let rest = format!("toggle_typing?typing_status={status}");
        let url = s
            .public_conversation_url(&st.source_id, st.conversation_id, &rest)
            .ok_or_else(|| {
                unsupported(
                    "the user's typing needs the API inbox's `inbox_identifier` in the endpoint's settings",
                )
            })?;
        let _: Ignored = http::post_json(&url, &[], &json!({ "typing_status": status }))?;
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        let s = &cx.settings;
        let note = "The user cancelled the request for an agent.";
        let url = s.conversation_url(st.conversation_id, "messages");
        let _: Ignored = http::post_json(&url, &[], &wire::NewMessage::note(note))?;
        resolve(s, st.conversation_id)?;
        st.closed = true;
        Ok(Output::none())
    }

    fn close(cx: &Cx<Settings>, st: &mut State) -> Reply {
        resolve(&cx.settings, st.conversation_id)?;
        st.closed = true;
        Ok(Output::none())
    }

    fn check_availability(s: &Settings) -> Result<Availability, Failure> {
        let url = s.url(&format!("inbox_members/{}", s.inbox_id));
        let members: wire::Members = http::get_json(&url, &[])?;
        let total = members.payload.len();
        let available = members
            .payload
            .iter()
            .filter(|m| m.availability_status.as_deref() == Some("available"))
            .count();
        Ok(Availability {
            agents_available: available > 0,
            // Chatwoot's business hours are per inbox and time zone; they
            // are not evaluated here.
            open: true,
            estimated_wait_seconds: None,
            message: Some(format!("{available} of {total} inbox agents available")),
        })
    }

    fn route_webhook(s: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        webhook::route(s, &request)
    }

    fn handle_webhook(cx: &Cx<Settings>, st: &mut State, request: HttpRequest) -> Reply {
        webhook::handle(&cx.settings, st, &request)
    }
}

/// The user's contact in the inbox: found by identifier (the user id), else
/// created; a found contact without the inbox gets a contact inbox.
fn contact(s: &Settings, c: &Conversation) -> Result<wire::ContactRef, Failure> {
    if !c.user_id.is_empty() {
        let url = format!(
            "{}?q={}",
            s.url("contacts/search"),
            path_segment(&c.user_id)
        );
        let found: wire::ContactList = http::get_json(&url, &[])?;
        let known = found
            .payload
            .into_iter()
            .find(|x| x.identifier.as_deref() == Some(c.user_id.as_str()));
        if let Some(known) = known {
            if let Some(source_id) = known.source_in(s.inbox_id) {
                return Ok(wire::ContactRef {
                    id: known.id,
                    source_id,
                });
            }
            let url = s.url(&format!("contacts/{}/contact_inboxes", known.id));
            let ci: wire::ContactInbox =
                http::post_json(&url, &[], &json!({"inbox_id": s.inbox_id}))?;
            return Ok(wire::ContactRef {
                id: known.id,
                source_id: ci.source_id,
            });
        }
    }
    let created: wire::CreatedContact = http::post_json(
        &s.url("contacts"),
        &[],
        &wire::NewContact::new(s.inbox_id, c),
    )?;
    created
        .into_ref(s.inbox_id)
        .ok_or_else(|| error("POST /contacts: the response has no contact inbox source_id"))
}

/// The team for `queue`: a numeric queue is a team id, a name is looked up
/// in the account's teams; no queue means the settings' `team_id`.
fn team(s: &Settings, queue: Option<&str>) -> Result<Option<u64>, Failure> {
    let Some(queue) = queue.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(s.team_id);
    };
    if let Ok(id) = queue.parse::<u64>() {
        return Ok(Some(id));
    }
    let teams: Vec<wire::Team> = http::get_json(&s.url("teams"), &[])?;
    teams
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(queue))
        .map(|t| Some(t.id))
        .ok_or_else(|| {
            let names: Vec<&str> = teams.iter().map(|t| t.name.as_str()).collect();
            error(format!(
                "routing queue {queue:?} is no Chatwoot team of account {} (teams: {})",
                s.account_id,
                names.join(", ")
            ))
        })
}

/// Labels, priority and the transcript notes of a new conversation.
fn decorate(s: &Settings, id: u64, c: &Conversation) -> Result<(), Failure> {
    let mut labels = s.labels.clone();
    labels.extend(
        c.routing
            .skills
            .iter()
            .filter(|l| !l.trim().is_empty())
            .cloned(),
    );
    if !labels.is_empty() {
        let _: Ignored = http::post_json(
            &s.conversation_url(id, "labels"),
            &[],
            &json!({"labels": labels}),
        )?;
    }
    if let Some(p) = c.routing.priority {
        let body = json!({"priority": wire::priority(p)});
        let _: Ignored = http::post_json(&s.conversation_url(id, "toggle_priority"), &[], &body)?;
    }
    for note in wire::transcript_notes(c, s.transcript_chunk()) {
        let url = s.conversation_url(id, "messages");
        let _: Ignored = http::post_json(&url, &[], &wire::NewMessage::note(&note))?;
    }
    Ok(())
}

/// `toggle_status` to `resolved`.
fn resolve(s: &Settings, id: u64) -> Result<(), Failure> {
    let _: Ignored = http::post_json(
        &s.conversation_url(id, "toggle_status"),
        &[],
        &json!({"status": "resolved"}),
    )?;
    Ok(())
}

handover_adapter_sdk::export!(Chatwoot);
