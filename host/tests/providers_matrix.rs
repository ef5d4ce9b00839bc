//! The `matrix` adapter end to end against a REAL Synapse homeserver: the
//! real `handover-host` binary, the `matrix.wasm` component, Synapse
//! started by the `provider-simulators` matrix driver (installed by
//! `scripts/install-synapse.sh`), and an agent account driven through the
//! client-server API. The bot's access token reaches Synapse only through
//! the endpoint's `[[endpoints.auth]]` header rule.
//!
//! The host harness below is a trimmed copy of `e2e/harness.rs` (that one
//! grows with the e2e suite's own modules).

use provider_simulators::driver::{EndpointSetup, ProviderDriver};
use provider_simulators::matrix::MatrixDriver;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

async fn setup() -> (MatrixDriver, Host) {
    let driver = MatrixDriver::start()
        .await
        .unwrap_or_else(|e| panic!("starting Synapse for the matrix tests: {e:#}"));
    let host = Host::start(&driver.endpoint_setup()).await;
    (driver, host)
}

async fn create(host: &Host, session: &str) -> String {
    let body = json!({
        "user_profile": {"name": "Ann Example", "email": "ann@example.org"},
        "transcript": [
            {"author": "user", "text": "my order is late", "timestamp_ms": 1},
            {"author": "bot", "text": "Let me get you an agent.", "timestamp_ms": 2},
        ],
        "routing": {"skills": ["orders"], "language": "en", "priority": 3, "queue": "support",
                    "custom": {"tier": "gold"}},
    });
    let (code, created) = host.create(session, body).await;
    assert_eq!(code, 201, "{created}\n{}", host.log());
    created["handover_id"].as_str().unwrap().to_string()
}

/// Waits until `check` holds for the driver's view of the user's messages.
async fn wait_user_messages(d: &MatrixDriver, room: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + T;
    loop {
        let got = d.user_messages(room).await;
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["content"]["body"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn handover_to_a_matrix_room_completes_when_the_agent_closes() {
    let (d, host) = setup().await;
    let id = create(&host, "s-happy").await;
    let room = d
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no Matrix room for {id}\n{}", host.log()));

    // The bot's event stream, read from the start until the end.
    let stream = {
        let (base, id) = (host.base.clone(), id.clone());
        tokio::spawn(async move { sse_until_ended(&base, &id).await })
    };

    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    // The agent sees the intro (routing) and the transcript.
    let seen = bodies(&d.room_messages(&room).await);
    assert!(seen[0].contains(&format!("Handover {id}")), "{seen:?}");
    assert!(
        seen[0].contains("skills orders · language en · priority 3 · queue support · tier=gold")
    );
    assert!(
        seen.contains(&"User: my order is late".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"Bot: Let me get you an agent.".to_string()),
        "{seen:?}"
    );

    d.agent_typing(&room, true).await;
    d.agent_message(&room, "Hi Ann, I am Alice. Let me check.")
        .await;
    let (code, r) = host.input(&id, "text", "thank you!").await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("forwarded")),
        "{r}"
    );
    // Cancel words once an agent is active are text for the agent.
    let (code, r) = host.input(&id, "quick_reply", "Cancel").await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("forwarded")),
        "{r}"
    );
    let got = wait_user_messages(&d, &room, 2).await;
    assert_eq!(got, ["thank you!", "Cancel"]);
    d.agent_message(&room, "Your order ships today.").await;
    d.end(&room).await;

    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["result"], json!({"handover": {"status": "completed"}}));
    let events = tokio::time::timeout(T, stream).await.unwrap().unwrap();
    let t = types(&events);
    assert_eq!(t.first().map(String::as_str), Some("queued"), "{t:?}");
    assert!(t.contains(&"agent_joined".into()), "{t:?}");
    assert!(t.contains(&"agent_typing".into()), "{t:?}");
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Hi Ann, I am Alice. Let me check.",
            "Your order ships today."
        ]
    );
    let joined = events.iter().find(|e| e["type"] == "agent_joined").unwrap();
    assert_eq!(
        joined["agent"],
        json!({"id": d.agent.user_id, "name": "Alice"})
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ended");
    assert_eq!(last["handover"], json!({"status": "completed"}));
    assert_eq!(last["end_reason"], "agent_closed");

    // The bot said goodbye and left; every adapter request carried the token.
    let deadline = Instant::now() + T;
    while d.bot.joined_rooms().await.unwrap().contains(&room) {
        assert!(Instant::now() < deadline, "the bot never left {room}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = d.requests();
    assert!(requests.iter().all(|r| r.bearer), "{requests:?}");
    assert!(requests.iter().any(|r| r.path.ends_with("/createRoom")));
    assert!(requests.iter().any(|r| r.path.ends_with("/sync")));
    d.shutdown().await;
}

#[tokio::test]
async fn cancel_close_agents_leaving_and_failures() {
    let (d, host) = setup().await;

    // The user cancels while queued: the bot leaves and rescinds the invite.
    let id = create(&host, "s-cancel").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    assert!(d.pending_invites().await.contains(&room));
    let (code, r) = host.input(&id, "quick_reply", "Cancel").await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("cancelled")),
        "{r}"
    );
    assert_eq!(d.closed_by_bot(&room).await, Some(true));
    assert!(
        !d.pending_invites().await.contains(&room),
        "the agent's invite was not rescinded: {:?}",
        d.requests()
    );

    // The bot side closes after the agent joined.
    let id = create(&host, "s-close").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (code, r["provider_closed"].as_bool()),
        (200, Some(true)),
        "{r}"
    );
    assert_eq!(d.closed_by_bot(&room).await, Some(true));
    let seen = bodies(&d.room_messages(&room).await);
    assert!(seen.last().unwrap().contains("bot side closed"), "{seen:?}");

    // The only agent leaves: agent_left, then ended (agent_left), completed.
    let id = create(&host, "s-leave").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    d.agent_leave(&room).await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["end_reason"], "agent_left");
    let t = types(&host.handover_events(&id).await);
    assert!(
        t.ends_with(&["agent_left".to_string(), "ended".to_string()]),
        "{t:?}"
    );

    // Synapse failing room creation: the handover ends as an error naming the status.
    d.fail_next_start(503);
    let (code, created) = host.create("s-fail", json!({})).await;
    let id = created["handover_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let st = if id.is_empty() {
        created.clone()
    } else {
        host.wait_status(&id, "error", T).await
    };
    assert!(code == 201 || code >= 400, "{code} {created}");
    assert!(st.to_string().contains("503"), "{st}");

    // An unsupported channel.
    let (_, created) = host.create("s-fax", json!({"channel": "fax"})).await;
    let text = created.to_string();
    assert!(text.contains("unsupported"), "{text}");

    // Availability from the agent's presence (the driver set it online).
    let (code, a) = host.get("/v1/endpoints/matrix/availability").await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["agents_available"], true, "{a}");
    d.shutdown().await;
}

/// Reads `/v1/handovers/{id}/events` from the start until the `ended` event.
async fn sse_until_ended(base: &str, id: &str) -> Vec<Value> {
    let mut resp = reqwest::Client::new()
        .get(format!("{base}/v1/handovers/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (mut events, mut buf) = (Vec::new(), String::new());
    while let Ok(Some(chunk)) = resp.chunk().await {
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
    events
}

/// The `handover-host` binary with one `matrix` endpoint, killed on drop.
struct Host {
    child: Child,
    base: String,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

impl Host {
    async fn start(setup: &EndpointSetup) -> Host {
        let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/adapters/matrix.wasm");
        assert!(
            wasm.exists(),
            "{} is missing: run `scripts/build-adapters.sh`",
            wasm.display()
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("handover-matrix-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings: toml::Value = serde_json::from_value(setup.settings.clone()).unwrap();
        let egress: Vec<String> = setup.egress.iter().map(|e| toml_str(e)).collect();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {}\n\n\
             [[endpoints]]\nid = \"matrix\"\nadapter = {}\negress = [{}]\nsettings = {settings}\n{}\n",
            toml_str(&dir.join("data").display().to_string()),
            toml_str(&wasm.display().to_string()),
            egress.join(", "),
            setup.extra_toml,
        );
        let config_path = dir.join("handover.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("host.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_handover-host"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn handover-host");
        let mut host = Host {
            child,
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
            if let Ok(Some(status)) = host.child.try_wait() {
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

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, session: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({
            "session_id": session, "user_id": "u-1", "channel": "webchat", "locale": "en-US",
            "accepted_message": "An agent will be with you shortly.",
            "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.post("/v1/endpoints/matrix/handovers", body).await
    }

    async fn input(&self, id: &str, kind: &str, text: &str) -> (u16, Value) {
        let body = json!({"kind": kind, "text": text});
        self.post(&format!("/v1/handovers/{id}/input"), body).await
    }

    /// Polls the status until it is `status` (panics with the log otherwise).
    async fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, v) = self.get(&format!("/v1/handovers/{id}")).await;
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

    /// The handover's SSE events from the start until `ended`.
    async fn handover_events(&self, id: &str) -> Vec<Value> {
        tokio::time::timeout(T, sse_until_ended(&self.base, id))
            .await
            .expect("SSE ended in time")
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}
