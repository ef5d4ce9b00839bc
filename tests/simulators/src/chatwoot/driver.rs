//! The conformance-kit driver of the Chatwoot simulator: the kit's
//! [`Driver`] for what every simulator does, plus the contract 0.2.0
//! features Chatwoot has (interactive messages, read receipts, the user's
//! typing). The host adds the API token (`[[endpoints.auth]]` header
//! rule); shutting the driver down fails (panics) when any request or
//! webhook body broke the spec.

use super::{ChatwootConfig, ChatwootSim, Data};
use crate::driver::{EndpointSetup, header_auth_toml};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

/// The Chatwoot driver: the kit's generic driver, with Chatwoot's 0.2.0
/// agent actions (the hooks below).
pub type ChatwootDriver = Driver<Data>;

fn conv_id(conv: &str) -> u64 {
    conv.parse()
        .unwrap_or_else(|_| panic!("not a chatwoot conversation id: {conv:?}"))
}

impl Driven for Data {
    const DRIVER: &'static str = "chatwoot";
    const SPEC: Option<&'static str> = Some("chatwoot");

    async fn start() -> anyhow::Result<ChatwootSim> {
        ChatwootSim::start(ChatwootConfig::default()).await
    }

    fn endpoint_setup(sim: &ChatwootSim) -> EndpointSetup {
        let cfg = sim.config();
        EndpointSetup {
            settings: json!({
                "base_url": sim.base_url(),
                "account_id": cfg.account_id,
                "inbox_id": cfg.inbox_id,
                "inbox_identifier": cfg.inbox_identifier,
            }),
            egress: vec![sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: header_auth_toml(
                &sim.base_url(),
                "chatwoot_token",
                &cfg.api_token,
                "api_access_token",
                "",
            ),
        }
    }

    async fn wait_for_conversation(
        sim: &ChatwootSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let conv = sim.wait_for_conversation(handover_id, timeout).await?;
        Some(conv.to_string())
    }

    fn agent_join(sim: &ChatwootSim, conv: &str, name: &str) {
        sim.assign(conv_id(conv), name);
    }

    fn agent_message(sim: &ChatwootSim, conv: &str, text: &str) {
        sim.agent_message(conv_id(conv), text);
    }

    fn end(sim: &ChatwootSim, conv: &str) {
        sim.resolve(conv_id(conv));
    }

    fn user_messages(sim: &ChatwootSim, conv: &str) -> Vec<String> {
        sim.user_messages(conv_id(conv))
    }

    fn closed_by_bot(sim: &ChatwootSim, conv: &str) -> Option<bool> {
        sim.resolved_by_api(conv_id(conv))
    }

    fn start_request(cfg: &ChatwootConfig) -> (Option<&'static str>, String) {
        let path = format!("/api/v1/accounts/{}/conversations", cfg.account_id);
        (Some("POST"), path)
    }

    /// An `input_select` message with one item (`title`, `value` = payload).
    fn rich_message(sim: &ChatwootSim, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        sim.agent_options(conv_id(conv), text, &[(title, payload)]);
        true
    }

    /// The agent opens the conversation: the contact's messages are `read`
    /// (`message_updated`).
    fn read_messages(sim: &ChatwootSim, conv: &str) -> bool {
        sim.read_user_messages(conv_id(conv));
        true
    }

    fn user_typing(sim: &ChatwootSim, conv: &str) -> Option<Vec<bool>> {
        sim.user_typing(conv_id(conv))
    }
    // No hand-back or wrap-up: Chatwoot has neither for an API-channel
    // conversation (the defaults say so).
}
