//! [`ProviderDriver`] for the sim reference provider.

use super::{SimConfig, SimProvider};
use crate::driver::{EndpointSetup, ProviderDriver};
use crate::kit::Outbox;
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "sim-conformance-secret";

pub struct SimDriver {
    pub sim: SimProvider,
}

impl SimDriver {
    pub async fn start() -> std::io::Result<SimDriver> {
        let sim = SimProvider::start(SimConfig {
            webhook_url: None,
            webhook_secret: SECRET.into(),
            auto_agent: None,
        })
        .await?;
        Ok(SimDriver { sim })
    }
}

#[async_trait]
impl ProviderDriver for SimDriver {
    fn name(&self) -> &str {
        "sim"
    }
    fn endpoint_setup(&self) -> EndpointSetup {
        EndpointSetup {
            settings: json!({"base_url": self.sim.base_url()}),
            egress: vec![self.sim.base_url()],
            webhook_secret: Some(SECRET.into()),
            extra_toml: String::new(),
        }
    }
    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_conversation(handover_id, timeout)
            .await
            .map(|c| c.id)
    }
    async fn agent_join(&self, conv: &str, name: &str) {
        self.sim.agent_join(conv, "agent-1", name).await;
    }
    async fn agent_message(&self, conv: &str, text: &str) {
        self.sim.agent_message(conv, text).await;
    }
    async fn end(&self, conv: &str) {
        self.sim.end(conv, "agent_closed").await;
    }
    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim
            .conversation(conv)
            .map(|c| c.user_messages.into_iter().map(|m| m.text).collect())
            .unwrap_or_default()
    }
    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim
            .conversation(conv)
            .map(|c| c.status == "cancelled" || c.status == "closed")
    }
    fn fail_next_start(&self, status: u16) {
        self.sim.fail_next("/conversations", status, 1);
    }
    async fn shutdown(&self) {
        self.sim.shutdown().await;
    }
    fn outbox(&self) -> Option<&Outbox> {
        Some(self.sim.outbox())
    }
}
