//! [`ProviderDriver`] for the LivePerson simulator. The host gets the
//! AppJWT from the sentinel token URL (client credentials) for every
//! request to the simulator; the end is the CLOSE change notification.

use super::{LivePersonConfig, LivePersonSim};
use crate::driver::{EndpointSetup, ProviderDriver};
use crate::genesys::kit::oauth_toml;
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

pub struct LivePersonDriver {
    pub sim: LivePersonSim,
}

impl LivePersonDriver {
    pub async fn start() -> std::io::Result<LivePersonDriver> {
        Ok(LivePersonDriver {
            sim: LivePersonSim::start(LivePersonConfig::default()).await?,
        })
    }
}

#[async_trait]
impl ProviderDriver for LivePersonDriver {
    fn name(&self) -> &str {
        "liveperson"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let base = self.sim.base_url();
        let cfg = self.sim.config();
        EndpointSetup {
            settings: json!({
                "account_id": cfg.account_id,
                "idp_url": base,
                "messaging_url": base,
            }),
            egress: vec![base.clone()],
            webhook_secret: Some(cfg.client_secret.clone()),
            extra_toml: oauth_toml(
                &base,
                &self.sim.token_url(),
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
            .map(|c| c.consumer_messages)
            .unwrap_or_default()
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim
            .conversation(conv)
            .map(|c| c.state == "CLOSE" && c.close_reason.as_deref() == Some("CONSUMER"))
    }

    fn fail_next_start(&self, status: u16) {
        // The conversation request (not the ConsumerJWS).
        let cfg = self.sim.config();
        self.sim.fail_next(
            &format!(
                "/api/account/{}/messaging/consumer/conversation",
                cfg.account_id
            ),
            status,
            1,
        );
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
