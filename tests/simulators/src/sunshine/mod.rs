//! Simulator of Zendesk Sunshine Conversations (v2 API) with a switchboard
//! of two integrations: the bot (`bot`, type `custom`) and the agent
//! workspace (`zd-agentWorkspace`, type `zd:agentWorkspace`).
//!
//! - Every request needs HTTP Basic auth with the app key id and secret
//!   (401 otherwise).
//! - Every JSON request body is validated against
//!   `tests/simulators/specs/sunshine/openapi.yaml` (400 and a recorded violation),
//!   and so is every webhook body it sends (against the `x-webhooks`
//!   "Webhook Event" schema; a violation is recorded).
//! - Webhooks carry the shared secret in `X-API-Key`, like Sunshine's
//!   integration webhooks.
//!
//! - `POST .../activity` takes typing and read activities; from a user
//!   author only `conversation:read`, as the spec says (anything else is
//!   answered 400 and recorded as a violation).
//!
//! Any conversation id the API is called with is taken as the user's
//! existing conversation, the bot in control (unless
//! `known_conversations_only`); the agent side is played through
//! [`SunshineSim`]'s methods: accepting control, messages (with `reply` /
//! `link` actions), typing, reading the conversation (`conversation:read`
//! by the business), closing the ticket, and handing the conversation back
//! to the bot (control passed back or released, with `metadata`).

mod api;
mod driver;
mod state;

pub use driver::SunshineDriver;

use crate::driver::ProviderDriver;
use crate::kit::{
    self, Gate, Job, Outbox, Policy, Provider, PushesWebhooks, RecordedRequest, Simulator,
};
use crate::openapi::{Spec, Violation};
use axum::http::StatusCode;
use serde_json::{Value, json};
use state::{AGENT, BOT, Data};
use std::sync::Arc;
use std::time::Duration;

/// Where the webhook body schema lives in the spec.
const WEBHOOK_SCHEMA: &str =
    "/x-webhooks/Webhook Event/post/requestBody/content/application~1json/schema";

/// How to start a [`SunshineSim`].
#[derive(Debug, Clone)]
pub struct SunshineConfig {
    pub app_id: String,
    pub key_id: String,
    pub key_secret: String,
    /// Sent as `X-API-Key` with every webhook.
    pub webhook_secret: String,
    pub webhook_url: Option<String>,
    /// Answer 404 for conversations not created with
    /// [`SunshineSim::create_conversation`] (default: any id is taken as the
    /// user's existing conversation).
    pub known_conversations_only: bool,
}

impl Default for SunshineConfig {
    fn default() -> Self {
        SunshineConfig {
            app_id: "5ebee0975ac5304b664a12fa".into(),
            key_id: "app_5ebee0975ac5304b664a12fb".into(),
            key_secret: "sunshine-sim-key-secret".into(),
            webhook_secret: "sunshine-sim-webhook-secret".into(),
            webhook_url: None,
            known_conversations_only: false,
        }
    }
}

impl Provider for Data {
    type Config = SunshineConfig;
    type Request = RecordedRequest;
}

impl PushesWebhooks for Data {}

pub(crate) type Shared = kit::Shared<Data>;

impl Shared {
    /// Builds, validates and queues a webhook with one event. The body is
    /// checked against the "Webhook Event" schema, and the event against
    /// the schema titled with its type (the body schema only says `anyOf`
    /// all event schemas, which a wrong event easily satisfies).
    pub fn emit(&self, data: &mut Data, kind: &str, conv: &str, payload: Value) {
        let (id, body) = data.webhook(kind, payload);
        let spec = self.gate.spec().expect("the sunshine gate validates");
        let what = format!("webhook {kind}");
        let mut violations: Vec<Violation> = spec
            .check_value(&what, WEBHOOK_SCHEMA, &body)
            .into_iter()
            .collect();
        match spec.schema_titled(kind) {
            Some(pointer) => {
                violations.extend(spec.check_value(&what, &pointer, &body["events"][0]))
            }
            None => violations.push(Violation {
                what: what.clone(),
                schema: "sunshine/openapi.yaml".into(),
                errors: vec![format!("the spec has no event schema titled {kind:?}")],
                body: body.to_string(),
            }),
        }
        for v in violations {
            self.gate.record_violation(v);
        }
        self.outbox().send(Job::new(id, kind, conv, &body));
    }
}

/// A running Sunshine Conversations simulator. Cheap to clone.
pub type SunshineSim = Simulator<Data>;

impl Simulator<Data> {
    /// Serves on `127.0.0.1:<free port>` (the `/v2/...` paths hang off
    /// [`Simulator::base_url`]). Fails when the spec cannot be loaded.
    pub async fn start(config: SunshineConfig) -> anyhow::Result<SunshineSim> {
        let spec = Spec::load("sunshine/openapi.yaml")?;
        let basic = format!("{}:{}", config.key_id, config.key_secret);
        let gate = Gate::new(api::error)
            .with_credential(
                "authorization",
                format!("Basic {}", kit::base64(basic.as_bytes())),
            )
            .with_spec(spec, StatusCode::BAD_REQUEST);
        let secret = config.webhook_secret.clone();
        let outbox = Outbox::new(
            Arc::new(move |_job: &Job| vec![("x-api-key".to_string(), secret.clone())]),
            Policy::default(),
        );
        outbox.set_url(config.webhook_url.clone());
        let mut data = Data::new(&config.app_id);
        data.known_only = config.known_conversations_only;
        let shared = Shared::new(config, data, gate).with_outbox(outbox);
        Ok(Simulator::serve(shared, api::router).await?)
    }

    /// `(bot, agent workspace)` switchboard integration names.
    pub fn integration_names(&self) -> (String, String) {
        let data = self.shared.lock();
        (
            data.integrations[BOT].name.clone(),
            data.integrations[AGENT].name.clone(),
        )
    }

    /// Creates the user's conversation `id` (bot in control).
    pub fn create_conversation(&self, id: &str) {
        let mut data = self.shared.lock();
        if data.conversation(id).is_none() {
            data.conversations.push(state::Conversation::new(id));
        }
    }

    // ---- the agent side ----

    /// The agent workspace accepts control for agent `name`
    /// (`switchboard:acceptControl`, `metadata.agentName`).
    pub fn accept(&self, conv: &str, name: &str) {
        let mut data = self.shared.lock();
        let c = data
            .conversation_mut(conv)
            .expect("unknown sunshine conversation");
        c.active = Some(AGENT);
        c.agent_name = Some(name.into());
        let payload =
            json!({"conversation": data.conversation_json(conv), "metadata": {"agentName": name}});
        self.shared
            .emit(&mut data, "switchboard:acceptControl", conv, payload);
    }

    /// A business message from the agent (`conversation:message`).
    pub fn agent_message(&self, conv: &str, text: &str) -> String {
        self.agent_post(conv, json!({"type": "text", "text": text}))
    }

    /// An image from the agent.
    pub fn agent_image(&self, conv: &str, url: &str, text: &str) -> String {
        self.agent_post(
            conv,
            json!({"type": "image", "mediaUrl": url, "mediaType": "image/png", "text": text}),
        )
    }

    fn agent_post(&self, conv: &str, content: Value) -> String {
        let mut data = self.shared.lock();
        let name = data
            .conversation(conv)
            .expect("unknown sunshine conversation")
            .agent_name
            .clone()
            .unwrap_or_else(|| "Agent".into());
        let author = json!({"type": "business", "subtypes": ["agent"], "displayName": name,
                            "avatarUrl": "https://example.com/agent.png"});
        let message = data.push_message(conv, author, content, None, "zd:agentWorkspace");
        let payload =
            json!({"conversation": data.conversation_json(conv), "message": message.json()});
        self.shared
            .emit(&mut data, "conversation:message", conv, payload);
        message.id
    }

    /// `conversation:typing` (`typing:start` / `typing:stop`) from the agent.
    pub fn typing(&self, conv: &str, on: bool) {
        let mut data = self.shared.lock();
        let activity = json!({"type": if on { "typing:start" } else { "typing:stop" },
                              "author": {"type": "business"}, "source": {"type": "zd:agentWorkspace"}});
        let payload = json!({"conversation": data.conversation_json(conv), "activity": activity});
        self.shared
            .emit(&mut data, "conversation:typing", conv, payload);
    }

    /// The agent closes the ticket: a `ticket:closed` activity message, then
    /// `switchboard:releaseControl` with reason `ticketClosed`.
    pub fn close_ticket(&self, conv: &str) {
        let mut data = self.shared.lock();
        let author = json!({"type": "business", "subtypes": ["activity"]});
        let mut message = data.push_message(
            conv,
            author,
            json!({"type": "text", "text": "Ticket closed"}),
            None,
            "zd:agentWorkspace",
        );
        message.activity = Some(json!({"type": "ticket:closed", "data": {}}));
        if let Some(m) = data.messages.last_mut() {
            m.activity = message.activity.clone();
        }
        let payload =
            json!({"conversation": data.conversation_json(conv), "message": message.json()});
        self.shared
            .emit(&mut data, "conversation:message", conv, payload);
        data.conversation_mut(conv)
            .expect("unknown sunshine conversation")
            .active = None;
        let payload =
            json!({"conversation": data.conversation_json(conv), "reason": "ticketClosed"});
        self.shared
            .emit(&mut data, "switchboard:releaseControl", conv, payload);
    }

    /// The agent side passes control back to the bot (`switchboard:passControl`).
    pub fn pass_back(&self, conv: &str) {
        self.pass_back_with(conv, None)
            .expect("unknown sunshine conversation");
    }

    /// The agent hands the conversation back to the bot: the agent
    /// workspace passes control to the bot's integration with `metadata`
    /// (a flat object of strings, numbers and booleans, at most 4 KB, as
    /// `passControlBody.metadata` says), which the `switchboard:passControl`
    /// webhook carries. Refused (nothing sent) for metadata Sunshine would
    /// not take.
    pub fn pass_back_with(&self, conv: &str, metadata: Option<&Value>) -> Result<(), String> {
        self.switchboard_back(conv, Some(BOT), metadata)
    }

    /// The agent workspace releases control (no integration active until
    /// the switchboard's default takes the next user message), without a
    /// `reason`, with `metadata` (as [`pass_back_with`](Self::pass_back_with)):
    /// `switchboard:releaseControl`.
    pub fn release_control(&self, conv: &str, metadata: Option<&Value>) -> Result<(), String> {
        self.switchboard_back(conv, None, metadata)
    }

    fn switchboard_back(
        &self,
        conv: &str,
        to: Option<usize>,
        metadata: Option<&Value>,
    ) -> Result<(), String> {
        if let Some(m) = metadata {
            check_metadata(m)?;
        }
        let mut data = self.shared.lock();
        data.conversation_mut(conv)
            .ok_or_else(|| format!("unknown sunshine conversation {conv}"))?
            .active = to;
        let mut payload = json!({"conversation": data.conversation_json(conv)});
        if let Some(m) = metadata {
            payload["metadata"] = m.clone();
        }
        let kind = match to {
            Some(_) => "switchboard:passControl",
            None => "switchboard:releaseControl",
        };
        self.shared.emit(&mut data, kind, conv, payload);
        Ok(())
    }

    /// A business text message from the agent with `actions` (the spec's
    /// `action` objects, e.g. `{"type": "reply", "text", "payload"}` or
    /// `{"type": "link", "text", "uri"}`): `conversation:message`.
    pub fn agent_actions(&self, conv: &str, text: &str, actions: Value) -> String {
        self.agent_post(
            conv,
            json!({"type": "text", "text": text, "actions": actions}),
        )
    }

    /// The agent workspace marks the conversation read (`POST .../activity`
    /// `conversation:read` by the business): the conversation's
    /// `businessLastRead` moves and a `conversation:read` webhook is sent
    /// with the business as the activity's author.
    pub fn read(&self, conv: &str) -> Result<(), String> {
        let mut data = self.shared.lock();
        let c = data
            .conversation_mut(conv)
            .ok_or_else(|| format!("unknown sunshine conversation {conv}"))?;
        c.business_last_read_ms = Some(kit::unix_ms());
        let activity = json!({"type": "conversation:read", "author": {"type": "business"},
                              "source": {"type": "zd:agentWorkspace"}});
        let payload = json!({"conversation": data.conversation_json(conv), "activity": activity});
        self.shared
            .emit(&mut data, "conversation:read", conv, payload);
        Ok(())
    }

    // ---- inspection ----

    /// The conversation handed over for `handover_id` (see
    /// [`Data::conversation_for_handover`]).
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<String> {
        self.shared.lock().conversation_for_handover(handover_id)
    }

    pub async fn wait_for_conversation(
        &self,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        self.wait_until(timeout, |data| data.conversation_for_handover(handover_id))
            .await
    }

    /// The passControl metadata of the handover to the agent.
    pub fn handover_metadata(&self, conv: &str) -> Option<Value> {
        self.shared
            .lock()
            .conversation(conv)?
            .handover_metadata
            .clone()
    }

    /// Name of the switchboard integration in control (`None`: released).
    pub fn active(&self, conv: &str) -> Option<String> {
        let data = self.shared.lock();
        let active = data.conversation(conv)?.active?;
        Some(data.integrations[active].name.clone())
    }

    /// Every message of the conversation (`message` schema).
    pub fn messages(&self, conv: &str) -> Vec<Value> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.conversation_id == conv)
            .map(|m| m.json())
            .collect()
    }

    /// Texts of user-authored messages posted after control passed to the
    /// agent workspace (what the user said to the agent).
    pub fn user_messages(&self, conv: &str) -> Vec<String> {
        let data = self.shared.lock();
        let Some(from) = data.conversation(conv).and_then(|c| c.handed_over_at) else {
            return Vec::new();
        };
        data.messages[from..]
            .iter()
            .filter(|m| m.conversation_id == conv && m.is_user())
            .map(|m| m.content["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The activities posted through the API (`activityPost` bodies), in
    /// order.
    pub fn activities(&self, conv: &str) -> Vec<Value> {
        self.shared
            .lock()
            .conversation(conv)
            .map(|c| c.activities.clone())
            .unwrap_or_default()
    }

    /// The user's typing the API accepted (`true`: `typing:start`). Always
    /// empty in practice: Sunshine takes no typing from a user author.
    pub fn user_typing(&self, conv: &str) -> Vec<bool> {
        self.activities(conv)
            .iter()
            .filter(|a| a["author"]["type"] == "user")
            .filter_map(|a| match a["type"].as_str() {
                Some("typing:start") => Some(true),
                Some("typing:stop") => Some(false),
                _ => None,
            })
            .collect()
    }

    /// When the business side last read the conversation (ms).
    pub fn business_last_read(&self, conv: &str) -> Option<u64> {
        self.shared.lock().conversation(conv)?.business_last_read_ms
    }

    /// Whether an API call (the bot) released control or passed it back.
    pub fn returned_by_api(&self, conv: &str) -> Option<bool> {
        Some(self.shared.lock().conversation(conv)?.returned_by_api)
    }

    /// Emits any webhook event (for tests of odd payloads); the body is
    /// validated like every other.
    pub fn emit(&self, conv: &str, kind: &str, payload: Value) {
        let mut data = self.shared.lock();
        self.shared.emit(&mut data, kind, conv, payload);
    }
}

/// Sunshine's rule for switchboard `metadata`: a flat object of strings,
/// numbers and booleans, at most 4 KB.
fn check_metadata(m: &Value) -> Result<(), String> {
    let Some(fields) = m.as_object() else {
        return Err(format!("metadata must be an object, not {m}"));
    };
    if let Some((k, _)) = fields
        .iter()
        .find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean()))
    {
        return Err(format!(
            "metadata `{k}`: only strings, numbers and booleans are supported"
        ));
    }
    let size = m.to_string().len();
    if size > 4096 {
        return Err(format!("metadata is {size} bytes; at most 4 KB"));
    }
    Ok(())
}

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(SunshineDriver::start().await?))
}

#[cfg(test)]
mod tests;
