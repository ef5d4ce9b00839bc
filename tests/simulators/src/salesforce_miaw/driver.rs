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
use crate::driver::{EndpointSetup, ProviderDriver, warn_refused};
use crate::kit::{Driven, Driver, Outbox};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

/// The hidden pre-chat field that receives the handover id.
pub const HANDOVER_FIELD: &str = "HandoverId";
/// First line of every transcript message the driver's endpoint sends.
pub const TRANSCRIPT_HEADER: &str = "Bot transcript:";

/// The MIAW driver: the kit's [`Driver`] for [`State`] and the 0.2.0
/// features.
pub struct MiawDriver {
    pub sim: MiawSim,
    kit: Driver<State>,
}

impl MiawDriver {
    /// Starts the simulator.
    pub async fn start() -> anyhow::Result<MiawDriver> {
        let kit = Driver::<State>::start().await?;
        Ok(MiawDriver {
            sim: kit.sim.clone(),
            kit,
        })
    }
}

#[async_trait]
impl ProviderDriver for MiawDriver {
    fn name(&self) -> &str {
        self.kit.name()
    }
    fn endpoint_setup(&self) -> EndpointSetup {
        self.kit.endpoint_setup()
    }
    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.kit.wait_for_conversation(handover_id, timeout).await
    }
    async fn agent_join(&self, conv: &str, name: &str) {
        self.kit.agent_join(conv, name).await;
    }
    async fn agent_message(&self, conv: &str, text: &str) {
        self.kit.agent_message(conv, text).await;
    }
    async fn end(&self, conv: &str) {
        self.kit.end(conv).await;
    }
    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.kit.user_messages(conv).await
    }
    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.kit.closed_by_bot(conv).await
    }
    fn fail_next_start(&self, status: u16) {
        self.kit.fail_next_start(status);
    }
    async fn shutdown(&self) {
        self.kit.shutdown().await;
    }
    fn outbox(&self) -> Option<&Outbox> {
        self.kit.outbox()
    }
    fn take_violations(&self) -> Vec<String> {
        self.kit.take_violations()
    }

    /// A `ChoicesMessage` of format `QuickReplies` whose one option has
    /// `payload` as its `optionIdentifier`.
    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let options = [(payload, title)];
        let sent = self
            .sim
            .agent_choices(conv, ChoicesFormat::QuickReplies, text, &options);
        ok("MIAW", sent)
    }
    /// Delivery, then read acknowledgements of every end-user message.
    async fn read_messages(&self, conv: &str) -> bool {
        ok("MIAW", self.sim.acknowledge(conv, false))
            && ok("MIAW", self.sim.acknowledge(conv, true))
    }
    async fn user_typing(&self, conv: &str) -> Option<Vec<bool>> {
        Some(self.sim.conversation(conv)?.user_typing)
    }
}

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
}
