//! Simulator of Chatwoot (and Cognigy Live Agent, a fork with the same API):
//! the Application API of an API-channel inbox, over loopback HTTP.
//!
//! - Every request needs the `api_access_token` header (401 otherwise).
//! - Every JSON body is validated against `tests/simulators/specs/chatwoot/swagger.json`
//!   (see [`crate::openapi`]); a violation is recorded and answered 422. The
//!   spec has no webhook payload schemas, so webhooks are shaped after
//!   Chatwoot's `webhook_data` methods instead.
//! - Webhooks are signed like newer Chatwoot: `X-Chatwoot-Signature:
//!   sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`,
//!   `X-Chatwoot-Timestamp`, `X-Chatwoot-Delivery`.
//! - The agent side also sends interactive messages (`input_select`,
//!   `cards`, `article` with `content_attributes.items`), delivers and reads
//!   the contact's messages (`status`, `message_updated`), and the public
//!   (contact) API's `toggle_typing` records the user's typing.

mod api;
mod driver;
mod state;

pub use driver::ChatwootDriver;

use crate::driver::ProviderDriver;
use crate::kit::{
    self, Gate, Job, Outbox, Policy, Provider, PushesWebhooks, RecordedRequest, Simulator,
};
use crate::openapi::Spec;
use axum::http::StatusCode;
use serde_json::{Value, json};
use state::{Data, Sender};
use std::sync::Arc;
use std::time::Duration;

/// How to start a [`ChatwootSim`].
#[derive(Debug, Clone)]
pub struct ChatwootConfig {
    pub account_id: u64,
    pub inbox_id: u64,
    /// The `api_access_token` every request must carry.
    pub api_token: String,
    /// The webhook signing secret.
    pub webhook_secret: String,
    pub webhook_url: Option<String>,
    /// The API inbox's `inbox_identifier` (the public API's inbox path
    /// segment).
    pub inbox_identifier: String,
}

impl Default for ChatwootConfig {
    fn default() -> Self {
        ChatwootConfig {
            account_id: 1,
            inbox_id: 7,
            api_token: "chatwoot-sim-token".into(),
            webhook_secret: "chatwoot-sim-webhook-secret".into(),
            webhook_url: None,
            inbox_identifier: "sim-api-inbox-identifier".into(),
        }
    }
}

/// The `X-Chatwoot-Signature` value: `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mac = kit::hmac_sha256(secret, &[format!("{timestamp}.").as_bytes(), body]);
    format!("sha256={}", hex::encode(mac))
}

impl Provider for Data {
    type Config = ChatwootConfig;
    type Request = RecordedRequest;
}

impl PushesWebhooks for Data {}

pub(crate) type Shared = kit::Shared<Data>;

/// A running Chatwoot simulator. Cheap to clone.
pub type ChatwootSim = Simulator<Data>;

impl Simulator<Data> {
    /// Serves on `127.0.0.1:<free port>`. Fails when the spec cannot be loaded.
    pub async fn start(config: ChatwootConfig) -> anyhow::Result<ChatwootSim> {
        let spec = Spec::load("chatwoot/swagger.json")?;
        let gate = Gate::new(api::error)
            .with_credential("api_access_token", config.api_token.clone())
            .with_spec(spec, StatusCode::UNPROCESSABLE_ENTITY);
        let secret = config.webhook_secret.clone();
        let outbox = Outbox::new(
            Arc::new(move |job: &Job| {
                let ts = kit::unix_secs();
                vec![
                    ("x-chatwoot-signature".into(), sign(&secret, ts, &job.body)),
                    ("x-chatwoot-timestamp".into(), ts.to_string()),
                    ("x-chatwoot-delivery".into(), job.id.clone()),
                ]
            }),
            Policy::default(),
        );
        outbox.set_url(config.webhook_url.clone());
        let data = Data::new(config.account_id, config.inbox_id);
        let shared = Shared::new(config, data, gate).with_outbox(outbox);
        Ok(Simulator::serve(shared, api::router).await?)
    }

    // ---- the agent side ----

    /// Assigns the conversation to the agent called `name` (created on first
    /// use); `conversation_updated` with `changed_attributes.assignee_id`.
    pub fn assign(&self, conv: u64, name: &str) -> u64 {
        let mut data = self.shared.lock();
        let agent = data.agent_named(name);
        self.set_assignee(&mut data, conv, Some(agent));
        agent
    }

    /// Removes the assignee.
    pub fn unassign(&self, conv: u64) {
        let mut data = self.shared.lock();
        self.set_assignee(&mut data, conv, None);
    }

    fn set_assignee(&self, data: &mut Data, conv: u64, agent: Option<u64>) {
        let outbox = self.shared.outbox();
        data.change_attribute(outbox, "conversation_updated", conv, "assignee_id", |c| {
            (
                json!(std::mem::replace(&mut c.assignee, agent)),
                json!(agent),
            )
        });
    }

    /// Moves the conversation to team `name` (`conversation_updated`).
    pub fn assign_team(&self, conv: u64, name: &str) {
        let mut data = self.shared.lock();
        let team = data.teams.iter().find(|t| t.name == name).map(|t| t.id);
        let team = match team {
            Some(t) => t,
            None => {
                let id = data.teams.len() as u64 + 1;
                data.teams.push(state::Team {
                    id,
                    name: name.into(),
                });
                id
            }
        };
        let outbox = self.shared.outbox();
        data.change_attribute(outbox, "conversation_updated", conv, "team_id", |c| {
            (json!(c.team_id.replace(team)), json!(team))
        });
    }

    /// An outgoing message from the assignee (or agent "Agent").
    pub fn agent_message(&self, conv: u64, text: &str) -> u64 {
        self.agent_post(conv, text, false, Vec::new())
    }

    /// An outgoing message with one attachment (`file_type` e.g. `image`).
    pub fn agent_attachment(&self, conv: u64, text: &str, url: &str, file_type: &str) -> u64 {
        let ext = url.rsplit('.').next().unwrap_or("").to_string();
        let attachment = json!({"id": 1, "file_type": file_type, "account_id": self.config().account_id,
                                "extension": ext, "data_url": url, "thumb_url": url, "file_size": 1024});
        self.agent_post(conv, text, false, vec![attachment])
    }

    /// An interactive message (`content_type` `input_select`, `cards`,
    /// `article`, `form`) with its `content_attributes`, as Chatwoot's
    /// "interactive messages" document them.
    pub fn agent_interactive(
        &self,
        conv: u64,
        text: &str,
        content_type: &str,
        content_attributes: Value,
    ) -> u64 {
        let mut data = self.shared.lock();
        let id = self.post_locked(&mut data, conv, text, false, Vec::new());
        if let Some(m) = data.messages.iter_mut().find(|m| m.id == id) {
            m.content_type = content_type.into();
            m.content_attributes = content_attributes;
        }
        data.message_created(self.shared.outbox(), id);
        id
    }

    /// An `input_select` message offering `options` (title, value).
    pub fn agent_options(&self, conv: u64, text: &str, options: &[(&str, &str)]) -> u64 {
        let items: Vec<Value> = options
            .iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        self.agent_interactive(conv, text, "input_select", json!({ "items": items }))
    }

    /// The contact's messages so far reach `delivered`; one
    /// `message_updated` each. Returns their ids.
    pub fn deliver_user_messages(&self, conv: u64) -> Vec<u64> {
        let mut data = self.shared.lock();
        data.advance_incoming(self.shared.outbox(), conv, "delivered")
    }

    /// The agent opens the conversation: `agent_last_seen_at` is now and
    /// the contact's messages so far are `read`; one `message_updated` each.
    /// Returns their ids.
    pub fn read_user_messages(&self, conv: u64) -> Vec<u64> {
        let mut data = self.shared.lock();
        if let Some(c) = data.conversation_mut(conv) {
            c.agent_last_seen_at = kit::unix_secs();
        }
        data.advance_incoming(self.shared.outbox(), conv, "read")
    }

    /// The agent opens the conversation without any message changing
    /// (Chatwoot's `update_last_seen`): `agent_last_seen_at` is now, which
    /// the next webhook's conversation shows; no webhook of its own.
    pub fn agent_views(&self, conv: u64) {
        let mut data = self.shared.lock();
        if let Some(c) = data.conversation_mut(conv) {
            c.agent_last_seen_at = kit::unix_secs();
        }
    }

    /// The contact's typing signals the public API received, in order.
    pub fn user_typing(&self, conv: u64) -> Option<Vec<bool>> {
        let data = self.shared.lock();
        data.conversation(conv).map(|c| c.user_typing.clone())
    }

    /// A private note by the assignee (never shown to the contact).
    pub fn private_note(&self, conv: u64, text: &str) -> u64 {
        self.agent_post(conv, text, true, Vec::new())
    }

    fn agent_post(&self, conv: u64, text: &str, private: bool, attachments: Vec<Value>) -> u64 {
        let mut data = self.shared.lock();
        let id = self.post_locked(&mut data, conv, text, private, attachments);
        data.message_created(self.shared.outbox(), id);
        id
    }

    /// An outgoing message from the assignee (or agent "Agent"), without
    /// its webhook.
    fn post_locked(
        &self,
        data: &mut Data,
        conv: u64,
        text: &str,
        private: bool,
        attachments: Vec<Value>,
    ) -> u64 {
        let c = data
            .conversation(conv)
            .expect("unknown chatwoot conversation");
        let agent = match c.assignee {
            Some(a) => a,
            None => data.agent_named("Agent"),
        };
        let id = api::push_message(data, conv, text, 1, private, Sender::Agent(agent));
        if let Some(m) = data.messages.last_mut() {
            m.attachments = attachments;
        }
        id
    }

    /// `conversation_typing_on` / `_off` by the assignee.
    pub fn typing(&self, conv: u64, on: bool) {
        let mut data = self.shared.lock();
        let agent = match data.conversation(conv).and_then(|c| c.assignee) {
            Some(a) => a,
            None => data.agent_named("Agent"),
        };
        data.typing(self.shared.outbox(), conv, agent, on);
    }

    /// The agent resolves the conversation (`conversation_status_changed`).
    pub fn resolve(&self, conv: u64) {
        let mut data = self.shared.lock();
        let outbox = self.shared.outbox();
        data.change_attribute(outbox, "conversation_status_changed", conv, "status", |c| {
            let previous = std::mem::replace(&mut c.status, "resolved".into());
            (json!(previous), json!("resolved"))
        });
    }

    /// Creates the agent `name` if needed and sets its availability
    /// (`available`, `busy` or `offline`).
    pub fn set_agent_availability(&self, name: &str, status: &str) {
        let mut data = self.shared.lock();
        let id = data.agent_named(name);
        if let Some(a) = data.agents.iter_mut().find(|a| a.id == id) {
            a.availability = status.into();
        }
    }

    // ---- inspection ----

    /// The conversation as the API shows it.
    pub fn conversation(&self, conv: u64) -> Option<Value> {
        let data = self.shared.lock();
        data.conversation(conv).map(|c| data.conversation_json(c))
    }

    /// The conversation opened for `handover_id` (see
    /// [`Data::conversation_for_handover`]).
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<u64> {
        self.shared.lock().conversation_for_handover(handover_id)
    }

    pub async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<u64> {
        self.wait_until(timeout, |data| data.conversation_for_handover(handover_id))
            .await
    }

    /// Every message of the conversation as `GET …/messages` shows it.
    pub fn messages(&self, conv: u64) -> Vec<Value> {
        let data = self.shared.lock();
        data.messages
            .iter()
            .filter(|m| m.conversation_id == conv)
            .map(|m| data.message_api_json(m))
            .collect()
    }

    /// Contents of the contact's (incoming) messages, in order.
    pub fn user_messages(&self, conv: u64) -> Vec<String> {
        self.contents(conv, |m| m.message_type == 0)
    }

    /// Contents of the private notes, in order.
    pub fn private_notes(&self, conv: u64) -> Vec<String> {
        self.contents(conv, |m| m.private)
    }

    fn contents(&self, conv: u64, keep: impl Fn(&state::Message) -> bool) -> Vec<String> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.conversation_id == conv && keep(m))
            .map(|m| m.content.clone())
            .collect()
    }

    /// Whether an API request (the bot side) resolved the conversation.
    pub fn resolved_by_api(&self, conv: u64) -> Option<bool> {
        self.shared
            .lock()
            .conversation(conv)
            .map(|c| c.status == "resolved" && c.resolved_by_api)
    }
}

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(ChatwootDriver::start().await?))
}

#[cfg(test)]
mod tests;
