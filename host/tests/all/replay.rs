//! Replay over real HTTP: an endpoint records its handovers
//! (`record_handovers`), and a candidate is replayed against them with its
//! outgoing requests answered from the recording. A candidate identical in
//! behaviour shows no difference over 100 recorded handovers of the sim
//! provider (webhooks, egress, user input, ends); one that maps an event
//! differently is caught with the handover and the event named; secrets
//! never enter the recording.

use crate::e2e::harness::{Host as E2eHost, SECRET, sim, sim_ep};
use crate::e2e::support::T;
use crate::harness::wasm::{guest, guest_bytes};
use crate::hot_swap::{ADMIN_KEY, Host};
use crate::openapi::valid;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

/// `POST /admin/endpoints/ep/replay?{query}` with `bytes`.
async fn replay(
    p: &crate::harness::HostProcess,
    key: &str,
    bytes: &[u8],
    query: &str,
) -> (u16, Value) {
    let r = p
        .request(
            Method::POST,
            &format!("/admin/endpoints/ep/replay?{query}"),
            Some(key),
        )
        .header("content-type", "application/wasm")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Every file under the host's data directory, as bytes.
fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "toml" && x != "log") {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_identical_in_behaviour_replays_100_sim_handovers_with_no_difference() {
    let sim = sim().await;
    let host = E2eHost::start_sim(sim_ep("ep", &sim).record_handovers(200), &sim).await;
    const N: usize = 100;
    let conversations = futures::stream::iter(0..N)
        .map(|i| {
            let (host, sim) = (&host, &sim);
            async move {
                let id = host.create_id("ep", &format!("s-{i}")).await;
                let conv = sim.wait_for_conversation(&id, T).await.unwrap();
                sim.agent_join(&conv.id, "a-1", "Alex").await;
                host.wait_status(&id, "active", T).await;
                sim.agent_message(&conv.id, &format!("hello {i}")).await;
                host.input_expect(&id, "text", &format!("question {i}"), "forwarded")
                    .await;
                sim.end(&conv.id, "agent_closed").await;
                host.wait_status(&id, "completed", T).await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    conversations.await;

    let provider_saw = sim.requests().len();
    // The recordings are written beside the calls: wait for all of them.
    let sim_wasm = guest_bytes("sim");
    let report = host
        .eventually("every handover recorded", T, async || {
            let (code, v) =
                replay(&host, crate::e2e::harness::ADMIN_KEY, &sim_wasm, "last=100").await;
            assert_eq!(code, 200, "{v}");
            let complete = v["handovers"]
                .as_array()
                .is_some_and(|h| h.len() == N && h.iter().all(|h| h["calls"].as_u64() >= Some(4)));
            complete.then_some(v)
        })
        .await;
    valid(&crate::canary::doc(), "ReplayReport", &report);
    assert_eq!(
        report["summary"],
        json!({"handovers": N, "same": N, "allowed": 0, "different": 0, "failed": 0}),
        "{report:#}"
    );
    // Each handover: start, the join and message webhooks, the input, the end.
    let calls: u64 = report["handovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["calls"].as_u64().unwrap())
        .sum();
    assert!(calls >= 5 * N as u64, "{calls} calls recorded");
    // The sim adapter's requests to the provider were answered from the
    // recording: the provider saw none of them again.
    for h in report["handovers"].as_array().unwrap() {
        assert!(h["requests"].as_u64() >= Some(2), "{h}");
    }
    assert_eq!(
        sim.requests().len(),
        provider_saw,
        "a replay reached the provider"
    );

    // No secret in the store: the webhook secret is in the config only.
    for (file, bytes) in data_files(&host.dir) {
        let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!found, "the webhook secret is in {file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_that_maps_one_event_differently_is_caught_by_handover_and_event() {
    let host = Host::start_with(|c, ep| c.endpoint(ep.record_handovers(50))).await;
    let mut ids = vec![];
    for i in 0..10 {
        ids.push(host.handover_owned(format!("s-{i}")).await);
    }
    // Only one handover gets input (the echo answers "<version>:<text>").
    assert_eq!(host.served_by(&ids[3], "hi").await, "1.0.0");

    let p = &host.process;
    let v2 = guest_bytes("echo-v2");
    let report = p
        .eventually("the input recorded", T, async || {
            let (code, v) = replay(p, ADMIN_KEY, &v2, "last=10").await;
            assert_eq!(code, 200, "{v}");
            (v["summary"]["handovers"] == 10 && v["summary"]["different"] == 1).then_some(v)
        })
        .await;
    assert_eq!(report["summary"]["same"], 9, "{report:#}");
    let bad: Vec<&Value> = report["handovers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["result"] == "different")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["handover_id"], ids[3].as_str());
    let d = bad[0]["differences"][0].as_str().unwrap();
    assert!(
        d.starts_with("call 1 (user-message): event 0: recorded ")
            && d.contains("1.0.0:hi")
            && d.contains("candidate ")
            && d.contains("2.0.0:hi"),
        "{d}"
    );
    // Allowed by event type: reported, not failed.
    let (_, v) = replay(p, ADMIN_KEY, &v2, "last=10&allow=agent_message").await;
    assert_eq!(v["summary"]["allowed"], 1, "{v}");
    assert_eq!(v["summary"]["different"], 0, "{v}");
    // The same version replays the same.
    let (_, v) = replay(p, ADMIN_KEY, &guest_bytes("echo"), "last=10").await;
    assert_eq!(v["summary"]["same"], 10, "{v}");

    // The CLI: the difference named, exit 1; allowed, exit 0.
    let run = |extra: &[&str]| {
        let v2 = guest("echo-v2");
        crate::harness::run_to_end(
            std::process::Command::new(env!("CARGO_BIN_EXE_handover-host"))
                .args([
                    "replay",
                    "--endpoint",
                    "ep",
                    "--last",
                    "10",
                    "--url",
                    &p.url(""),
                ])
                .arg("--candidate")
                .arg(&v2)
                .args(extra)
                .env("HANDOVER_ADMIN_KEY", ADMIN_KEY),
        )
    };
    let (ok, out) = run(&[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("handover {}: different", ids[3])),
        "{out}"
    );
    assert!(
        out.contains("10 handovers replayed: 9 same, 0 allowed, 1 different, 0 failed"),
        "{out}"
    );
    let (ok, out) = run(&["--allow", "agent_message"]);
    assert!(ok, "{out}");
    assert!(out.contains("9 same, 1 allowed, 0 different"), "{out}");

    // A refused candidate and an endpoint that records nothing: 400, said.
    let (code, v) = replay(p, ADMIN_KEY, b"not wasm", "").await;
    assert_eq!(code, 400, "{v}");
    let other = Host::start().await;
    let (code, v) = replay(&other.process, ADMIN_KEY, &v2, "").await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set `record_handovers`"),
        "{v}"
    );
    // Keys: another tenant's is 404 (not theirs to see). An endpoint that
    // records but has seen no handover: 400 to its tenant, not a pass.
    let idle = Host::start_with(|c, ep| {
        c.tenant("a", |t| t.key("key-a"))
            .tenant("b", |t| t.key("key-b"))
            .endpoint(ep.tenant("a").record_handovers(5))
    })
    .await;
    let (code, v) = replay(&idle.process, "key-b", &v2, "").await;
    assert_eq!(code, 404, "{v}");
    let (code, v) = replay(&idle.process, "key-a", &v2, "").await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has recorded no handover yet"),
        "{v}"
    );
}
