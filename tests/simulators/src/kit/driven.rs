//! The conformance-kit driver of a simulator built on [`Simulator`]: a
//! provider brings what differs as a [`Driven`] (its endpoint, how its
//! agent acts, what tests read back) and [`Driver`] is the one
//! [`ProviderDriver`] over all of them.

use super::{Outbox, Provider, Simulator};
use crate::driver::{EndpointSetup, ProviderDriver};
use async_trait::async_trait;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// How the conformance kit drives the simulator of a provider.
pub trait Driven: Provider {
    /// The simulator's name in the kit, e.g. `chatwoot`.
    const DRIVER: &'static str;
    /// The name the simulator goes by in the panic that shutting the driver
    /// down raises when a request or webhook body broke the provider's spec
    /// (`None`: no check, the provider has no spec).
    const SPEC: Option<&'static str> = None;

    /// Starts the simulator the driver drives.
    fn start() -> impl Future<Output = anyhow::Result<Simulator<Self>>> + Send;
    fn endpoint_setup(sim: &Simulator<Self>) -> EndpointSetup;
    /// The provider's id of the conversation opened for `handover_id`, once
    /// it exists.
    fn wait_for_conversation(
        sim: &Simulator<Self>,
        handover_id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Option<String>> + Send;
    fn agent_join(sim: &Simulator<Self>, conv: &str, name: &str);
    fn agent_message(sim: &Simulator<Self>, conv: &str, text: &str);
    /// The agent ends the conversation (the provider's normal end signal).
    fn end(sim: &Simulator<Self>, conv: &str);
    /// Texts the provider received from the user, in order.
    fn user_messages(sim: &Simulator<Self>, conv: &str) -> Vec<String>;
    /// Whether the bot side closed the conversation (`None`: the provider
    /// has no such notion).
    fn closed_by_bot(sim: &Simulator<Self>, conv: &str) -> Option<bool>;
    /// The method (any when `None`) and path (a prefix when it ends in `*`)
    /// of the requests that start a conversation.
    fn start_request(cfg: &Self::Config) -> (Option<&'static str>, String);

    /// The agent's contract 0.2.0 actions, as [`ProviderDriver`] names
    /// them; the defaults say the provider has none (the kit then skips
    /// their scenarios).
    fn hand_back(sim: &Simulator<Self>, conv: &str, variables: &Value) -> bool {
        let _ = (sim, conv, variables);
        false
    }
    fn rich_message(
        sim: &Simulator<Self>,
        conv: &str,
        text: &str,
        title: &str,
        payload: &str,
    ) -> bool {
        let _ = (sim, conv, text, title, payload);
        false
    }
    fn read_messages(sim: &Simulator<Self>, conv: &str) -> bool {
        let _ = (sim, conv);
        false
    }
    fn user_typing(sim: &Simulator<Self>, conv: &str) -> Option<Vec<bool>> {
        let _ = (sim, conv);
        None
    }
    fn wrap_up(sim: &Simulator<Self>, conv: &str, disposition: &str) -> bool {
        let _ = (sim, conv, disposition);
        false
    }
}

/// The [`ProviderDriver`] of provider `P`'s simulator.
pub struct Driver<P: Provider> {
    pub sim: Simulator<P>,
}

impl<P: Driven> Driver<P> {
    /// Starts the simulator ([`Driven::start`]).
    pub async fn start() -> anyhow::Result<Driver<P>> {
        Ok(Driver {
            sim: P::start().await?,
        })
    }
}

#[async_trait]
impl<P: Driven> ProviderDriver for Driver<P> {
    fn name(&self) -> &str {
        P::DRIVER
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        P::endpoint_setup(&self.sim)
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        P::wait_for_conversation(&self.sim, handover_id, timeout).await
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        P::agent_join(&self.sim, conv, name);
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        P::agent_message(&self.sim, conv, text);
    }

    async fn end(&self, conv: &str) {
        P::end(&self.sim, conv);
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        P::user_messages(&self.sim, conv)
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        P::closed_by_bot(&self.sim, conv)
    }

    fn fail_next_start(&self, status: u16) {
        let (method, path) = P::start_request(self.sim.config());
        self.sim.fail_next(method, &path, status, 1);
    }

    /// Stops the simulator; then panics listing the spec violations it
    /// recorded, if any, for a provider with a spec.
    async fn shutdown(&self) {
        self.sim.shutdown().await;
        if let Some(name) = P::SPEC {
            self.sim.assert_no_violations(name);
        }
    }

    /// The spec violations so far (forgotten, so the shutdown check does
    /// not report them twice), for a provider with a spec.
    fn take_violations(&self) -> Vec<String> {
        match P::SPEC {
            Some(_) => {
                let violations = self.sim.take_violations();
                violations.iter().map(ToString::to_string).collect()
            }
            None => Vec::new(),
        }
    }

    /// The outbox of a simulator that pushes webhooks.
    fn outbox(&self) -> Option<&Outbox> {
        self.sim.shared.webhook_outbox()
    }

    async fn hand_back(&self, conv: &str, variables: &Value) -> bool {
        P::hand_back(&self.sim, conv, variables)
    }

    async fn rich_message(&self, conv: &str, text: &str, title: &str, payload: &str) -> bool {
        P::rich_message(&self.sim, conv, text, title, payload)
    }

    async fn read_messages(&self, conv: &str) -> bool {
        P::read_messages(&self.sim, conv)
    }

    async fn user_typing(&self, conv: &str) -> Option<Vec<bool>> {
        P::user_typing(&self.sim, conv)
    }

    async fn wrap_up(&self, conv: &str, disposition: &str) -> bool {
        P::wrap_up(&self.sim, conv, disposition)
    }
}
