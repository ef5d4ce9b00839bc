//! [`ProviderDriver`] for the Live Agent simulator. The adapter shows the
//! handover id to the agent as the pre-chat detail [`HANDOVER_LABEL`], which
//! is how the driver finds the chat. `Messages` is held 1 s (not ~30 s as
//! the real service does) so user input never waits long behind a poll.

use super::{BUTTON_ID, DEPLOYMENT_ID, LiveAgentSim, ORG_ID};
use crate::driver::{EndpointSetup, ProviderDriver, warn_refused};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

/// The pre-chat detail carrying the handover id.
pub const HANDOVER_LABEL: &str = "Handover ID";

pub struct LiveAgentDriver {
    pub sim: LiveAgentSim,
}

impl LiveAgentDriver {
    pub async fn start() -> std::io::Result<LiveAgentDriver> {
        Ok(LiveAgentDriver {
            sim: LiveAgentSim::start(Duration::from_secs(1)).await?,
        })
    }
}

#[async_trait]
impl ProviderDriver for LiveAgentDriver {
    fn name(&self) -> &str {
        "salesforce-live-agent"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        EndpointSetup {
            settings: json!({
                "base_url": self.sim.base_url(),
                "organization_id": ORG_ID,
                "deployment_id": DEPLOYMENT_ID,
                "button_id": BUTTON_ID,
            }),
            egress: vec![self.sim.base_url()],
            webhook_secret: None,
            // No operator credentials: the session key is per chat.
            extra_toml: String::new(),
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_chat_with(HANDOVER_LABEL, handover_id, timeout)
            .await
            .map(|c| c.id)
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        warn_refused("Live Agent", self.sim.agent_join(conv, name));
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        warn_refused("Live Agent", self.sim.agent_message(conv, text));
    }

    async fn end(&self, conv: &str) {
        warn_refused("Live Agent", self.sim.end(conv));
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim
            .chat(conv)
            .map(|c| c.user_messages)
            .unwrap_or_default()
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim.chat(conv).map(|c| c.status == "ended_by_client")
    }

    fn fail_next_start(&self, status: u16) {
        self.sim
            .fail_next(Some("POST"), "/chat/rest/Chasitor/ChasitorInit", status, 1);
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
    }
}
