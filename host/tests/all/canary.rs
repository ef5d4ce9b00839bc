//! Canary rollouts on the real binary over HTTP: the split of new handovers
//! by share, stickiness (a handover stays on the version it started on),
//! automatic rollback of a failing candidate within its sample, automatic
//! promotion of a good one, manual promote and abort, refusals, tenant
//! scoping, metrics and the OpenAPI shapes of every answer.
//!
//! The versions are told apart by what they do: `echo` answers input with
//! "1.0.0:<text>", `echo-v2` with "2.0.0:<text>", and `panic` traps in
//! every call but `describe`/`validate-settings`.

use crate::harness::wasm::guest_bytes;
use crate::hot_swap::{ADMIN_KEY, Host};
use crate::openapi::valid;
use futures::StreamExt;
use handover_host::api::OPENAPI;
use handover_host::registry::canary::in_share;
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) fn doc() -> Value {
    serde_json::from_str(OPENAPI).unwrap()
}

impl Host {
    /// Start a canary of `bytes` with the policy in `query`.
    pub(crate) async fn start_canary(
        &self,
        bytes: &[u8],
        query: &str,
        key: Option<&str>,
    ) -> (u16, Value) {
        let path = format!("/admin/endpoints/ep/canary?{query}");
        self.send(
            self.admin(Method::POST, &path, key)
                .header("content-type", "application/wasm")
                .body(bytes.to_vec()),
        )
        .await
    }

    /// Start a canary of guest `guest` with the operator key (201): the
    /// answer.
    pub(crate) async fn started(&self, guest: &str, query: &str) -> Value {
        let (code, v) = self
            .start_canary(&guest_bytes(guest), query, Some(ADMIN_KEY))
            .await;
        assert_eq!(code, 201, "{v}\n{}", self.log());
        v
    }

    pub(crate) async fn canary_state(&self) -> Value {
        let req = self.admin(Method::GET, "/admin/endpoints/ep/canary", Some(ADMIN_KEY));
        let (code, v) = self.send(req).await;
        assert_eq!(code, 200, "{v}");
        valid(&doc(), "CanaryState", &v);
        v
    }

    pub(crate) async fn canary_action(&self, action: &str, key: Option<&str>) -> (u16, Value) {
        let path = format!("/admin/endpoints/ep/canary/{action}");
        self.send(self.admin(Method::POST, &path, key)).await
    }

    /// Create a handover of session `s` (201), its id.
    pub(crate) async fn handover(&self, s: &str) -> String {
        let (code, v) = self.process.create("ep", s, json!({})).await;
        assert_eq!(code, 201, "{v}\n{}", self.log());
        v["handover_id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn close(&self, id: &str) -> Value {
        let (code, v) = self
            .process
            .post(&format!("/v1/handovers/{id}/close"), json!({}))
            .await;
        assert_eq!(code, 200, "{v}");
        v
    }
}

/// Each handover of `ids` answered from the version the assignment rule
/// puts it on (`served[i]` for `ids[i]`), and the share of the candidate
/// near `share`. The handover ids are random, so the share over a few
/// hundred of them is a binomial draw: the bound is five standard
/// deviations (at 400 and 20%, σ is 2 points; ±10 points), which a correct
/// host cannot miss in practice; the exact split is the per-handover check,
/// and the share's precision is the unit test
/// `the_share_is_honoured_over_many_ids` (within 1 point over 20,000 ids).
pub(crate) fn assert_split(canary_id: &str, share: f64, ids: &[String], served: &[String]) {
    for (id, got) in ids.iter().zip(served) {
        let want = if in_share(canary_id, id, share) {
            "2.0.0"
        } else {
            "1.0.0"
        };
        assert_eq!(got, want, "handover {id} of canary {canary_id}");
    }
    let n = served.len() as f64;
    let on_candidate = served.iter().filter(|v| *v == "2.0.0").count() as f64;
    let got = on_candidate * 100.0 / n;
    let sigma = (share * (100.0 - share) / n).sqrt();
    assert!(
        (got - share).abs() <= 5.0 * sigma,
        "{on_candidate} of {n} handovers ({got:.1}%) on the candidate; the share is {share}%"
    );
}

/// `f` over `items`, 8 at a time, in order.
pub(crate) async fn each<T, F, R>(items: Vec<T>, f: impl Fn(T) -> F) -> Vec<R>
where
    F: std::future::Future<Output = R>,
{
    futures::stream::iter(items.into_iter().map(f))
        .buffered(8)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_splits_new_handovers_by_share_and_each_stays_on_its_version() {
    let host = Host::start().await;
    let h = &host;
    // Handovers from before the canary: they stay on the stable version.
    let before = each((0..10).collect(), |i| {
        host.handover_owned(format!("before-{i}"))
    })
    .await;

    let v = host
        .started("echo-v2", "share_percent=20&promote_after_handovers=1000")
        .await;
    valid(&doc(), "CanaryStarted", &v);
    assert_eq!(v["canary"]["candidate"]["version"]["version"], "2.0.0");
    assert_eq!(v["canary"]["stable"]["version"]["version"], "1.0.0");
    assert_eq!(v["canary"]["policy"]["share_percent"], 20.0);

    const N: usize = 400;
    let ids = each((0..N).collect(), |i| {
        host.handover_owned(format!("canary-{i}"))
    })
    .await;
    // Which version answers each handover: its own reply, over SSE. It is
    // exactly the one the assignment rule names for its id.
    let first = each(
        ids.clone(),
        |id| async move { h.served_by(&id, "one").await },
    )
    .await;
    let canary_id = v["canary"]["id"].as_str().unwrap();
    assert_split(canary_id, 20.0, &ids, &first);
    let on_v2 = first.iter().filter(|v| *v == "2.0.0").count();
    let on_v1 = first.iter().filter(|v| *v == "1.0.0").count();

    // Stickiness: every handover answers again from the same version.
    let second = each(
        ids.clone(),
        |id| async move { h.served_by(&id, "two").await },
    )
    .await;
    for ((id, a), b) in ids.iter().zip(&first).zip(&second) {
        assert_eq!(a, b, "handover {id} changed version during the canary");
    }
    for id in &before {
        assert_eq!(host.served_by(id, "old").await, "1.0.0", "handover {id}");
    }

    // The host's own figures agree with what the handovers showed.
    let state = host.canary_state().await;
    let c = &state["canary"];
    assert_eq!(c["candidate"]["handovers_started"], on_v2, "{state}");
    assert_eq!(c["stable"]["handovers_started"], on_v1, "{state}");
    assert_eq!(
        c["candidate"]["calls"],
        3 * on_v2 as u64,
        "start + 2 inputs each: {state}"
    );
    assert_eq!(c["candidate"]["traps"], 0, "{state}");
    assert!(
        c["candidate"]["call_p50_us"].as_u64().unwrap() > 0,
        "{state}"
    );
    let m = host
        .process
        .metric_sum_where(
            "canary_handovers_total",
            &["version=\"echo@2.0.0\"", "event=\"started\""],
        )
        .await;
    assert_eq!(m, on_v2 as f64, "metric labelled by version");
}

impl Host {
    pub(crate) async fn handover_owned(&self, s: String) -> String {
        self.handover(&s).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_candidate_is_rolled_back_automatically_within_its_sample() {
    let host = Host::start().await;
    host.started("panic", "share_percent=50&min_sample=5&margin_percent=5")
        .await;

    // One at a time: the rollback happens in the step that ends the
    // sample's last handover, so the next one is already stable.
    let mut failed = 0;
    let mut n = 0;
    while host.canary_state().await["canary"].is_object() {
        n += 1;
        assert!(
            n <= 200,
            "no rollback after 200 handovers: {}",
            host.canary_state().await
        );
        let id = host.handover(&format!("s-{n}")).await;
        let status = host.process.status(&id).await;
        if status["status"] == "error" {
            assert_eq!(status["end_reason"], "start_failed", "{status}");
            failed += 1;
        }
    }
    assert_eq!(
        failed, 5,
        "rolled back after exactly min_sample failed handovers"
    );

    let state = host.canary_state().await;
    let last = &state["last"];
    assert_eq!(last["result"], "rolled_back", "{state}");
    assert_eq!(last["by"], "auto", "{state}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "error outcomes: candidate 100.0% of 5 ended handovers (error/start_failed: 5)"
        ),
        "{reason}"
    );
    assert_eq!(last["figures"]["candidate"]["traps"], 5, "{state}");
    assert_eq!(
        last["figures"]["stable"]["error_outcome_percent"], 0.0,
        "{state}"
    );

    // Every new handover is on the stable version again, and it works.
    for i in 0..5 {
        let id = host.handover(&format!("after-{i}")).await;
        assert_eq!(host.served_by(&id, "hi").await, "1.0.0");
    }
    // The swap history and the metrics say so too.
    let show = host.show().await;
    assert_eq!(show["current"]["version"], "1.0.0", "{show}");
    let h = show["history"].as_array().unwrap();
    let rec = h.last().unwrap();
    assert_eq!(rec["source"], "canary", "{show}");
    assert_eq!(rec["accepted"], false, "{show}");
    let msg = rec["message"].as_str().unwrap();
    assert!(
        msg.contains("rolled back automatically: error outcomes"),
        "{msg}"
    );
    let ends = host
        .process
        .metric_sum_where(
            "canary_ends_total",
            &["result=\"rolled_back\"", "by=\"auto\""],
        )
        .await;
    assert_eq!(ends, 1.0);
    assert!(
        host.log().contains("rolled back automatically"),
        "the reason is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_candidate_is_promoted_automatically() {
    let host = Host::start().await;
    host.started(
        "echo-v2",
        "share_percent=50&min_sample=3&promote_after_handovers=6",
    )
    .await;
    let mut n = 0;
    while host.canary_state().await["canary"].is_object() {
        n += 1;
        assert!(
            n <= 200,
            "not promoted after 200 handovers: {}",
            host.canary_state().await
        );
        let id = host.handover(&format!("s-{n}")).await;
        let closed = host.close(&id).await;
        assert_eq!(closed["handover"]["status"], "cancelled", "{closed}");
        // The promotion runs beside the step: give it a moment.
        if n % 4 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let state = host.canary_state().await;
    assert_eq!(state["last"]["result"], "promoted", "{state}");
    assert_eq!(state["last"]["by"], "auto", "{state}");
    let ended = state["last"]["figures"]["candidate"]["handovers_ended"]
        .as_u64()
        .unwrap();
    assert!(ended >= 6, "{state}");
    let show = host.show().await;
    assert_eq!(show["current"]["version"], "2.0.0", "{show}");
    assert_eq!(show["current"]["source"], "canary", "{show}");
    assert_eq!(show["previous"]["version"], "1.0.0", "{show}");
    let id = host.handover("after").await;
    assert_eq!(host.served_by(&id, "hi").await, "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_and_tenants_start_promote_and_abort_canaries_with_clear_refusals() {
    let host = Host::start_with(|c, ep| {
        c.tenant("a", |t| t.key("key-a"))
            .tenant("b", |t| t.key("key-b"))
            .endpoint(ep.tenant("a"))
    })
    .await;
    let v2 = guest_bytes("echo-v2");

    // Keys: none is 401; another tenant's is 404 (the endpoint is not
    // theirs to see); nothing started.
    let (code, _) = host.start_canary(&v2, "", None).await;
    assert_eq!(code, 401);
    let (code, _) = host.start_canary(&v2, "", Some("key-b")).await;
    assert_eq!(code, 404);
    for action in ["promote", "abort"] {
        let (code, _) = host.canary_action(action, Some("key-b")).await;
        assert_eq!(code, 404, "{action}");
        let (code, v) = host.canary_action(action, Some(ADMIN_KEY)).await;
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (409, Some("no_canary")),
            "{v}"
        );
    }

    // A bad policy: every problem named, the body never read.
    let (code, v) = host
        .start_canary(&v2, "share_percent=100&min_sample=0", Some(ADMIN_KEY))
        .await;
    assert_eq!(code, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("share_percent must be above 0 and below 100 (got 100)"),
        "{msg}"
    );
    assert!(msg.contains("min_sample must be at least 1"), "{msg}");
    let (code, v) = host.start_canary(&v2, "share=10", Some(ADMIN_KEY)).await;
    assert_eq!(code, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("unknown field `share`") && msg.contains("known fields"),
        "{msg}"
    );

    // A candidate that is no component: refused, nothing serves it.
    let (code, v) = host
        .start_canary(b"not wasm", "share_percent=10", Some(ADMIN_KEY))
        .await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (422, Some("refused")),
        "{v}"
    );
    assert!(host.canary_state().await["canary"].is_null());

    // The tenant starts one; a second is refused while it runs.
    let (code, v) = host
        .start_canary(&v2, "share_percent=10", Some("key-a"))
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["canary"]["candidate"]["version"]["source"], "tenant");
    let (code, v) = host
        .start_canary(&v2, "share_percent=10", Some(ADMIN_KEY))
        .await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (409, Some("canary_running")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("echo@2.0.0"),
        "{v}"
    );

    // Abort: the stable version serves everything again.
    let (code, v) = host.canary_action("abort", Some("key-a")).await;
    assert_eq!(code, 200, "{v}");
    valid(&doc(), "CanaryAborted", &v);
    assert_eq!(v["last"]["result"], "aborted");
    assert_eq!(v["last"]["by"], "tenant");
    assert_eq!(v["current"]["version"], "1.0.0");

    // Manual promotion by the operator.
    let (code, _) = host
        .start_canary(&v2, "share_percent=10", Some(ADMIN_KEY))
        .await;
    assert_eq!(code, 201);
    let (code, v) = host.canary_action("promote", Some(ADMIN_KEY)).await;
    assert_eq!(code, 200, "{v}");
    valid(&doc(), "CanaryPromoted", &v);
    assert_eq!(v["current"]["version"], "2.0.0");
    assert_eq!(v["current"]["source"], "canary");
    let state = host.canary_state().await;
    assert_eq!(
        (
            state["last"]["result"].as_str(),
            state["last"]["by"].as_str()
        ),
        (Some("promoted"), Some("operator"))
    );

    // A swap ends a running canary: it is `replaced`, the upload serves.
    let (code, _) = host
        .start_canary(&guest_bytes("echo"), "share_percent=10", Some(ADMIN_KEY))
        .await;
    assert_eq!(code, 201);
    let (code, v) = host.upload(&guest_bytes("echo"), Some(ADMIN_KEY)).await;
    assert_eq!(code, 200, "{v}");
    let state = host.canary_state().await;
    assert!(state["canary"].is_null(), "{state}");
    assert_eq!(state["last"]["result"], "replaced", "{state}");
    assert_eq!(state["last"]["by"], "swap", "{state}");
}

/// `handover-host canary …` against the host, the key in the environment.
fn cli(host: &Host, key: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_handover-host"));
    cmd.arg("canary")
        .args(args)
        .args(["--url", &host.process.url(""), "--endpoint", "ep"]);
    match key {
        Some(k) => cmd.env("HANDOVER_ADMIN_KEY", k),
        None => cmd.env_remove("HANDOVER_ADMIN_KEY"),
    };
    crate::harness::run_to_end(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_starts_shows_and_aborts_a_canary() {
    let host = Host::start().await;
    let v2 = crate::harness::wasm::guest("echo-v2");
    let v2 = v2.to_str().unwrap();

    let (ok, out) = cli(&host, None, &["status"]);
    assert!(!ok && out.contains("set HANDOVER_ADMIN_KEY"), "{out}");
    let (ok, out) = cli(&host, Some("wrong"), &["status"]);
    assert!(!ok && out.contains("401"), "{out}");
    let (ok, out) = cli(&host, Some(ADMIN_KEY), &["start", v2, "--share", "100"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("400") && out.contains("share_percent must be above 0"),
        "{out}"
    );

    let (ok, out) = cli(
        &host,
        Some(ADMIN_KEY),
        &[
            "start",
            v2,
            "--share",
            "50",
            "--min-sample",
            "3",
            "--promote-after",
            "50",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.starts_with("canary started"), "{out}");
    assert!(out.contains("50% of new handovers"), "{out}");
    assert!(
        out.contains("echo@1.0.0") && out.contains("echo@2.0.0"),
        "{out}"
    );

    let ids = each((0..10).collect(), |i| host.handover_owned(format!("s-{i}"))).await;
    let started: usize = ids.len();
    let (ok, out) = cli(&host, Some(ADMIN_KEY), &["status"]);
    assert!(ok, "{out}");
    let state = host.canary_state().await;
    let (s, c) = (
        state["canary"]["stable"]["handovers_started"]
            .as_u64()
            .unwrap(),
        state["canary"]["candidate"]["handovers_started"]
            .as_u64()
            .unwrap(),
    );
    assert_eq!((s + c) as usize, started);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("handovers started"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[2..], [s.to_string(), c.to_string()], "{out}");

    let (ok, out) = cli(&host, Some(ADMIN_KEY), &["abort"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("canary aborted: `ep` is served by echo@1.0.0"),
        "{out}"
    );
    let (ok, out) = cli(&host, Some(ADMIN_KEY), &["status"]);
    assert!(ok, "{out}");
    assert!(out.contains("no canary is running on `ep`"), "{out}");
    assert!(
        out.contains("last canary: aborted by operator: aborted by the operator"),
        "{out}"
    );
}
