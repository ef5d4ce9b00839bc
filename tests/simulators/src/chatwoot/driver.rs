//! The conformance-kit driver of the Chatwoot simulator: the kit's
//! [`Driver`] for what every simulator does, plus the contract 0.2.0
//! features Chatwoot has (interactive messages, read receipts, the user's
//! typing). The host adds the API token (`[[endpoints.auth]]` header
//! rule); shutting the driver down fails (panics) when any request or
//! webhook body broke the spec.

use super::{ChatwootConfig, ChatwootSim, Data};
use crate::driver::{EndpointSetup, ProviderDriver, header_auth_toml};
use crate::kit::{Driven, Driver, Outbox};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::ops::Deref;
use std::time::Duration;

/// The Chatwoot driver; derefs to the kit's [`Driver`] (`driver.sim`).
pub struct ChatwootDriver(Driver<Data>);

impl ChatwootDriver {
    /// Starts a simulator with the default config.
    pub async fn start() -> anyhow::Result<ChatwootDriver> {
        Ok(ChatwootDriver(Driver::start().await?))
    }
}

impl Deref for ChatwootDriver {
    type Target = Driver<Data>;
    fn deref(&self) -> &Driver<Data> {
        &self.0
    }
}

#[async_trait]
impl ProviderDriver for ChatwootDriver {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn endpoint_setup(&self) -> EndpointSetup {
        self.0.endpoint_setup()
    }
    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.0.wait_for_conversation(handover_id, timeout).await
    }
    async fn agent_join(&self, conv: &str, name: &str) {
        self.0.agent_join(conv, name).await
    }
    async fn agent_message(&self, conv: &str, text: &str) {
        self.0.agent_message(conv, text).await
    }
    async fn end(&self, conv: &str) {
        self.0.end(conv).await
    }
    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.0.user_messages(conv).await
    }
    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.0.closed_by_bot(conv).await
    }
    fn fail_next_start(&self, status: u16) {
        self.0.fail_next_start(status)
    }
    async fn shutdown(&self) {
        self.0.shutdown().await
    }
    fn outbox(&self) -> Option<&Outbox> {
        self.0.outbox()
    }
    fn take_violations(&self) -> Vec<String> {
        self.0.take_violations()
    }

    /// An `input_select` message with one item (`title`, `value` = payload).
    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        self.sim
            .agent_options(conv_id(conv), text, &[(title, payload)]);
        true
    }
    /// The agent opens the conversation: the contact's messages are `read`
    /// (`message_updated`).
    async fn read_messages(&self, conv: &str) -> bool {
        self.sim.read_user_messages(conv_id(conv));
        true
    }
    async fn user_typing(&self, conv: &str) -> Option<Vec<bool>> {
        self.sim.user_typing(conv_id(conv))
    }
    // No hand-back or wrap-up: Chatwoot has neither for an API-channel
    // conversation (the defaults say so).
    async fn hand_back(&self, _conv: &str, _variables: &Value) -> bool {
        false
    }
}

fn conv_id(conv: &str) -> u64 {
    conv.parse()
        .unwrap_or_else(|_| panic!("not a chatwoot conversation id: {conv:?}"))
}

impl Driven for Data {
    const DRIVER: &'static str = "chatwoot";
    const SPEC: Option<&'static str> = Some("chatwoot");

    async fn start() -> anyhow::Result<ChatwootSim> {
        ChatwootSim::start(ChatwootConfig::default()).await
    }

    fn endpoint_setup(sim: &ChatwootSim) -> EndpointSetup {
        let cfg = sim.config();
        EndpointSetup {
            settings: json!({
                "base_url": sim.base_url(),
                "account_id": cfg.account_id,
                "inbox_id": cfg.inbox_id,
                "inbox_identifier": cfg.inbox_identifier,
            }),
            egress: vec![sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: header_auth_toml(
                &sim.base_url(),
                "chatwoot_token",
                &cfg.api_token,
                "api_access_token",
                "",
            ),
        }
    }

    async fn wait_for_conversation(
        sim: &ChatwootSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let conv = sim.wait_for_conversation(handover_id, timeout).await?;
        Some(conv.to_string())
    }

    fn agent_join(sim: &ChatwootSim, conv: &str, name: &str) {
        sim.assign(conv_id(conv), name);
    }

    fn agent_message(sim: &ChatwootSim, conv: &str, text: &str) {
        sim.agent_message(conv_id(conv), text);
    }

    fn end(sim: &ChatwootSim, conv: &str) {
        sim.resolve(conv_id(conv));
    }

    fn user_messages(sim: &ChatwootSim, conv: &str) -> Vec<String> {
        sim.user_messages(conv_id(conv))
    }

    fn closed_by_bot(sim: &ChatwootSim, conv: &str) -> Option<bool> {
        sim.resolved_by_api(conv_id(conv))
    }

    fn start_request(cfg: &ChatwootConfig) -> (Option<&'static str>, String) {
        let path = format!("/api/v1/accounts/{}/conversations", cfg.account_id);
        (Some("POST"), path)
    }
}
