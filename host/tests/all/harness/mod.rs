//! What the tests share: where the guest components are (`guest`), the
//! real binary as a child process (`HostProcess`) with a typed config
//! (`Config`), SSE (`sse`), PostgreSQL schemas (`pg`), signed sim
//! webhooks (`Webhook`), in-process runtime helpers (`wasm`) and small
//! helpers over events.

#![allow(dead_code)]

pub mod config;
pub mod pg;
pub mod process;
pub mod sse;
pub mod wasm;

pub use config::{AuthKind, Config, Endpoint, Runtime, sha256_hex};
pub use process::{HostProcess, Resp, create_body, events_path};
pub use sse::{SseStream, Until, read_sse};

use provider_simulators::{SimConfig, SimProvider};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Path of guest component `name`, built by `scripts/build-adapters.sh`
/// (every lookup of a built component goes through here).
pub fn guest(name: &str) -> PathBuf {
    // Built by `tests/guests/build.rs` (a dev-dependency), so a plain
    // `cargo test` builds every guest first.
    match handover_guests::ALL.iter().find(|(n, _)| *n == name) {
        Some((_, path)) => PathBuf::from(path),
        None => panic!(
            "no guest component `{name}`; the adapters workspace builds: {:?}",
            handover_guests::ALL
                .iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        ),
    }
}

pub fn guest_bytes(name: &str) -> Vec<u8> {
    std::fs::read(guest(name)).unwrap()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn now_s() -> u64 {
    (now_ms() / 1000) as u64
}

/// `handover-host conformance <wasm> --simulator <simulator>`: whether it
/// passed, and its stdout and stderr.
pub fn run_conformance(wasm: &Path, simulator: &str, options: &[&str]) -> (bool, String) {
    let mut args = vec![wasm.as_os_str(), "--simulator".as_ref(), simulator.as_ref()];
    args.extend(options.iter().map(|o| std::ffi::OsStr::new(*o)));
    run_kit(&args)
}

/// `handover-host conformance ARGS…`, its logs on stderr (`--log -`) so a
/// failure shows them: whether it succeeded, and stdout then stderr.
pub fn run_kit(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_handover-host"));
    run_to_end(cmd.arg("conformance").args(args).args(["--log", "-"]))
}

/// Run `cmd` to its end: whether it succeeded, and stdout then stderr.
pub fn run_to_end(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub use handover_guests::leb128;

/// A sim provider event (the envelope plus `fields`).
pub fn sim_event(event_id: &str, conv: &str, seq: u64, kind: &str, fields: Value) -> Value {
    let mut v = json!({"event_id": event_id, "conversation_id": conv, "seq": seq, "type": kind});
    if let Value::Object(m) = fields {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

/// The sim's `agent_message` event from agent Alex (`a-1`).
pub fn agent_message(event_id: &str, conv: &str, seq: u64, text: &str) -> Value {
    sim_event(
        event_id,
        conv,
        seq,
        "agent_message",
        json!({"agent": {"id": "a-1", "name": "Alex"}, "text": text, "attachments": []}),
    )
}

/// Poll `check` every 25 ms until it yields; after `timeout`, panic naming
/// `what` with `context()` (a host's log, say).
pub async fn eventually<X>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<X>,
    context: impl Fn() -> String,
) -> X {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(x) = check().await {
            return x;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n--- host log ---\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A sim provider signing its webhooks with `secret` (URL set later).
pub async fn sim_with_secret(secret: &str) -> SimProvider {
    SimProvider::start(SimConfig {
        webhook_url: None,
        webhook_secret: secret.into(),
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

/// An API refusal: status `want` and an `error.message` containing `needle`.
pub fn assert_api_error(code: u16, body: &Value, want: u16, needle: &str) {
    assert_eq!(code, want, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "no {needle:?} in the message: {body}"
    );
}

/// The string `field` of every object in the array `list`
/// (`strings_of(&body["endpoints"], "id")`).
pub fn strings_of<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    items
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field}: {item}"))
        })
        .collect()
}

pub fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// Texts of the `agent_message` events, in order.
pub fn agent_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_message")
        .map(|e| e["text"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Agent message texts the sim emitted on `conv`, in seq order.
pub fn sim_agent_texts(sim: &SimProvider, conv: &str) -> Vec<String> {
    agent_texts(&sim.events(conv))
}

/// A sim provider webhook as the sim sends it; `signature: None` leaves
/// the signature header out.
pub struct Webhook {
    pub endpoint: String,
    pub body: Vec<u8>,
    pub timestamp: Option<String>,
    pub delivery: Option<String>,
    pub signature: Option<String>,
}

impl Webhook {
    /// Signed with `secret` at `ts`, delivery id taken from the body's `event_id`.
    pub fn signed(endpoint: &str, body: Vec<u8>, secret: &str, ts: u64) -> Webhook {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Webhook {
            endpoint: endpoint.into(),
            delivery: v["event_id"].as_str().map(String::from),
            signature: Some(provider_simulators::sign(secret, ts, &body)),
            timestamp: Some(ts.to_string()),
            body,
        }
    }

    /// POST it; the status and the response body text.
    pub async fn send(&self, host: &HostProcess) -> (u16, String) {
        let r = self.resp(host).await;
        (r.status, r.text)
    }

    /// POST it.
    pub async fn resp(&self, host: &HostProcess) -> Resp {
        let mut req = host
            .http
            .post(host.webhook_url(&self.endpoint))
            .header("content-type", "application/json")
            .body(self.body.clone());
        if let Some(t) = &self.timestamp {
            req = req.header("x-sim-timestamp", t);
        }
        if let Some(d) = &self.delivery {
            req = req.header("x-sim-delivery", d);
        }
        if let Some(s) = &self.signature {
            req = req.header("x-sim-signature", s);
        }
        Resp::of(req.send().await.unwrap()).await
    }
}

/// Runs `cmd`, failing the test with its output when it fails.
pub fn must(cmd: &mut std::process::Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the adapter project `adapters/<lang>/adapters/<name>` with its
/// SDK's build script (`adapters/<lang>/build.sh`) into
/// `target/sdk-adapters/<name>.wasm`, failing the test with the script's
/// output when it fails; returns the component's path.
pub fn build_sdk_adapter(lang: &str, name: &str) -> PathBuf {
    let root = crate::template::root();
    let wasm = root.join(format!("target/sdk-adapters/{name}.wasm"));
    must(
        std::process::Command::new(root.join(format!("adapters/{lang}/build.sh")))
            .arg(root.join(format!("adapters/{lang}/adapters/{name}")))
            .arg(&wasm),
        &format!("adapters/{lang}/build.sh of {name}"),
    );
    wasm
}
