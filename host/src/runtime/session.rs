//! Sessions: the calls about one piece of provider traffic on one instance.
//!
//! A webhook costs two calls, `route-webhook` (which handovers?) and then
//! `handle-webhook` (what happened?), on the same request. A session serves
//! both from one instance instead of two fresh ones (27.6 → 17.7 µs for
//! the two calls in isolation; BENCHMARKS.md). The isolation that matters
//! holds: the instance sees only this request, of this endpoint, at one
//! adapter version, and at most one handover's state; it is dropped with
//! the session. Each call still gets its own deadline, log cap, egress
//! budget, fuel and stderr.
//!
//! Must never: reuse an instance after a call the host failed (trap,
//! deadline, memory, denied egress) — the next call gets a fresh one; or
//! let parked instances starve the pool — at most a quarter of the pool's
//! instances are kept between calls, beyond that a session behaves like
//! separate calls.

use super::call::Live;
use super::{Call, CallEnv, CallOutput, LoadedAdapter, Runtime};
use crate::model::Failure;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Calls on one adapter version, under one endpoint's limits, sharing an
/// instance while the session lives.
pub struct Session {
    runtime: Arc<Runtime>,
    adapter: Arc<LoadedAdapter>,
    env: CallEnv,
    live: Option<Live>,
    /// Whether `live` counts against the runtime's parked instances.
    parked: bool,
}

impl Session {
    pub fn new(runtime: Arc<Runtime>, adapter: Arc<LoadedAdapter>, env: CallEnv) -> Session {
        Session {
            runtime,
            adapter,
            env,
            live: None,
            parked: false,
        }
    }

    /// The adapter version every call of this session runs.
    pub fn adapter(&self) -> &Arc<LoadedAdapter> {
        &self.adapter
    }

    /// Run one export: on the instance the previous call left, if any.
    pub async fn call(&mut self, call: Call) -> Result<CallOutput, Failure> {
        let out = self
            .runtime
            .run_call(&self.adapter, &self.env, &mut self.live, call)
            .await;
        if self.live.is_none() {
            self.unpark();
        } else if !self.parked {
            self.parked = self.runtime.try_park();
            if !self.parked {
                self.live = None;
            }
        }
        out
    }

    /// Drop the kept instance now (the session is about to wait); the next
    /// call, if any, gets a fresh one.
    pub fn release(&mut self) {
        self.live = None;
        self.unpark();
    }

    /// Whether an instance is kept for the next call (for tests).
    pub fn has_instance(&self) -> bool {
        self.live.is_some()
    }

    fn unpark(&mut self) {
        if std::mem::take(&mut self.parked) {
            self.runtime.parked.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.release();
    }
}

impl Runtime {
    /// Count one more instance kept between calls, if under the cap.
    fn try_park(&self) -> bool {
        let cap = (self.cfg.max_instances as usize / 4).max(1);
        self.parked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok()
    }

    /// Instances kept between the calls of live sessions.
    pub fn parked_instances(&self) -> usize {
        self.parked.load(Ordering::Acquire)
    }
}
