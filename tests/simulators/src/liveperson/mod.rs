//! Simulator of LivePerson Messaging's Connector API, written from the
//! public developer documentation:
//!
//! - `POST /sentinel/api/account/{account}/app/token`: the AppJWT, OAuth2
//!   client credentials (HTTP Basic or `client_id`/`client_secret`
//!   parameters); tokens expire (`set_token_ttl`).
//! - `POST /api/account/{account}/consumer?v=1.0` (AppJWT in
//!   `Authorization`, with or without `Bearer `): a ConsumerJWS for
//!   `{"ext_consumer_id": …}`.
//! - `POST /api/account/{account}/messaging/consumer/conversation?v=3`
//!   (AppJWT + `X-LP-ON-BEHALF: <ConsumerJWS>`): the batch
//!   `[userprofile.SetUserProfile, cm.ConsumerRequestConversation]`;
//!   answers an array of `{"kind":"resp",…}`.
//! - `POST …/conversation/send?v=3`: `ms.PublishEvent` (answers the
//!   event's `sequence`) and `cm.UpdateConversationField` (CLOSE).
//! - Webhooks (Connector API webhooks): `ms.MessagingEventNotification`
//!   (ContentEvent, RichContentEvent, ChatStateEvent, also the consumer's
//!   own events) and `cqm.ExConversationChangeNotification` (participants,
//!   state, closeReason), signed `X-Liveperson-Signature:
//!   sha1=<base64 HMAC-SHA1(client secret, body)>` with
//!   `X-Liveperson-Account-Id` and `X-Liveperson-Client-Id`.

mod api;
mod driver;
#[cfg(test)]
mod tests;

pub use driver::LivePersonDriver;

use crate::driver::ProviderDriver;
use crate::genesys::kit::{self, Faults, Server, Tokens, Webhooks, lock};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(LivePersonDriver::start().await?))
}

/// `sha1=<base64 HMAC-SHA1(secret, body)>`, the `X-Liveperson-Signature` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha1={}", kit::base64(&mac.finalize().into_bytes()))
}

#[derive(Debug, Clone)]
pub struct LivePersonConfig {
    pub account_id: String,
    pub client_id: String,
    /// Also the webhook signing secret, as in the Connector API.
    pub client_secret: String,
}

impl Default for LivePersonConfig {
    fn default() -> Self {
        LivePersonConfig {
            account_id: "64467156".into(),
            client_id: "lp-connector-app".into(),
            client_secret: "lp-connector-secret".into(),
        }
    }
}

/// A LivePerson conversation as the simulator sees it.
#[derive(Debug, Clone)]
pub struct LpConversation {
    pub id: String,
    pub ext_consumer_id: String,
    pub consumer_participant: String,
    pub skill_id: Option<String>,
    pub ttr: Option<String>,
    pub campaign: Value,
    /// The `lp_sdes` of the consumer's `SetUserProfile`.
    pub sdes: Value,
    /// `OPEN` or `CLOSE`.
    pub state: String,
    pub close_reason: Option<String>,
    /// The assigned agent's participant id and name.
    pub agent: Option<(String, String)>,
    /// Texts the consumer published, in order.
    pub consumer_messages: Vec<String>,
    pub next_seq: u64,
    pub last_ts: u64,
    pub start_ts: u64,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct State {
    /// ConsumerJWS → (ext_consumer_id, participant id).
    pub consumers: HashMap<String, (String, String)>,
    /// Profiles set by consumers, by ConsumerJWS.
    pub profiles: HashMap<String, Value>,
    pub convs: Vec<LpConversation>,
    pub requests: Vec<Recorded>,
    pub never_assign: bool,
    pub never_end: bool,
}

pub(crate) struct Shared {
    pub cfg: LivePersonConfig,
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

    /// Sends a `cqm.ExConversationChangeNotification` with the
    /// conversation's current details (after a change).
    pub fn notify_conversation(&self, conv: &mut LpConversation) {
        conv.last_ts = kit::now_ms().max(conv.last_ts + 1);
        let mut participants = vec![json!({"id": conv.consumer_participant, "role": "CONSUMER"})];
        if let Some((id, _)) = &conv.agent {
            participants.push(json!({"id": id, "role": "ASSIGNED_AGENT"}));
        }
        let mut details = json!({
            "participants": participants,
            "dialogs": [{"dialogId": conv.id, "dialogType": "MAIN", "channelType": "MESSAGING", "state": conv.state}],
            "brandId": self.cfg.account_id,
            "state": conv.state,
            "stage": conv.state,
            "startTs": conv.start_ts,
            "metaDataLastUpdateTs": conv.last_ts,
            "ttr": {"ttrType": conv.ttr.clone().unwrap_or_else(|| "NORMAL".into()), "value": 3600},
        });
        if let Some(skill) = &conv.skill_id {
            details["skillId"] = skill.clone().into();
        }
        if let Some(reason) = &conv.close_reason {
            details["closeReason"] = reason.clone().into();
            details["endTs"] = conv.last_ts.into();
        }
        self.webhooks.send(&json!({
            "kind": "notification",
            "body": {"subscriptionId": "sim-subscription", "changes": [
                {"type": "UPSERT", "result": {"convId": conv.id, "effectiveTTR": conv.start_ts + 3_600_000, "conversationDetails": details}}
            ]},
            "type": "cqm.ExConversationChangeNotification",
        }));
    }

    /// Sends one `ms.MessagingEventNotification` change; sequenced events
    /// (not chat states) get the conversation's next sequence.
    pub fn notify_event(
        &self,
        conv: &mut LpConversation,
        originator: (&str, &str),
        event: Value,
    ) -> Option<u64> {
        let sequenced = event["type"] != "ChatStateEvent";
        let (id, role) = originator;
        let mut change = json!({
            "originatorClientProperties": {"type": "MOBILE_APP"},
            "originatorId": format!("{}.{id}", self.cfg.account_id),
            "originatorMetadata": {"id": id, "role": role},
            "serverTimestamp": kit::now_ms(),
            "event": event,
            "conversationId": conv.id,
            "dialogId": conv.id,
        });
        let seq = sequenced.then(|| {
            let seq = conv.next_seq;
            conv.next_seq += 1;
            change["sequence"] = seq.into();
            seq
        });
        self.webhooks.send(&json!({
            "kind": "notification",
            "body": {"changes": [change]},
            "type": "ms.MessagingEventNotification",
        }));
        seq
    }
}

/// A running LivePerson simulator; clones drive the same server.
#[derive(Clone)]
pub struct LivePersonSim {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

impl LivePersonSim {
    pub async fn start(cfg: LivePersonConfig) -> std::io::Result<LivePersonSim> {
        let (account, client, secret) = (
            cfg.account_id.clone(),
            cfg.client_id.clone(),
            cfg.client_secret.clone(),
        );
        let signer: kit::Signer = Box::new(move |body| {
            vec![
                ("x-liveperson-account-id".into(), account.clone()),
                ("x-liveperson-client-id".into(), client.clone()),
                ("x-liveperson-signature".into(), sign(&secret, body)),
            ]
        });
        let shared = Arc::new(Shared {
            tokens: Tokens::new(&cfg.client_id, &cfg.client_secret),
            cfg,
            state: Mutex::default(),
            faults: Faults::default(),
            webhooks: Webhooks::start(signer, 4, Duration::from_millis(100)),
            changed: Notify::new(),
        });
        let server = Server::start(api::router(shared.clone())).await?;
        Ok(LivePersonSim {
            shared,
            server: Arc::new(server),
        })
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn config(&self) -> &LivePersonConfig {
        &self.shared.cfg
    }

    /// `…/sentinel/api/account/{account}/app/token?v=1.0`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/sentinel/api/account/{}/app/token?v=1.0",
            self.base_url(),
            self.shared.cfg.account_id
        )
    }

    pub fn set_webhook_url(&self, url: Option<String>) {
        self.shared.webhooks.set_url(url);
    }

    pub async fn shutdown(&self) {
        self.server.shutdown().await;
        self.shared.webhooks.stop();
    }

    // ---- inspection

    pub fn conversation(&self, id: &str) -> Option<LpConversation> {
        self.shared
            .lock()
            .convs
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    pub fn conversations(&self) -> Vec<LpConversation> {
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

    /// The conversation of the consumer `ext_consumer_id` (the adapter uses
    /// the handover id), once it exists.
    pub async fn wait_for_conversation(
        &self,
        ext_consumer_id: &str,
        timeout: Duration,
    ) -> Option<LpConversation> {
        kit::wait_until(&self.shared.changed, timeout, || {
            self.shared
                .lock()
                .convs
                .iter()
                .rfind(|c| c.ext_consumer_id == ext_consumer_id)
                .cloned()
        })
        .await
    }

    // ---- scripting

    pub fn fail_next(&self, prefix: &str, status: u16, count: u32) {
        self.shared.faults.add(prefix, status, count);
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.tokens.set_ttl(ttl);
    }

    pub fn set_never_assign(&self, on: bool) {
        self.shared.lock().never_assign = on;
    }

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

    fn with_conv<R>(&self, conv: &str, f: impl FnOnce(&Shared, &mut LpConversation) -> R) -> R {
        let r = {
            let mut st = self.shared.lock();
            let Some(c) = st.convs.iter_mut().find(|c| c.id == conv) else {
                panic!("liveperson sim: no conversation {conv}");
            };
            f(&self.shared, c)
        };
        self.shared.changed.notify_waiters();
        r
    }

    /// An agent is assigned (participant change notification).
    pub fn agent_join(&self, conv: &str, name: &str) {
        if self.shared.lock().never_assign {
            return;
        }
        self.with_conv(conv, |shared, c| {
            c.agent = Some((kit::new_id(), name.to_string()));
            shared.notify_conversation(c);
        });
    }

    fn agent_event(&self, conv: &str, event: Value) {
        self.with_conv(conv, |shared, c| {
            let id = c
                .agent
                .as_ref()
                .map_or_else(|| "unassigned-agent".to_string(), |a| a.0.clone());
            shared.notify_event(c, (&id, "ASSIGNED_AGENT"), event);
        });
    }

    /// The agent sends a text (ContentEvent).
    pub fn agent_message(&self, conv: &str, text: &str) {
        self.agent_event(
            conv,
            json!({"type": "ContentEvent", "message": text, "contentType": "text/plain"}),
        );
    }

    /// The agent sends structured content (RichContentEvent).
    pub fn agent_rich_content(&self, conv: &str, content: Value) {
        self.agent_event(
            conv,
            json!({"type": "RichContentEvent", "content": content}),
        );
    }

    /// The agent starts (COMPOSING) or stops (ACTIVE) typing.
    pub fn agent_typing(&self, conv: &str, on: bool) {
        let state = if on { "COMPOSING" } else { "ACTIVE" };
        self.agent_event(conv, json!({"type": "ChatStateEvent", "chatState": state}));
    }

    /// The agent reads the consumer's messages (AcceptStatusEvent).
    pub fn agent_read(&self, conv: &str, sequences: &[u64]) {
        self.agent_event(
            conv,
            json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": sequences}),
        );
    }

    /// The agent transfers the conversation to another skill (unassigned).
    pub fn transfer_to_skill(&self, conv: &str, skill: &str) {
        self.with_conv(conv, |shared, c| {
            c.agent = None;
            c.skill_id = Some(skill.to_string());
            shared.notify_conversation(c);
        });
    }

    /// The agent closes the conversation (state CLOSE, closeReason AGENT).
    pub fn end(&self, conv: &str) {
        if self.shared.lock().never_end {
            return;
        }
        self.with_conv(conv, |shared, c| {
            c.state = "CLOSE".into();
            c.close_reason = Some("AGENT".into());
            shared.notify_conversation(c);
        });
    }
}
