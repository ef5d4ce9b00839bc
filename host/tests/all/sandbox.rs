//! Containment of hostile adapters, each a real compiled component run by the
//! real runtime: the call fails with reason `error`, the message names the
//! cause, and the host keeps serving (a well-behaved adapter still works
//! afterwards, and memory returns to its baseline).

use crate::harness::wasm::*;
use handover_host::model::{Failure, FailureReason, UserInput};
use handover_host::runtime::{
    Call, CallOutput, Limits, LoadedAdapter, MemorySlots, Runtime, RuntimeConfig,
};
use std::time::{Duration, Instant};

/// Run `start` of fixture `name` and return the failure message.
/// `start` of fixture `name` under default limits fails with a message that
/// contains every phrase.
async fn start_fails_with(name: &str, phrases: &[&str]) -> String {
    let msg = start_fails(name, Limits::default()).await;
    for p in phrases {
        assert!(msg.contains(p), "missing {p:?}: {msg}");
    }
    msg
}

/// `start` of `adapter` under `limits`, with no egress allowed.
async fn start(
    rt: &Runtime,
    adapter: &LoadedAdapter,
    limits: Limits,
) -> Result<CallOutput, Failure> {
    let call = Call::Start(ctx("{}"), conversation());
    rt.invoke(adapter, &env(limits, &[], &[]), call).await
}

async fn start_fails(name: &str, limits: Limits) -> String {
    let rt = runtime();
    let a = load(&rt, name).await;
    let f = start(&rt, &a, limits).await.unwrap_err();
    assert_eq!(f.reason, FailureReason::Error, "{f}");
    // The host still serves: another adapter on the same runtime works.
    let echo = load(&rt, "echo").await;
    let out = start(&rt, &echo, Limits::default()).await;
    assert!(
        matches!(out, Ok(CallOutput::Step(_))),
        "echo after {name}: {out:?}"
    );
    f.message
}

#[tokio::test]
pub(crate) async fn infinite_loop_hits_the_wall_time_limit() {
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Default::default()
    };
    let t = Instant::now();
    let msg = start_fails("loop", limits).await;
    assert!(msg.contains("wall-time limit exceeded"), "{msg}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the loop was not interrupted promptly"
    );
}

#[tokio::test]
pub(crate) async fn memory_bomb_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Default::default()
    };
    let msg = start_fails("membomb", limits).await;
    assert!(msg.contains("memory limit exceeded"), "{msg}");
    assert!(msg.contains("16 MiB"), "{msg}");
}

/// Guest code runs without bounds checks here (4 GiB memory slots, see
/// `runtime::MemorySlots`): a read just past the end of the memory and one
/// near the top of the 32-bit space both trap on the slot's inaccessible
/// pages, never read another memory (the fixture panics, naming what it
/// read, if a read returns).
#[tokio::test]
pub(crate) async fn reads_past_the_end_of_memory_trap() {
    let rt = runtime();
    assert_eq!(rt.memory_slots(), MemorySlots::Unchecked);
    let oob = load(&rt, "oob").await;
    let input = UserInput {
        id: String::new(),
        kind: Default::default(),
        text: "hi".into(),
        attachments: vec![],
    };
    let calls = [
        Call::Start(ctx("{}"), conversation()),
        Call::UserMessage(ctx("{}"), vec![], input),
    ];
    for call in calls {
        let export = call.export_name();
        let f = rt
            .invoke(&oob, &env(Limits::default(), &[], &[]), call)
            .await
            .unwrap_err();
        assert_eq!(f.stopped_by, Some("trap"), "{export}: {f}");
        assert!(
            f.message.contains("out of bounds memory access"),
            "{export}: {f}"
        );
    }
}

/// A runtime may grant an endpoint the whole 4 GiB a 32-bit memory can
/// address (the memory slots are that large); with the 1 GiB slots used
/// before, such a runtime could not be built at all.
#[tokio::test]
async fn a_runtime_may_grant_the_whole_32_bit_memory() {
    let rt = Runtime::new(RuntimeConfig {
        max_instances: 4,
        max_memory_mib: handover_host::runtime::limits::MAX_MEMORY_MIB,
        ..Default::default()
    })
    .expect("a runtime granting 4 GiB");
    assert_eq!(rt.memory_slots(), MemorySlots::Unchecked);
    let echo = load(&rt, "echo").await;
    let limits = Limits {
        memory_bytes: 4 << 30,
        ..Default::default()
    };
    let out = start(&rt, &echo, limits).await;
    assert!(matches!(out, Ok(CallOutput::Step(_))), "{out:?}");
}

#[tokio::test]
pub(crate) async fn unbounded_recursion_is_a_stack_overflow() {
    start_fails_with("recursion", &["stack overflow"]).await;
}

#[tokio::test]
async fn panic_is_reported_with_its_message() {
    // "fixture panic": the guest's panic message, captured from its stderr.
    start_fails_with("panic", &["panicked", "fixture panic"]).await;
}

#[tokio::test]
pub(crate) async fn oversized_state_is_refused() {
    start_fails_with("big-state", &["oversized output", "provider state"]).await;
}

#[tokio::test]
pub(crate) async fn oversized_event_list_is_refused() {
    start_fails_with("many-events", &["oversized output", "events"]).await;
}

/// `start` of `big-events` with `settings` under default limits: its
/// failure message, or `None` if the call succeeded.
async fn big_events(settings: &str) -> Option<String> {
    let rt = runtime();
    let a = load(&rt, "big-events").await;
    let out = rt
        .invoke(
            &a,
            &env(Limits::default(), &[], &[]),
            Call::Start(ctx(settings), conversation()),
        )
        .await;
    match out {
        Ok(CallOutput::Step(step)) => {
            assert!(!step.events.is_empty(), "{settings}: no events");
            None
        }
        Ok(other) => panic!("{settings}: {other:?}"),
        Err(f) => {
            assert_eq!(f.reason, FailureReason::Error, "{f}");
            Some(f.message)
        }
    }
}

#[tokio::test]
pub(crate) async fn oversized_events_are_refused() {
    // One event of 300 KB: over 128 KiB per event.
    let one = big_events(r#"{"count": 1, "bytes": 300000}"#)
        .await
        .unwrap();
    assert!(
        one.contains("oversized output") && one.contains("per event") && one.contains("300000"),
        "{one}"
    );
    // 100 events of 20 KB: each allowed, together over 1 MiB per call.
    let many = big_events(r#"{"count": 100, "bytes": 20000}"#)
        .await
        .unwrap();
    assert!(
        many.contains("per call") && many.contains("2000000"),
        "{many}"
    );
    // Just under both limits passes.
    assert_eq!(big_events(r#"{"count": 8, "bytes": 131072}"#).await, None);
}

/// An adapter's log text (message, field key and value) cannot start a line
/// of its own in the host's log or carry terminal escapes (before: the
/// message and keys were written as given).
#[tokio::test]
async fn adapter_log_text_cannot_forge_log_lines() {
    let rt = runtime();
    let a = load(&rt, "log-flood").await;
    let forge = "ok\n2026-12-03T00:00:00.000000Z ERROR handover_engine: FORGED\r\u{1b}[2K";
    let settings = serde_json::json!({ "forge": forge }).to_string();
    let logs = LogCapture::start();
    let out = rt
        .invoke(
            &a,
            &env(Limits::default(), &[], &[]),
            Call::Start(ctx(&settings), conversation()),
        )
        .await;
    assert!(matches!(out, Ok(CallOutput::Step(_))), "{out:?}");
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains(" adapter:") && l.contains("FORGED"))
        .unwrap_or_else(|| panic!("the adapter's line is missing:\n{text}"));
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("2026-12-03T00:00:00.000000Z")),
        "a forged line:\n{text}"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert_eq!(line.matches("\\n2026-12-03").count(), 3, "{line}");
}

#[tokio::test]
pub(crate) async fn log_flood_is_truncated_and_counted() {
    let rt = runtime();
    let a = load(&rt, "log-flood").await;
    // 100 000 host calls in a debug build on a loaded machine can take more
    // than the default 5 s: this test is about the cap, not the speed (the
    // noisy-neighbour benchmark runs the same fixture in a release build).
    let limits = Limits {
        max_log_lines: 10,
        wall_time: Duration::from_secs(120),
        ..Default::default()
    };
    let logs = LogCapture::start();
    let out = start(&rt, &a, limits).await;
    // The flood itself is not an error: the lines beyond the cap are dropped.
    assert!(matches!(out, Ok(CallOutput::Step(_))), "{out:?}");
    let text = logs.text();
    let kept = text
        .lines()
        .filter(|l| {
            l.contains(" adapter:") && l.contains("endpoint=ep1") && !l.contains("truncated")
        })
        .count();
    assert_eq!(
        kept,
        10,
        "exactly the capped number of lines is kept:\n{}",
        &text[..text.len().min(3000)]
    );
    assert!(
        text.contains("adapter log truncated") && text.contains("dropped_lines=99990"),
        "{}",
        &text[text.len().saturating_sub(2000)..]
    );
}

#[tokio::test]
pub(crate) async fn file_and_environment_are_not_visible() {
    let rt = runtime();
    let a = load(&rt, "fs-env").await;
    let out = start(&rt, &a, Limits::default()).await.unwrap();
    let CallOutput::Step(step) = out else {
        panic!("{out:?}")
    };
    let seen: serde_json::Value = serde_json::from_slice(&step.state).unwrap();
    assert!(
        seen["file"].as_str().unwrap().starts_with("error:"),
        "file was readable: {seen}"
    );
    assert!(seen["home"].is_null(), "{seen}");
    assert_eq!(seen["env"].as_array().unwrap().len(), 0, "{seen}");
}

#[tokio::test]
async fn memory_returns_to_baseline_after_hostile_calls() {
    let rt = runtime();
    let bomb = load(&rt, "membomb").await;
    let limits = Limits {
        memory_bytes: 48 << 20,
        ..Default::default()
    };
    let e = env(limits, &[], &[]);
    // Warm up once so lazily mapped host structures exist.
    let _ = rt
        .invoke(&bomb, &e, Call::Start(ctx("{}"), conversation()))
        .await;
    let baseline = rss_bytes();
    for _ in 0..10 {
        let r = rt
            .invoke(&bomb, &e, Call::Start(ctx("{}"), conversation()))
            .await;
        assert!(r.is_err());
    }
    let after = rss_bytes();
    let grown = after.saturating_sub(baseline);
    // Ten bombs of 48 MiB each would be 480 MiB if memory were kept.
    assert!(grown < 40 << 20, "RSS grew by {} MiB", grown >> 20);
}

#[tokio::test]
async fn echo_serves_user_messages() {
    let rt = runtime();
    let a = load(&rt, "echo").await;
    let input = UserInput {
        id: String::new(),
        kind: Default::default(),
        text: "hi".into(),
        attachments: vec![],
    };
    let out = rt
        .invoke(
            &a,
            &env(Limits::default(), &[], &[]),
            Call::UserMessage(ctx("{}"), b"1.0.0".to_vec(), input),
        )
        .await
        .unwrap();
    let CallOutput::Step(step) = out else {
        panic!()
    };
    let expected = handover_host::model::ProviderEvent::AgentMessage {
        agent: None,
        text: "1.0.0:hi".into(),
        attachments: vec![],
        actions: vec![],
    };
    assert_eq!(step.events, vec![expected]);
    assert_eq!(step.state, b"1.0.0");
}
