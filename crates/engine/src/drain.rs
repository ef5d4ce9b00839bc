//! Draining before the process exits (rolling restarts).
//!
//! Owns the drain flag and the count of background work in flight. Once
//! [`Engine::begin_drain`] is called: `/readyz` answers 503 (the API reads
//! [`Engine::is_draining`]), event streams end with a retry hint so their
//! clients reconnect to another replica, and the timer, poll, callback and
//! sweep loops stop claiming work (what a scan claimed and will not run is
//! given back at once: `Store::release_claims`). Steps and deliveries in
//! flight finish; [`Engine::wait_drained`] says when none is left. Must
//! never: cut a step short, or refuse a request that reached a handler (the
//! HTTP listener's own graceful shutdown stops new ones).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::Engine;

/// The drain flag and the background work in flight.
pub(crate) struct Drain {
    flag: watch::Sender<bool>,
    background: Arc<AtomicUsize>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            flag: watch::channel(false).0,
            background: Arc::default(),
        }
    }
}

/// One background task (a timer step, a poll, a delivery) in flight;
/// counted until dropped.
pub(crate) struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drain {
    pub(crate) fn busy(&self) -> Busy {
        self.background.fetch_add(1, Ordering::SeqCst);
        Busy(self.background.clone())
    }
}

/// How often [`Engine::wait_drained`] looks.
const LOOK: Duration = Duration::from_millis(10);

impl Engine {
    /// Start draining (idempotent).
    pub fn begin_drain(&self) {
        self.drain.flag.send_replace(true);
    }

    /// Whether [`Engine::begin_drain`] was called.
    pub fn is_draining(&self) -> bool {
        *self.drain.flag.borrow()
    }

    /// Resolves once draining has begun (at once if it has).
    pub async fn draining(&self) {
        let mut rx = self.drain.flag.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Steps (each holds its handover's lock) and background tasks in
    /// flight in this process.
    pub fn work_in_flight(&self) -> usize {
        self.locks.held() + self.drain.background.load(Ordering::SeqCst)
    }

    /// Wait until no step or background task is in flight (seen twice in a
    /// row, so a task between two of its steps is not missed), or until
    /// `deadline`. True if drained.
    pub async fn wait_drained(&self, deadline: tokio::time::Instant) -> bool {
        let mut idle_looks = 0;
        while idle_looks < 2 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            idle_looks = if self.work_in_flight() == 0 {
                idle_looks + 1
            } else {
                0
            };
            tokio::time::sleep(LOOK).await;
        }
        true
    }
}
