//! The conformance-kit [`Driver`](crate::kit::Driver) of the MIAW
//! simulator. The endpoint passes the handover id as the hidden pre-chat
//! field [`HANDOVER_FIELD`] (so the driver can find the conversation) and
//! marks transcript messages with [`TRANSCRIPT_HEADER`] (so
//! `user_messages` leaves them out). Polls are short (1 s) so user input
//! never waits long behind one.
//!
//! [`MiawDriver`] is the kit's generic driver plus the contract 0.2.0
//! features MIAW has: quick replies (`ChoicesMessage`), read
//! acknowledgements and the end user's typing indicators. It has no
//! hand-back to the bot and no wrap-up, so those stay `false`.

use super::{ChoicesFormat, ES_DEVELOPER_NAME, MiawSim, ORG_ID, State};
use crate::driver::{EndpointSetup, warn_refused};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

/// The hidden pre-chat field that receives the handover id.
pub const HANDOVER_FIELD: &str = "HandoverId";
/// First line of every transcript message the driver's endpoint sends.
pub const TRANSCRIPT_HEADER: &str = "Bot transcript:";

/// The MIAW driver: the kit's generic driver, with MIAW's 0.2.0 agent
/// actions (the hooks below).
pub type MiawDriver = Driver<State>;

/// Whether the simulator did what the driver asked (a refusal is logged).
fn ok<T>(driver: &str, action: Result<T, String>) -> bool {
    let done = action.is_ok();
    warn_refused(driver, action);
    done
}

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

    /// A `ChoicesMessage` of format `QuickReplies` whose one option has
    /// `payload` as its `optionIdentifier`.
    fn rich_message(sim: &MiawSim, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let options = [(payload, title)];
        ok(
            "MIAW",
            sim.agent_choices(conv, ChoicesFormat::QuickReplies, text, &options),
        )
    }

    /// Delivery, then read acknowledgements of every end-user message.
    fn read_messages(sim: &MiawSim, conv: &str) -> bool {
        ok("MIAW", sim.acknowledge(conv, false)) && ok("MIAW", sim.acknowledge(conv, true))
    }

    fn user_typing(sim: &MiawSim, conv: &str) -> Option<Vec<bool>> {
        Some(sim.conversation(conv)?.user_typing)
    }
}
