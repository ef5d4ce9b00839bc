//! One interface over every provider simulator, so the conformance kit and
//! the end-to-end tests can run the same scenarios against any provider.
//!
//! A driver plays the provider *and* its human agent: it tells the host's
//! endpoint how to reach it (settings, egress, webhook secret, auth) and
//! performs agent actions through the provider's own protocol. It never
//! calls the handover host itself.

use crate::kit::Outbox;
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
    async fn shutdown(&self);

    /// The simulator's webhook outbox; `None` (the default) for providers
    /// that are polled, which the webhook calls below leave alone.
    fn outbox(&self) -> Option<&Outbox> {
        None
    }
    /// Where the host receives this provider's webhooks.
    fn set_webhook_url(&self, url: &str) {
        if let Some(outbox) = self.outbox() {
            outbox.set_url(Some(url.to_string()));
        }
    }
    /// Deliver every webhook twice.
    fn set_duplicate_webhooks(&self, on: bool) {
        if let Some(outbox) = self.outbox() {
            outbox.set_duplicate(on);
        }
    }
    /// Hold webhooks until `release_held`.
    fn set_hold_webhooks(&self, on: bool) {
        if let Some(outbox) = self.outbox() {
            outbox.set_hold(on);
        }
    }
    async fn release_held(&self, reverse: bool) {
        if let Some(outbox) = self.outbox() {
            outbox.release_held(reverse).await;
        }
    }
    /// Whether the provider pushes webhooks (duplicate/out-of-order
    /// scenarios apply) or is polled.
    fn pushes_webhooks(&self) -> bool {
        self.outbox().is_some()
    }
    /// Returns and forgets the requests of the adapter that broke the
    /// provider's API as the simulator knows it (its spec, a description's
    /// required fields); the kit fails the scenario they happened in.
    fn take_violations(&self) -> Vec<String> {
        Vec::new()
    }

    // ---- Contract 0.2.0 features. Each returns `false` (`None`) when the
    // provider has no such feature; the kit then skips its scenario. A
    // driver implements them through the provider's own protocol, as the
    // provider's public documents describe it.

    /// The agent hands the conversation back to the bot with `variables`
    /// (a JSON object), e.g. Sunshine Conversations' `releaseControl`.
    async fn hand_back(&self, conv: &str, variables: &Value) -> bool {
        let _ = (conv, variables);
        false
    }
    /// The agent sends `text` with one quick-reply button (`title`,
    /// `payload`).
    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        let _ = (conv, text, title, payload);
        false
    }
    /// The agent reads every user message so far (the provider then sends
    /// its read receipt).
    async fn read_messages(&self, conv: &str) -> bool {
        let _ = conv;
        false
    }
    /// The user's typing signals the provider received, in order (`true`:
    /// started); `None` when the provider has no typing indicator.
    async fn user_typing(&self, conv: &str) -> Option<Vec<bool>> {
        let _ = conv;
        None
    }
    /// The agent wraps up with `disposition` (and the provider reports it).
    async fn wrap_up(&self, conv: &str, disposition: &str) -> bool {
        let _ = (conv, disposition);
        false
    }
}

/// Logs the refusal of an agent action the driver asked the simulator for
/// (the scenario then sees its effect missing).
pub(crate) fn warn_refused<T>(driver: &str, action: Result<T, String>) {
    if let Err(e) = action {
        tracing::warn!("{driver} driver: {e}");
    }
}

/// `[endpoints.secrets]` holding `secrets` (name, value) and one
/// `[[endpoints.auth]]` rule for `target`: `rule` is the rule's line, which
/// refers to the secrets as `{{name}}`.
pub fn auth_toml(target: &str, secrets: &[(&str, &str)], rule: &str) -> String {
    let mut toml = String::from("[endpoints.secrets]\n");
    for (name, value) in secrets {
        toml.push_str(&format!("{name} = {}\n", quote(value)));
    }
    toml.push_str(&format!(
        "\n[[endpoints.auth]]\ntarget = {}\n{rule}\n",
        quote(target)
    ));
    toml
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("string serializes")
}

/// [`auth_toml`] making the host fetch client-credentials tokens from
/// `token_url` and add them to every request to `target`.
pub fn oauth_toml(target: &str, token_url: &str, client_id: &str, client_secret: &str) -> String {
    auth_toml(
        target,
        &[("client_id", client_id), ("client_secret", client_secret)],
        &format!(
            "oauth_client_credentials = {{ token_url = {}, client_id = \"{{{{client_id}}}}\", client_secret = \"{{{{client_secret}}}}\" }}",
            quote(token_url)
        ),
    )
}

/// [`auth_toml`] giving `target` the header `name: <prefix><secret>`, the
/// secret held as `secret_name`.
pub fn header_auth_toml(
    target: &str,
    secret_name: &str,
    secret: &str,
    name: &str,
    prefix: &str,
) -> String {
    auth_toml(
        target,
        &[(secret_name, secret)],
        &format!(
            "header = {{ name = {}, value = {} }}",
            quote(name),
            quote(&format!("{prefix}{{{{{secret_name}}}}}"))
        ),
    )
}

/// [`auth_toml`] giving `target` HTTP Basic auth, the username and
/// password held as the secrets `user_name` and `password_name`.
pub fn basic_auth_toml(
    target: &str,
    (user_name, user): (&str, &str),
    (password_name, password): (&str, &str),
) -> String {
    auth_toml(
        target,
        &[(user_name, user), (password_name, password)],
        &format!(
            "basic = {{ username = \"{{{{{user_name}}}}}\", password = \"{{{{{password_name}}}}}\" }}"
        ),
    )
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
    "twilio-flex",
    "matrix",
];

/// The provider a conformance run plays: a bundled simulator by name, or
/// one built from an integrator's provider description.
#[derive(Debug, Clone)]
pub enum Target {
    Bundled(String),
    Described(std::sync::Arc<crate::described::Description>),
}

impl Target {
    /// `--simulator NAME` (checked against [`SIMULATORS`]).
    pub fn bundled(name: &str) -> anyhow::Result<Target> {
        if !SIMULATORS.contains(&name) {
            anyhow::bail!(
                "unknown simulator `{name}`; known: {} (or describe your provider with --provider FILE)",
                SIMULATORS.join(", ")
            );
        }
        Ok(Target::Bundled(name.to_string()))
    }

    /// `--provider FILE`: the description is read and checked now.
    pub fn described(path: &std::path::Path) -> Result<Target, String> {
        let d = crate::described::Description::load(path)?;
        Ok(Target::Described(std::sync::Arc::new(d)))
    }

    /// How the kit's table names the provider.
    pub fn label(&self) -> String {
        match self {
            Target::Bundled(name) => format!("simulator `{name}`"),
            Target::Described(d) => format!("provider `{}` (described)", d.name),
        }
    }

    /// Starts a fresh simulator of this provider.
    pub async fn start(&self) -> anyhow::Result<Box<dyn ProviderDriver>> {
        match self {
            Target::Bundled(name) => start(name).await,
            Target::Described(d) => Ok(Box::new(
                crate::described::DescribedDriver::start(d.clone()).await?,
            )),
        }
    }
}

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
        "twilio-flex" => crate::twilio::start_driver().await,
        "matrix" => crate::matrix::start_driver().await,
        other => anyhow::bail!(
            "unknown simulator `{other}`; known: {}",
            SIMULATORS.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_toml_blocks() {
        assert_eq!(
            oauth_toml("http://h", "http://h/oauth/token", "id", "s\"x"),
            "[endpoints.secrets]\nclient_id = \"id\"\nclient_secret = \"s\\\"x\"\n\n\
             [[endpoints.auth]]\ntarget = \"http://h\"\noauth_client_credentials = { token_url = \
             \"http://h/oauth/token\", client_id = \"{{client_id}}\", client_secret = \"{{client_secret}}\" }\n"
        );
        assert_eq!(
            header_auth_toml("http://h", "tok", "t-1", "Authorization", "Bearer "),
            "[endpoints.secrets]\ntok = \"t-1\"\n\n[[endpoints.auth]]\ntarget = \"http://h\"\n\
             header = { name = \"Authorization\", value = \"Bearer {{tok}}\" }\n"
        );
        assert_eq!(
            basic_auth_toml("http://h", ("user", "u"), ("pass", "p")),
            "[endpoints.secrets]\nuser = \"u\"\npass = \"p\"\n\n[[endpoints.auth]]\ntarget = \"http://h\"\n\
             basic = { username = \"{{user}}\", password = \"{{pass}}\" }\n"
        );
    }
}
