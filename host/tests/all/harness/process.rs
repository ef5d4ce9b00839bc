//! `HostProcess`: the real `handover-host serve` binary as a child process
//! with a typed `Config`, its stdout and stderr in a log file (shown by
//! every failure), waited for until its own log says it holds its port and
//! it answers `/healthz` (bounded, generous: the machine is busy; another
//! test's host on the same port is never taken for it), and killed on
//! drop. `kill` is a SIGKILL (no shutdown code runs), `terminate` a SIGTERM
//! (it drains and exits); `spawn` starts it again on the same port, config
//! and data.

use super::config::{Config, Runtime};
use super::sse::{Until, read_sse};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting host may take to answer `/healthz`.
const STARTUP: Duration = Duration::from_secs(120);

pub struct HostProcess {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Holds `handover.toml`, `host.log` and `data/`; removed on drop.
    pub dir: PathBuf,
    /// The host's `[server] data_dir` (`<dir>/data` unless the config set one).
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub http: reqwest::Client,
    rust_log: String,
    envs: Vec<(String, String)>,
    /// A command the binary runs under (e.g. `prlimit --as=N`), if any.
    wrapper: Vec<String>,
}

/// A response: status, `Retry-After`, the body as JSON (`Null` if not) and text.
pub struct Resp {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
    pub text: String,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} (retry-after {:?}) {}",
            self.status, self.retry_after, self.text
        )
    }
}

impl Resp {
    pub async fn of(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap_or_default();
        Resp {
            status,
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }
}

/// The body of a bot's create-handover call for `session`.
pub fn create_body(session: &str) -> Value {
    json!({
        "session_id": session, "user_id": "u-1", "channel": "webchat", "locale": "en-US",
        "transcript": [{"author": "user", "text": "help", "timestamp_ms": 1}],
        "accepted_message": "An agent will be with you shortly.",
        "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
    })
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl HostProcess {
    /// Start with `RUST_LOG=info`, or `$HANDOVER_TEST_RUST_LOG` when set
    /// (e.g. `debug` to chase a flaky test: a failure prints the host's log).
    pub async fn start(config: Config) -> HostProcess {
        HostProcess::start_wrapped(config, &[]).await
    }

    /// [`HostProcess::start`], the binary run by `wrapper` (see
    /// [`HostProcess::start_under`]).
    pub async fn start_wrapped(config: Config, wrapper: &[&str]) -> HostProcess {
        let log = std::env::var("HANDOVER_TEST_RUST_LOG").unwrap_or_else(|_| "info".into());
        HostProcess::start_under(config, &log, &[], wrapper).await
    }

    /// Start with `RUST_LOG=rust_log` and extra environment variables.
    /// `listen` and `data_dir` default to a free port and `<dir>/data`,
    /// `public_metrics` to `true`,
    /// `[runtime]` to [`Runtime::shared_cache`].
    pub async fn start_with(config: Config, rust_log: &str, envs: &[(&str, &str)]) -> HostProcess {
        HostProcess::start_under(config, rust_log, envs, &[]).await
    }

    /// [`HostProcess::start_with`], the binary run by `wrapper` (its
    /// command line, then the binary's): e.g. `["prlimit", "--as=N"]`.
    pub async fn start_under(
        mut config: Config,
        rust_log: &str,
        envs: &[(&str, &str)],
        wrapper: &[&str],
    ) -> HostProcess {
        let dir = std::env::temp_dir().join(format!("handover-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // A port of our choosing may be taken between `free_port` and the
        // host's bind (tests run in parallel): then another one is tried.
        let chosen = config.server.listen.is_none();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let s = &mut config.server;
            let port = match &s.listen {
                Some(addr) if !chosen => addr
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                    .expect("[server] listen as host:port"),
                _ => free_port(),
            };
            if chosen {
                s.listen = Some(format!("127.0.0.1:{port}"));
            }
            let data_dir = s.data_dir.get_or_insert_with(|| dir.join("data")).clone();
            s.public_metrics.get_or_insert(true);
            config.runtime.get_or_insert_with(Runtime::shared_cache);
            let config_path = dir.join("handover.toml");
            std::fs::write(&config_path, config.to_toml()).unwrap();
            let mut h = HostProcess {
                child: None,
                pid: 0,
                port,
                base: format!("http://127.0.0.1:{port}"),
                dir: dir.clone(),
                data_dir,
                config: config_path,
                http: reqwest::Client::new(),
                rust_log: rust_log.into(),
                envs: envs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                wrapper: wrapper.iter().map(|w| w.to_string()).collect(),
            };
            match h.try_spawn().await {
                Ok(()) => return h,
                Err(log) if chosen && attempt < 5 && log.contains("Address already in use") => {
                    let _ = std::fs::remove_file(dir.join("host.log"));
                }
                Err(log) => panic!("{log}"),
            }
        }
    }

    /// Start (or restart after `kill`) the binary on the same port, data
    /// and config, and wait until it answers `/healthz`.
    pub async fn spawn(&mut self) {
        if let Err(log) = self.try_spawn().await {
            panic!("{log}");
        }
    }

    /// [`HostProcess::spawn`], or why the host exited (with its log).
    async fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("host.log"))
            .unwrap();
        // What this spawn writes starts here (a restart appends to the log).
        let from = log.metadata().unwrap().len() as usize;
        let bin = env!("CARGO_BIN_EXE_handover-host");
        let mut command = match self.wrapper.split_first() {
            Some((run, args)) => {
                let mut c = Command::new(run);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", &self.rust_log)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn handover-host");
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP;
        loop {
            // Healthy means *this* child bound the port and answers on it:
            // another test's host that took the port first would answer
            // /healthz too, while this child fails to bind and exits.
            if self.bound_since(from)
                && let Ok(r) = self.http.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "handover-host exited with {status}:\n{}",
                    self.log()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "handover-host did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the log, from byte `from` on, says the host is listening on
    /// this port (the binary prints its bound address once it holds it).
    fn bound_since(&self, from: usize) -> bool {
        let log = std::fs::read(self.dir.join("host.log")).unwrap_or_default();
        let port = format!(":{}", self.port);
        String::from_utf8_lossy(log.get(from..).unwrap_or_default())
            .lines()
            .filter_map(|l| l.strip_prefix("handover-host listening on http://"))
            .any(|addr| addr.ends_with(&port))
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (the host drains, then exits), and wait up to `within` for
    /// it to exit; returns how long that took. Panics, with the host's log,
    /// if it exits with a failure or not in time.
    pub async fn terminate(&mut self, within: Duration) -> Duration {
        let t0 = Instant::now();
        let mut c = self.child.take().expect("the host is running");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGTERM) }, 0);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "handover-host exited with {status}:\n{}",
                    self.log()
                );
                return t0.elapsed();
            }
            if t0.elapsed() > within {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "handover-host did not exit within {within:?} of SIGTERM:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, then start again on the same port, config and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Everything the host wrote (stdout and stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn webhook_url(&self, endpoint: &str) -> String {
        self.url(&format!("/v1/webhooks/{endpoint}"))
    }

    /// User + system CPU time of the host process so far (all threads), from
    /// `/proc/<pid>/stat` (fields 14 and 15, in USER_HZ = 100 ticks/s).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after_comm.split_whitespace().collect();
        // `after_comm` starts at field 3 (state): utime is f[11], stime f[12].
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// A request to `path`, with `Authorization: Bearer key` when given.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match key {
            Some(k) => r.header("authorization", format!("Bearer {k}")),
            None => r,
        }
    }

    /// Send a request with an optional key and body (as JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.request(method, path, key);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        Resp::of(req.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .send(Method::POST, path, None, Some(body.to_string().into()))
            .await;
        (r.status, r.body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.send(Method::GET, path, None, None).await;
        (r.status, r.body)
    }

    /// Create a handover on `endpoint` (`create_body` with `extra`'s keys).
    pub async fn create(&self, endpoint: &str, session: &str, extra: Value) -> (u16, Value) {
        let mut body = create_body(session);
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
        self.eventually(
            &format!("handover {id} to reach `{status}`"),
            timeout,
            async || {
                let v = self.status(id).await;
                (v["status"] == status).then_some(v)
            },
        )
        .await
    }

    /// Poll `check` every 25 ms until it yields (panics with the log after
    /// `timeout`).
    pub async fn eventually<X>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl AsyncFnMut() -> Option<X>,
    ) -> X {
        super::eventually(what, timeout, check, || self.log()).await
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
        self.metric_sum_where(name, &[]).await
    }

    /// The sum of a labelled metric over the label sets containing every
    /// one of `labels` (each `name="value` or a prefix of one).
    pub async fn metric_sum_where(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.metrics_text().await;
        let prefix = format!("{name}{{");
        text.lines()
            .filter(|l| l.starts_with(&prefix) && labels.iter().all(|k| l.contains(k)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn metrics_text(&self) -> String {
        let r = self.send(Method::GET, "/metrics", None, None).await;
        r.text
    }

    /// Read the SSE stream at `path` (resuming after `last_event_id`) until
    /// `stop` returns true for an event, or the stream ends, or `timeout`.
    pub async fn sse(
        &self,
        path: &str,
        last_event_id: Option<i64>,
        timeout: Duration,
        stop: impl FnMut(&Value) -> bool,
    ) -> Vec<Value> {
        let mut req = self.http.get(self.url(path));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        read_sse(req, Until::Deadline(timeout), stop).await
    }

    /// A handover's events (after `after`) until `ended`, or `timeout`.
    pub async fn handover_events(
        &self,
        id: &str,
        after: Option<i64>,
        timeout: Duration,
    ) -> Vec<Value> {
        self.sse(&events_path(id), after, timeout, |e| e["type"] == "ended")
            .await
    }

    /// The handover's events from the start until `ended`, read live by a
    /// task started now; it has no timeout of its own (bound the join).
    pub fn spawn_handover_events(&self, id: &str) -> tokio::task::JoinHandle<Vec<Value>> {
        let req = self.http.get(self.url(&events_path(id)));
        tokio::spawn(read_sse(req, Until::Forever, |e| e["type"] == "ended"))
    }
}

pub fn events_path(id: &str) -> String {
    format!("/v1/handovers/{id}/events")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A host whose port another host already holds is not taken for healthy
/// (that other host answers `/healthz` on the port): its start fails with
/// the bind error, so a test never talks to another test's host.
#[tokio::test]
async fn a_host_that_cannot_bind_its_port_does_not_start() {
    let first = HostProcess::start(Config::new()).await;
    let taken = format!("127.0.0.1:{}", first.port);
    let second = Config::new().server(|s| s.listen = Some(taken));
    let started = tokio::spawn(HostProcess::start(second)).await;
    let panic = started
        .err()
        .expect("the second host was taken for started")
        .into_panic();
    let why = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(why.contains("Address already in use"), "{why}");
}
