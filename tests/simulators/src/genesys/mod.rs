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
pub mod kit;
#[cfg(test)]
pub(crate) mod tests;

pub use driver::GenesysDriver;

use crate::driver::ProviderDriver;
use hmac::{Hmac, Mac};
use kit::{Faults, Server, Tokens, Webhooks, lock};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(GenesysDriver::start().await?))
}

/// `sha256=<base64 HMAC-SHA256(secret, body)>`, the `X-Hub-Signature-256` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", kit::base64(&mac.finalize().into_bytes()))
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

/// One API request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
}

#[derive(Default)]
pub(crate) struct State {
    pub convs: Vec<Conversation>,
    pub requests: Vec<Recorded>,
    pub never_assign: bool,
    pub never_end: bool,
    pub next_agent: u32,
    /// `channel.time` of the last outbound message (kept increasing).
    pub last_time_ms: u64,
}

pub(crate) struct Shared {
    pub cfg: GenesysConfig,
    pub state: Mutex<State>,
    pub tokens: Tokens,
    pub faults: Faults,
    pub webhooks: Arc<Webhooks>,
    pub changed: Notify,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A running Genesys simulator; clones drive the same server.
#[derive(Clone)]
pub struct GenesysSim {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

impl GenesysSim {
    pub async fn start(cfg: GenesysConfig) -> std::io::Result<GenesysSim> {
        let secret = cfg.webhook_secret.clone();
        let signer: kit::Signer =
            Box::new(move |body| vec![("x-hub-signature-256".into(), sign(&secret, body))]);
        let shared = Arc::new(Shared {
            tokens: Tokens::new(&cfg.client_id, &cfg.client_secret),
            cfg,
            state: Mutex::default(),
            faults: Faults::default(),
            // Genesys: the first attempt and 5 retries (5 s apart; faster here).
            webhooks: Webhooks::start(signer, 6, Duration::from_millis(100)),
            changed: Notify::new(),
        });
        let server = Server::start(api::router(shared.clone())).await?;
        Ok(GenesysSim {
            shared,
            server: Arc::new(server),
        })
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn config(&self) -> &GenesysConfig {
        &self.shared.cfg
    }

    /// The integration's outbound notification webhook URL.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.shared.webhooks.set_url(url);
    }

    pub async fn shutdown(&self) {
        self.server.shutdown().await;
        self.shared.webhooks.stop();
    }

    // ---- inspection

    pub fn conversation(&self, id: &str) -> Option<Conversation> {
        self.shared
            .lock()
            .convs
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    pub fn conversations(&self) -> Vec<Conversation> {
        self.shared.lock().convs.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens.issued()
    }

    pub fn deliveries(&self) -> Vec<kit::Delivery> {
        self.shared.webhooks.deliveries()
    }

    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        self.shared.webhooks.wait_for_deliveries(n, timeout).await
    }

    /// The conversation whose external user id (or a custom attribute) is
    /// `handover_id`, once it exists.
    pub async fn wait_for_conversation(
        &self,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<Conversation> {
        kit::wait_until(&self.shared.changed, timeout, || {
            self.shared
                .lock()
                .convs
                .iter()
                .find(|c| {
                    c.user_id == handover_id || c.attributes.values().any(|v| v == handover_id)
                })
                .cloned()
        })
        .await
    }

    // ---- scripting

    /// The next `count` API requests whose path starts with `prefix` get
    /// `status` (429 and 503 with `Retry-After: 1`).
    pub fn fail_next(&self, prefix: &str, status: u16, count: u32) {
        self.shared.faults.add(prefix, status, count);
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.tokens.set_ttl(ttl);
    }

    /// `agent_join` does nothing (no agent ever picks up).
    pub fn set_never_assign(&self, on: bool) {
        self.shared.lock().never_assign = on;
    }

    /// `end` does nothing (the conversation never ends).
    pub fn set_never_end(&self, on: bool) {
        self.shared.lock().never_end = on;
    }

    pub fn set_duplicate_webhooks(&self, on: bool) {
        self.shared.webhooks.set_duplicate(on);
    }

    pub fn set_hold_webhooks(&self, on: bool) {
        self.shared.webhooks.set_hold(on);
    }

    pub async fn release_held(&self, reverse: bool) {
        self.shared.webhooks.release_held(reverse).await;
    }

    // ---- the agent side

    /// An agent answers: the agent participant connects (queue left) and
    /// the agent starts typing (the typing event is the only webhook).
    pub fn agent_join(&self, conv: &str, name: &str) {
        {
            let mut st = self.shared.lock();
            if st.never_assign {
                return;
            }
            st.next_agent += 1;
            let user_id = format!("agent-user-{}", st.next_agent);
            let Some(c) = st.convs.iter_mut().find(|c| c.id == conv) else {
                panic!("genesys sim: no conversation {conv}");
            };
            for a in &mut c.agents {
                a.connected = false;
            }
            c.agents.push(AgentParticipant {
                user_id,
                name: name.into(),
                connected: true,
            });
        }
        self.shared.changed.notify_waiters();
        self.agent_typing(conv);
    }

    /// The agent sends a text (`originatingEntity: Human`).
    pub fn agent_message(&self, conv: &str, text: &str) {
        self.outbound(
            conv,
            json!({"type": "Text", "text": text, "originatingEntity": "Human"}),
        );
    }

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
        self.with_conv(conv, |c| {
            for a in &mut c.agents {
                a.connected = false;
            }
        });
    }

    /// The agent disconnects the interaction: every participant is
    /// disconnected. No webhook says so (Open Messaging has none).
    pub fn end(&self, conv: &str) {
        if self.shared.lock().never_end {
            return;
        }
        self.with_conv(conv, |c| {
            for a in &mut c.agents {
                a.connected = false;
            }
            c.customer_connected = false;
        });
    }

    fn with_conv(&self, conv: &str, f: impl FnOnce(&mut Conversation)) {
        {
            let mut st = self.shared.lock();
            let Some(c) = st.convs.iter_mut().find(|c| c.id == conv) else {
                panic!("genesys sim: no conversation {conv}");
            };
            f(c);
        }
        self.shared.changed.notify_waiters();
    }

    /// Sends one outbound `OpenMessageNormalizedMessage` to the webhook.
    fn outbound(&self, conv: &str, fields: Value) {
        let (to, agent, time) = {
            let mut st = self.shared.lock();
            let time = kit::now_ms().max(st.last_time_ms + 1);
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
        self.shared.webhooks.send(&body);
    }
}
