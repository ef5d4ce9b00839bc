//! [`Simulator`]: a running simulator of one provider, that is the
//! provider's state (`P`) and configuration behind a [`Gate`], served over
//! loopback HTTP, with a webhook [`Outbox`] and a token issuer for the
//! providers that have them.
//!
//! This module holds what is the same for every provider: starting and
//! stopping, recorded requests, scripted faults, spec violations and
//! webhook scripting. Each provider module adds the rest (its routes, its
//! agent side and what tests read back) as methods of
//! `Simulator<TheirState>`, and names that type, e.g. `ChatwootSim`.

use super::{Changes, Gate, Outbox, RecordedRequest, Server, Tokens, lock};
use crate::openapi::Violation;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// A provider's simulator state (implemented by the state type).
pub trait Provider: Sized + Send + 'static {
    /// How the simulator is configured ([`Simulator::config`]).
    type Config: Send + Sync + 'static;
    /// What [`Simulator::requests`] lists.
    type Request: From<RecordedRequest>;
}

/// A provider that pushes webhooks: its [`Shared`] has an [`Outbox`].
pub trait PushesWebhooks: Provider {}

/// What the server, the simulator's methods and background tasks share.
pub struct Shared<P: Provider> {
    pub(crate) cfg: P::Config,
    state: Mutex<P>,
    pub(crate) gate: Gate,
    changes: Changes,
    closing: AtomicBool,
    outbox: Option<Outbox>,
    tokens: Option<Tokens>,
}

impl<P: Provider> Shared<P> {
    pub fn new(cfg: P::Config, state: P, gate: Gate) -> Shared<P> {
        Shared {
            cfg,
            state: Mutex::new(state),
            gate,
            changes: Changes::default(),
            closing: AtomicBool::new(false),
            outbox: None,
            tokens: None,
        }
    }

    /// Webhooks go out through `outbox`.
    pub fn with_outbox(mut self, outbox: Outbox) -> Shared<P> {
        self.outbox = Some(outbox);
        self
    }

    /// Bearer tokens come from `tokens`.
    pub fn with_tokens(mut self, tokens: Tokens) -> Shared<P> {
        self.tokens = Some(tokens);
        self
    }

    pub fn lock(&self) -> MutexGuard<'_, P> {
        lock(&self.state)
    }

    /// Wakes everyone waiting for a change.
    pub fn bump(&self) {
        self.changes.bump();
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whether the simulator is shutting down (long polls and streams end).
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The outbox (a simulator that pushes webhooks has one).
    pub fn outbox(&self) -> &Outbox {
        self.webhook_outbox()
            .expect("a simulator that pushes webhooks has an outbox")
    }

    /// The outbox, if the simulator pushes webhooks.
    pub fn webhook_outbox(&self) -> Option<&Outbox> {
        self.outbox.as_ref()
    }

    /// The token issuer (a simulator of an OAuth provider has one).
    pub fn tokens(&self) -> &Tokens {
        self.tokens
            .as_ref()
            .expect("a simulator of an OAuth provider has a token issuer")
    }
}

/// A running simulator of provider `P`. Cheap to clone; every clone
/// drives the same server.
pub struct Simulator<P: Provider> {
    pub(crate) shared: Arc<Shared<P>>,
    server: Arc<Server>,
}

impl<P: Provider> Clone for Simulator<P> {
    fn clone(&self) -> Self {
        Simulator {
            shared: self.shared.clone(),
            server: self.server.clone(),
        }
    }
}

impl<P: Provider> Simulator<P> {
    /// Serves `routes(shared)` behind the gate on `127.0.0.1:<free port>`.
    pub(crate) async fn serve(
        shared: Shared<P>,
        routes: impl FnOnce(Arc<Shared<P>>) -> Router,
    ) -> std::io::Result<Simulator<P>> {
        let shared = Arc::new(shared);
        let app =
            routes(shared.clone()).layer(middleware::from_fn_with_state(shared.clone(), gate::<P>));
        let server = Server::start(app).await?;
        Ok(Simulator {
            shared,
            server: Arc::new(server),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn config(&self) -> &P::Config {
        &self.shared.cfg
    }

    /// Ends long polls and streams, stops serving (in-flight requests get
    /// 2 s) and delivering; held webhooks are dropped.
    pub async fn shutdown(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.bump();
        self.server.shutdown().await;
        if let Some(outbox) = &self.shared.outbox {
            outbox.shutdown();
        }
    }

    /// Every API request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<P::Request> {
        let requests = self.shared.gate.requests();
        requests.into_iter().map(P::Request::from).collect()
    }

    /// Bodies that broke the provider's spec so far (none for a provider
    /// without one).
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.gate.violations()
    }

    /// Returns and forgets the violations recorded so far.
    pub fn take_violations(&self) -> Vec<Violation> {
        self.shared.gate.take_violations()
    }

    /// Panics listing the violations recorded so far, if any (`name`
    /// names the simulator).
    pub fn assert_no_violations(&self, name: &str) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "the {name} simulator recorded {} schema violation(s):\n{}",
            violations.len(),
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Answers the next `count` requests of `method` (any when `None`) to
    /// `path` (a prefix when it ends in `*`) with `status` (429 and 503
    /// with `Retry-After: 1`), not acting on them.
    pub fn fail_next(&self, method: Option<&str>, path: &str, status: u16, count: u32) {
        self.shared.gate.fail_next(method, path, status, count);
    }

    /// Waits until `probe` finds something in the state (re-checked after
    /// every request and change) or `timeout` passes.
    pub(crate) async fn wait_until<T>(
        &self,
        timeout: Duration,
        probe: impl FnMut(&P) -> Option<T>,
    ) -> Option<T> {
        let shared = &self.shared;
        shared
            .changes
            .wait_until(&shared.state, timeout, probe)
            .await
    }
}

impl<P: PushesWebhooks> Simulator<P> {
    pub fn outbox(&self) -> &Outbox {
        self.shared.outbox()
    }

    /// Where webhooks go (`None`: nowhere).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.outbox().set_url(url);
    }

    /// Delivers every later webhook twice (same id, same body).
    pub fn set_duplicate_webhooks(&self, on: bool) {
        self.outbox().set_duplicate(on);
    }

    /// Holds later webhooks until [`Simulator::release_held`].
    pub fn set_hold_webhooks(&self, on: bool) {
        self.outbox().set_hold(on);
    }

    /// Delivers the held webhooks (newest first when `reverse`) and returns
    /// how many there were once all were delivered or gave up.
    pub async fn release_held(&self, reverse: bool) -> usize {
        self.outbox().release_held(reverse).await
    }

    /// Attempts per delivery and the first retry delay.
    pub fn set_webhook_retry(&self, max_attempts: u32, first_backoff: Duration) {
        self.outbox().set_retry(max_attempts, first_backoff);
    }

    /// Every finished webhook delivery, in completion order.
    pub fn deliveries(&self) -> Vec<super::Delivery> {
        self.outbox().deliveries()
    }

    /// Waits until at least `n` deliveries finished (true) or `timeout`.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        self.outbox().wait_for_deliveries(n, timeout).await
    }
}

/// The gate in front of the routes; every request is a change.
async fn gate<P: Provider>(
    State(shared): State<Arc<Shared<P>>>,
    req: Request,
    next: Next,
) -> Response {
    let response = shared.gate.run(req, next).await;
    shared.bump();
    response
}
