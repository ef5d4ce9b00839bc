//! The end-to-end harness: the real `handover-host` binary as a child
//! process with a generated config, real HTTP over loopback, the real sim
//! provider simulator (or any `provider_simulators` driver), and SSE parsing.

#![allow(dead_code)]

use provider_simulators::driver::{EndpointSetup, ProviderDriver};
use provider_simulators::{SimConfig, SimProvider};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "e2e-webhook-secret";
pub const ADMIN_KEY: &str = "e2e-admin-key";

pub fn adapter(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/adapters")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run `scripts/build-adapters.sh` (the README's test command does)",
        p.display()
    );
    p
}

/// One endpoint of the generated config.
#[derive(Clone)]
pub struct Ep {
    pub id: String,
    pub adapter: PathBuf,
    pub settings: Value,
    pub egress: Vec<String>,
    pub callback_allow: Vec<String>,
    pub webhook_secret: Option<String>,
    /// Extra TOML lines inside the endpoint table (e.g. `[endpoints.timers]`).
    pub extra: String,
}

impl Ep {
    /// The `sim` adapter bound to a simulator.
    pub fn sim(id: &str, sim: &SimProvider) -> Ep {
        Ep {
            id: id.into(),
            adapter: adapter("sim"),
            settings: json!({"base_url": sim.base_url()}),
            egress: vec![sim.base_url()],
            callback_allow: vec![],
            webhook_secret: Some(SECRET.into()),
            extra: String::new(),
        }
    }

    /// Adapter `name` configured as a `provider_simulators` driver asks:
    /// its settings, egress, webhook secret (`None`: no webhooks) and extra
    /// TOML (`[endpoints.secrets]`, `[[endpoints.auth]]` rules with which the
    /// host adds the provider's credentials).
    pub fn from_driver_setup(id: &str, name: &str, setup: EndpointSetup) -> Ep {
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
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Host {
    pub child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub http: reqwest::Client,
    /// The PostgreSQL schema of a host in PG mode (dropped after the host).
    pub pg: Option<std::sync::Arc<crate::postgres::Schema>>,
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

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

pub fn config_toml(port: u16, dir: &std::path::Path, eps: &[Ep]) -> String {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {}\nadmin_key = \"{ADMIN_KEY}\"\n\n",
        toml_str(&dir.join("data").display().to_string())
    );
    for e in eps {
        s += &format!(
            "[[endpoints]]\nid = {}\nadapter = {}\n",
            toml_str(&e.id),
            toml_str(&e.adapter.display().to_string())
        );
        s += &format!(
            "egress = [{}]\n",
            e.egress
                .iter()
                .map(|x| toml_str(x))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s += &format!(
            "callback_allow = [{}]\n",
            e.callback_allow
                .iter()
                .map(|x| toml_str(x))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(w) = &e.webhook_secret {
            s += &format!("webhook_secret = {}\n", toml_str(w));
        }
        let settings: toml::Value = serde_json::from_value(e.settings.clone()).unwrap();
        s += &format!("settings = {}\n", settings);
        s += &e.extra;
        s += "\n";
    }
    s
}

impl Host {
    /// SQLite, or PostgreSQL when `HANDOVER_E2E_STORE=postgres` (see
    /// `crate::postgres`).
    pub async fn start(eps: &[Ep]) -> Host {
        let pg = crate::postgres::schema_for_env().await;
        Host::start_on(eps, pg).await
    }

    /// Endpoint `id` on adapter `name` set up as `driver` asks
    /// (`Ep::from_driver_setup`), with the driver's webhooks pointed at it.
    pub async fn start_for_driver(id: &str, name: &str, driver: &dyn ProviderDriver) -> Host {
        let host = Host::start(&[Ep::from_driver_setup(id, name, driver.endpoint_setup())]).await;
        driver.set_webhook_url(&host.webhook_url(id));
        host
    }

    /// Like [`Host::start`], with extra lines in the `[server]` table.
    pub async fn start_with_server(eps: &[Ep], server: &str) -> Host {
        let pg = crate::postgres::schema_for_env().await;
        Host::start_configured(eps, pg, server).await
    }

    /// On PostgreSQL schema `pg` (shared by every host started on it, like
    /// replicas), or on SQLite with `None`.
    pub async fn start_on(eps: &[Ep], pg: Option<std::sync::Arc<crate::postgres::Schema>>) -> Host {
        Host::start_configured(eps, pg, "").await
    }

    async fn start_configured(
        eps: &[Ep],
        pg: Option<std::sync::Arc<crate::postgres::Schema>>,
        server: &str,
    ) -> Host {
        let dir = std::env::temp_dir().join(format!("handover-e2e-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let config = dir.join("handover.toml");
        let mut toml = config_toml(port, &dir, eps).replacen(
            "[server]\n",
            &format!("[server]\n{server}\n"),
            1,
        );
        if let Some(schema) = &pg {
            toml = schema.store_section() + &toml;
        }
        std::fs::write(&config, toml).unwrap();
        let mut h = Host {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            config,
            http: reqwest::Client::new(),
            pg,
        };
        h.spawn().await;
        h
    }

    /// Start (or restart) the binary on the same port, data and config.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("host.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_handover-host"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn handover-host");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("handover-host exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "handover-host did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// The value of an unlabelled counter or gauge on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric `{name}` in:\n{text}"))
    }

    /// The sum of a labelled metric over all its label values.
    pub async fn metric_sum(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        let prefix = format!("{name}{{");
        text.lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
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

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
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
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
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
        self.get(&format!("/v1/handovers/{id}")).await.1
    }

    /// Poll the status until it is `status` (panics with the log otherwise).
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

    /// Poll `check` every 25 ms until it yields (panics with the log after
    /// `timeout`).
    pub async fn eventually<X>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl AsyncFnMut() -> Option<X>,
    ) -> X {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(x) = check().await {
                return x;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n--- host log ---\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Read the SSE stream at `path` from `last_event_id` until `stop`
    /// returns true for an event, or the stream ends, or `timeout`.
    pub async fn sse(
        &self,
        path: &str,
        last_event_id: Option<i64>,
        timeout: Duration,
        stop: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        read_sse(req, Some(timeout), stop).await
    }

    pub async fn handover_events(
        &self,
        id: &str,
        after: Option<i64>,
        timeout: Duration,
    ) -> Vec<Value> {
        self.sse(&format!("/v1/handovers/{id}/events"), after, timeout, |e| {
            e["type"] == "ended"
        })
        .await
    }

    /// The handover's events from the start until `ended`, read live by a
    /// task started now; it has no timeout of its own (bound the join).
    pub fn spawn_handover_events(&self, id: &str) -> tokio::task::JoinHandle<Vec<Value>> {
        let req = self
            .http
            .get(format!("{}/v1/handovers/{id}/events", self.base));
        tokio::spawn(read_sse(req, None, |e| e["type"] == "ended"))
    }
}

/// The events of an SSE response until `stop` returns true for one, or the
/// stream ends, or `timeout` (from the response; `None`: no limit).
async fn read_sse(
    req: reqwest::RequestBuilder,
    timeout: Option<Duration>,
    stop: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut events = vec![];
    let mut buf = String::new();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let next = match deadline {
            Some(d) => tokio::time::timeout_at(d, resp.chunk()).await.ok(),
            None => Some(resp.chunk().await),
        };
        let Some(Ok(Some(chunk))) = next else {
            return events;
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let frame: String = buf.drain(..i + 2).collect();
            let (mut id, mut data) = (None, String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(
                Some(v["id"].as_i64().unwrap()),
                id,
                "SSE id and data id differ"
            );
            let done = stop(&v);
            events.push(v);
            if done {
                return events;
            }
        }
    }
}

/// A simulator that delivers webhooks to `host`'s endpoint.
pub async fn sim() -> SimProvider {
    SimProvider::start(SimConfig {
        webhook_url: None,
        webhook_secret: SECRET.into(),
        auto_agent: None,
    })
    .await
    .unwrap()
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}
