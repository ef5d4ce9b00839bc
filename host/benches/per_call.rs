//! Per-call sandbox cost: a fresh instance from the adapter's `InstancePre`
//! (pooling allocator), one export call, and the store dropped, exactly as
//! `Runtime::invoke` does for every adapter call.
//!
//! Also a sim webhook's two calls (`route-webhook`, `handle-webhook`) on two
//! fresh instances against one `Session`, and the wasm instructions (fuel)
//! those calls execute, first on a fresh instance and then again on the
//! same one.
//!
//! Run: `cargo bench -p handover-host --bench per_call` (needs the fixtures
//! from `scripts/build-adapters.sh`). Besides criterion's estimates this
//! prints a per-call latency distribution (each call timed on its own) for
//! BENCHMARKS.md. Nothing here asserts a time.

use criterion::Criterion;
use handover_host::model::{CallContext, HttpRequest, UserInput};
use handover_host::runtime::{Call, CallEnv, LoadedAdapter, Runtime, RuntimeConfig, Session};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn adapter_bytes(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/adapters")
        .join(format!("{name}.wasm"));
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-adapters.sh first", p.display()))
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    runtime: Arc<Runtime>,
    echo: Arc<LoadedAdapter>,
    sim: Arc<LoadedAdapter>,
    env: CallEnv,
}

/// `keep_resident: false` is the pooling allocator's default reset (pages
/// returned to the kernel after each call), for the before/after ratio.
fn fixture(keep_resident: bool) -> Fixture {
    fixture_with(RuntimeConfig {
        keep_resident,
        ..Default::default()
    })
}

fn fixture_with(config: RuntimeConfig) -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(config).unwrap();
    let echo = rt.block_on(runtime.load(&adapter_bytes("echo"))).unwrap();
    let sim = rt.block_on(runtime.load(&adapter_bytes("sim"))).unwrap();
    Fixture {
        rt,
        runtime,
        echo,
        sim,
        env: CallEnv::describe(),
    }
}

/// The calls measured: (name, adapter, call).
fn cases(f: &Fixture) -> Vec<(&'static str, Arc<LoadedAdapter>, Call)> {
    let (ctx, webhook) = (call_context(), sim_webhook());
    vec![
        ("echo/describe", f.echo.clone(), Call::Describe),
        (
            "echo/user-message",
            f.echo.clone(),
            Call::UserMessage(
                ctx,
                b"1.0.0".to_vec(),
                UserInput {
                    id: String::new(),
                    kind: Default::default(),
                    text: "hi".into(),
                    attachments: vec![],
                },
            ),
        ),
        ("sim/describe", f.sim.clone(), Call::Describe),
        (
            "sim/route-webhook",
            f.sim.clone(),
            Call::RouteWebhook(SIM_SETTINGS.into(), webhook),
        ),
    ]
}

/// One sim webhook as the engine runs it: `route-webhook`, then
/// `handle-webhook` on the same request, each on a fresh instance
/// (`session: false`) or both in one [`Session`] (`true`).
async fn webhook(f: &Fixture, session: bool) {
    let (route, handle) = webhook_calls();
    if session {
        let mut s = Session::new(f.runtime.clone(), f.sim.clone(), f.env.clone());
        black_box(s.call(route).await.expect("route"));
        black_box(s.call(handle).await.expect("handle"));
    } else {
        black_box(
            f.runtime
                .invoke(&f.sim, &f.env, route)
                .await
                .expect("route"),
        );
        black_box(
            f.runtime
                .invoke(&f.sim, &f.env, handle)
                .await
                .expect("handle"),
        );
    }
}

/// The sim endpoint's settings (`base_url` is required; nothing is sent
/// there by the calls measured).
const SIM_SETTINGS: &str = r#"{"base_url":"http://127.0.0.1:9"}"#;

fn call_context() -> CallContext {
    CallContext {
        handover_id: "h-1".into(),
        settings: SIM_SETTINGS.into(),
    }
}

/// A sim `agent_message` webhook (seq 2 of conversation c-1).
fn sim_webhook() -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/webhooks/support".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"event_id":"e-1","conversation_id":"c-1","seq":2,"type":"agent_message","agent":{"id":"a1","name":"Ann"},"text":"hello"}"#.to_vec(),
    }
}

fn webhook_calls() -> (Call, Call) {
    let (ctx, req) = (call_context(), sim_webhook());
    let state = br#"{"conversation_id":"c-1","last_event_seq":1}"#.to_vec();
    (
        Call::RouteWebhook(SIM_SETTINGS.into(), req.clone()),
        Call::HandleWebhook(ctx, state, req),
    )
}

/// One benchmark per call of [`cases`], each a loop of that call on `f`.
fn per_call_group(c: &mut Criterion, group: &str, f: &Fixture) {
    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(4));
    for (name, adapter, call) in cases(f) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let out = f.runtime.invoke(&adapter, &f.env, call.clone()).await;
                        black_box(out.expect("the call succeeds"));
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion, f: &Fixture, default_reset: &Fixture) {
    let mut g = c.benchmark_group("webhook");
    g.measurement_time(Duration::from_secs(4));
    for (name, session) in [("two_instances", false), ("one_session", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        webhook(f, session).await;
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();

    per_call_group(c, "per_call", f);
    // The same calls with the pooling allocator's default reset.
    per_call_group(c, "per_call_default_reset", default_reset);

    // Pieces of a call's set-up, for finding where the time goes.
    let mut g = c.benchmark_group("per_call_parts");
    let engine = f.runtime.engine().clone();
    g.bench_function("store_new_drop", |b| {
        b.iter(|| drop(black_box(wasmtime::Store::new(&engine, ()))))
    });
    g.bench_function("wasi_ctx_build", |b| {
        b.iter(|| black_box(wasmtime_wasi::WasiCtx::builder().build()))
    });
    g.bench_function("memory_output_pipe", |b| {
        b.iter(|| black_box(wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(4096)))
    });
    g.finish();
}

/// p50, p90 and p99 of `times` in µs (sorts them).
fn percentiles_us(times: &mut [Duration]) -> [f64; 3] {
    times.sort();
    let n = times.len();
    [0.50, 0.90, 0.99].map(|q| times[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1e6)
}

/// Each call timed on its own: p50/p90/p99 for BENCHMARKS.md; returns the
/// p50s (µs).
fn distribution(label: &str, f: &Fixture) -> Vec<f64> {
    const N: usize = 20_000;
    let mut p50s = vec![];
    for (name, adapter, call) in cases(f) {
        let mut times = Vec::with_capacity(N);
        f.rt.block_on(async {
            for _ in 0..1000 {
                let _ = f.runtime.invoke(&adapter, &f.env, call.clone()).await;
            }
            for _ in 0..N {
                let call = call.clone();
                let t = Instant::now();
                let out = f.runtime.invoke(&adapter, &f.env, call).await;
                times.push(t.elapsed());
                black_box(out.expect("the call succeeds"));
            }
        });
        let [p50, p90, p99] = percentiles_us(&mut times);
        println!(
            "per-call [{label}] {name}: p50 {p50:.1} µs  p90 {p90:.1} µs  p99 {p99:.1} µs  (n={N}, each call timed alone)"
        );
        p50s.push(p50);
    }
    p50s
}

/// A sim webhook's two calls, fresh instances vs one session, interleaved
/// in rounds so both see the same machine load.
fn webhook_distribution(f: &Fixture) {
    const N: usize = 5_000;
    let mut times = [Vec::with_capacity(4 * N), Vec::with_capacity(4 * N)];
    f.rt.block_on(async {
        for round in 0..8 {
            for (i, session) in [false, true].into_iter().enumerate() {
                for _ in 0..N / 2 {
                    let t = Instant::now();
                    webhook(f, session).await;
                    if round > 0 {
                        times[i].push(t.elapsed());
                    }
                }
            }
        }
    });
    let mut p50 = [0.0; 2];
    for (i, name) in ["two fresh instances", "one session"].iter().enumerate() {
        let n = times[i].len();
        let [p50_i, p90, p99] = percentiles_us(&mut times[i]);
        println!(
            "webhook (route + handle) [{name}]: p50 {p50_i:.1} µs  p90 {p90:.1} µs  p99 {p99:.1} µs  (n={n})"
        );
        p50[i] = p50_i;
    }
    println!(
        "webhook: one session {:.2}x faster than two fresh instances (p50)",
        p50[0] / p50[1]
    );
}

/// Fuel each call of [`guest_instructions`] gets (far more than any needs).
const FUEL: u64 = 1 << 40;

/// The wasm instructions (fuel) a sim webhook's two calls execute on a
/// fresh instance, then a second webhook's on the same instance (as with
/// `instance_reuse`). Exact and repeatable whatever the machine's load: the
/// measure for comparing guest or SDK builds (run with another
/// `target/adapters/sim.wasm`), where timings cannot resolve a few percent.
fn guest_instructions() {
    let f = fixture_with(RuntimeConfig {
        fuel: true,
        ..Default::default()
    });
    let mut env = CallEnv::describe();
    env.limits.fuel = Some(FUEL);
    let used = f.rt.block_on(async {
        let mut s = Session::new(f.runtime.clone(), f.sim.clone(), env);
        let mut used = vec![];
        for _ in 0..2 {
            let (route, handle) = webhook_calls();
            for call in [route, handle] {
                black_box(s.call(call).await.expect("the call succeeds"));
                used.push(FUEL - s.fuel_left().expect("fuel is counted"));
            }
        }
        used
    });
    println!(
        "guest instructions (fuel) of a sim webhook: route {} + handle {} = {} on a fresh instance; \
         route {} + handle {} = {} on the same instance again",
        used[0],
        used[1],
        used[0] + used[1],
        used[2],
        used[3],
        used[2] + used[3]
    );
}

fn main() {
    guest_instructions();
    let f = fixture(true);
    let default_reset = fixture(false);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &f, &default_reset);
    c.final_summary();
    // `cargo test --benches` runs this file without `--bench`: do the quick
    // criterion pass only.
    if std::env::args().any(|a| a == "--bench") {
        webhook_distribution(&f);
        // Interleaved, so both sides see the same machine load.
        let before = distribution("default reset", &default_reset);
        let after = distribution("keep resident", &f);
        let before2 = distribution("default reset", &default_reset);
        let names = cases(&f).into_iter().map(|(n, ..)| n);
        for (i, name) in names.enumerate() {
            let b = (before[i] + before2[i]) / 2.0;
            println!(
                "per-call {name}: p50 {:.1} µs with keep-resident vs {b:.1} µs with the default reset ({:.2}x)",
                after[i],
                b / after[i]
            );
        }
    }
}
