//! The conformance-kit [`Driver`](crate::kit::Driver) of the Live Agent
//! simulator. The adapter shows the handover id to the agent as the
//! pre-chat detail [`HANDOVER_LABEL`], which is how the driver finds the
//! chat. `Messages` is held 1 s (not ~30 s as the real service does) so
//! user input never waits long behind a poll.

use super::{BUTTON_ID, DEPLOYMENT_ID, LiveAgentSim, ORG_ID, State};
use crate::driver::{EndpointSetup, warn_refused};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

/// The pre-chat detail carrying the handover id.
pub const HANDOVER_LABEL: &str = "Handover ID";

pub type LiveAgentDriver = Driver<State>;

impl Driven for State {
    const DRIVER: &'static str = "salesforce-live-agent";

    async fn start() -> anyhow::Result<LiveAgentSim> {
        Ok(LiveAgentSim::start(Duration::from_secs(1)).await?)
    }

    fn endpoint_setup(sim: &LiveAgentSim) -> EndpointSetup {
        EndpointSetup {
            settings: json!({
                "base_url": sim.base_url(),
                "organization_id": ORG_ID,
                "deployment_id": DEPLOYMENT_ID,
                "button_id": BUTTON_ID,
            }),
            egress: vec![sim.base_url()],
            webhook_secret: None,
            // No operator credentials: the session key is per chat.
            extra_toml: String::new(),
        }
    }

    async fn wait_for_conversation(
        sim: &LiveAgentSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let chat = sim.wait_for_chat_with(HANDOVER_LABEL, handover_id, timeout);
        Some(chat.await?.id)
    }

    fn agent_join(sim: &LiveAgentSim, conv: &str, name: &str) {
        warn_refused("Live Agent", sim.agent_join(conv, name));
    }

    fn agent_message(sim: &LiveAgentSim, conv: &str, text: &str) {
        warn_refused("Live Agent", sim.agent_message(conv, text));
    }

    fn end(sim: &LiveAgentSim, conv: &str) {
        warn_refused("Live Agent", sim.end(conv));
    }

    fn user_messages(sim: &LiveAgentSim, conv: &str) -> Vec<String> {
        sim.chat(conv).map(|c| c.user_messages).unwrap_or_default()
    }

    fn closed_by_bot(sim: &LiveAgentSim, conv: &str) -> Option<bool> {
        sim.chat(conv).map(|c| c.status == "ended_by_client")
    }

    fn start_request(_: &()) -> (Option<&'static str>, String) {
        (Some("POST"), "/chat/rest/Chasitor/ChasitorInit".into())
    }
}
