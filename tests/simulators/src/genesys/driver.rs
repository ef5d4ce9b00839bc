//! [`ProviderDriver`] for the Genesys Open Messaging simulator.
//!
//! The endpoint it describes enables `poll_conversation`, so the agent's
//! join (with name), transfers and the end are seen through the
//! conversation's participants; `end` sends no webhook because Open
//! Messaging has none. Without `poll_conversation` (or with
//! `set_never_end`) a handover ends by the host's inactivity timeout.

use super::kit::oauth_toml;
use super::{GenesysConfig, GenesysSim};
use crate::driver::{EndpointSetup, ProviderDriver};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

pub struct GenesysDriver {
    pub sim: GenesysSim,
}

impl GenesysDriver {
    pub async fn start() -> std::io::Result<GenesysDriver> {
        Ok(GenesysDriver {
            sim: GenesysSim::start(GenesysConfig::default()).await?,
        })
    }
}

#[async_trait]
impl ProviderDriver for GenesysDriver {
    fn name(&self) -> &str {
        "genesys-open-messaging"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let base = self.sim.base_url();
        let cfg = self.sim.config();
        EndpointSetup {
            settings: json!({
                "api_url": base,
                "integration_id": cfg.integration_id,
                "poll_conversation": true,
            }),
            egress: vec![base.clone()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: oauth_toml(
                &base,
                &format!("{base}/oauth/token"),
                &cfg.client_id,
                &cfg.client_secret,
            ),
        }
    }

    fn set_webhook_url(&self, url: &str) {
        self.sim.set_webhook_url(Some(url.to_string()));
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_conversation(handover_id, timeout)
            .await
            .map(|c| c.id)
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        self.sim.agent_join(conv, name);
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        self.sim.agent_message(conv, text);
    }

    async fn end(&self, conv: &str) {
        self.sim.end(conv);
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim
            .conversation(conv)
            .map(|c| c.inbound.into_iter().map(|m| m.text).collect())
            .unwrap_or_default()
    }

    /// Open Messaging has no customer-side disconnect.
    async fn closed_by_bot(&self, _conv: &str) -> Option<bool> {
        None
    }

    fn fail_next_start(&self, status: u16) {
        self.sim
            .fail_next("/api/v2/conversations/messages/", status, 1);
    }

    fn set_duplicate_webhooks(&self, on: bool) {
        self.sim.set_duplicate_webhooks(on);
    }

    fn set_hold_webhooks(&self, on: bool) {
        self.sim.set_hold_webhooks(on);
    }

    async fn release_held(&self, reverse: bool) {
        self.sim.release_held(reverse).await;
    }

    fn pushes_webhooks(&self) -> bool {
        true
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
    }
}
