//! Contract versions side by side: one host, one config, endpoints on a
//! 0.1.0 and a 0.2.0 build of the same adapter (`sim`, `sim-v2`), every
//! 0.2.0 feature end to end over real HTTP (bot API, SSE, callbacks),
//! declared webhook routing, declared permissions at upload and in
//! `check`, a swap from a 0.1.0 build to a 0.2.0 build mid-handover, and a
//! 0.1.0 component built before 0.2.0 existed (committed as a fixture).

use crate::e2e::harness::{ADMIN_KEY, Host, SECRET, sim};
use crate::harness::{Endpoint, guest, guest_bytes, run_conformance, types};
use axum::body::Bytes;
use provider_simulators::SimProvider;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The `sim` component as built from this repository before contract 0.2.0
/// existed (commit b48b642, `adapters/sim`), committed so that a change
/// that breaks shipped 0.1.0 guests fails the suite.
fn sim_built_before_0_2_0() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/contract-0.1.0/sim.wasm")
}

/// An endpoint on guest `name` bound to `sim`.
fn endpoint(id: &str, name: &str, sim: &SimProvider) -> Endpoint {
    Endpoint::new(id, guest(name))
        .settings(json!({"base_url": sim.base_url()}))
        .egress([sim.base_url()])
        .webhook_secret(SECRET)
}

/// A callback receiver on 127.0.0.1 that answers 200, recording bodies.
async fn receiver() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let b = bodies.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: Bytes| {
            let bodies = b.clone();
            async move {
                bodies
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, bodies)
}

/// The contract version endpoint `ep` serves, as the admin API shows it.
async fn world(host: &Host) -> String {
    let r = host
        .send(Method::GET, "/admin/endpoints/ep", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["current"]["world"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn typing(host: &Host, id: &str) -> Value {
    let (code, r) = host
        .post(
            &format!("/v1/handovers/{id}/typing"),
            json!({"typing": true}),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    r
}

async fn input_with_id(host: &Host, id: &str, message_id: &str, text: &str) -> Value {
    let (code, r) = host
        .post(
            &format!("/v1/handovers/{id}/input"),
            json!({"message_id": message_id, "text": text}),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "forwarded", "{r}");
    r
}

/// The provider's agent does everything 0.2.0 can carry, in order.
fn agent_does_everything(sim: &SimProvider, conv: &str, message_id: &str) {
    let emit = |kind: &str, fields: Value| {
        sim.emit(conv, kind, fields).unwrap();
    };
    emit(
        "agent_message",
        json!({"text": "Pick one", "actions": [
            {"type": "quick_reply", "title": "Yes", "payload": "yes"},
            {"type": "link", "title": "Terms", "url": "https://example.com/terms"}
        ]}),
    );
    emit(
        "receipt",
        json!({"message_ids": [message_id], "status": "read", "ts": 1_700_000_000_000u64}),
    );
    emit(
        "ticket",
        json!({"ticket": {"id": "T-42", "url": "https://desk.example.com/t/42"}}),
    );
    emit(
        "wrap_up",
        json!({"disposition": "resolved", "resolution_code": "R-7"}),
    );
    emit(
        "survey",
        json!({"score": 4, "scale_max": 5, "comment": "quick"}),
    );
    emit(
        "returned_to_bot",
        json!({"variables": {"plan": "gold", "refund": true}, "note": "over to you"}),
    );
}

#[tokio::test]
async fn one_host_serves_both_contracts_and_every_0_2_feature_reaches_the_bot() {
    let (port, callbacks) = receiver().await;
    let (old_sim, new_sim) = (sim().await, sim().await);
    let mut v1 = endpoint("v1", "sim", &old_sim);
    let mut v2 = endpoint("v2", "sim-v2", &new_sim);
    for ep in [&mut v1, &mut v2] {
        ep.callback_allow = vec![format!("http://127.0.0.1:{port}")];
    }
    let host = Host::start(&[v1, v2]).await;
    old_sim.set_webhook_url(Some(host.webhook_url("v1")));
    new_sim.set_webhook_url(Some(host.webhook_url("v2")));
    let callback = json!({"callback_url": format!("http://127.0.0.1:{port}/cb")});

    // The 0.2.0 endpoint.
    let id = host.create_id_with("v2", "s-new", callback.clone()).await;
    let conv = new_sim.wait_for_conversation(&id, T).await.unwrap().id;
    new_sim.agent_join(&conv, "a-1", "Ann").await;
    host.wait_status(&id, "active", T).await;
    let r = input_with_id(&host, &id, "m-1", "I want a refund").await;
    assert_eq!(r["message_id"], "m-1");
    let got = new_sim.wait_for_user_messages(&conv, 1, T).await;
    assert_eq!(got[0].id.as_deref(), Some("m-1"), "the provider got the id");
    let t = typing(&host, &id).await;
    assert_eq!(t["forwarded"], true, "{t}");
    assert_eq!(new_sim.conversation(&conv).unwrap().user_typing, [true]);
    agent_does_everything(&new_sim, &conv, "m-1");

    let view = host.wait_status(&id, "completed", T).await;
    assert_eq!(view["result"], json!({"handover": {"status": "completed"}}));
    assert_eq!(view["end_reason"], "returned_to_bot");
    assert_eq!(view["variables"], json!({"plan": "gold", "refund": true}));
    assert_eq!(view["wrap_up"]["resolution_code"], "R-7");
    assert_eq!(
        view["survey"],
        json!({"score": 4, "scale_max": 5, "comment": "quick"})
    );
    assert_eq!(view["references"][0]["id"], "T-42");

    let events = host.handover_events(&id, None, T).await;
    let t = types(&events);
    for kind in [
        "agent_message",
        "receipt",
        "provider_reference",
        "wrap_up",
        "survey",
        "ended",
    ] {
        assert!(t.iter().any(|k| k == kind), "no {kind} in {t:?}");
    }
    let rich = events
        .iter()
        .find(|e| e["type"] == "agent_message" && e["text"] == "Pick one")
        .unwrap();
    assert_eq!(
        rich["actions"],
        json!([
            {"type": "quick_reply", "title": "Yes", "payload": "yes"},
            {"type": "link", "title": "Terms", "url": "https://example.com/terms"}
        ])
    );
    let receipt = events.iter().find(|e| e["type"] == "receipt").unwrap();
    assert_eq!(receipt["message_ids"], json!(["m-1"]));
    assert_eq!(receipt["status"], "read");
    assert_eq!(receipt["timestamp_ms"], 1_700_000_000_000u64);
    let reference = events
        .iter()
        .find(|e| e["type"] == "provider_reference")
        .unwrap();
    assert_eq!(
        reference["reference"],
        json!({"kind": "ticket", "id": "T-42", "url": "https://desk.example.com/t/42"})
    );
    let ended = events.last().unwrap();
    assert_eq!(ended["handover"], json!({"status": "completed"}));
    assert_eq!(ended["variables"], json!({"plan": "gold", "refund": true}));
    assert_eq!(ended["detail"], "over to you");
    assert_eq!(ended["wrap_up"]["disposition"], "resolved");

    // Callbacks carry the same events, ended last.
    let end_id = ended["id"].clone();
    host.eventually("the ended callback", T, async || {
        callbacks
            .lock()
            .unwrap()
            .iter()
            .any(|b| b["id"] == end_id)
            .then_some(())
    })
    .await;
    let delivered: Vec<Value> = callbacks
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["handover_id"] == id.as_str())
        .cloned()
        .collect();
    assert_eq!(delivered, events, "callbacks differ from the stream");

    // The 0.1.0 endpoint in the same host, the same provider behaviour:
    // what 0.1.0 cannot carry never reaches the bot, and a hand-back ends
    // the conversation as 0.1.0 can say it.
    let id = host.create_id("v1", "s-old").await;
    let conv = old_sim.wait_for_conversation(&id, T).await.unwrap().id;
    old_sim.agent_join(&conv, "a-1", "Ann").await;
    host.wait_status(&id, "active", T).await;
    let r = input_with_id(&host, &id, "m-9", "hello").await;
    assert_eq!(r["message_id"], "m-9");
    let got = old_sim.wait_for_user_messages(&conv, 1, T).await;
    assert_eq!(got[0].id, None, "0.1.0 has no message ids");
    let t = typing(&host, &id).await;
    assert_eq!(t["forwarded"], false, "{t}");
    let detail = t["detail"].as_str().unwrap();
    assert!(
        detail.contains("0.1.0") && detail.contains("user_typing"),
        "{detail}"
    );
    assert!(old_sim.conversation(&conv).unwrap().user_typing.is_empty());
    agent_does_everything(&old_sim, &conv, "m-9");
    let view = host.wait_status(&id, "completed", T).await;
    assert_eq!(view["end_reason"], "other:returned_to_bot");
    for field in ["variables", "wrap_up", "survey", "references"] {
        assert!(view.get(field).is_none(), "{field} in a 0.1.0 view: {view}");
    }
    let events = host.handover_events(&id, None, T).await;
    let t = types(&events);
    assert_eq!(
        t,
        ["queued", "agent_joined", "agent_message", "ended"],
        "{events:?}"
    );
    assert!(events[2].get("actions").is_none());

    // Declared routing: the 0.2.0 endpoint's webhooks were routed without
    // running `route-webhook`; the 0.1.0 endpoint's ran it for each.
    let routed = |ep: &'static str| {
        let host = &host;
        async move {
            host.metric_sum_where(
                "adapter_calls_total",
                &[&format!("endpoint=\"{ep}\""), "export=\"route-webhook\""],
            )
            .await
        }
    };
    assert_eq!(routed("v2").await, 0.0);
    assert!(routed("v1").await >= 8.0, "{}", routed("v1").await);
}

#[tokio::test]
async fn an_endpoint_moves_from_a_0_1_build_to_a_0_2_build_mid_handover() {
    let sim = sim().await;
    let host = Host::start_sim(endpoint("ep", "sim", &sim), &sim).await;
    let id = host.create_id("ep", "s-1").await;
    let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
    sim.agent_join(&conv, "a-1", "Ann").await;
    host.wait_status(&id, "active", T).await;
    assert_eq!(typing(&host, &id).await["forwarded"], false);

    let r = host
        .send(
            Method::PUT,
            "/admin/endpoints/ep/adapter",
            Some(ADMIN_KEY),
            Some(guest_bytes("sim-v2")),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(world(&host).await, "handover:provider@0.2.0");

    // The state the 0.1.0 build wrote serves the 0.2.0 build.
    assert_eq!(typing(&host, &id).await["forwarded"], true);
    sim.agent_message(&conv, "still here").await;
    sim.emit(&conv, "returned_to_bot", json!({"variables": {"x": 1}}))
        .unwrap();
    let view = host.wait_status(&id, "completed", T).await;
    assert_eq!(view["end_reason"], "returned_to_bot");
    assert_eq!(view["variables"], json!({"x": 1}));
    let events = host.handover_events(&id, None, T).await;
    assert!(
        events.iter().any(|e| e["text"] == "still here"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_upload_names_the_permissions_an_endpoint_lacks() {
    let sim = sim().await;
    // The endpoint reaches the provider through a name the adapter's
    // `{base_url}` does not resolve to: the 0.1.0 build (no declarations)
    // loads; the 0.2.0 build is refused, naming what to add.
    let ep = endpoint("ep", "sim", &sim).egress(["https://elsewhere.example.com"]);
    let host = Host::start_sim(ep, &sim).await;
    let r = host
        .send(
            Method::PUT,
            "/admin/endpoints/ep/adapter",
            Some(ADMIN_KEY),
            Some(guest_bytes("sim-v2")),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap();
    let origin = sim.base_url();
    assert!(
        message.contains(&format!("`{origin}` (from `{{base_url}}`)"))
            && message.contains("add to the endpoint's `egress`"),
        "{message}"
    );
    assert_eq!(world(&host).await, "handover:provider@0.1.0");
}

#[tokio::test]
async fn an_upload_of_an_unserved_version_names_the_served_ones() {
    let sim = sim().await;
    let host = Host::start_sim(endpoint("ep", "sim", &sim), &sim).await;
    let r = host
        .send(
            Method::PUT,
            "/admin/endpoints/ep/adapter",
            Some(ADMIN_KEY),
            Some(crate::cli::adapter_of_version("0.3.0")),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap();
    for phrase in [
        "contract 0.3.0, newer than any this host serves",
        "`handover:provider/adapter@0.2.0` (0.2.0, current)",
        "`handover:provider/adapter@0.1.0` (0.1.0, deprecated, served until at least 2027-12-04)",
    ] {
        assert!(message.contains(phrase), "{phrase}\n{message}");
    }
    assert_eq!(world(&host).await, "handover:provider@0.1.0");
}

#[test]
fn check_compares_declared_needs_with_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let write = |egress: &str| {
        let path = dir.path().join("handover.toml");
        let toml = format!(
            "[[endpoints]]\nid = \"ep\"\nadapter = {:?}\negress = [{egress}]\n\
             [endpoints.settings]\nbase_url = \"http://127.0.0.1:9\"\n",
            guest("sim-v2")
        );
        std::fs::write(&path, toml).unwrap();
        path
    };
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_handover-host"))
            .arg("check")
            .arg(path)
            .output()
            .unwrap()
    };
    // Missing: a problem, non-zero exit, naming the origin and the fix.
    let out = run(&write("\"https://other.example.com\""));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("[egress, secrets]")
            && err.contains("`http://127.0.0.1:9` (from `{base_url}`)")
            && err.contains("add to the endpoint's `egress`"),
        "{err}"
    );
    // Granted, plus one origin more: passes with a note naming it.
    let out = run(&write(
        "\"http://127.0.0.1:9\", \"https://other.example.com\"",
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("grants more than the adapter declares it needs")
            && text.contains("`https://other.example.com`"),
        "{text}"
    );
}

#[test]
fn a_0_1_0_component_built_before_0_2_0_passes_the_kit_unchanged() {
    let file = sim_built_before_0_2_0();
    let (ok, out) = run_conformance(&file, "sim", &[]);
    assert!(ok, "{out}");
    assert!(out.contains("10 passed, 0 failed, 0 skipped"), "{out}");
    assert!(!out.contains("(0.2.0)"), "0.2.0 scenarios ran: {out}");
    let inspected = std::process::Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .arg("inspect")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        text.contains("contract 0.1.0: deprecated, served until at least 2027-12-04"),
        "{text}"
    );
}

#[tokio::test]
async fn a_0_1_0_component_built_before_0_2_0_serves_traffic_beside_0_2_0() {
    let (old_sim, new_sim) = (sim().await, sim().await);
    let old = Endpoint::new("old", sim_built_before_0_2_0())
        .settings(json!({"base_url": old_sim.base_url()}))
        .egress([old_sim.base_url()])
        .webhook_secret(SECRET);
    let host = Host::start(&[old, endpoint("new", "sim-v2", &new_sim)]).await;
    old_sim.set_webhook_url(Some(host.webhook_url("old")));
    new_sim.set_webhook_url(Some(host.webhook_url("new")));
    for (ep, sim) in [("old", &old_sim), ("new", &new_sim)] {
        let id = host.create_id(ep, "s-1").await;
        let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
        sim.agent_join(&conv, "a-1", "Ann").await;
        sim.agent_message(&conv, "hi").await;
        sim.end(&conv, "agent_closed").await;
        let view = host.wait_status(&id, "completed", T).await;
        assert_eq!(view["end_reason"], "agent_closed", "{ep}");
    }
}

#[tokio::test]
async fn each_component_is_served_by_its_own_versions_bindings() {
    use crate::harness::wasm;
    use handover_host::runtime::{Call, Limits, Version};
    let rt = wasm::runtime();
    let (old, new) = (
        wasm::load(&rt, "sim").await,
        wasm::load(&rt, "sim-v2").await,
    );
    assert_eq!(old.version, Version::V0_1_0);
    assert_eq!(new.version, Version::V0_2_0);
    // 0.1.0 declares nothing; 0.2.0 its needs and its routing.
    assert_eq!(old.info.permissions, None);
    assert_eq!(old.info.webhook_routing, None);
    assert!(!old.info.capabilities.user_typing);
    let needs = new.info.permissions.as_ref().unwrap();
    assert_eq!(needs.egress, ["{base_url}"]);
    assert!(needs.secrets.is_empty());
    let routing = new.info.webhook_routing.as_ref().unwrap();
    assert_eq!(
        routing.correlation_key,
        handover_host::model::Locator::JsonPointer("/conversation_id".into())
    );
    assert!(new.info.capabilities.user_typing && new.info.capabilities.hand_back);
    // A 0.1.0 component has no `user-typing`: answered without running it.
    let env = wasm::env(Limits::default(), &[], &[]);
    let typing = Call::UserTyping(wasm::ctx("{}"), b"{}".to_vec(), true);
    let f = rt.invoke(&old, &env, typing).await.unwrap_err();
    assert_eq!(f.reason, handover_host::model::FailureReason::Unsupported);
    assert!(
        f.message.contains("contract 0.1.0 has no `user-typing`"),
        "{f}"
    );
}

#[tokio::test]
async fn pressing_an_agents_quick_reply_reaches_a_0_2_adapter_as_one() {
    let (old_sim, new_sim) = (sim().await, sim().await);
    let host = Host::start(&[
        endpoint("v1", "sim", &old_sim),
        endpoint("v2", "sim-v2", &new_sim),
    ])
    .await;
    old_sim.set_webhook_url(Some(host.webhook_url("v1")));
    new_sim.set_webhook_url(Some(host.webhook_url("v2")));
    // Once an agent is active, a 0.1.0 adapter gets every input as text
    // (as before); one that sends quick replies gets their presses as such.
    for (ep, sim, kind) in [("v1", &old_sim, "text"), ("v2", &new_sim, "quick_reply")] {
        let id = host.create_id(ep, "s-1").await;
        let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
        sim.agent_join(&conv, "a-1", "Ann").await;
        host.wait_status(&id, "active", T).await;
        host.input_expect(&id, "quick_reply", "yes", "forwarded")
            .await;
        let got = sim.wait_for_user_messages(&conv, 1, T).await;
        assert_eq!(
            (got[0].text.as_str(), got[0].kind.as_str()),
            ("yes", kind),
            "{ep}"
        );
    }
}

/// Replaces `from` (which must be there) with `to` in `file`.
fn patch(file: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_python_adapter_built_for_0_2_passes_its_0_2_scenarios() {
    // A third party's Python project (as `handover-host new` writes it,
    // speaking the sim provider), moved to contract 0.2.0: the CONTRACT
    // file, two capabilities, the hand-back event and the typing call.
    let project = crate::template::generate_in("python", "python-0-2");
    std::fs::write(project.join("CONTRACT"), "0.2.0\n").unwrap();
    let provider = project.join("provider.py");
    patch(
        &provider,
        "from handover_sdk import channels,",
        "from handover_sdk import v0_2\nfrom handover_sdk import channels,",
    );
    patch(
        &provider,
        "CAPABILITIES = describe.NONE",
        "CAPABILITIES = describe.capabilities(user_typing=True, hand_back=True)",
    );
    patch(
        &provider,
        "    reason: Optional[str] = None\n",
        "    reason: Optional[str] = None\n    variables: Optional[Dict[str, Any]] = None\n",
    );
    patch(
        &provider,
        "    if hook.type == \"ended\":",
        "    if hook.type == \"returned_to_bot\":\n        return [v0_2.returned_to_bot(hook.variables or {})]\n    if hook.type == \"ended\":",
    );
    let mut text = std::fs::read_to_string(&provider).unwrap();
    text.push_str(
        "\n\ndef user_typing(s: Settings, conversation_id: str, typing: bool) -> None:\n    \
         url = f\"{s.base_url}/conversations/{http.path_segment(conversation_id)}/typing\"\n    \
         http.post_json(url, {\"typing\": typing})\n",
    );
    std::fs::write(&provider, text).unwrap();
    patch(
        &project.join("app.py"),
        "    def on_cancel(self, cx, state):",
        "    def on_user_typing(self, cx, state, typing):\n        \
         provider.user_typing(cx.settings, state.conversation_id, typing)\n\n    \
         def on_cancel(self, cx, state):",
    );
    let wasm = project.join("my-provider.wasm");
    crate::harness::must(
        std::process::Command::new(crate::template::root().join("adapters/python/build.sh"))
            .arg(&project)
            .arg(&wasm),
        "adapters/python/build.sh (contract 0.2.0)",
    );
    let (ok, out) = run_conformance(&wasm, "sim", &["--scenario", "(0.2.0)"]);
    assert!(ok, "{out}");
    for (scenario, result) in [
        ("hand back to the bot (0.2.0)", " pass "),
        ("user typing (0.2.0)", " pass "),
        ("rich agent message (0.2.0)", " skip "),
        ("read receipt (0.2.0)", " skip "),
        ("wrap-up (0.2.0)", " skip "),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("no `{scenario}`:\n{out}"));
        assert!(line.contains(result), "{line}\n{out}");
    }
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}
