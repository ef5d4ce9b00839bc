//! The conformance-kit [`Driver`](crate::kit::Driver) of the Twilio Flex
//! simulator. The host adds HTTP Basic `AccountSid:AuthToken`
//! (`[[endpoints.auth]]` basic rule) and verifies `X-Twilio-Signature` with
//! the auth token as the webhook secret; shutting the driver down fails
//! (panics) when any request body broke the specs.

use super::{Data, TwilioConfig, TwilioSim};
use crate::driver::{EndpointSetup, basic_auth_toml, warn_refused};
use crate::kit::{Driven, Driver};
use serde_json::json;
use std::time::Duration;

pub type TwilioDriver = Driver<Data>;

impl Driven for Data {
    const DRIVER: &'static str = "twilio-flex";
    const SPEC: Option<&'static str> = Some("twilio");

    async fn start() -> anyhow::Result<TwilioSim> {
        TwilioSim::start(TwilioConfig::default()).await
    }

    fn endpoint_setup(sim: &TwilioSim) -> EndpointSetup {
        let cfg = sim.config();
        let base = sim.base_url();
        EndpointSetup {
            settings: json!({
                "flex_api_url": base,
                "conversations_url": base,
                "workspace_sid": cfg.workspace_sid,
                "workflow_sid": cfg.workflow_sid,
            }),
            egress: vec![base.clone()],
            webhook_secret: Some(cfg.auth_token.clone()),
            extra_toml: basic_auth_toml(
                &base,
                ("twilio_account_sid", &cfg.account_sid),
                ("twilio_auth_token", &cfg.auth_token),
            ),
        }
    }

    async fn wait_for_conversation(
        sim: &TwilioSim,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        sim.wait_for_conversation(handover_id, timeout).await
    }

    fn agent_join(sim: &TwilioSim, conv: &str, name: &str) {
        warn_refused("twilio-flex", sim.agent_join(conv, name));
    }

    fn agent_message(sim: &TwilioSim, conv: &str, text: &str) {
        warn_refused("twilio-flex", sim.agent_message(conv, text));
    }

    fn end(sim: &TwilioSim, conv: &str) {
        warn_refused("twilio-flex", sim.close(conv));
    }

    fn user_messages(sim: &TwilioSim, conv: &str) -> Vec<String> {
        sim.user_messages(conv)
    }

    fn closed_by_bot(sim: &TwilioSim, conv: &str) -> Option<bool> {
        sim.closed_by_api(conv)
    }

    fn start_request(_cfg: &TwilioConfig) -> (Option<&'static str>, String) {
        (Some("POST"), "/v1/Interactions".into())
    }
}
