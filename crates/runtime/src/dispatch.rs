//! Per-version dispatch of one export call: arguments converted to the
//! component's contract version, the typed export called, its result
//! checked against the call's limits and converted back to the model.
//!
//! Must never: call an export a version does not have (a 0.1.0 adapter's
//! `user-typing` is answered `unsupported` here, without running it), or
//! let an oversized or malformed result through (state, event count and
//! bytes, a hand-back whose variables are not a JSON object).

use super::call::{Call, CallOutput, fail};
use super::state::CallState;
use super::{Exports, Limits};
use crate::bindings::{v0_1_0, v0_2_0};
use handover_core::model::{self as m, Failure};
use wasmtime::Store;
use wasmtime::component::Instance;

/// Run `call` on `inst`, whose component exports `x`.
pub(super) async fn run_export(
    x: &Exports,
    inst: Instance,
    store: &mut Store<CallState>,
    call: Call,
    limits: &Limits,
    export: &str,
) -> wasmtime::Result<Result<CallOutput, Failure>> {
    match x {
        Exports::V0_1_0(x) => v0_1_0_run(x, inst, store, call, limits, export).await,
        Exports::V0_2_0(x) => v0_2_0_run(x, inst, store, call, limits, export).await,
    }
}

/// The size checks before converting a step (an oversized list is
/// refused, not copied).
fn check_counts(state: usize, events: usize, limits: &Limits, export: &str) -> Result<(), Failure> {
    if state > limits.max_state_bytes {
        return Err(fail(
            "oversized_state",
            export,
            format!(
                "oversized output: provider state of {state} bytes exceeds the limit of {} bytes",
                limits.max_state_bytes
            ),
        ));
    }
    if events > limits.max_events {
        return Err(fail(
            "oversized_events",
            export,
            format!(
                "oversized output: {events} events in one call exceed the limit of {}",
                limits.max_events
            ),
        ));
    }
    Ok(())
}

/// The checks of a converted step: bytes per event and per call, and each
/// event's own rules.
fn check_events(step: m::Step, limits: &Limits, export: &str) -> Result<m::Step, Failure> {
    let mut total = 0usize;
    for (i, event) in step.events.iter().enumerate() {
        let bytes = event.text_bytes();
        if bytes > limits.max_event_bytes {
            return Err(fail(
                "oversized_events",
                export,
                format!(
                    "oversized output: event {i} carries {bytes} bytes of text, over the \
                     limit of {} bytes per event (`max_event_kib`)",
                    limits.max_event_bytes
                ),
            ));
        }
        if let Err(why) = event.check() {
            return Err(fail(
                "bad_event",
                export,
                format!("event {i} is malformed: {why}"),
            ));
        }
        total = total.saturating_add(bytes);
    }
    if total > limits.max_call_event_bytes {
        return Err(fail(
            "oversized_events",
            export,
            format!(
                "oversized output: the call's {} events carry {total} bytes of text, over \
                 the limit of {} bytes per call (`max_call_events_kib`)",
                step.events.len(),
                limits.max_call_event_bytes
            ),
        ));
    }
    Ok(step)
}

fn too_many_keys(n: usize, limits: &Limits, export: &str) -> Option<Failure> {
    (n > limits.max_events).then(|| {
        fail(
            "oversized_events",
            export,
            format!(
                "oversized output: {n} correlation keys exceed the limit of {}",
                limits.max_events
            ),
        )
    })
}

/// One version's dispatch: `$v` is its bindings module, `$x` its exports
/// module; `$typing` is how it answers `Call::UserTyping` given the
/// exports, instance, store, arguments and the step mapper.
macro_rules! version_dispatch {
    ($name:ident, $v:ident, $x:path, |$ex:ident, $inst:ident, $s:ident, $c:ident, $st:ident, $on:ident, $step:ident| $typing:expr) => {
        async fn $name(
            x: &$x,
            inst: Instance,
            store: &mut Store<CallState>,
            call: Call,
            limits: &Limits,
            export: &str,
        ) -> wasmtime::Result<Result<CallOutput, Failure>> {
            use $v as v;
            let step = |r: Result<v::t::Step, v::t::Failure>| match r {
                Ok(s) => check_counts(s.state.len(), s.events.len(), limits, export)
                    .and_then(|()| check_events(v::step(s), limits, export))
                    .map(CallOutput::Step),
                Err(f) => Err(v::failure(f)),
            };
            let s = &mut *store;
            Ok(match call {
                Call::Describe => {
                    let (info,) = x.describe(&mut *s, &inst).call_async(s, ()).await?;
                    Ok(CallOutput::Info(Box::new(v::adapter_info(info))))
                }
                Call::ValidateSettings(settings) => {
                    let f = x.validate_settings(&mut *s, &inst);
                    let (r,) = f.call_async(s, (&settings,)).await?;
                    r.map(|()| CallOutput::Unit).map_err(v::failure)
                }
                Call::Start(c, conv) => {
                    let f = x.start(&mut *s, &inst);
                    let (c, conv) = (v::ctx(&c), v::conversation(&conv));
                    step(f.call_async(s, (&c, &conv)).await?.0)
                }
                Call::UserMessage(c, st, i) => {
                    let f = x.user_message(&mut *s, &inst);
                    let (c, i) = (v::ctx(&c), v::user_input(&i));
                    step(f.call_async(s, (&c, &st, &i)).await?.0)
                }
                Call::UserTyping($c, $st, $on) => {
                    let ($ex, $inst, $s, $step) = (x, inst, s, step);
                    $typing
                }
                Call::Cancel(c, st) => {
                    let f = x.cancel(&mut *s, &inst);
                    step(f.call_async(s, (&v::ctx(&c), &st)).await?.0)
                }
                Call::Close(c, st) => {
                    let f = x.close(&mut *s, &inst);
                    step(f.call_async(s, (&v::ctx(&c), &st)).await?.0)
                }
                Call::CheckAvailability(c) => {
                    let f = x.check_availability(&mut *s, &inst);
                    let (r,) = f.call_async(s, (&v::ctx(&c), &[])).await?;
                    r.map(|a| CallOutput::Availability(v::availability(a)))
                        .map_err(v::failure)
                }
                Call::RouteWebhook(settings, r) => {
                    let f = x.route_webhook(&mut *s, &inst);
                    let (route,) = f.call_async(s, (&settings, &v::http_request(r))).await?;
                    match route {
                        Ok(r) => match too_many_keys(r.correlation_keys.len(), limits, export) {
                            Some(f) => Err(f),
                            None => Ok(CallOutput::Route(v::webhook_route(r))),
                        },
                        Err(f) => Err(v::failure(f)),
                    }
                }
                Call::HandleWebhook(c, st, r) => {
                    let f = x.handle_webhook(&mut *s, &inst);
                    let req = v::http_request(r);
                    step(f.call_async(s, (&v::ctx(&c), &st, &req)).await?.0)
                }
                Call::Poll(c, st) => {
                    let f = x.poll(&mut *s, &inst);
                    step(f.call_async(s, (&v::ctx(&c), &st)).await?.0)
                }
            })
        }
    };
}

version_dispatch!(
    v0_1_0_run,
    v0_1_0,
    crate::bindings::v0_1_0_exports::Exports,
    |_x, _inst, _s, _c, _st, _on, _step| Err(Failure::unsupported(
        "contract 0.1.0 has no `user-typing`: the adapter was not told the user is typing"
    ))
);

version_dispatch!(
    v0_2_0_run,
    v0_2_0,
    crate::bindings::v0_2_0_exports::Exports,
    |x, inst, s, c, st, on, step| {
        let f = x.user_typing(&mut *s, &inst);
        step(f.call_async(s, (&v0_2_0::ctx(&c), &st, on)).await?.0)
    }
);
