//! Sessions: the calls about one piece of provider traffic on one instance,
//! and (opt-in per endpoint) instances kept warm between sessions.
//!
//! A webhook costs two calls, `route-webhook` (which handovers?) and then
//! `handle-webhook` (what happened?), on the same request. A session serves
//! both from one instance instead of two fresh ones (27.6 → 17.7 µs for
//! the two calls in isolation; BENCHMARKS.md). The isolation that matters
//! holds: the instance sees only this request, of this endpoint, at one
//! adapter version, and at most one handover's state; it is dropped when
//! the session is released (the engine releases it as soon as its last
//! call returns, before the step's durable write, so a webhook waiting on
//! the database holds no instance). Each call still gets its own deadline,
//! log cap, egress budget and fuel and stderr.
//!
//! An endpoint configured with `instance_reuse = N` hands a session's
//! instance to a [`WarmPool`] when the session ends, and the endpoint's next
//! session takes it from there, until the instance has served N calls. That
//! trades principle 2 (nothing survives between calls) for throughput
//! *within one endpoint*: the instance only ever sees that endpoint's
//! traffic, under its limits, egress policy and credentials, at one adapter
//! version; never another endpoint's or tenant's.
//!
//! Must never: reuse an instance after a call the host failed (trap,
//! deadline, memory, denied egress) — the next call gets a fresh one; hand
//! a kept instance to another endpoint or adapter version; or let kept
//! instances starve the pool — at most a quarter of the pool's instances
//! are kept between calls (sessions and warm pools together), beyond that
//! a session behaves like separate calls.

use super::call::Live;
use super::{Call, CallEnv, CallOutput, LoadedAdapter, Runtime};
use handover_core::model::Failure;
use handover_metrics as metrics;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls on one adapter version, under one endpoint's limits, sharing an
/// instance while the session lives.
pub struct Session {
    runtime: Arc<Runtime>,
    adapter: Arc<LoadedAdapter>,
    env: CallEnv,
    live: Option<Live>,
    /// `live`'s place among the kept instances, once it has one.
    parked: Option<ParkToken>,
    /// The endpoint's warm instances, when it reuses them.
    warm: Option<Arc<WarmPool>>,
}

impl Session {
    pub fn new(runtime: Arc<Runtime>, adapter: Arc<LoadedAdapter>, env: CallEnv) -> Session {
        Session::reusing(runtime, adapter, env, None)
    }

    /// A session that takes its instance from `warm` (if it has one of this
    /// version) and gives it back there when it ends.
    pub fn reusing(
        runtime: Arc<Runtime>,
        adapter: Arc<LoadedAdapter>,
        env: CallEnv,
        warm: Option<Arc<WarmPool>>,
    ) -> Session {
        Session {
            runtime,
            adapter,
            env,
            live: None,
            parked: None,
            warm,
        }
    }

    /// The adapter version every call of this session runs.
    pub fn adapter(&self) -> &Arc<LoadedAdapter> {
        &self.adapter
    }

    /// Run one export: on the instance the previous call left (or a warm
    /// one), if any.
    pub async fn call(&mut self, call: Call) -> Result<CallOutput, Failure> {
        if self.live.is_none()
            && let Some((live, token)) = self.warm.as_ref().and_then(|w| w.take(&self.adapter))
        {
            self.live = Some(live);
            self.parked = Some(token);
        }
        let out = self
            .runtime
            .run_call(&self.adapter, &self.env, &mut self.live, call)
            .await;
        if self.live.is_none() {
            self.parked = None;
        } else if self.parked.is_none() {
            self.parked = self.runtime.try_park();
            if self.parked.is_none() {
                self.live = None;
            }
        }
        out
    }

    /// Let the kept instance go now (the session is about to wait): to the
    /// warm pool if the endpoint reuses instances, else dropped. The next
    /// call, if any, gets another one.
    pub fn release(&mut self) {
        let (live, token) = (self.live.take(), self.parked.take());
        if let (Some(warm), Some(live), Some(token)) = (&self.warm, live, token) {
            warm.put(live, token);
        }
    }

    /// Fuel left after the last call, when the runtime counts fuel
    /// ([`RuntimeConfig::fuel`](super::RuntimeConfig::fuel)) and the
    /// instance was kept: that call used `limits.fuel` minus this. For
    /// benchmarks comparing guest builds by the wasm instructions they
    /// execute, a count the machine's load cannot move.
    pub fn fuel_left(&self) -> Option<u64> {
        self.live.as_ref()?.fuel_left()
    }

    /// Whether an instance is kept for the next call (for tests).
    pub fn has_instance(&self) -> bool {
        self.live.is_some()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.release();
    }
}

/// One place among the instances kept between calls; given back on drop.
pub(super) struct ParkToken(Arc<Runtime>);

impl Drop for ParkToken {
    fn drop(&mut self) {
        self.0.parked.fetch_sub(1, Ordering::AcqRel);
        metrics::ADAPTER_INSTANCES_KEPT.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A place for one more instance kept between calls, if under the cap.
    fn try_park(self: &Arc<Self>) -> Option<ParkToken> {
        let cap = (self.cfg.max_instances as usize / 4).max(1);
        self.parked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| {
                metrics::ADAPTER_INSTANCES_KEPT.fetch_add(1, Ordering::Relaxed);
                ParkToken(self.clone())
            })
    }

    /// Instances kept between calls: in live sessions and warm pools.
    pub fn parked_instances(&self) -> usize {
        self.parked.load(Ordering::Acquire)
    }
}

/// One endpoint's instances kept between sessions (`instance_reuse`).
pub struct WarmPool {
    max_calls: u32,
    kept: Mutex<Vec<Kept>>,
}

struct Kept {
    live: Live,
    token: ParkToken,
    since: Instant,
}

impl WarmPool {
    /// A pool whose instances serve at most `max_calls` calls each.
    pub fn new(max_calls: u32) -> Arc<WarmPool> {
        Arc::new(WarmPool {
            max_calls,
            kept: Mutex::new(Vec::new()),
        })
    }

    /// The most recently kept instance of `adapter`; instances of other
    /// versions (left by a swap) are dropped on the way.
    fn take(&self, adapter: &LoadedAdapter) -> Option<(Live, ParkToken)> {
        let mut stale = Vec::new();
        let found = {
            let mut kept = self.kept.lock().unwrap();
            loop {
                match kept.pop() {
                    Some(k) if k.live.adapter_id() == adapter.id => break Some(k),
                    Some(k) => stale.push(k),
                    None => break None,
                }
            }
        };
        drop(stale); // outside the lock: dropping a store resets its memory
        found.map(|k| (k.live, k.token))
    }

    fn put(&self, live: Live, token: ParkToken) {
        if live.calls() >= self.max_calls {
            return;
        }
        self.kept.lock().unwrap().push(Kept {
            live,
            token,
            since: Instant::now(),
        });
    }

    /// Drop the instances kept unused for longer than `idle`; returns how
    /// many were dropped.
    pub fn trim(&self, idle: Duration) -> usize {
        let old: Vec<Kept> = {
            let mut kept = self.kept.lock().unwrap();
            // Newest last: the idle ones are a prefix.
            let n = kept.iter().take_while(|k| k.since.elapsed() > idle).count();
            kept.drain(..n).collect()
        };
        old.len()
    }

    /// Drop every kept instance (after a swap: they run the old version).
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.kept.lock().unwrap());
        drop(all);
    }

    /// Instances kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
