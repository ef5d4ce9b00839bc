//! The conformance-kit driver of the Sunshine Conversations simulator. The
//! host adds Basic auth (`[[endpoints.auth]]` basic rule); shutting the
//! driver down fails (panics) when any request or webhook body broke the
//! spec.
//!
//! The kit's generic [`Driver`] plays the 0.1.0 agent; [`SunshineDriver`]
//! adds the agent's 0.2.0 actions Sunshine has: handing back to the bot
//! (control passed back to the bot's integration with `metadata`), a
//! message with a `reply` action, and reading the conversation
//! (`conversation:read` by the business). It has no user typing (a user
//! author may only post `conversation:read`) and no wrap-up.

use super::{Data, SunshineConfig, SunshineSim};
use crate::driver::{EndpointSetup, basic_auth_toml, warn_refused};
use crate::kit::{Driven, Driver};
use serde_json::{Value, json};
use std::time::Duration;

/// The secrets the endpoint's auth rule holds the app key in; the adapter
/// declares the same names (`permissions.secrets`).
pub const SECRETS: (&str, &str) = ("sunshine_key_id", "sunshine_key_secret");

impl Driven for Data {
    const DRIVER: &'static str = "sunshine-conversations";
    const SPEC: Option<&'static str> = Some("sunshine");

    async fn start() -> anyhow::Result<SunshineSim> {
        SunshineSim::start(SunshineConfig::default()).await
    }

    fn endpoint_setup(sim: &SunshineSim) -> EndpointSetup {
        let cfg = sim.config();
        let (bot, agent) = sim.integration_names();
        EndpointSetup {
            settings: json!({
                "base_url": sim.base_url(),
                "app_id": cfg.app_id,
                "switchboard_integration": agent,
                "bot_switchboard_integration": bot,
            }),
            egress: vec![sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: basic_auth_toml(
                &sim.base_url(),
                (SECRETS.0, &cfg.key_id),
                (SECRETS.1, &cfg.key_secret),
            ),
        }
    }

    async fn wait_for_conversation(
        sim: &SunshineSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        sim.wait_for_conversation(handover_id, timeout).await
    }

    fn agent_join(sim: &SunshineSim, conv: &str, name: &str) {
        sim.accept(conv, name);
    }

    fn agent_message(sim: &SunshineSim, conv: &str, text: &str) {
        sim.agent_message(conv, text);
    }

    fn end(sim: &SunshineSim, conv: &str) {
        sim.close_ticket(conv);
    }

    fn user_messages(sim: &SunshineSim, conv: &str) -> Vec<String> {
        sim.user_messages(conv)
    }

    fn closed_by_bot(sim: &SunshineSim, conv: &str) -> Option<bool> {
        sim.returned_by_api(conv)
    }

    fn start_request(cfg: &SunshineConfig) -> (Option<&'static str>, String) {
        let path = format!("/v2/apps/{}/conversations/*", cfg.app_id);
        (Some("POST"), path)
    }

    /// The agent workspace passes control back to the bot's integration
    /// with `variables` as the switchboard `metadata` (flat: strings,
    /// numbers, booleans; anything else is refused, as Sunshine would).
    fn hand_back(sim: &SunshineSim, conv: &str, variables: &Value) -> bool {
        let result = sim.pass_back_with(conv, Some(variables));
        let ok = result.is_ok();
        warn_refused("sunshine-conversations", result);
        ok
    }

    /// A text message with one `reply` action.
    fn rich_message(sim: &SunshineSim, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let actions = json!([{"type": "reply", "text": title, "payload": payload}]);
        sim.agent_actions(conv, text, actions);
        true
    }

    /// The agent workspace marks the conversation read.
    fn read_messages(sim: &SunshineSim, conv: &str) -> bool {
        let result = sim.read(conv);
        let ok = result.is_ok();
        warn_refused("sunshine-conversations", result);
        ok
    }
    // `user_typing` and `wrap_up` stay the defaults: Sunshine takes no
    // typing from a user author (`activityTypes`: "only
    // `conversation:read` is supported") and reports no wrap-up.
}

/// The [`ProviderDriver`] of the Sunshine simulator: the kit's generic
/// driver, with Sunshine's 0.2.0 agent actions (the hooks below).
pub type SunshineDriver = Driver<Data>;
