//! [`ProviderDriver`] for the sim reference provider.

use super::{SimConfig, SimProvider};
use crate::driver::{EndpointSetup, ProviderDriver};
use crate::kit::Outbox;
use async_trait::async_trait;
use serde_json::{Value, json};
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
    async fn hand_back(&self, conv: &str, variables: &Value) -> bool {
        let fields = json!({ "variables": variables });
        self.sim.emit(conv, "returned_to_bot", fields).is_ok()
    }
    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let fields = json!({
            "text": text,
            "actions": [{ "type": "quick_reply", "title": title, "payload": payload }],
        });
        self.sim.emit(conv, "agent_message", fields).is_ok()
    }
    async fn read_messages(&self, conv: &str) -> bool {
        let Some(c) = self.sim.conversation(conv) else {
            return false;
        };
        let ids: Vec<String> = c.user_messages.into_iter().filter_map(|m| m.id).collect();
        let fields = json!({ "message_ids": ids, "status": "read" });
        self.sim.emit(conv, "receipt", fields).is_ok()
    }
    async fn user_typing(&self, conv: &str) -> Option<Vec<bool>> {
        Some(self.sim.conversation(conv)?.user_typing)
    }
    async fn wrap_up(&self, conv: &str, disposition: &str) -> bool {
        let fields = json!({ "disposition": disposition });
        self.sim.emit(conv, "wrap_up", fields).is_ok()
    }
}
