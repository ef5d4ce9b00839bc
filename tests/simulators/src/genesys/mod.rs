//! Simulator of Genesys Cloud Open Messaging, written from the public
//! developer documentation:
//!
//! - `POST /oauth/token` (login host): OAuth2 client credentials, HTTP
//!   Basic client auth; tokens expire (`set_token_ttl`).
//! - `POST /api/v2/conversations/messages/{integrationId}/inbound/open/message`
//!   (Bearer): the first message of an external user (`channel.from.id`)
//!   creates a conversation (routed to a queue: an `acd` participant);
//!   `channel.metadata.customAttributes` become participant data;
//!   `?prefetchConversationId=true` puts `conversationId` in the answer.
//! - `POST …/inbound/open/event` (Bearer): the user's typing events.
//! - `GET /api/v2/conversations/messages/{conversationId}` (Bearer): the
//!   conversation's participants (customer, acd, agents with their state).
//! - Agent traffic goes to the integration's outbound webhook as
//!   `OpenMessageNormalizedMessage` (direction `Outbound`), signed
//!   `X-Hub-Signature-256: sha256=<base64 HMAC-SHA256(body)>`, retried up
//!   to 5 times on a timeout, 429 or 5xx.
//!
//! Like the real service, no webhook says that an agent joined or that the
//! conversation ended: [`GenesysSim::agent_join`] only connects the agent
//! participant and sends the agent's typing event (the first outbound
//! trace of an agent), and [`GenesysSim::end`] only disconnects the
//! participants (visible through the conversation GET).

mod api;
mod driver;
#[cfg(test)]
mod tests;

pub use crate::kit::oauth::Recorded;
pub use driver::GenesysDriver;

use crate::driver::ProviderDriver;
use crate::kit::oauth::{OAuthProvider, Refusals};
use crate::kit::{self, Job, Provider, PushesWebhooks, Signer, Simulator};
use axum::Router;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(GenesysDriver::start().await?))
}

/// `sha256=<base64 HMAC-SHA256(secret, body)>`, the `X-Hub-Signature-256` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", kit::base64(&kit::hmac_sha256(secret, &[body])))
}

#[derive(Debug, Clone)]
pub struct GenesysConfig {
    pub integration_id: String,
    pub integration_name: String,
    pub client_id: String,
    pub client_secret: String,
    /// `outboundNotificationWebhookSignatureSecretToken`.
    pub webhook_secret: String,
}

impl Default for GenesysConfig {
    fn default() -> Self {
        GenesysConfig {
            integration_id: "5b9c8f3e-0d4a-4c51-9d0e-2f6f1b7a9e01".into(),
            integration_name: "Handover Open Messaging".into(),
            client_id: "genesys-client".into(),
            client_secret: "genesys-client-secret".into(),
            webhook_secret: "genesys-webhook-secret".into(),
        }
    }
}

/// One inbound (user → Genesys) message as received.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub message_id: String,
    pub text: String,
    /// The `content` list (attachments) as sent.
    pub content: Value,
    pub time: String,
}

/// An agent participant.
#[derive(Debug, Clone)]
pub struct AgentParticipant {
    pub user_id: String,
    pub name: String,
    pub connected: bool,
}

/// A conversation as the simulator sees it.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    /// `channel.from` of its first message.
    pub from: Value,
    /// `channel.from.id`: where outbound webhooks go (`channel.to.id`).
    pub user_id: String,
    /// Participant data from `channel.metadata.customAttributes`.
    pub attributes: BTreeMap<String, String>,
    pub inbound: Vec<Inbound>,
    /// The user's typing events received.
    pub user_events: Vec<Value>,
    /// Agents in the order they were connected (the last is current).
    pub agents: Vec<AgentParticipant>,
    pub customer_connected: bool,
}

impl Conversation {
    /// The agent currently connected, if any.
    pub fn agent(&self) -> Option<&AgentParticipant> {
        self.agents.last().filter(|a| a.connected)
    }
}

/// The Genesys simulator's state.
#[derive(Default)]
pub struct State {
    pub(crate) convs: Vec<Conversation>,
    pub(crate) refusals: Refusals,
    pub(crate) next_agent: u32,
    /// `channel.time` of the last outbound message (kept increasing).
    pub(crate) last_time_ms: u64,
}

impl Provider for State {
    type Config = GenesysConfig;
    type Request = Recorded;
}

impl PushesWebhooks for State {}

impl OAuthProvider for State {
    type Conversation = Conversation;
    const NAME: &'static str = "genesys";
    /// The first attempt and 5 retries (5 s apart; faster here).
    const WEBHOOK_ATTEMPTS: u32 = 6;

    fn signer(cfg: &GenesysConfig) -> Signer {
        let secret = cfg.webhook_secret.clone();
        Arc::new(move |job: &Job| vec![("x-hub-signature-256".into(), sign(&secret, &job.body))])
    }

    fn routes(shared: Arc<Shared>) -> Router {
        api::router(shared)
    }

    fn client(cfg: &GenesysConfig) -> (&str, &str) {
        (&cfg.client_id, &cfg.client_secret)
    }

    fn token_path(_: &GenesysConfig) -> String {
        "/oauth/token".into()
    }

    fn conversations(&mut self) -> &mut Vec<Conversation> {
        &mut self.convs
    }

    fn conversation_id(c: &Conversation) -> &str {
        &c.id
    }

    /// The conversation whose external user id (or a custom attribute) is
    /// `handover_id`.
    fn handover_conversation(&self, handover_id: &str) -> Option<&Conversation> {
        self.convs
            .iter()
            .find(|c| c.user_id == handover_id || c.attributes.values().any(|v| v == handover_id))
    }

    fn refusals(&mut self) -> &mut Refusals {
        &mut self.refusals
    }

    /// An agent answers: the agent participant connects (queue left) and
    /// the agent starts typing (the typing event is the only webhook).
    fn agent_joins(sim: &GenesysSim, conv: &str, name: &str) {
        let user_id = {
            let mut st = sim.shared.lock();
            st.next_agent += 1;
            format!("agent-user-{}", st.next_agent)
        };
        sim.with_conv(conv, |_, c| {
            for a in &mut c.agents {
                a.connected = false;
            }
            c.agents.push(AgentParticipant {
                user_id,
                name: name.into(),
                connected: true,
            });
        });
        sim.agent_typing(conv);
    }

    /// The agent sends a text (`originatingEntity: Human`).
    fn agent_says(sim: &GenesysSim, conv: &str, text: &str) {
        sim.outbound(
            conv,
            json!({"type": "Text", "text": text, "originatingEntity": "Human"}),
        );
    }

    /// The agent disconnects the interaction: every participant is
    /// disconnected. No webhook says so (Open Messaging has none).
    fn agent_ends(sim: &GenesysSim, conv: &str) {
        sim.with_conv(conv, |_, c| {
            for a in &mut c.agents {
                a.connected = false;
            }
            c.customer_connected = false;
        });
    }
}

pub(crate) type Shared = kit::Shared<State>;

/// A running Genesys simulator; clones drive the same server.
pub type GenesysSim = Simulator<State>;

impl Simulator<State> {
    /// The agent sends a text with one attachment.
    pub fn agent_message_with_attachment(&self, conv: &str, text: &str, url: &str, mime: &str) {
        let filename = url.rsplit('/').next().unwrap_or("file");
        self.outbound(
            conv,
            json!({"type": "Text", "text": text, "originatingEntity": "Human", "content": [
                {"contentType": "Attachment", "attachment": {
                    "mediaType": if mime.starts_with("image/") { "Image" } else { "File" },
                    "url": url, "mime": mime, "filename": filename}}
            ]}),
        );
    }

    /// A flow or bot sends a text (`originatingEntity: Bot`).
    pub fn bot_message(&self, conv: &str, text: &str) {
        self.outbound(
            conv,
            json!({"type": "Text", "text": text, "originatingEntity": "Bot"}),
        );
    }

    /// The agent is typing.
    pub fn agent_typing(&self, conv: &str) {
        self.outbound(
            conv,
            json!({"type": "Event", "events": [
                {"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}
            ]}),
        );
    }

    /// The agent transfers the conversation back to the queue.
    pub fn transfer_to_queue(&self, conv: &str) {
        self.with_conv(conv, |_, c| {
            for a in &mut c.agents {
                a.connected = false;
            }
        });
    }

    /// Sends one outbound `OpenMessageNormalizedMessage` to the webhook.
    fn outbound(&self, conv: &str, fields: Value) {
        let (to, agent, time) = {
            let mut st = self.shared.lock();
            let time = kit::unix_ms().max(st.last_time_ms + 1);
            st.last_time_ms = time;
            let Some(c) = st.convs.iter().find(|c| c.id == conv) else {
                panic!("genesys sim: no conversation {conv}");
            };
            (c.user_id.clone(), c.agent().map(|a| a.name.clone()), time)
        };
        let cfg = &self.shared.cfg;
        let id = kit::new_id();
        let mut from = json!({
            "nickname": cfg.integration_name, "id": cfg.integration_id, "idType": "Opaque",
        });
        if let Some(name) = agent {
            from["firstName"] = name.into();
        }
        let mut body = json!({
            "id": id,
            "channel": {
                "id": cfg.integration_id, "platform": "Open", "type": "Private",
                "to": {"id": to}, "from": from,
                "time": kit::iso8601(time), "messageId": id,
            },
            "direction": "Outbound",
        });
        for (k, v) in fields.as_object().expect("fields object") {
            body[k] = v.clone();
        }
        self.shared.outbox().send(Job::body(&body));
    }
}
