//! End to end through the real host binary with the `chatwoot` and
//! `sunshine-conversations` adapters against their simulators: every
//! request the adapters send (and every webhook the simulators send) is
//! validated against the providers' OpenAPI documents in `shared/specs/`,
//! and each test ends by asserting that the simulator recorded no schema
//! violation. The credentials come from `[[endpoints.auth]]` rules, never
//! from the adapters' settings.

use provider_simulators::chatwoot::{ChatwootDriver, ChatwootSim};
use provider_simulators::driver::ProviderDriver;
use provider_simulators::sunshine::{SunshineDriver, SunshineSim};
use rig::{Ep, Host, adapter, types};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The endpoint the driver asks for, with the named adapter.
fn endpoint(id: &str, name: &str, driver: &dyn ProviderDriver) -> Ep {
    let setup = driver.endpoint_setup();
    Ep {
        id: id.into(),
        adapter: adapter(name),
        settings: setup.settings,
        egress: setup.egress,
        callback_allow: vec![],
        webhook_secret: setup.webhook_secret,
        extra: setup.extra_toml,
    }
}

fn agent_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .map(|e| e["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn wait_until<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = tokio::time::Instant::now() + T;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn create_body() -> Value {
    json!({
        "transcript": [
            {"author": "user", "text": "my parcel is late", "timestamp_ms": 1},
            {"author": "bot", "text": "Let me get you a human.", "timestamp_ms": 2}
        ],
        "user_profile": {"name": "Ann Lee", "email": "ann@example.com"},
        "routing": {"skills": ["parcels"], "language": "en", "priority": 3, "queue": "support",
                    "custom": {"order": "A-17"}}
    })
}

#[tokio::test]
async fn chatwoot_handover_traffic_matches_the_spec() {
    let driver = ChatwootDriver::start().await.unwrap();
    let sim: ChatwootSim = driver.sim.clone();
    let host = Host::start(&[endpoint("cw", "chatwoot", &driver)]).await;
    driver.set_webhook_url(&host.webhook_url("cw"));

    let (status, created) = host.create("cw", "s-1", create_body()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim
        .wait_for_conversation(&id, T)
        .await
        .expect("conversation opened");
    host.wait_status(&id, "queued", T).await;
    let opened = sim.conversation(conv).unwrap();
    assert_eq!(opened["labels"], json!(["parcels"]));
    assert_eq!(opened["priority"], "high");
    assert_eq!(opened["meta"]["team"]["name"], "support");
    assert_eq!(opened["custom_attributes"]["order"], "A-17");
    assert_eq!(opened["meta"]["sender"]["name"], "Ann Lee");
    let notes = sim.private_notes(conv);
    assert!(
        notes[0].contains("User: my parcel is late\nBot: Let me get you a human."),
        "{notes:?}"
    );

    sim.assign(conv, "Alex");
    host.wait_status(&id, "active", T).await;
    sim.typing(conv, true);
    sim.agent_message(conv, "Hi, I am Alex.");
    sim.agent_attachment(
        conv,
        "Your label",
        "https://files.example.com/label.pdf",
        "file",
    );
    sim.private_note(conv, "internal: check the depot");
    let (_, r) = host.input(&id, "text", "thanks").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    wait_until("the user's message", || {
        sim.user_messages(conv) == ["thanks"]
    })
    .await;
    sim.resolve(conv);
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "agent_closed");

    let events = host.handover_events(&id, None, T).await;
    assert_eq!(
        types(&events),
        [
            "queued",
            "agent_joined",
            "agent_typing",
            "agent_message",
            "agent_message",
            "ended"
        ],
        "{events:#?}"
    );
    assert_eq!(agent_texts(&events), ["Hi, I am Alex.", "Your label"]);
    assert_eq!(events[1]["agent"]["name"], "Alex");
    assert_eq!(
        events[4]["attachments"][0]["content_type"],
        "application/pdf"
    );

    // Every request carried the token the host added; none broke the spec.
    let requests = sim.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.header("api_access_token") == Some("chatwoot-sim-token"))
    );
    assert!(requests.iter().all(|r| r.status < 400), "{requests:#?}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn chatwoot_cancel_duplicates_and_reordering() {
    let driver = ChatwootDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start(&[endpoint("cw", "chatwoot", &driver)]).await;
    driver.set_webhook_url(&host.webhook_url("cw"));

    // Cancelled while queued: the conversation is resolved by the bot side.
    let (_, created) = host.create("cw", "s-1", json!({})).await;
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    let (_, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(r["result"], "cancelled", "{r}");
    assert_eq!(sim.resolved_by_api(conv), Some(true));

    // Duplicated, then held and reversed webhooks reach the bot once, in order.
    let (_, created) = host.create("cw", "s-2", json!({})).await;
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.set_duplicate_webhooks(true);
    sim.assign(conv, "Bea");
    host.wait_status(&id, "active", T).await;
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    for t in ["one", "two", "three"] {
        sim.agent_message(conv, t);
    }
    sim.resolve(conv);
    sim.release_held(true).await;
    host.wait_status(&id, "completed", T).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(agent_texts(&events), ["one", "two", "three"], "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "agent_joined")
            .count(),
        1
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn sunshine_handover_traffic_matches_the_spec() {
    let driver = SunshineDriver::start().await.unwrap();
    let sim: SunshineSim = driver.sim.clone();
    let host = Host::start(&[endpoint("sc", "sunshine-conversations", &driver)]).await;
    driver.set_webhook_url(&host.webhook_url("sc"));

    let mut body = create_body();
    body["context"] = json!({"sunshine_conversation_id": "conv-77", "sunshine_user_id": "user-5"});
    let (status, created) = host.create("sc", "s-1", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap().to_string();
    let Some(conv) = sim.wait_for_conversation(&id, T).await else {
        panic!(
            "control never passed: {}\n{:#?}\n{}",
            host.status(&id).await,
            sim.requests(),
            host.log()
        );
    };
    assert_eq!(conv, "conv-77");
    host.wait_status(&id, "queued", T).await;
    assert_eq!(sim.active(&conv).as_deref(), Some("zd-agentWorkspace"));
    let meta = sim.handover_metadata(&conv).unwrap();
    assert_eq!(meta["skills"], "parcels");
    assert_eq!(meta["order"], "A-17");
    let transcript = sim.messages(&conv);
    assert_eq!(transcript.len(), 2, "{transcript:#?}");
    assert_eq!(transcript[0]["author"]["userId"], "user-5");
    assert_eq!(transcript[1]["author"]["displayName"], "Bot");

    sim.accept(&conv, "Alex");
    host.wait_status(&id, "active", T).await;
    sim.typing(&conv, true);
    sim.agent_message(&conv, "Hi, I am Alex.");
    sim.agent_image(&conv, "https://files.example.com/label.png", "Your label");
    let (_, r) = host.input(&id, "text", "thanks").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    wait_until("the user's message", || {
        sim.user_messages(&conv) == ["thanks"]
    })
    .await;
    sim.close_ticket(&conv);
    let v = host.wait_status(&id, "completed", T).await;
    assert_eq!(v["end_reason"], "agent_closed");

    let events = host.handover_events(&id, None, T).await;
    assert_eq!(
        types(&events),
        [
            "queued",
            "agent_joined",
            "agent_typing",
            "agent_message",
            "agent_message",
            "ended"
        ],
        "{events:#?}"
    );
    assert_eq!(agent_texts(&events), ["Hi, I am Alex.", "Your label"]);
    assert_eq!(
        events[4]["attachments"][0]["url"],
        "https://files.example.com/label.png"
    );

    let requests = sim.requests();
    assert!(requests.iter().all(|r| {
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    }));
    assert!(requests.iter().all(|r| r.status < 400), "{requests:#?}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

#[tokio::test]
async fn sunshine_cancel_duplicates_and_reordering() {
    let driver = SunshineDriver::start().await.unwrap();
    let sim = driver.sim.clone();
    let host = Host::start(&[endpoint("sc", "sunshine-conversations", &driver)]).await;
    driver.set_webhook_url(&host.webhook_url("sc"));

    // Cancelled while queued: control goes back to the bot integration.
    let (_, created) = host.create("sc", "s-1", json!({})).await;
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    assert_eq!(
        conv, "s-1",
        "without context the session id is the conversation"
    );
    let (_, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(r["result"], "cancelled", "{r}");
    assert_eq!(sim.returned_by_api(&conv), Some(true));
    assert_eq!(sim.active(&conv).as_deref(), Some("bot"));

    let (_, created) = host.create("sc", "s-2", json!({})).await;
    let id = created["handover_id"].as_str().unwrap().to_string();
    let conv = sim.wait_for_conversation(&id, T).await.unwrap();
    sim.set_duplicate_webhooks(true);
    sim.accept(&conv, "Bea");
    host.wait_status(&id, "active", T).await;
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    for t in ["one", "two", "three"] {
        sim.agent_message(&conv, t);
    }
    sim.close_ticket(&conv);
    sim.release_held(true).await;
    host.wait_status(&id, "completed", T).await;
    let events = host.handover_events(&id, None, T).await;
    assert_eq!(agent_texts(&events), ["one", "two", "three"], "{events:#?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "agent_joined")
            .count(),
        1
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    driver.shutdown().await;
}

/// A small copy of the e2e harness (`tests/e2e/harness.rs`): the real
/// binary as a child process with a generated config, and the bot API.
mod rig {
    use serde_json::{Value, json};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub fn adapter(name: &str) -> PathBuf {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/adapters")
            .join(format!("{name}.wasm"));
        assert!(
            p.exists(),
            "{} is missing: run `scripts/build-adapters.sh`",
            p.display()
        );
        p
    }

    pub struct Ep {
        pub id: String,
        pub adapter: PathBuf,
        pub settings: Value,
        pub egress: Vec<String>,
        pub callback_allow: Vec<String>,
        pub webhook_secret: Option<String>,
        /// TOML lines inside the endpoint table (secrets, auth rules).
        pub extra: String,
    }

    pub struct Host {
        child: Option<Child>,
        base: String,
        dir: PathBuf,
        http: reqwest::Client,
    }

    impl Drop for Host {
        fn drop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn q(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    impl Host {
        pub async fn start(eps: &[Ep]) -> Host {
            let dir =
                std::env::temp_dir().join(format!("handover-providers-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut toml = format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {}\n\n",
                q(&dir.join("data").display().to_string())
            );
            for e in eps {
                let list = |v: &[String]| v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
                let settings: toml::Value = serde_json::from_value(e.settings.clone()).unwrap();
                toml += &format!(
                    "[[endpoints]]\nid = {}\nadapter = {}\negress = [{}]\ncallback_allow = [{}]\nsettings = {settings}\n",
                    q(&e.id),
                    q(&e.adapter.display().to_string()),
                    list(&e.egress),
                    list(&e.callback_allow),
                );
                if let Some(w) = &e.webhook_secret {
                    toml += &format!("webhook_secret = {}\n", q(w));
                }
                toml += &e.extra;
                toml += "\n";
            }
            let config = dir.join("handover.toml");
            std::fs::write(&config, toml).unwrap();
            let log = std::fs::File::create(dir.join("host.log")).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_handover-host"))
                .args(["serve", "--config"])
                .arg(&config)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn handover-host");
            let mut host = Host {
                child: Some(child),
                base: format!("http://127.0.0.1:{port}"),
                dir,
                http: reqwest::Client::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(r) = host.http.get(format!("{}/healthz", host.base)).send().await
                    && r.status().is_success()
                {
                    return host;
                }
                if let Some(Ok(Some(status))) = host.child.as_mut().map(Child::try_wait) {
                    panic!("handover-host exited with {status}:\n{}", host.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "handover-host did not start:\n{}",
                    host.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        pub fn log(&self) -> String {
            std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
        }

        pub fn webhook_url(&self, endpoint: &str) -> String {
            format!("{}/v1/webhooks/{endpoint}", self.base)
        }

        async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }

        pub async fn create(&self, endpoint: &str, session: &str, extra: Value) -> (u16, Value) {
            let mut body = json!({
                "session_id": session, "user_id": "u-1", "channel": "webchat", "locale": "en-US",
                "transcript": [{"author": "user", "text": "help", "timestamp_ms": 1}],
                "accepted_message": "An agent will be with you shortly.",
                "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
            });
            for (k, v) in extra.as_object().cloned().unwrap_or_default() {
                body[k] = v;
            }
            let url = format!("{}/v1/endpoints/{endpoint}/handovers", self.base);
            self.call(self.http.post(url).json(&body)).await
        }

        pub async fn input(&self, id: &str, kind: &str, text: &str) -> (u16, Value) {
            let url = format!("{}/v1/handovers/{id}/input", self.base);
            self.call(
                self.http
                    .post(url)
                    .json(&json!({"kind": kind, "text": text})),
            )
            .await
        }

        pub async fn status(&self, id: &str) -> Value {
            self.call(self.http.get(format!("{}/v1/handovers/{id}", self.base)))
                .await
                .1
        }

        pub async fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
            let deadline = Instant::now() + timeout;
            loop {
                let v = self.status(id).await;
                if v["status"] == status {
                    return v;
                }
                assert!(
                    Instant::now() < deadline,
                    "handover {id} never reached `{status}`; last: {v}\n--- host log ---\n{}",
                    self.log()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }

        /// The handover's SSE events until `ended` (or the timeout).
        pub async fn handover_events(
            &self,
            id: &str,
            _after: Option<i64>,
            timeout: Duration,
        ) -> Vec<Value> {
            let url = format!("{}/v1/handovers/{id}/events", self.base);
            let mut resp = self.http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let (mut events, mut buf) = (vec![], String::new());
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                    Ok(Ok(Some(c))) => c,
                    _ => return events,
                };
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find("\n\n") {
                    let frame: String = buf.drain(..i + 2).collect();
                    let data: String = frame
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    if data.is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&data).unwrap();
                    let done = v["type"] == "ended";
                    events.push(v);
                    if done {
                        return events;
                    }
                }
            }
        }
    }

    pub fn types(events: &[Value]) -> Vec<String> {
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}
