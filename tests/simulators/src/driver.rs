//! One interface over every provider simulator, so the conformance kit and
//! the end-to-end tests can run the same scenarios against any provider.
//!
//! A driver plays the provider *and* its human agent: it tells the host's
//! endpoint how to reach it (settings, egress, webhook secret, auth) and
//! performs agent actions through the provider's own protocol. It never
//! calls the handover host itself.

use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// How the host's endpoint must be configured for this simulator.
#[derive(Debug, Clone, Default)]
pub struct EndpointSetup {
    /// Adapter settings (JSON object).
    pub settings: Value,
    /// Egress allow-list entries the adapter needs.
    pub egress: Vec<String>,
    /// Secret the provider signs webhooks with (`None`: no webhooks).
    pub webhook_secret: Option<String>,
    /// Extra TOML lines for the endpoint table (e.g. `[[endpoints.auth]]`
    /// blocks that let the host add the provider's credentials).
    pub extra_toml: String,
}

#[async_trait]
pub trait ProviderDriver: Send + Sync {
    /// The simulator's name, e.g. `sim`, `chatwoot`.
    fn name(&self) -> &str;
    fn endpoint_setup(&self) -> EndpointSetup;
    /// Where the host receives this provider's webhooks.
    fn set_webhook_url(&self, url: &str);
    /// Wait until the provider has the conversation of `handover_id`;
    /// returns the provider's conversation id.
    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String>;
    async fn agent_join(&self, conv: &str, name: &str);
    async fn agent_message(&self, conv: &str, text: &str);
    /// The agent ends the conversation (the provider's normal end signal).
    async fn end(&self, conv: &str);
    /// Texts the provider received from the user, in order.
    async fn user_messages(&self, conv: &str) -> Vec<String>;
    /// Whether the provider considers the conversation cancelled or closed
    /// by the bot side (`None` if the provider has no such notion).
    async fn closed_by_bot(&self, conv: &str) -> Option<bool>;
    /// The next conversation creation is answered with HTTP `status`.
    fn fail_next_start(&self, status: u16);
    /// Deliver every webhook twice (no-op for providers that are polled).
    fn set_duplicate_webhooks(&self, on: bool);
    /// Hold webhooks until `release_held` (no-op for polled providers).
    fn set_hold_webhooks(&self, on: bool);
    async fn release_held(&self, reverse: bool);
    /// Whether the provider pushes webhooks (duplicate/out-of-order
    /// scenarios apply) or is polled.
    fn pushes_webhooks(&self) -> bool;
    async fn shutdown(&self);
}

/// Simulators the conformance kit can start by name (the adapter of the
/// same name speaks to each).
pub const SIMULATORS: &[&str] = &[
    "sim",
    "chatwoot",
    "genesys-open-messaging",
    "salesforce-miaw",
    "salesforce-live-agent",
    "liveperson",
    "sunshine-conversations",
    "matrix",
];

/// Start the simulator called `name`.
pub async fn start(name: &str) -> anyhow::Result<Box<dyn ProviderDriver>> {
    match name {
        "sim" => Ok(Box::new(crate::sim::SimDriver::start().await?)),
        "chatwoot" => crate::chatwoot::start_driver().await,
        "genesys-open-messaging" => crate::genesys::start_driver().await,
        "salesforce-miaw" => crate::salesforce_miaw::start_driver().await,
        "salesforce-live-agent" => crate::salesforce_live_agent::start_driver().await,
        "liveperson" => crate::liveperson::start_driver().await,
        "sunshine-conversations" => crate::sunshine::start_driver().await,
        "matrix" => crate::matrix::start_driver().await,
        other => anyhow::bail!(
            "unknown simulator `{other}`; known: {}",
            SIMULATORS.join(", ")
        ),
    }
}
