//! Sessions (`runtime::Session`): the calls about one webhook request share
//! one instance, each under its own limits, and an instance the host failed
//! is never reused. Real compiled `counter` fixture: every call counts
//! itself in a guest global, so "1" means a fresh instance.

use crate::harness::wasm::*;
use handover_host::model::{ProviderEvent, UserInput};
use handover_host::runtime::{
    Call, CallEnv, CallOutput, Limits, LoadedAdapter, Runtime, RuntimeConfig, Session, WarmPool,
};
use std::sync::Arc;
use std::time::Duration;

fn start() -> Call {
    Call::Start(ctx("{}"), conversation())
}

fn say(text: &str) -> Call {
    Call::UserMessage(
        ctx("{}"),
        vec![],
        UserInput {
            id: String::new(),
            kind: Default::default(),
            text: text.into(),
            attachments: vec![],
        },
    )
}

/// The count a call reported: `start`'s state or `user-message`'s reply.
fn count(out: CallOutput) -> String {
    let CallOutput::Step(step) = out else {
        panic!("not a step: {out:?}")
    };
    match step.events.as_slice() {
        [] => String::from_utf8(step.state).unwrap(),
        [ProviderEvent::AgentMessage { text, .. }] => text.clone(),
        other => panic!("unexpected events {other:?}"),
    }
}

/// A runtime whose pool holds 8 instances, so a quarter of it is 2.
fn small_pool() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 8,
        ..Default::default()
    })
    .unwrap()
}

fn limits(wall_ms: u64) -> CallEnv {
    env(
        Limits {
            wall_time: Duration::from_millis(wall_ms),
            ..Default::default()
        },
        &[],
        &[],
    )
}

#[tokio::test]
async fn a_sessions_calls_share_one_instance_and_separate_calls_do_not() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let mut s = Session::new(rt.clone(), a.clone(), limits(1000));
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    assert!(s.has_instance());
    assert_eq!(count(s.call(say("hi")).await.unwrap()), "2");
    assert_eq!(rt.parked_instances(), 1);
    drop(s);
    assert_eq!(
        rt.parked_instances(),
        0,
        "dropping a session frees its slot"
    );
    for _ in 0..2 {
        let out = rt.invoke(&a, &limits(1000), start()).await.unwrap();
        assert_eq!(
            count(out),
            "1",
            "Runtime::invoke is one fresh instance per call"
        );
    }
    // A second session starts from a fresh instance, not the first one's.
    let mut s = Session::new(rt.clone(), a.clone(), limits(1000));
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    s.release();
    assert!(!s.has_instance());
    assert_eq!(
        count(s.call(start()).await.unwrap()),
        "1",
        "released: fresh"
    );
}

#[tokio::test]
async fn after_a_trap_the_next_call_gets_a_fresh_instance() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let mut s = Session::new(rt.clone(), a, limits(1000));
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    assert_eq!(count(s.call(say("stderr")).await.unwrap()), "2");
    let f = s.call(say("panic")).await.unwrap_err();
    assert!(f.message.contains("panicked"), "{f}");
    assert!(f.message.contains("asked to panic"), "{f}");
    assert!(
        !f.message.contains("noise"),
        "an earlier call's stderr leaked into this call's failure: {f}"
    );
    assert!(!s.has_instance(), "a trapped instance is dropped");
    assert_eq!(rt.parked_instances(), 0);
    assert_eq!(count(s.call(say("after")).await.unwrap()), "1");
}

#[tokio::test]
async fn each_call_of_a_session_gets_its_own_deadline() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let mut s = Session::new(rt.clone(), a, limits(300));
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    // Longer than one call's wall time in all: each call is timed alone.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(count(s.call(say("hi")).await.unwrap()), "2");
    let f = s.call(say("spin")).await.unwrap_err();
    assert!(f.message.contains("wall-time limit exceeded"), "{f}");
    assert!(!s.has_instance(), "an interrupted instance is dropped");
    assert_eq!(count(s.call(say("again")).await.unwrap()), "1");
}

#[tokio::test]
async fn kept_instances_are_capped_at_a_quarter_of_the_pool() {
    let rt = small_pool();
    let a = load(&rt, "counter").await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let mut s = Session::new(rt.clone(), a.clone(), limits(1000));
        s.call(start()).await.unwrap();
        sessions.push(s);
    }
    let kept: Vec<bool> = sessions.iter().map(Session::has_instance).collect();
    assert_eq!(kept, [true, true, false, false]);
    assert_eq!(rt.parked_instances(), 2);
    // Over the cap a session still works, one fresh instance per call.
    assert_eq!(count(sessions[3].call(say("x")).await.unwrap()), "1");
    sessions.truncate(1);
    assert_eq!(rt.parked_instances(), 1);
    let mut s = Session::new(rt.clone(), a, limits(1000));
    s.call(start()).await.unwrap();
    assert!(s.has_instance(), "a freed place is taken again");
}

// Warm pools (`instance_reuse`): an endpoint's instances kept between its
// sessions, each for at most N calls.

/// A session of `adapter` that takes from and gives back to `warm`.
fn warm_session(
    rt: &Arc<Runtime>,
    adapter: &Arc<LoadedAdapter>,
    warm: &Arc<WarmPool>,
    wall_ms: u64,
) -> Session {
    Session::reusing(
        rt.clone(),
        adapter.clone(),
        limits(wall_ms),
        Some(warm.clone()),
    )
}

#[tokio::test]
async fn warm_instances_serve_later_sessions_up_to_their_call_budget() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let warm = WarmPool::new(3);
    let session = || warm_session(&rt, &a, &warm, 1000);
    let mut s = session();
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    drop(s);
    assert_eq!(warm.len(), 1, "the instance waits in the pool");
    assert_eq!(rt.parked_instances(), 1, "and keeps its place");
    let mut s = session();
    assert_eq!(count(s.call(start()).await.unwrap()), "2", "reused");
    assert_eq!(warm.len(), 0, "taken out while in use");
    assert_eq!(count(s.call(say("hi")).await.unwrap()), "3");
    drop(s);
    assert_eq!(warm.len(), 0, "three calls served: not kept");
    assert_eq!(rt.parked_instances(), 0);
    let mut s = session();
    assert_eq!(count(s.call(start()).await.unwrap()), "1", "fresh again");
}

#[tokio::test]
async fn a_failed_instance_never_goes_back_to_the_warm_pool() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let warm = WarmPool::new(100);
    let session = || warm_session(&rt, &a, &warm, 300);
    let mut s = session();
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    assert!(s.call(say("panic")).await.is_err());
    drop(s);
    assert!(warm.is_empty(), "a trapped instance is not kept");
    let mut s = session();
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    assert!(s.call(say("spin")).await.is_err());
    drop(s);
    assert!(warm.is_empty(), "an interrupted instance is not kept");
    assert_eq!(rt.parked_instances(), 0);
}

#[tokio::test]
async fn warm_instances_stay_with_their_pool_and_version() {
    let rt = runtime();
    let v1 = load(&rt, "counter").await;
    let v2 = load(&rt, "counter").await;
    let (pool_a, pool_b) = (WarmPool::new(100), WarmPool::new(100));
    let run = |adapter, warm| warm_session(&rt, adapter, warm, 1000);
    let mut s = run(&v1, &pool_a);
    assert_eq!(count(s.call(start()).await.unwrap()), "1");
    drop(s);
    let mut s = run(&v1, &pool_b);
    assert_eq!(
        count(s.call(start()).await.unwrap()),
        "1",
        "another endpoint's pool is not shared"
    );
    drop(s);
    let mut s = run(&v2, &pool_a);
    assert_eq!(
        count(s.call(start()).await.unwrap()),
        "1",
        "another version's instance is not used"
    );
    drop(s);
    assert_eq!(
        pool_a.len(),
        1,
        "the old version's instance was dropped on the way"
    );
    let mut s = run(&v2, &pool_a);
    assert_eq!(count(s.call(start()).await.unwrap()), "2");
}

#[tokio::test]
async fn idle_warm_instances_are_trimmed_and_the_cap_holds() {
    let rt = small_pool();
    let a = load(&rt, "counter").await;
    let warm = WarmPool::new(100);
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let mut s = warm_session(&rt, &a, &warm, 1000);
        s.call(start()).await.unwrap();
        sessions.push(s);
    }
    drop(sessions);
    assert_eq!(
        warm.len(),
        2,
        "sessions and warm pools share the cap (a quarter of 8)"
    );
    assert_eq!(rt.parked_instances(), 2);
    assert_eq!(warm.trim(Duration::from_secs(60)), 0, "recently used: kept");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(warm.trim(Duration::from_millis(10)), 2);
    assert!(warm.is_empty());
    assert_eq!(
        rt.parked_instances(),
        0,
        "trimmed instances give their places back"
    );
}

#[tokio::test]
async fn a_warm_instance_can_write_stderr_on_every_call() {
    let rt = runtime();
    let a = load(&rt, "counter").await;
    let mut s = warm_session(&rt, &a, &WarmPool::new(1000), 1000);
    // 16 bytes a call: 300 calls write more than the 4 KiB kept per call.
    for n in 1..=300 {
        let out = s.call(say("stderr")).await;
        assert_eq!(
            count(out.unwrap_or_else(|f| panic!("call {n}: {f}"))),
            n.to_string()
        );
    }
    let f = s.call(say("panic")).await.unwrap_err();
    assert!(f.message.contains("asked to panic"), "{f}");
    assert!(
        !f.message.contains("noise"),
        "earlier calls' stderr leaked: {f}"
    );
}
