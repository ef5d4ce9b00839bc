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
use crate::driver::{EndpointSetup, ProviderDriver, basic_auth_toml, warn_refused};
use crate::kit::{Driven, Driver, Outbox};
use async_trait::async_trait;
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
}

/// The [`ProviderDriver`] of the Sunshine simulator: the kit's generic
/// driver for the 0.1.0 agent, plus Sunshine's 0.2.0 agent actions.
pub struct SunshineDriver {
    pub sim: SunshineSim,
    base: Driver<Data>,
}

impl SunshineDriver {
    pub async fn start() -> anyhow::Result<SunshineDriver> {
        let base = Driver::<Data>::start().await?;
        Ok(SunshineDriver {
            sim: base.sim.clone(),
            base,
        })
    }
}

#[async_trait]
impl ProviderDriver for SunshineDriver {
    fn name(&self) -> &str {
        self.base.name()
    }
    fn endpoint_setup(&self) -> EndpointSetup {
        self.base.endpoint_setup()
    }
    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.base.wait_for_conversation(handover_id, timeout).await
    }
    async fn agent_join(&self, conv: &str, name: &str) {
        self.base.agent_join(conv, name).await
    }
    async fn agent_message(&self, conv: &str, text: &str) {
        self.base.agent_message(conv, text).await
    }
    async fn end(&self, conv: &str) {
        self.base.end(conv).await
    }
    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.base.user_messages(conv).await
    }
    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.base.closed_by_bot(conv).await
    }
    fn fail_next_start(&self, status: u16) {
        self.base.fail_next_start(status)
    }
    async fn shutdown(&self) {
        self.base.shutdown().await
    }
    fn outbox(&self) -> Option<&Outbox> {
        self.base.outbox()
    }
    fn take_violations(&self) -> Vec<String> {
        self.base.take_violations()
    }

    /// The agent workspace passes control back to the bot's integration
    /// with `variables` as the switchboard `metadata` (flat: strings,
    /// numbers, booleans; anything else is refused, as Sunshine would).
    async fn hand_back(&self, conv: &str, variables: &Value) -> bool {
        let result = self.sim.pass_back_with(conv, Some(variables));
        let ok = result.is_ok();
        warn_refused("sunshine-conversations", result);
        ok
    }
    /// A text message with one `reply` action.
    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let actions = json!([{"type": "reply", "text": title, "payload": payload}]);
        self.sim.agent_actions(conv, text, actions);
        true
    }
    /// The agent workspace marks the conversation read.
    async fn read_messages(&self, conv: &str) -> bool {
        let result = self.sim.read(conv);
        let ok = result.is_ok();
        warn_refused("sunshine-conversations", result);
        ok
    }
    // `user_typing` and `wrap_up` stay the trait's defaults: Sunshine takes
    // no typing from a user author (`activityTypes`: "only
    // `conversation:read` is supported") and reports no wrap-up.
}
