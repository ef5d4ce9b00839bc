//! One adapter call: a fresh store and instance (or a [`Session`]'s), limits
//! armed, export invoked, outcome mapped to the product's failure model.
//!
//! For [`Runtime::invoke`] the store (and the instance in it) is dropped when
//! the call returns, so nothing survives between calls; a session keeps it
//! for the calls about one webhook request only. This module must turn every
//! guest misbehaviour into a `Failure`, never reuse an instance after one
//! (trap, deadline, denial), and never panic on guest output.
//!
//! [`Session`]: super::Session

use super::clock::CallClock;
use super::egress::{CallLabels, EgressConfig, EgressHooks, EgressPolicy, Resolver};
use super::state::{CallState, Limiter, LogSink};
use super::{Limits, LoadedAdapter, Runtime};
use handover_core::model::{self as m, Failure};
use handover_metrics as metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap, UpdateDeadline};

/// An export call with its arguments.
#[derive(Debug, Clone)]
pub enum Call {
    Describe,
    ValidateSettings(String),
    Start(m::CallContext, m::Conversation),
    UserMessage(m::CallContext, Vec<u8>, m::UserInput),
    Cancel(m::CallContext, Vec<u8>),
    Close(m::CallContext, Vec<u8>),
    CheckAvailability(m::CallContext),
    /// Contract 0.2.0 and later; a 0.1.0 adapter answers `unsupported`
    /// without being run.
    UserTyping(m::CallContext, Vec<u8>, bool),
    RouteWebhook(String, m::HttpRequest),
    HandleWebhook(m::CallContext, Vec<u8>, m::HttpRequest),
    Poll(m::CallContext, Vec<u8>),
}

impl Call {
    pub fn export_name(&self) -> &'static str {
        match self {
            Call::Describe => "describe",
            Call::ValidateSettings(_) => "validate-settings",
            Call::Start(..) => "start",
            Call::UserMessage(..) => "user-message",
            Call::Cancel(..) => "cancel",
            Call::Close(..) => "close",
            Call::CheckAvailability(_) => "check-availability",
            Call::UserTyping(..) => "user-typing",
            Call::RouteWebhook(..) => "route-webhook",
            Call::HandleWebhook(..) => "handle-webhook",
            Call::Poll(..) => "poll",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallOutput {
    Info(Box<m::AdapterInfo>),
    Unit,
    Step(m::Step),
    Availability(m::Availability),
    Route(m::WebhookRoute),
}

/// Everything a call runs under: limits, egress, labels.
#[derive(Clone)]
pub struct CallEnv {
    pub limits: Limits,
    pub policy: Arc<EgressPolicy>,
    pub resolver: Arc<Resolver>,
    pub labels: Arc<CallLabels>,
    /// Credentials added to matching requests (never visible to the guest).
    pub credentials: Option<Arc<super::egress::Credentials>>,
    /// The tenant's adapter-CPU budget; calls pause when it is spent.
    pub cpu: Option<Arc<crate::budget::CpuBudget>>,
    /// Told every call's time and verdict (a canary's per-version figures).
    pub observer: Option<Arc<dyn CallObserver>>,
    /// Given every call with its outcome and outgoing exchanges (recorded
    /// for replay).
    pub tap: Option<Arc<dyn CallTap>>,
    /// Replay: the call's requests are answered from this tape, never sent.
    pub tape: Option<Arc<super::egress::Tape>>,
}

/// Receives each call, its outcome and its recorded exchanges (on the
/// calling task, after the call: it must not block).
pub trait CallTap: Send + Sync {
    fn tapped(
        &self,
        call: &Call,
        outcome: &Result<CallOutput, m::Failure>,
        exchanges: Vec<super::egress::Exchange>,
    );
}

/// How a call ended, as a [`CallObserver`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallVerdict {
    Ok,
    /// The adapter returned its own failure.
    Failed,
    /// The host stopped the call: the cause (see [`m::Failure::stopped_by`]).
    Stopped(&'static str),
}

impl CallVerdict {
    pub fn of<T>(outcome: &Result<T, m::Failure>) -> Self {
        match outcome {
            Ok(_) => CallVerdict::Ok,
            Err(f) => f
                .stopped_by
                .map_or(CallVerdict::Failed, CallVerdict::Stopped),
        }
    }
}

/// Receives each call's export, wall time and verdict. Called on the
/// calling task after the call: it must not block.
pub trait CallObserver: Send + Sync {
    fn observe(&self, export: &'static str, elapsed: Duration, verdict: CallVerdict);
}

impl CallEnv {
    /// For `describe` and `inspect`: default limits, no egress at all.
    pub fn describe() -> Self {
        CallEnv {
            limits: Limits::default(),
            policy: Arc::new(EgressPolicy::default()),
            resolver: Arc::default(),
            labels: Arc::new(CallLabels {
                tenant: "-".into(),
                endpoint: "-".into(),
                adapter: "-".into(),
            }),
            credentials: None,
            cpu: None,
            observer: None,
            tap: None,
            tape: None,
        }
    }
}

/// Why a call failed on the host side; becomes a `Failure { reason: error }`.
fn cause_of(err: &wasmtime::Error, state: &CallState, limits: &Limits) -> (&'static str, String) {
    if let Some(desired) = state.limiter.memory_exceeded {
        return (
            "memory",
            format!(
                "memory limit exceeded: the adapter tried to grow linear memory to {desired} bytes; the limit is {} MiB",
                limits.memory_bytes >> 20
            ),
        );
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => state.clock.interrupted(limits),
        Some(Trap::OutOfFuel) => (
            "fuel",
            format!("fuel limit exhausted ({} units)", limits.fuel.unwrap_or(0)),
        ),
        Some(Trap::StackOverflow) => (
            "stack",
            "stack overflow: the adapter recursed too deeply".to_string(),
        ),
        Some(Trap::UnreachableCodeReached) => {
            let stderr = state.stderr_text();
            let detail = if stderr.is_empty() {
                "no message".to_string()
            } else {
                stderr
            };
            (
                "panic",
                format!("adapter panicked (trap: unreachable): {detail}"),
            )
        }
        Some(t) => ("trap", format!("adapter trapped: {t}")),
        // The pooling allocator's typed error: every slot of some kind
        // (instances, memories, tables, stacks) is in use.
        None if err.is::<wasmtime::PoolConcurrencyLimitError>() => {
            ("capacity", format!("host at capacity: {err:#}"))
        }
        None => ("trap", format!("adapter trapped: {err:#}")),
    }
}

pub(super) fn fail(cause: &'static str, export: &str, message: String) -> Failure {
    metrics::ADAPTER_TRAPS.inc(&[cause]);
    Failure {
        stopped_by: Some(cause),
        ..Failure::error(format!("adapter `{export}` call failed: {message}"))
    }
}

/// A store with (once instantiated) the adapter's instance in it: one call's,
/// or kept by a [`Session`](super::Session) for its next call.
pub(super) struct Live {
    store: Store<CallState>,
    instance: Option<Instance>,
    /// The `LoadedAdapter::id` whose component `instance` comes from: the
    /// only one whose exports may be called on it.
    adapter: u64,
    /// Calls run on `instance` so far.
    calls: u32,
}

impl Live {
    /// Fuel the store has left (`None` unless the runtime counts fuel).
    pub(super) fn fuel_left(&self) -> Option<u64> {
        self.store.get_fuel().ok()
    }

    /// Calls run on this instance so far.
    pub(super) fn calls(&self) -> u32 {
        self.calls
    }

    /// The `LoadedAdapter::id` this store's instance belongs to.
    pub(super) fn adapter_id(&self) -> u64 {
        self.adapter
    }
}

impl Runtime {
    /// Run one export on a fresh instance of `adapter`.
    pub async fn invoke(
        &self,
        adapter: &LoadedAdapter,
        env: &CallEnv,
        call: Call,
    ) -> Result<CallOutput, Failure> {
        self.run_call(adapter, env, &mut None, call).await
    }

    /// A store for calls of `adapter` under `env`, with nothing in it yet.
    fn new_live(&self, env: &CallEnv, adapter: u64) -> Live {
        let limits = &env.limits;
        let hooks = EgressHooks::new(EgressConfig {
            policy: env.policy.clone(),
            resolver: env.resolver.clone(),
            labels: env.labels.clone(),
            timeout: limits.egress_timeout,
            max_response_bytes: limits.egress_max_response_bytes,
            max_requests: limits.egress_max_requests,
            credentials: env.credentials.clone(),
        });
        let state = CallState::new(
            hooks,
            Limiter {
                memory_bytes: limits.memory_bytes,
                memory_exceeded: None,
            },
            LogSink::new(
                env.labels.clone(),
                limits.max_log_lines,
                limits.max_log_bytes,
            ),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let cpu = env.cpu.clone();
        let tick = self.cfg.epoch_tick;
        store.epoch_deadline_callback(move |mut ctx| {
            // The callback runs once per tick in which the guest executed
            // (see `clock`): one tick of execution for the call's budget
            // and of CPU for the tenant's.
            let clock = &mut ctx.data_mut().clock;
            if clock.tick(Instant::now(), tick).is_some() {
                return Ok(UpdateDeadline::Interrupt);
            }
            let deadline = clock.deadline;
            // Over the tenant's CPU budget, the guest pauses (other
            // tenants' work is not affected).
            match cpu.as_ref().map(|c| c.charge(tick)) {
                Some(pause) if !pause.is_zero() => {
                    let pause = pause.min(deadline.saturating_duration_since(Instant::now()));
                    Ok(UpdateDeadline::YieldCustom(
                        1,
                        Box::pin(tokio::time::sleep(pause)),
                    ))
                }
                // tokio's own yield: the task goes to the back of the queue
                // (a plain self-wake could take the LIFO slot and starve
                // other tenants' tasks on this worker).
                _ => Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                )),
            }
        });
        Live {
            store,
            instance: None,
            adapter,
            calls: 0,
        }
    }

    /// Run one export under `env`'s limits, on `live`'s instance if there
    /// is one, else on a fresh one left in `live`. Anything that may have
    /// left the instance in a bad state (a trap, a deadline, an egress
    /// denial) empties `live`, so the next call starts afresh.
    pub(super) async fn run_call(
        &self,
        adapter: &LoadedAdapter,
        env: &CallEnv,
        live: &mut Option<Live>,
        call: Call,
    ) -> Result<CallOutput, Failure> {
        let export = call.export_name();
        let started = Instant::now();
        // Recorded (a tap) or replayed (a tape): the call runs on a tape.
        let tapped = env.tap.as_ref().map(|t| (t.clone(), call.clone()));
        let tape = match (&env.tape, &tapped) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => Some(super::egress::Tape::recording()),
            (None, None) => None,
        };
        let limits = &env.limits;
        #[cfg(feature = "bench-native")]
        if adapter.native
            && let Some(outcome) = super::native::invoke(&call, limits)
        {
            count_call(env, export, started, &outcome);
            return outcome;
        }
        // An instance only ever runs the component it came from (its export
        // indices and checked types are that component's).
        if live.as_ref().is_some_and(|l| l.adapter != adapter.id) {
            *live = None;
        }
        let l = live.get_or_insert_with(|| self.new_live(env, adapter.id));
        // A fresh instance is made first, under its own deadline (see
        // `clock`); the call's wall time starts when it is ready.
        let fresh = l.instance.is_none();
        let clock = if fresh {
            CallClock::instantiating(started, limits)
        } else {
            CallClock::new(started, limits)
        };
        l.store.data_mut().begin_call(clock);
        if self.cfg.fuel {
            let _ = l.store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        l.store.set_epoch_deadline(1);

        let run = async {
            let instance = match l.instance {
                Some(i) => i,
                None => {
                    metrics::ADAPTER_INSTANCES.inc();
                    let deadline = tokio::time::Instant::from_std(l.store.data().clock.deadline);
                    let made = adapter.pre.instantiate_async(&mut l.store);
                    let i = match tokio::time::timeout_at(deadline, made).await {
                        Ok(made) => made.map_err(Stopped::Guest)?,
                        Err(_) => return Err(Stopped::Instantiation),
                    };
                    l.store.data_mut().clock.begin_run(Instant::now(), limits);
                    *l.instance.insert(i)
                }
            };
            l.calls += 1;
            // The epoch callback stops a guest that executes; the timeout
            // stops one blocked in host I/O at the same wall deadline.
            let deadline = tokio::time::Instant::from_std(l.store.data().clock.deadline);
            let export = super::dispatch::run_export(
                &adapter.exports,
                instance,
                &mut l.store,
                call,
                limits,
                export,
            );
            match tokio::time::timeout_at(deadline + Duration::from_millis(20), export).await {
                Ok(r) => r.map_err(Stopped::Guest),
                Err(_) => Err(Stopped::Io),
            }
        };
        // `Ok(_)`: the guest returned (a value or its own failure); `Err`:
        // the host's verdict (trap, deadline), after which the instance is
        // not used again.
        let ran = match &tape {
            Some(t) => t.scope(run).await,
            None => run.await,
        };
        let outcome = match ran {
            Ok(r) => Ok(r),
            Err(Stopped::Guest(e)) => {
                let (cause, msg) = cause_of(&e, l.store.data(), limits);
                Err(fail(cause, export, msg))
            }
            Err(Stopped::Io) => {
                let clock = &l.store.data().clock;
                let msg = clock.wall_exceeded(limits, " (waiting on I/O)");
                Err(fail("deadline", export, msg))
            }
            Err(Stopped::Instantiation) => Err(fail(
                "deadline",
                export,
                format!(
                    "instantiating the adapter took longer than {:?} (host work, not the adapter's run)",
                    super::clock::INSTANTIATE_WALL
                ),
            )),
        };
        l.store.data().log.finish();
        let denied = l.store.data().first_denial();
        let outcome = match (outcome, denied) {
            (Ok(r), None) => r,
            (Err(f), None) => {
                *live = None;
                Err(f)
            }
            (_, Some(d)) => {
                *live = None;
                Err(fail("egress_denied", export, d.to_string()))
            }
        };
        count_call(env, export, started, &outcome);
        if let (Some((tap, call)), Some(tape)) = (tapped, &tape) {
            tap.tapped(&call, &outcome, tape.exchanges());
        }
        outcome
    }
}

/// Why a call stopped before the guest returned.
enum Stopped {
    /// A trap or host error while instantiating or running the guest.
    Guest(wasmtime::Error),
    /// The wall deadline passed while the guest waited on host I/O.
    Io,
    /// Instantiation outran [`super::clock::INSTANTIATE_WALL`].
    Instantiation,
}

/// The call's latency and outcome in the metrics, labelled by endpoint and
/// adapter version.
fn count_call(
    env: &CallEnv,
    export: &'static str,
    started: Instant,
    outcome: &Result<CallOutput, Failure>,
) {
    let (endpoint, adapter) = (env.labels.endpoint.as_str(), env.labels.adapter.as_str());
    let elapsed = started.elapsed();
    metrics::ADAPTER_CALL_LATENCY.observe(&[endpoint, adapter], elapsed);
    if let Some(o) = &env.observer {
        o.observe(export, elapsed, CallVerdict::of(outcome));
    }
    let outcome = if outcome.is_ok() { "ok" } else { "failure" };
    metrics::ADAPTER_CALLS.inc(&[endpoint, adapter, export, outcome]);
}
