//! Whether an adapter call's requests reached the provider: what makes a
//! failed call safe to run again.
//!
//! The engine runs a call it may retry inside [`Reach::scope`]; every
//! request the call starts is counted, and so is every one that failed
//! before its request could be written (no connection, connection
//! refused, TLS or handshake failure). A failed call whose requests all
//! failed that way told the provider nothing, so running it again cannot
//! duplicate anything ([`Reach::nothing_delivered`]). A request that got a
//! response, was refused by the egress policy, or broke after it was sent
//! (a read timeout: the provider may have acted on it) makes the call
//! unsafe to repeat. Must never: call a request undelivered that may have
//! reached the provider. Tested end to end (`host/tests/all/e2e/input_retry.rs`:
//! a refusal is sent once, an unreachable provider is tried three times).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

tokio::task_local! {
    static REACH: Arc<Reach>;
}

/// The requests of the calls run inside one [`Reach::scope`].
#[derive(Debug, Default)]
pub struct Reach {
    started: AtomicU32,
    undelivered: AtomicU32,
}

impl Reach {
    /// Run `f` (adapter calls) counting their requests into `self`.
    pub async fn scope<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        REACH.scope(self.clone(), f).await
    }

    /// The calls sent at least one request, and none of them reached the
    /// provider.
    pub fn nothing_delivered(&self) -> bool {
        let started = self.started.load(Ordering::SeqCst);
        started > 0 && self.undelivered.load(Ordering::SeqCst) == started
    }

    /// A request is being started (in the calling task): the scope's
    /// counter, if any, to report it undelivered with.
    pub(crate) fn started() -> Option<Arc<Reach>> {
        let reach = REACH.try_with(Arc::clone).ok()?;
        reach.started.fetch_add(1, Ordering::SeqCst);
        Some(reach)
    }

    pub(crate) fn undelivered(&self) {
        self.undelivered.fetch_add(1, Ordering::SeqCst);
    }
}
