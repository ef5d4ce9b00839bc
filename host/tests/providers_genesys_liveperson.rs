//! The `genesys-open-messaging` and `liveperson` adapters end to end: the
//! real `handover-host` binary, the real components and the protocol
//! simulators of `provider-simulators`. The simulators answer 401 to any
//! request without a token they issued, and the adapters never send one:
//! every successful provider call proves the host fetched the OAuth
//! client-credentials token and added it.

use harness::{Ep, Host, adapter, types};
use provider_simulators::driver::{EndpointSetup, ProviderDriver};
use provider_simulators::genesys::GenesysDriver;
use provider_simulators::liveperson::LivePersonDriver;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn endpoint(id: &str, adapter_name: &str, s: EndpointSetup, extra: &str) -> Ep {
    Ep {
        id: id.into(),
        adapter: adapter(adapter_name),
        settings: s.settings,
        egress: s.egress,
        webhook_secret: s.webhook_secret,
        extra: format!("{}\n{extra}", s.extra_toml),
    }
}

async fn create(host: &Host, ep: &str, session: &str) -> String {
    let body = json!({
        "user_profile": {"name": "Ann Example", "email": "ann@example.org"},
        "transcript": [
            {"author": "user", "text": "my order is late", "timestamp_ms": 1},
            {"author": "bot", "text": "Let me get you an agent.", "timestamp_ms": 2},
        ],
        "routing": {"skills": ["orders"], "language": "en", "priority": 3, "queue": "42",
                    "custom": {"tier": "gold"}},
    });
    let (code, created) = host.create(ep, session, body).await;
    assert_eq!(code, 201, "{created}\n{}", host.log());
    created["handover_id"].as_str().unwrap().to_string()
}

fn agent_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .map(|e| e["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Polls `f` until it returns `Some` or `T` passes.
async fn eventually<R>(what: &str, host: &Host, mut f: impl AsyncFnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f().await {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- Genesys

async fn genesys(extra: &str, poll: bool) -> (GenesysDriver, Host) {
    let d = GenesysDriver::start().await.unwrap();
    let mut s = d.endpoint_setup();
    s.settings["poll_conversation"] = poll.into();
    let host = Host::start(&[endpoint("gen", "genesys-open-messaging", s, extra)]).await;
    d.set_webhook_url(&host.webhook_url("gen"));
    (d, host)
}

#[tokio::test]
async fn genesys_handover_completes_with_host_applied_oauth() {
    let (d, host) = genesys("", true).await;
    let id = create(&host, "gen", "s-happy").await;
    let conv = d
        .sim
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no Genesys conversation\n{}", host.log()));
    // The host fetched a token and every API call carried it.
    assert!(d.sim.tokens_issued() >= 1);
    let api: Vec<_> = d
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    assert!(
        !api.is_empty() && api.iter().all(|r| r.authorization && r.status < 300),
        "{api:?}"
    );
    // Transcript as the first inbound message(s); routing as participant data.
    assert_eq!(
        conv.inbound[0].text,
        "User: my order is late\nBot: Let me get you an agent."
    );
    assert_eq!(conv.attributes["queue"], "42");
    assert_eq!(conv.attributes["skills"], "orders");
    assert_eq!(conv.attributes["tier"], "gold");
    assert_eq!(conv.attributes["handover_id"], id);
    assert_eq!(conv.from["nickname"], "Ann Example");

    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.agent_message(&conv.id, "Hi, I am Alex.").await;
    let (code, _) = host.input(&id, "text", "thanks").await;
    assert_eq!(code, 200);
    eventually("the user's message at Genesys", &host, async || {
        d.user_messages(&conv.id)
            .await
            .contains(&"thanks".to_string())
            .then_some(())
    })
    .await;
    // No webhook ends it: the adapter's participant poll sees the agent leave.
    d.end(&conv.id).await;
    let events = host.handover_events(&id, T).await;
    assert_eq!(
        types(&events),
        [
            "queued",
            "agent_joined",
            "agent_typing",
            "agent_message",
            "ended"
        ],
        "{events:?}\n{}",
        host.log()
    );
    assert_eq!(events[1]["agent"]["name"], "Alex");
    assert_eq!(agent_texts(&events), ["Hi, I am Alex."]);
    let st = host.status(&id).await;
    assert_eq!(st["result"]["handover"]["status"], "completed", "{st}");
    assert_eq!(st["end_reason"], "agent_closed");
    d.shutdown().await;
}

#[tokio::test]
async fn genesys_without_an_end_signal_ends_by_inactivity_and_cannot_close() {
    let (d, host) = genesys("[endpoints.timers]\ninactivity_timeout_s = 3\n", false).await;
    let id = create(&host, "gen", "s-idle").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    d.agent_message(&conv.id, "Anything else?").await;
    host.wait_status(&id, "active", T).await;
    d.end(&conv.id).await; // nothing reaches the host: no poll, no webhook
    let events = host.handover_events(&id, T).await;
    assert_eq!(events.last().unwrap()["type"], "ended", "{events:?}");
    let st = host.status(&id).await;
    assert_eq!(st["end_reason"], "user_inactivity", "{st}");

    // The bot side cannot disconnect: the host ends its own side and says so.
    let id = create(&host, "gen", "s-close").await;
    d.sim.wait_for_conversation(&id, T).await.unwrap();
    let (code, closed) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{closed}");
    assert_eq!(closed["provider_closed"], false, "{closed}");
    assert!(
        closed["detail"]
            .as_str()
            .unwrap_or("")
            .contains("cannot close"),
        "{closed}"
    );
    d.shutdown().await;
}

#[tokio::test]
async fn genesys_cancel_leaves_a_note_and_wrong_credentials_fail_the_start() {
    let (d, host) = genesys("", true).await;
    let id = create(&host, "gen", "s-cancel").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    let (code, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("cancelled")),
        "{r}"
    );
    let last = d.user_messages(&conv.id).await.pop().unwrap();
    assert!(last.contains("cancelled"), "{last}");
    d.shutdown().await;

    // A wrong client secret: the token endpoint refuses, nothing is sent.
    let d = GenesysDriver::start().await.unwrap();
    let mut s = d.endpoint_setup();
    s.extra_toml = s
        .extra_toml
        .replace(&d.sim.config().client_secret, "wrong-secret");
    let host = Host::start(&[endpoint("gen", "genesys-open-messaging", s, "")]).await;
    let id = create(&host, "gen", "s-badcred").await;
    let st = host.wait_status(&id, "error", T).await;
    assert!(d.sim.conversations().is_empty());
    assert_eq!(d.sim.tokens_issued(), 0, "{st}");
    d.shutdown().await;
}

// -------------------------------------------------------------- LivePerson

async fn liveperson(extra: &str) -> (LivePersonDriver, Host) {
    let d = LivePersonDriver::start().await.unwrap();
    let host = Host::start(&[endpoint("lp", "liveperson", d.endpoint_setup(), extra)]).await;
    d.set_webhook_url(&host.webhook_url("lp"));
    (d, host)
}

#[tokio::test]
async fn liveperson_handover_completes_with_host_applied_app_jwt() {
    let (d, host) = liveperson("").await;
    let id = create(&host, "lp", "s-happy").await;
    let conv = d
        .sim
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no LivePerson conversation\n{}", host.log()));
    assert!(d.sim.tokens_issued() >= 1, "the host fetched the AppJWT");
    assert_eq!(conv.skill_id.as_deref(), Some("42"));
    assert_eq!(conv.ttr.as_deref(), Some("URGENT"));
    assert_eq!(conv.sdes[0]["info"]["customerId"], "u-1");
    assert_eq!(conv.sdes[1]["personal"]["firstname"], "Ann Example");
    let transcript = eventually("the transcript at LivePerson", &host, async || {
        d.user_messages(&conv.id).await.into_iter().next()
    })
    .await;
    assert_eq!(
        transcript,
        "System: Handover context: skills=orders; tier=gold\nUser: my order is late\nBot: Let me get you an agent."
    );

    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.sim.agent_typing(&conv.id, true);
    d.agent_message(&conv.id, "Hi, I am Alex.").await;
    d.sim.agent_rich_content(
        &conv.id,
        json!({"type": "vertical", "elements": [
            {"type": "text", "text": "Pick one"}, {"type": "button", "title": "Refund", "click": {}}]}),
    );
    let (code, _) = host.input(&id, "text", "thanks").await;
    assert_eq!(code, 200);
    eventually("the user's message at LivePerson", &host, async || {
        (d.user_messages(&conv.id).await.last().map(String::as_str) == Some("thanks")).then_some(())
    })
    .await;
    d.end(&conv.id).await;
    let events = host.handover_events(&id, T).await;
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
        "{events:?}\n{}",
        host.log()
    );
    assert_eq!(
        agent_texts(&events),
        ["Hi, I am Alex.", "Pick one\n[Refund]"]
    );
    let st = host.status(&id).await;
    assert_eq!(st["result"]["handover"]["status"], "completed", "{st}");
    assert_eq!(st["end_reason"], "agent_closed");
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(false));
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_orders_and_dedupes_webhooks() {
    let (d, host) = liveperson("").await;
    let id = create(&host, "lp", "s-order").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    d.set_duplicate_webhooks(true);
    d.agent_message(&conv.id, "once").await;
    d.set_duplicate_webhooks(false);
    d.set_hold_webhooks(true);
    let sent = ["first", "second", "third", "fourth"];
    for t in sent {
        d.agent_message(&conv.id, t).await;
    }
    d.release_held(true).await; // newest first
    d.set_hold_webhooks(false);
    d.end(&conv.id).await;
    let events = host.handover_events(&id, T).await;
    assert_eq!(events.last().unwrap()["type"], "ended", "{events:?}");
    assert_eq!(
        agent_texts(&events),
        ["once", "first", "second", "third", "fourth"],
        "{}",
        host.log()
    );
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_bot_side_close_and_cancel_close_the_conversation() {
    let (d, host) = liveperson("").await;
    let id = create(&host, "lp", "s-cancel").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    let (code, r) = host.input(&id, "intent", "cancel_handover").await;
    assert_eq!(
        (code, r["result"].as_str()),
        (200, Some("cancelled")),
        "{r}"
    );
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(true));

    let id = create(&host, "lp", "s-close").await;
    let conv = d.sim.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&conv.id, "Alex").await;
    host.wait_status(&id, "active", T).await;
    let (code, closed) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (code, &closed["provider_closed"]),
        (200, &json!(true)),
        "{closed}"
    );
    assert_eq!(d.closed_by_bot(&conv.id).await, Some(true));
    d.shutdown().await;
}

#[tokio::test]
async fn liveperson_provider_errors_fail_the_start() {
    let (d, host) = liveperson("").await;
    d.fail_next_start(503);
    let id = create(&host, "lp", "s-503").await;
    let st = host.wait_status(&id, "error", T).await;
    let message = st["result"]["handover"]["error"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("503"), "{st}");
    assert_eq!(st["result"]["handover"]["error"]["reason"], "error");
    // An unsupported channel never reaches the provider.
    let (code, created) = host.create("lp", "s-fax", json!({"channel": "fax"})).await;
    assert_eq!(code, 201, "{created}");
    let id = created["handover_id"].as_str().unwrap();
    let st = host.wait_status(id, "error", T).await;
    assert_eq!(
        st["result"]["handover"]["error"]["reason"], "unsupported",
        "{st}"
    );
    d.shutdown().await;
}

/// What these tests need of `e2e/harness.rs` (copied: that harness also
/// pulls in the e2e suite's PostgreSQL mode): the real binary on a
/// generated config, its bot API and its SSE stream.
mod harness {
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
        pub webhook_secret: Option<String>,
        /// TOML lines inside the endpoint table (auth rules, timers).
        pub extra: String,
    }

    pub struct Host {
        child: Child,
        pub base: String,
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

    fn q(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    impl Host {
        pub async fn start(eps: &[Ep]) -> Host {
            let dir = std::env::temp_dir().join(format!("handover-gl-{}", uuid::Uuid::new_v4()));
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
                let egress: Vec<String> = e.egress.iter().map(|x| q(x)).collect();
                toml += &format!(
                    "[[endpoints]]\nid = {}\nadapter = {}\negress = [{}]\n",
                    q(&e.id),
                    q(&e.adapter.display().to_string()),
                    egress.join(", ")
                );
                if let Some(w) = &e.webhook_secret {
                    toml += &format!("webhook_secret = {}\n", q(w));
                }
                let settings: toml::Value = serde_json::from_value(e.settings.clone()).unwrap();
                toml += &format!("settings = {settings}\n{}\n", e.extra);
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
                    "host not healthy:\n{}",
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

        pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
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

        pub async fn create(&self, endpoint: &str, session: &str, extra: Value) -> (u16, Value) {
            let mut body = json!({
                "session_id": session, "user_id": "u-1", "channel": "webchat", "locale": "en-US",
                "transcript": [{"author": "user", "text": "help", "timestamp_ms": 1}],
                "accepted_message": "An agent will be with you shortly.",
                "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
            });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            self.post(&format!("/v1/endpoints/{endpoint}/handovers"), body)
                .await
        }

        pub async fn input(&self, id: &str, kind: &str, text: &str) -> (u16, Value) {
            self.post(
                &format!("/v1/handovers/{id}/input"),
                json!({"kind": kind, "text": text}),
            )
            .await
        }

        pub async fn status(&self, id: &str) -> Value {
            let r = self
                .http
                .get(format!("{}/v1/handovers/{id}", self.base))
                .send()
                .await
                .unwrap();
            r.json().await.unwrap_or(Value::Null)
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
                    "handover {id} never reached `{status}`; last: {v}\n{}",
                    self.log()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }

        /// The handover's SSE events from the start until `ended` (or `timeout`).
        pub async fn handover_events(&self, id: &str, timeout: Duration) -> Vec<Value> {
            let url = format!("{}/v1/handovers/{id}/events", self.base);
            let mut resp = self.http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let (mut events, mut buf) = (Vec::new(), String::new());
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await
                else {
                    return events;
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
