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

pub use crate::kit::oauth::Recorded;
pub use driver::LivePersonDriver;

use crate::driver::ProviderDriver;
use crate::kit::oauth::{OAuthProvider, Refusals};
use crate::kit::{self, Job, Provider, PushesWebhooks, Signer, Simulator};
use axum::Router;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(LivePersonDriver::start().await?))
}

/// `sha1=<base64 HMAC-SHA1(secret, body)>`, the `X-Liveperson-Signature` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha1={}", kit::base64(&kit::hmac_sha1(secret, &[body])))
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

/// The LivePerson simulator's state.
#[derive(Default)]
pub struct State {
    /// ConsumerJWS → (ext_consumer_id, participant id).
    pub(crate) consumers: HashMap<String, (String, String)>,
    /// Profiles set by consumers, by ConsumerJWS.
    pub(crate) profiles: HashMap<String, Value>,
    pub(crate) convs: Vec<LpConversation>,
    pub(crate) refusals: Refusals,
}

impl Provider for State {
    type Config = LivePersonConfig;
    type Request = Recorded;
}

impl PushesWebhooks for State {}

impl OAuthProvider for State {
    type Conversation = LpConversation;
    const NAME: &'static str = "liveperson";
    const WEBHOOK_ATTEMPTS: u32 = 4;

    /// `X-Liveperson-Signature` with the account and client ids.
    fn signer(cfg: &LivePersonConfig) -> Signer {
        let (account, client, secret) = (
            cfg.account_id.clone(),
            cfg.client_id.clone(),
            cfg.client_secret.clone(),
        );
        Arc::new(move |job: &Job| {
            vec![
                ("x-liveperson-account-id".into(), account.clone()),
                ("x-liveperson-client-id".into(), client.clone()),
                ("x-liveperson-signature".into(), sign(&secret, &job.body)),
            ]
        })
    }

    fn routes(shared: Arc<Shared>) -> Router {
        api::router(shared)
    }

    fn client(cfg: &LivePersonConfig) -> (&str, &str) {
        (&cfg.client_id, &cfg.client_secret)
    }

    /// `/sentinel/api/account/{account}/app/token?v=1.0`.
    fn token_path(cfg: &LivePersonConfig) -> String {
        format!("/sentinel/api/account/{}/app/token?v=1.0", cfg.account_id)
    }

    fn conversations(&mut self) -> &mut Vec<LpConversation> {
        &mut self.convs
    }

    fn conversation_id(c: &LpConversation) -> &str {
        &c.id
    }

    /// The latest conversation of the consumer `handover_id` (the adapter
    /// uses the handover id as `ext_consumer_id`).
    fn handover_conversation(&self, handover_id: &str) -> Option<&LpConversation> {
        self.convs
            .iter()
            .rfind(|c| c.ext_consumer_id == handover_id)
    }

    fn refusals(&mut self) -> &mut Refusals {
        &mut self.refusals
    }

    /// An agent is assigned (participant change notification).
    fn agent_joins(sim: &LivePersonSim, conv: &str, name: &str) {
        sim.with_conv(conv, |shared, c| {
            c.agent = Some((kit::new_id(), name.to_string()));
            shared.notify_conversation(c);
        });
    }

    /// The agent sends a text (ContentEvent).
    fn agent_says(sim: &LivePersonSim, conv: &str, text: &str) {
        sim.agent_event(
            conv,
            json!({"type": "ContentEvent", "message": text, "contentType": "text/plain"}),
        );
    }

    /// The agent closes the conversation (state CLOSE, closeReason AGENT).
    fn agent_ends(sim: &LivePersonSim, conv: &str) {
        sim.with_conv(conv, |shared, c| {
            c.state = "CLOSE".into();
            c.close_reason = Some("AGENT".into());
            shared.notify_conversation(c);
        });
    }
}

pub(crate) type Shared = kit::Shared<State>;

impl Shared {
    /// Sends a `cqm.ExConversationChangeNotification` with the
    /// conversation's current details (after a change).
    pub fn notify_conversation(&self, conv: &mut LpConversation) {
        conv.last_ts = kit::unix_ms().max(conv.last_ts + 1);
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
        self.outbox().send(Job::body(&json!({
            "kind": "notification",
            "body": {"subscriptionId": "sim-subscription", "changes": [
                {"type": "UPSERT", "result": {"convId": conv.id, "effectiveTTR": conv.start_ts + 3_600_000, "conversationDetails": details}}
            ]},
            "type": "cqm.ExConversationChangeNotification",
        })));
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
            "serverTimestamp": kit::unix_ms(),
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
        self.outbox().send(Job::body(&json!({
            "kind": "notification",
            "body": {"changes": [change]},
            "type": "ms.MessagingEventNotification",
        })));
        seq
    }
}

/// A running LivePerson simulator; clones drive the same server.
pub type LivePersonSim = Simulator<State>;

impl Simulator<State> {
    // ---- the agent side

    fn agent_event(&self, conv: &str, event: Value) {
        self.with_conv(conv, |shared, c| {
            let id = c
                .agent
                .as_ref()
                .map_or_else(|| "unassigned-agent".to_string(), |a| a.0.clone());
            shared.notify_event(c, (&id, "ASSIGNED_AGENT"), event);
        });
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
}
