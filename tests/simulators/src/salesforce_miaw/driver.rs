//! [`ProviderDriver`] for the MIAW simulator. The endpoint passes the
//! handover id as the hidden pre-chat field [`HANDOVER_FIELD`] (so the
//! driver can find the conversation) and marks transcript messages with
//! [`TRANSCRIPT_HEADER`] (so `user_messages` leaves them out). Polls are
//! short (1 s) so user input never waits long behind one.

use super::{ES_DEVELOPER_NAME, MiawSim, ORG_ID};
use crate::driver::{EndpointSetup, ProviderDriver, warn_refused};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

/// The hidden pre-chat field that receives the handover id.
pub const HANDOVER_FIELD: &str = "HandoverId";
/// First line of every transcript message the driver's endpoint sends.
pub const TRANSCRIPT_HEADER: &str = "Bot transcript:";

pub struct MiawDriver {
    pub sim: MiawSim,
}

impl MiawDriver {
    pub async fn start() -> std::io::Result<MiawDriver> {
        Ok(MiawDriver {
            sim: MiawSim::start().await?,
        })
    }
}

#[async_trait]
impl ProviderDriver for MiawDriver {
    fn name(&self) -> &str {
        "salesforce-miaw"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        EndpointSetup {
            settings: json!({
                "base_url": self.sim.base_url(),
                "org_id": ORG_ID,
                "es_developer_name": ES_DEVELOPER_NAME,
                "routing_fields": {"handover_id": HANDOVER_FIELD},
                "transcript_header": TRANSCRIPT_HEADER,
                "poll_wait_ms": 1000,
                "poll_idle_ms": 150,
            }),
            egress: vec![self.sim.base_url()],
            webhook_secret: None,
            // No operator credentials: the access token is per conversation.
            extra_toml: String::new(),
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_conversation_with(HANDOVER_FIELD, handover_id, timeout)
            .await
            .map(|c| c.id)
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        warn_refused("MIAW", self.sim.agent_join(conv, name));
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        warn_refused("MIAW", self.sim.agent_message(conv, text));
    }

    async fn end(&self, conv: &str) {
        warn_refused("MIAW", self.sim.end(conv));
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim
            .conversation(conv)
            .map(|c| {
                c.messages
                    .into_iter()
                    .map(|m| m.text)
                    .filter(|t| !t.starts_with(TRANSCRIPT_HEADER))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim.conversation(conv).map(|c| c.closed)
    }

    fn fail_next_start(&self, status: u16) {
        self.sim
            .fail_next(Some("POST"), "/iamessage/api/v2/conversation", status, 1);
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
    }
}
