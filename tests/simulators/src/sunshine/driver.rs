//! The conformance-kit [`Driver`](crate::kit::Driver) of the Sunshine
//! Conversations simulator. The host adds Basic auth (`[[endpoints.auth]]`
//! basic rule); shutting the driver down fails (panics) when any request
//! or webhook body broke the spec.

use super::{Data, SunshineConfig, SunshineSim};
use crate::driver::{EndpointSetup, basic_auth_toml};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

pub type SunshineDriver = Driver<Data>;

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
                ("sunshine_key_id", &cfg.key_id),
                ("sunshine_key_secret", &cfg.key_secret),
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
