//! Simulator of Twilio Flex Conversations: the Flex API's Interactions
//! (which open a Conversation and its TaskRouter routing task) and the
//! Conversations API routes the adapter needs, over loopback HTTP, on one
//! base URL (the real hosts are `flex-api.twilio.com` and
//! `conversations.twilio.com`).
//!
//! - Every request needs HTTP Basic `AccountSid:AuthToken` (401 otherwise).
//! - Every body is validated against `tests/simulators/specs/twilio/`
//!   `twilio_flex_v1.json` + `twilio_conversations_v1.json` (form bodies,
//!   see [`crate::openapi`]); a violation is recorded and answered 400 with
//!   Twilio's error document `{code, message, more_info, status}`.
//! - The agent side is Twilio's Conversations webhooks (`onParticipantAdded`,
//!   `onMessageAdded`, `onConversationStateUpdated`), form-encoded, signed
//!   `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + the form
//!   parameters sorted by name, each name then value))`, with
//!   `I-Twilio-Idempotency-Token` (the same across retries and duplicates).

mod api;
mod driver;
mod state;

pub use driver::TwilioDriver;

use crate::driver::ProviderDriver;
use crate::kit::{
    self, Gate, Job, Outbox, Policy, Provider, PushesWebhooks, RecordedRequest, Simulator,
};
use crate::openapi::Spec;
use axum::http::StatusCode;
use serde_json::{Value, json};
use state::Data;
use std::sync::Arc;
use std::time::Duration;

/// How to start a [`TwilioSim`].
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// The Basic-auth password and the webhook signing key.
    pub auth_token: String,
    /// The TaskRouter workspace and workflow that `Routing` must name.
    pub workspace_sid: String,
    pub workflow_sid: String,
    pub webhook_url: Option<String>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: "AC0000000000000000000000000000516d".into(),
            auth_token: "twilio-sim-auth-token".into(),
            workspace_sid: "WS00000000000000000000000000000f1e".into(),
            workflow_sid: "WW00000000000000000000000000000f1e".into(),
            webhook_url: None,
        }
    }
}

/// The `X-Twilio-Signature` of a form body posted to `url`:
/// base64(HMAC-SHA1(auth token, url + each parameter's name then value, the
/// parameters sorted by name)).
pub fn sign(auth_token: &str, url: &str, form_body: &[u8]) -> String {
    let mut pairs = kit::form_pairs(&String::from_utf8_lossy(form_body));
    pairs.sort();
    let mut signed = url.to_string();
    for (name, value) in pairs {
        signed.push_str(&name);
        signed.push_str(&value);
    }
    kit::base64(&kit::hmac_sha1(auth_token, &[signed.as_bytes()]))
}

impl Provider for Data {
    type Config = TwilioConfig;
    type Request = RecordedRequest;
}

impl PushesWebhooks for Data {}

pub(crate) type Shared = kit::Shared<Data>;

/// A running Twilio simulator. Cheap to clone.
pub type TwilioSim = Simulator<Data>;

/// The agent participants' attributes, as Flex sets them.
fn agent_attributes(name: &str) -> String {
    json!({"member_type": "agent", "friendly_name": name}).to_string()
}

impl Simulator<Data> {
    /// Serves on `127.0.0.1:<free port>`. Fails when the specs cannot be loaded.
    pub async fn start(config: TwilioConfig) -> anyhow::Result<TwilioSim> {
        let spec = Spec::load_merged(
            "twilio",
            &[
                "twilio/twilio_flex_v1.json",
                "twilio/twilio_conversations_v1.json",
            ],
        )?;
        let basic = kit::base64(format!("{}:{}", config.account_sid, config.auth_token).as_bytes());
        let gate = Gate::new(api::error)
            .with_credential("authorization", format!("Basic {basic}"))
            .with_spec(spec, StatusCode::BAD_REQUEST);
        let token = config.auth_token.clone();
        let outbox = Outbox::url_signed(
            Arc::new(move |job: &Job, url: &str| {
                vec![
                    ("x-twilio-signature".into(), sign(&token, url, &job.body)),
                    ("i-twilio-idempotency-token".into(), job.id.clone()),
                ]
            }),
            Policy::default(),
        );
        outbox.set_url(config.webhook_url.clone());
        let data = Data::new(&config.account_sid);
        let shared = Shared::new(config, data, gate).with_outbox(outbox);
        let sim = Simulator::serve(shared, api::router).await?;
        sim.shared.lock().base_url = sim.base_url();
        Ok(sim)
    }

    // ---- the agent side ----

    /// The agent `name` joins (an agent participant, identity `name`):
    /// `onParticipantAdded`; the task becomes `assigned`. Fails for an
    /// unknown or closed conversation.
    pub fn agent_join(&self, conv: &str, name: &str) -> Result<String, String> {
        let mut data = self.shared.lock();
        let c = data
            .conversation(conv)
            .ok_or(format!("unknown conversation {conv}"))?;
        if c.state == "closed" {
            return Err(format!("conversation {conv} is closed"));
        }
        let sid = data.add_participant(conv, name, &agent_attributes(name), true);
        let c = data.conversation_mut(conv).expect("known conversation");
        if let Some(i) = &mut c.interaction {
            i.task.assignment_status = "assigned".into();
        }
        let c = data.conversation(conv).expect("known conversation");
        let p = c.participants.last().expect("just added");
        data.participant_added(self.shared.outbox(), conv, p);
        drop(data);
        self.shared.bump();
        Ok(sid)
    }

    /// A message from the (last joined) agent, else from identity `agent`:
    /// `onMessageAdded`. Returns its index.
    pub fn agent_message(&self, conv: &str, text: &str) -> Result<u64, String> {
        let mut data = self.shared.lock();
        let c = data
            .conversation(conv)
            .ok_or(format!("unknown conversation {conv}"))?;
        if c.state == "closed" {
            return Err(format!("conversation {conv} is closed"));
        }
        let author = c
            .participants
            .iter()
            .rev()
            .find(|p| p.agent)
            .map_or_else(|| "agent".to_string(), |p| p.identity.clone());
        let at = data.add_message(conv, &author, Some(text.into()), "{}".into());
        let c = data.conversation(conv).expect("known conversation");
        let m = &c.messages[at];
        data.message_added(self.shared.outbox(), conv, m);
        let index = m.index;
        drop(data);
        self.shared.bump();
        Ok(index)
    }

    /// The agent closes the conversation (wraps up in Flex):
    /// `onConversationStateUpdated` `StateTo=closed`; the task completes.
    pub fn close(&self, conv: &str) -> Result<(), String> {
        let mut data = self.shared.lock();
        let now = data.now();
        let c = data
            .conversation_mut(conv)
            .ok_or(format!("unknown conversation {conv}"))?;
        if c.state == "closed" {
            return Err(format!("conversation {conv} is already closed"));
        }
        let from = std::mem::replace(&mut c.state, "closed".into());
        c.date_updated = now;
        if let Some(i) = &mut c.interaction {
            i.task.assignment_status = "completed".into();
        }
        let identity = c
            .participants
            .iter()
            .rev()
            .find(|p| p.agent)
            .map_or_else(String::new, |p| p.identity.clone());
        let c = data.conversation(conv).expect("known conversation");
        data.state_updated(self.shared.outbox(), c, &from, &identity);
        drop(data);
        self.shared.bump();
        Ok(())
    }

    // ---- inspection ----

    /// The conversation as `GET /v1/Conversations/{Sid}` shows it.
    pub fn conversation(&self, conv: &str) -> Option<Value> {
        let data = self.shared.lock();
        data.conversation(conv).map(|c| data.conversation_json(c))
    }

    /// The routing task's attributes (what Routing gave plus what Flex adds).
    pub fn task_attributes(&self, conv: &str) -> Option<Value> {
        let data = self.shared.lock();
        let c = data.conversation(conv)?;
        c.interaction.as_ref().map(|i| i.task.attributes.clone())
    }

    /// The routing task's assignment status (`pending`, `assigned`,
    /// `canceled`, `completed`).
    pub fn task_status(&self, conv: &str) -> Option<String> {
        let data = self.shared.lock();
        let c = data.conversation(conv)?;
        c.interaction
            .as_ref()
            .map(|i| i.task.assignment_status.clone())
    }

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

    /// Bodies of the messages not written by an agent participant, in order.
    pub fn user_messages(&self, conv: &str) -> Vec<String> {
        let data = self.shared.lock();
        let Some(c) = data.conversation(conv) else {
            return Vec::new();
        };
        let agents: Vec<&str> = c
            .participants
            .iter()
            .filter(|p| p.agent)
            .map(|p| p.identity.as_str())
            .collect();
        c.messages
            .iter()
            .filter(|m| !agents.contains(&m.author.as_str()))
            .filter_map(|m| m.body.clone())
            .collect()
    }

    /// Whether an API request (the bot side) closed the conversation.
    pub fn closed_by_api(&self, conv: &str) -> Option<bool> {
        let data = self.shared.lock();
        data.conversation(conv).map(|c| c.closed_by_api)
    }
}

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(TwilioDriver::start().await?))
}

#[cfg(test)]
mod tests;
