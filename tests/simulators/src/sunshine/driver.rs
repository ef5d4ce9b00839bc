//! [`ProviderDriver`] for the Sunshine Conversations simulator. The host
//! adds Basic auth (`[[endpoints.auth]]` basic rule); shutting the driver
//! down fails (panics) when any request or webhook body broke the spec.

use super::{SunshineConfig, SunshineSim};
use crate::driver::{EndpointSetup, ProviderDriver, basic_auth_toml};
use crate::kit::Outbox;
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

pub struct SunshineDriver {
    pub sim: SunshineSim,
}

impl SunshineDriver {
    pub async fn start() -> anyhow::Result<SunshineDriver> {
        Ok(SunshineDriver {
            sim: SunshineSim::start(SunshineConfig::default()).await?,
        })
    }
}

#[async_trait]
impl ProviderDriver for SunshineDriver {
    fn name(&self) -> &str {
        "sunshine-conversations"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let cfg = self.sim.config();
        let (bot, agent) = self.sim.integration_names();
        EndpointSetup {
            settings: json!({
                "base_url": self.sim.base_url(),
                "app_id": cfg.app_id,
                "switchboard_integration": agent,
                "bot_switchboard_integration": bot,
            }),
            egress: vec![self.sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: basic_auth_toml(
                &self.sim.base_url(),
                ("sunshine_key_id", &cfg.key_id),
                ("sunshine_key_secret", &cfg.key_secret),
            ),
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim.wait_for_conversation(handover_id, timeout).await
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        self.sim.accept(conv, name);
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        self.sim.agent_message(conv, text);
    }

    async fn end(&self, conv: &str) {
        self.sim.close_ticket(conv);
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim.user_messages(conv)
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim.returned_by_api(conv)
    }

    fn fail_next_start(&self, status: u16) {
        let path = format!("/v2/apps/{}/conversations/*", self.sim.config().app_id);
        self.sim.fail_next(Some("POST"), &path, status, 1);
    }

    fn outbox(&self) -> Option<&Outbox> {
        Some(self.sim.outbox())
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
        self.sim.assert_no_violations("sunshine");
    }
}
