//! [`ProviderDriver`] for the Chatwoot simulator. The host adds the API
//! token (`[[endpoints.auth]]` header rule); shutting the driver down fails
//! (panics) when any request or webhook body broke the spec.

use super::{ChatwootConfig, ChatwootSim};
use crate::driver::{EndpointSetup, ProviderDriver};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

pub struct ChatwootDriver {
    pub sim: ChatwootSim,
}

impl ChatwootDriver {
    pub async fn start() -> anyhow::Result<ChatwootDriver> {
        Ok(ChatwootDriver {
            sim: ChatwootSim::start(ChatwootConfig::default()).await?,
        })
    }
}

fn conv_id(conv: &str) -> u64 {
    conv.parse()
        .unwrap_or_else(|_| panic!("not a chatwoot conversation id: {conv:?}"))
}

/// `[endpoints.secrets]` + `[[endpoints.auth]]` giving `target` the header
/// `name: <secret>`.
pub(crate) fn header_auth_toml(
    target: &str,
    secret_name: &str,
    secret: &str,
    name: &str,
) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("string");
    format!(
        "[endpoints.secrets]\n{secret_name} = {}\n\n[[endpoints.auth]]\ntarget = {}\nheader = {{ name = {}, value = {} }}\n",
        q(secret),
        q(target),
        q(name),
        q(&format!("{{{{{secret_name}}}}}"))
    )
}

#[async_trait]
impl ProviderDriver for ChatwootDriver {
    fn name(&self) -> &str {
        "chatwoot"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let cfg = self.sim.config();
        EndpointSetup {
            settings: json!({
                "base_url": self.sim.base_url(),
                "account_id": cfg.account_id,
                "inbox_id": cfg.inbox_id,
            }),
            egress: vec![self.sim.base_url()],
            webhook_secret: Some(cfg.webhook_secret.clone()),
            extra_toml: header_auth_toml(
                &self.sim.base_url(),
                "chatwoot_token",
                &cfg.api_token,
                "api_access_token",
            ),
        }
    }

    fn set_webhook_url(&self, url: &str) {
        self.sim.set_webhook_url(Some(url.to_string()));
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_for_conversation(handover_id, timeout)
            .await
            .map(|c| c.to_string())
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        self.sim.assign(conv_id(conv), name);
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        self.sim.agent_message(conv_id(conv), text);
    }

    async fn end(&self, conv: &str) {
        self.sim.resolve(conv_id(conv));
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.sim.user_messages(conv_id(conv))
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        self.sim.resolved_by_api(conv_id(conv))
    }

    fn fail_next_start(&self, status: u16) {
        let path = format!(
            "/api/v1/accounts/{}/conversations",
            self.sim.config().account_id
        );
        self.sim.fail_next(Some("POST"), &path, status, 1);
    }

    fn set_duplicate_webhooks(&self, on: bool) {
        self.sim.set_duplicate_webhooks(on);
    }

    fn set_hold_webhooks(&self, on: bool) {
        self.sim.set_hold_webhooks(on);
    }

    async fn release_held(&self, reverse: bool) {
        self.sim.release_held(reverse).await;
    }

    fn pushes_webhooks(&self) -> bool {
        true
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
        let violations = self.sim.violations();
        assert!(
            violations.is_empty(),
            "the chatwoot simulator recorded {} schema violation(s):\n{}",
            violations.len(),
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
