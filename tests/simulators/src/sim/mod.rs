//! The "sim" reference provider: a small generic contact-center API served
//! over loopback HTTP, driven from tests through [`SimProvider`] (or from
//! curl through the `/_sim/` control routes).
//!
//! This module owns the server's lifecycle and the agent-side calls; see
//! `inspect` for what tests read back and `script` for fault injection.

mod api;
mod auto_agent;
mod control;
mod driver;
mod events;
mod inspect;
mod script;
mod state;
mod types;
mod webhook;

pub use driver::SimDriver;
pub use types::*;
pub use webhook::sign;

use crate::kit::{Outbox, Server};
use axum::Router;
use serde_json::Value;
use state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;

/// A running sim provider. Cheap to clone; every clone drives the same
/// server. Stops on [`SimProvider::shutdown`] or with its tokio runtime.
#[derive(Clone)]
pub struct SimProvider {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

impl SimProvider {
    /// Serves on `127.0.0.1:<free port>` in a tokio task.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimProvider> {
        Self::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves on `addr` (for demos that need a fixed port).
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<SimProvider> {
        let shared = Arc::new(Shared::new(
            cfg.webhook_secret,
            cfg.webhook_url,
            cfg.auto_agent,
        ));
        let app = Router::new()
            .nest("/_sim", control::router(shared.clone()))
            .merge(api::router(shared.clone()));
        let server = Server::start_on(addr, app).await?;
        Ok(SimProvider {
            shared,
            server: Arc::new(server),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Changes where later deliveries go; `None` stops webhook delivery
    /// (events are still stored for polling).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.shared.outbox.set_url(url);
    }

    /// The webhook outbox.
    pub(crate) fn outbox(&self) -> &Outbox {
        &self.shared.outbox
    }

    /// Stops serving (in-flight requests get up to 2 s) and stops all
    /// delivery and auto-agent tasks; held deliveries are dropped.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
        self.shared.abort_all();
    }

    // ---- agent side: each emits one event (stored for polling and
    // delivered by webhook). They panic on an unknown conversation; use
    // `emit` for a fallible call or a custom event.

    /// `queued` with a new position and wait.
    pub async fn queue_update(&self, conv: &str, position: u32, wait_s: u32) {
        self.must(conv, events::queued(Some(position), Some(wait_s)));
    }

    /// `agent_joined`; the conversation becomes `active`.
    pub async fn agent_join(&self, conv: &str, agent_id: &str, name: &str) {
        self.must(conv, events::agent_joined(agent_id, name));
    }

    /// `agent_message` from the current agent.
    pub async fn agent_message(&self, conv: &str, text: &str) {
        self.must(conv, events::agent_message(text, &[]));
    }

    /// `agent_message` with attachments.
    pub async fn agent_message_with_attachments(
        &self,
        conv: &str,
        text: &str,
        attachments: &[Attachment],
    ) {
        self.must(conv, events::agent_message(text, attachments));
    }

    /// `agent_typing` with `typing: on`.
    pub async fn agent_typing(&self, conv: &str, on: bool) {
        self.must(conv, events::agent_typing(on));
    }

    /// `agent_left` (naming the agent who left); the conversation is `queued` again.
    pub async fn agent_leave(&self, conv: &str) {
        self.must(conv, events::agent_left());
    }

    /// `transferred` to `to_queue`; the conversation is `queued` again.
    pub async fn transfer(&self, conv: &str, to_queue: &str) {
        self.must(conv, events::transferred(to_queue));
    }

    /// `ended` with `reason` (`agent_closed`, `agent_left`,
    /// `provider_closed`, `no_agent` or anything else).
    pub async fn end(&self, conv: &str, reason: &str) {
        self.must(conv, events::ended(reason));
    }

    /// Emits an event of any `event_type` with `fields` (an object merged
    /// after the envelope) and returns it as delivered.
    pub fn emit(&self, conv: &str, event_type: &str, fields: Value) -> Result<Value, SimError> {
        self.shared.emit(conv, event_type, api::into_map(fields))
    }

    fn must(&self, conv: &str, (kind, fields): events::Payload) {
        if let Err(e) = self.shared.emit(conv, kind, fields) {
            panic!("sim {kind}: {e}");
        }
    }
}
