//! Adapters per language (issue 16): the same provider logic, the sim
//! reference provider as `handover-host new NAME --lang rust|python|js`
//! writes it, built as a Rust, a Python (componentize-py) and a TypeScript
//! (componentize-js) component, measured side by side in one process
//! through the real [`Runtime`]:
//!
//! - the component's size, its compile time (the first `Runtime::load`:
//!   cranelift, the compiled-component cache entry written, `describe`) and
//!   its load from that cache (what a restarted server does);
//! - per call, the median and p99 of each call timed on its own, for
//!   `describe`, a sim webhook's `route-webhook` and `handle-webhook`, and
//!   that webhook's two calls together: with a fresh instance per call
//!   (`Runtime::invoke`, the default), on one instance kept across all the
//!   calls (a long-lived [`Session`], as `instance_reuse` gives an
//!   endpoint), and for the webhook also with one `Session` per webhook
//!   (what the engine does with a webhook's two calls);
//! - each language's median (and p99) as a multiple of Rust's.
//!
//! The languages take turns in rounds, so all three see the same machine
//! load. Nothing here asserts a time.
//!
//! Run: `scripts/bench-languages` (makes and builds the three projects), or
//! `cargo run --release -p handover-host --example languages -- RUST.wasm PYTHON.wasm JS.wasm`.

mod bench_common;

use bench_common::{machine, percentile};
use handover_host::model::{CallContext, HttpRequest};
use handover_host::runtime::{
    Call, CallEnv, CallOutput, LoadedAdapter, Runtime, RuntimeConfig, Session,
};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LANGS: [&str; 3] = ["Rust", "Python", "JS"];
/// The settings every generated project accepts (no call here does I/O).
const SETTINGS: &str = r#"{"base_url":"http://127.0.0.1:9"}"#;
/// Rounds the languages take turns in; per round and language a case runs
/// for at most `ROUND_TIME` or `ROUND_UNITS` units (one unit: the case's
/// calls once).
const ROUNDS: usize = 4;
const ROUND_TIME: Duration = Duration::from_secs(1);
const ROUND_UNITS: usize = 5_000;

/// A sim `agent_message` webhook (seq 2 of conversation c-1;
/// adapters/sim/PROTOCOL.md). The host checks the signature, not the adapter.
fn webhook() -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/webhooks/support".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"event_id":"e-2","conversation_id":"c-1","seq":2,"type":"agent_message","agent":{"id":"a1","name":"Ann"},"text":"hello"}"#.to_vec(),
    }
}

/// The state each project's `start` leaves for conversation c-1 (the
/// TypeScript template names the field `conversationId`).
fn state(lang: &str) -> Vec<u8> {
    let id = if lang == "JS" {
        "conversationId"
    } else {
        "conversation_id"
    };
    format!(r#"{{"{id}":"c-1","extra":{{"last_seq":1}}}}"#).into_bytes()
}

fn route() -> Call {
    Call::RouteWebhook(SETTINGS.into(), webhook())
}

fn handle(lang: &str) -> Call {
    let cx = CallContext {
        handover_id: "h-1".into(),
        settings: SETTINGS.into(),
    };
    Call::HandleWebhook(cx, state(lang), webhook())
}

/// Where a unit's calls get their instance.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// A fresh instance for every call (`Runtime::invoke`).
    Fresh,
    /// A new `Session` per unit: its calls share one instance.
    SessionPerUnit,
    /// One `Session` across every unit: the instance is kept.
    Kept,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Fresh => "fresh per call",
            Mode::SessionPerUnit => "one session per webhook",
            Mode::Kept => "kept (reused)",
        }
    }
}

/// What is measured: a name, the instance mode and the calls of one unit.
struct Case {
    name: &'static str,
    mode: Mode,
    calls: fn(&str) -> Vec<Call>,
}

fn cases() -> Vec<Case> {
    fn describe(_: &str) -> Vec<Call> {
        vec![Call::Describe]
    }
    fn route_only(_: &str) -> Vec<Call> {
        vec![route()]
    }
    fn handle_only(lang: &str) -> Vec<Call> {
        vec![handle(lang)]
    }
    fn both(lang: &str) -> Vec<Call> {
        vec![route(), handle(lang)]
    }
    let mut v = vec![];
    for mode in [Mode::Fresh, Mode::Kept] {
        v.push(Case {
            name: "describe",
            mode,
            calls: describe,
        });
        v.push(Case {
            name: "route-webhook",
            mode,
            calls: route_only,
        });
        v.push(Case {
            name: "handle-webhook",
            mode,
            calls: handle_only,
        });
    }
    for mode in [Mode::Fresh, Mode::SessionPerUnit, Mode::Kept] {
        v.push(Case {
            name: "webhook (route + handle)",
            mode,
            calls: both,
        });
    }
    v
}

/// One language's component, loaded.
struct Lang {
    name: &'static str,
    adapter: Arc<LoadedAdapter>,
    size: usize,
    compile: Duration,
    cached: Duration,
}

/// Runs a unit's calls on a fresh instance each, or in `session`.
async fn unit(runtime: &Arc<Runtime>, lang: &Lang, session: Option<&mut Session>, calls: &[Call]) {
    let env = CallEnv::describe();
    match session {
        None => {
            for call in calls {
                let out = runtime.invoke(&lang.adapter, &env, call.clone()).await;
                black_box(out.expect("the call succeeds"));
            }
        }
        Some(s) => {
            for call in calls {
                black_box(s.call(call.clone()).await.expect("the call succeeds"));
            }
        }
    }
}

/// Each unit of `case` timed on its own, per language: µs samples.
async fn measure(runtime: &Arc<Runtime>, langs: &[Lang], case: &Case) -> Vec<Vec<f64>> {
    let calls: Vec<Vec<Call>> = langs.iter().map(|l| (case.calls)(l.name)).collect();
    let session = |l: &Lang| Session::new(runtime.clone(), l.adapter.clone(), CallEnv::describe());
    let mut kept: Vec<Session> = langs.iter().map(session).collect();
    let mut samples = vec![vec![]; langs.len()];
    for round in 0..=ROUNDS {
        for (i, lang) in langs.iter().enumerate() {
            // Round 0 warms up (and gives `Kept` its instance).
            let (time, units) = if round == 0 {
                (ROUND_TIME / 4, ROUND_UNITS / 10)
            } else {
                (ROUND_TIME, ROUND_UNITS)
            };
            let started = Instant::now();
            for _ in 0..units {
                let t = Instant::now();
                match case.mode {
                    Mode::Fresh => unit(runtime, lang, None, &calls[i]).await,
                    Mode::SessionPerUnit => {
                        unit(runtime, lang, Some(&mut session(lang)), &calls[i]).await
                    }
                    Mode::Kept => unit(runtime, lang, Some(&mut kept[i]), &calls[i]).await,
                }
                if round > 0 {
                    samples[i].push(t.elapsed().as_secs_f64() * 1e6);
                }
                if started.elapsed() > time {
                    break;
                }
            }
        }
    }
    if case.mode == Mode::Kept {
        assert!(kept.iter().all(Session::has_instance), "instances kept");
    }
    samples
}

/// The calls answer as the sim provider should, in every language.
async fn check(runtime: &Arc<Runtime>, lang: &Lang) {
    let env = CallEnv::describe();
    let routed = runtime.invoke(&lang.adapter, &env, route()).await;
    match routed {
        Ok(CallOutput::Route(r)) => assert_eq!(
            (r.delivery_id.as_deref(), r.correlation_keys.as_slice()),
            (Some("e-2"), ["c-1".to_string()].as_slice()),
            "{}: route-webhook",
            lang.name
        ),
        other => panic!("{}: route-webhook: {other:?}", lang.name),
    }
    match runtime.invoke(&lang.adapter, &env, handle(lang.name)).await {
        Ok(CallOutput::Step(step)) => assert_eq!(step.events.len(), 1, "{}", lang.name),
        other => panic!("{}: handle-webhook: {other:?}", lang.name),
    }
}

/// Loads `path` twice: compiled (writing the cache), then from the cache.
async fn load(runtime: &Arc<Runtime>, name: &'static str, path: &str) -> Lang {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let t = Instant::now();
    let first = runtime.load(&bytes).await;
    let compile = t.elapsed();
    let first = first.unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(first.wrote_cache_entry, "{path}: compiled, not cached");
    let t = Instant::now();
    let adapter = runtime.load(&bytes).await.expect("loads from the cache");
    let cached = t.elapsed();
    Lang {
        name,
        adapter,
        size: bytes.len(),
        compile,
        cached,
    }
}

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.len() != 3 {
        eprintln!("usage: languages RUST.wasm PYTHON.wasm JS.wasm");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().join("components")),
        ..Default::default()
    })
    .unwrap();
    println!("machine: {}", machine());
    rt.block_on(async {
        let mut langs = vec![];
        for (name, path) in LANGS.into_iter().zip(&paths) {
            let lang = load(&runtime, name, path).await;
            check(&runtime, &lang).await;
            langs.push(lang);
        }

        println!("\n| | {} |", LANGS.join(" | "));
        println!("|---|---:|---:|---:|");
        let row = |what: &str, f: &dyn Fn(&Lang) -> f64, unit: &str| {
            let rust = f(&langs[0]);
            let cells: Vec<String> = langs
                .iter()
                .map(|l| match l.name {
                    "Rust" => format!("{:.1} {unit}", f(l)),
                    _ => format!("{:.1} {unit} (×{:.1})", f(l), f(l) / rust),
                })
                .collect();
            println!("| {what} | {} |", cells.join(" | "));
        };
        row("component size", &|l| l.size as f64 / 1e6, "MB");
        row("compile (first load)", &|l| l.compile.as_secs_f64(), "s");
        row("load from the cache", &|l| l.cached.as_secs_f64() * 1e3, "ms");

        println!(
            "\nper call, µs (each timed alone; × = multiple of Rust's):\n\n\
             | call | instance | Rust p50 | Rust p99 | Python p50 | Python p99 | Python × (p50 / p99) | JS p50 | JS p99 | JS × (p50 / p99) | samples |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for case in cases() {
            let mut samples = measure(&runtime, &langs, &case).await;
            let p: Vec<[f64; 2]> = samples
                .iter_mut()
                .map(|s| [percentile(s, 0.5), percentile(s, 0.99)])
                .collect();
            let mut cells = format!("{:.1} | {:.1}", p[0][0], p[0][1]);
            for q in &p[1..] {
                let ratio = format!("{:.1} / {:.1}", q[0] / p[0][0], q[1] / p[0][1]);
                cells += &format!(" | {:.1} | {:.1} | {ratio}", q[0], q[1]);
            }
            let n: Vec<String> = samples.iter().map(|s| s.len().to_string()).collect();
            println!(
                "| {} | {} | {cells} | {} |",
                case.name,
                case.mode.label(),
                n.join("/")
            );
        }
    });
    println!("\nafter: {}", machine());
}
