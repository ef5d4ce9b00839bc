//! [`ProviderDriver`] for the Chatwoot simulator. The host adds the API
//! token (`[[endpoints.auth]]` header rule); shutting the driver down fails
//! (panics) when any request or webhook body broke the spec.

use super::{ChatwootConfig, ChatwootSim};
use crate::driver::{EndpointSetup, ProviderDriver, header_auth_toml};
use crate::kit::Outbox;
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

pub struct ChatwootDriver {
    pub sim: ChatwootSim,
}

impl ChatwootDriver {
    pub async fn start() -> anyhow::Result<ChatwootDriver> {
        Ok(ChatwootDriver {
            sim: ChatwootSim::start(ChatwootConfig::default()).await?,
        })
    }
}

fn conv_id(conv: &str) -> u64 {
    conv.parse()
        .unwrap_or_else(|_| panic!("not a chatwoot conversation id: {conv:?}"))
}

#[async_trait]
impl ProviderDriver for ChatwootDriver {
    fn name(&self) -> &str {
        "chatwoot"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let cfg = self.sim.config();
        EndpointSetup {
            settings: json!({
                "base_url": self.sim.base_url(),
                "account_id": cfg.account_id,
                "inbox_id": cfg.inbox_id,
            }),
            egress: vec![self.sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: header_auth_toml(
                &self.sim.base_url(),
                "chatwoot_token",
                &cfg.api_token,
                "api_access_token",
                "",
            ),
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_conversation(handover_id, timeout)
            .await
            .map(|c| c.to_string())
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        self.sim.assign(conv_id(conv), name);
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        self.sim.agent_message(conv_id(conv), text);
    }

    async fn end(&self, conv: &str) {
        self.sim.resolve(conv_id(conv));
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim.user_messages(conv_id(conv))
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim.resolved_by_api(conv_id(conv))
    }

    fn fail_next_start(&self, status: u16) {
        let path = format!(
            "/api/v1/accounts/{}/conversations",
            self.sim.config().account_id
        );
        self.sim.fail_next(Some("POST"), &path, status, 1);
    }

    fn outbox(&self) -> Option<&Outbox> {
        Some(self.sim.outbox())
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
        self.sim.assert_no_violations("chatwoot");
    }
}
