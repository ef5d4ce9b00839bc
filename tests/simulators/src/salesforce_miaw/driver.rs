//! The conformance-kit [`Driver`](crate::kit::Driver) of the MIAW
//! simulator. The endpoint passes the handover id as the hidden pre-chat
//! field [`HANDOVER_FIELD`] (so the driver can find the conversation) and
//! marks transcript messages with [`TRANSCRIPT_HEADER`] (so
//! `user_messages` leaves them out). Polls are short (1 s) so user input
//! never waits long behind one.

use super::{ES_DEVELOPER_NAME, MiawSim, ORG_ID, State};
use crate::driver::{EndpointSetup, warn_refused};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

/// The hidden pre-chat field that receives the handover id.
pub const HANDOVER_FIELD: &str = "HandoverId";
/// First line of every transcript message the driver's endpoint sends.
pub const TRANSCRIPT_HEADER: &str = "Bot transcript:";

pub type MiawDriver = Driver<State>;

impl Driven for State {
    const DRIVER: &'static str = "salesforce-miaw";

    async fn start() -> anyhow::Result<MiawSim> {
        Ok(MiawSim::start().await?)
    }

    fn endpoint_setup(sim: &MiawSim) -> EndpointSetup {
        EndpointSetup {
            settings: json!({
                "base_url": sim.base_url(),
                "org_id": ORG_ID,
                "es_developer_name": ES_DEVELOPER_NAME,
                "routing_fields": {"handover_id": HANDOVER_FIELD},
                "transcript_header": TRANSCRIPT_HEADER,
                "poll_wait_ms": 1000,
                "poll_idle_ms": 150,
            }),
            egress: vec![sim.base_url()],
            webhook_secret: None,
            // No operator credentials: the access token is per conversation.
            extra_toml: String::new(),
        }
    }

    async fn wait_for_conversation(
        sim: &MiawSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let conv = sim.wait_for_conversation_with(HANDOVER_FIELD, handover_id, timeout);
        Some(conv.await?.id)
    }

    fn agent_join(sim: &MiawSim, conv: &str, name: &str) {
        warn_refused("MIAW", sim.agent_join(conv, name));
    }

    fn agent_message(sim: &MiawSim, conv: &str, text: &str) {
        warn_refused("MIAW", sim.agent_message(conv, text));
    }

    fn end(sim: &MiawSim, conv: &str) {
        warn_refused("MIAW", sim.end(conv));
    }

    fn user_messages(sim: &MiawSim, conv: &str) -> Vec<String> {
        let Some(c) = sim.conversation(conv) else {
            return Vec::new();
        };
        let texts = c.messages.into_iter().map(|m| m.text);
        texts
            .filter(|t| !t.starts_with(TRANSCRIPT_HEADER))
            .collect()
    }

    fn closed_by_bot(sim: &MiawSim, conv: &str) -> Option<bool> {
        sim.conversation(conv).map(|c| c.closed)
    }

    fn start_request(_: &()) -> (Option<&'static str>, String) {
        (Some("POST"), "/iamessage/api/v2/conversation".into())
    }
}
