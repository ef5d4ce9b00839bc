//! Hot swap of an endpoint's adapter: under concurrent traffic (by file
//! watcher and by the admin path), refused candidates (the old version keeps
//! serving), sha256 pins, calls in flight finishing on the old version, and
//! the real binary's admin API (upload, show, rollback, refusals, auth).

use crate::harness::config::{Config, Endpoint as EndpointConfig};
use crate::harness::wasm::*;
use crate::harness::{HostProcess, Until, assert_api_error, create_body, events_path, read_sse};
use handover_host::config::{self, LoadedConfig};
use handover_host::model::{ProviderEvent, UserInput};
use handover_host::registry::{self, Endpoint, Registry, Source, SwapError, SwapRecord};
use handover_host::runtime::{Call, CallOutput, LoadError, Runtime, RuntimeConfig, sha256_hex};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(30);

/// A registry with one endpoint `ep` bound to a copy of an adapter file.
struct Setup {
    dir: tempfile::TempDir,
    registry: Arc<Registry>,
    ep: Arc<Endpoint>,
    adapter: PathBuf,
}

/// A config with endpoint `ep` on `adapter.wasm` (next to the config), as
/// `ep` shapes it.
fn config_for(dir: &Path, ep: impl FnOnce(EndpointConfig) -> EndpointConfig) -> LoadedConfig {
    let source = Config::new()
        .endpoint(ep(EndpointConfig::new("ep", "adapter.wasm")))
        .to_toml();
    let path = dir.join("handover.toml");
    std::fs::write(&path, &source).unwrap();
    let config = config::parse(&path.display().to_string(), &source)
        .unwrap_or_else(|e| panic!("test config: {e}"));
    LoadedConfig {
        config,
        path,
        source,
    }
}

fn runtime_with_cache(dir: &Path) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 64,
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    })
    .unwrap()
}

async fn setup(adapter: &str, ep: impl FnOnce(EndpointConfig) -> EndpointConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adapter.wasm");
    std::fs::copy(guest(adapter), &path).unwrap();
    let cfg = config_for(dir.path(), ep);
    let registry = Registry::from_config(runtime_with_cache(dir.path()), &cfg)
        .await
        .unwrap_or_else(|e| panic!("from_config: {e:?}"));
    let registry = Arc::new(registry);
    let ep = registry.endpoint("ep").unwrap();
    Setup {
        dir,
        registry,
        ep,
        adapter: path,
    }
}

/// Replace `path` atomically: write a temporary file next to it, then rename.
fn atomic_write(path: &Path, bytes: &[u8]) {
    let tmp = path.with_file_name(format!(".adapter-{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Writes `bytes` as the watched adapter file and waits for the watcher's
/// verdict on exactly those bytes; returns that record.
async fn file_verdict(s: &Setup, bytes: &[u8], what: &str) -> SwapRecord {
    atomic_write(&s.adapter, bytes);
    let sha = sha256_hex(bytes);
    wait_for(what, &s.ep, |ep| {
        ep.history()
            .iter()
            .any(|r| r.source == Source::File && r.sha256 == sha)
    })
    .await;
    s.ep.history().pop().unwrap()
}

async fn wait_for(what: &str, ep: &Endpoint, mut done: impl FnMut(&Endpoint) -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !done(ep) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; serving {:?}; history {:#?}",
            ep.current_info(),
            ep.history()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn input(text: &str) -> UserInput {
    UserInput {
        id: String::new(),
        kind: Default::default(),
        text: text.into(),
        attachments: vec![],
    }
}

/// One `user-message` call to the echo adapter: `Ok(version)` if the answer
/// is exactly "<version>:<text>" for one known version, else `Err(why)`.
async fn echo_call(registry: &Registry, ep: &Endpoint, text: &str) -> Result<String, String> {
    let out = registry
        .invoke(
            ep,
            Call::UserMessage(ctx("{}"), b"state".to_vec(), input(text)),
        )
        .await
        .map_err(|f| format!("call {text:?} failed: {f}"))?;
    let CallOutput::Step(step) = out else {
        return Err(format!("call {text:?}: not a step: {out:?}"));
    };
    if step.state != b"state" {
        return Err(format!("call {text:?}: state changed: {:?}", step.state));
    }
    let [ProviderEvent::AgentMessage { text: reply, .. }] = step.events.as_slice() else {
        return Err(format!("call {text:?}: events {:?}", step.events));
    };
    for v in ["1.0.0", "2.0.0"] {
        if *reply == format!("{v}:{text}") {
            return Ok(v.to_string());
        }
    }
    Err(format!(
        "call {text:?}: answer {reply:?} names no single version"
    ))
}

#[derive(Default, Debug)]
struct Tally {
    v1: usize,
    v2: usize,
    failures: Vec<String>,
}

// ------------------------------------------------------------ under traffic

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_swaps_under_traffic_fail_no_call() {
    twenty_swaps_under_traffic(0).await;
}

/// The same with warm instances: none of the old version serves a call
/// that starts after the swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_swaps_under_traffic_with_instance_reuse() {
    twenty_swaps_under_traffic(1000).await;
}

async fn twenty_swaps_under_traffic(instance_reuse: u32) {
    let s = setup("echo", |e| e.instance_reuse(instance_reuse)).await;
    let _watcher = registry::watch_files(s.registry.clone()).unwrap();
    let v1 = guest_bytes("echo");
    let v2 = guest_bytes("echo-v2");
    // Compile both once so the test measures swapping, not compiling.
    s.registry.runtime().load(&v2).await.unwrap();
    assert_eq!(s.ep.current_info().version, "1.0.0");

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    for t in 0..4 {
        let (registry, ep, stop) = (s.registry.clone(), s.ep.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                match echo_call(&registry, &ep, &format!("t{t}-{i}")).await {
                    Ok(v) if v == "1.0.0" => tally.v1 += 1,
                    Ok(_) => tally.v2 += 1,
                    Err(e) => tally.failures.push(e),
                }
            }
            tally
        }));
    }

    let mut by_file = 0;
    let mut by_admin = 0;
    for i in 0..20 {
        let (bytes, want) = if i % 2 == 0 {
            (&v2, "2.0.0")
        } else {
            (&v1, "1.0.0")
        };
        // Pairs alternate: file v2, file v1, admin v2, admin v1, ...
        if (i / 2) % 2 == 0 {
            atomic_write(&s.adapter, bytes);
            wait_for(&format!("file swap {i} to {want}"), &s.ep, |ep| {
                ep.current_info().version == want
            })
            .await;
            assert_eq!(s.ep.current_info().source, Source::File);
            by_file += 1;
        } else {
            let info = s
                .registry
                .swap("ep", bytes, Source::Admin)
                .await
                .unwrap_or_else(|e| panic!("admin swap {i}: {e}"));
            assert_eq!(info.version, want);
            assert_eq!(s.ep.current_info().version, want);
            by_admin += 1;
        }
        assert_eq!(s.ep.current_info().sha256, sha256_hex(bytes));
        // A call that starts after the swap is served by the new version.
        let probe = echo_call(&s.registry, &s.ep, &format!("probe-{i}"))
            .await
            .unwrap();
        assert_eq!(probe, want, "swap {i}");
        // Let the traffic run on this version for a while.
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await.unwrap();
        total.v1 += t.v1;
        total.v2 += t.v2;
        total.failures.extend(t.failures);
    }
    assert_eq!((by_file, by_admin), (10, 10));
    assert!(
        total.failures.is_empty(),
        "failed calls: {:#?}",
        total.failures
    );
    assert!(
        total.v1 > 0 && total.v2 > 0,
        "both versions must have served traffic: {total:?}"
    );
    assert!(total.v1 + total.v2 >= 100, "too little traffic: {total:?}");

    let history = s.ep.history();
    assert_eq!(history.len(), 20, "{history:#?}");
    assert!(history.iter().all(|r| r.accepted), "{history:#?}");
    let files = history.iter().filter(|r| r.source == Source::File).count();
    let admins = history.iter().filter(|r| r.source == Source::Admin).count();
    assert_eq!((files, admins), (10, 10), "{history:#?}");
    for (i, r) in history.iter().enumerate() {
        let want = if i % 2 == 0 { &v2 } else { &v1 };
        assert_eq!(r.sha256, sha256_hex(want), "record {i}");
    }
    assert_eq!(s.ep.current_info().version, "1.0.0");
    assert_eq!(s.ep.previous_info().unwrap().version, "2.0.0");
    drop(s.dir);
}

// ------------------------------------------------------- refused candidates

fn refused(r: Result<registry::VersionInfo, SwapError>) -> (LoadError, String) {
    match r {
        Err(e @ SwapError::Refused(_)) => {
            let msg = e.to_string();
            let SwapError::Refused(le) = e else {
                unreachable!()
            };
            (le, msg)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn assert_still_v1(s: &Setup, v1_sha: &str, label: &str) {
    let info = s.ep.current_info();
    assert_eq!(
        (info.version.as_str(), info.sha256.as_str()),
        ("1.0.0", v1_sha),
        "{label}"
    );
    assert_eq!(
        echo_call(&s.registry, &s.ep, label).await.unwrap(),
        "1.0.0",
        "{label}"
    );
}

#[tokio::test]
async fn refused_candidates_leave_the_old_version_serving() {
    let s = setup("echo", |e| e).await;
    let _watcher = registry::watch_files(s.registry.clone()).unwrap();
    let v1_sha = sha256_hex(&guest_bytes("echo"));
    let v2 = guest_bytes("echo-v2");
    let truncated = v2[..v2.len() / 2].to_vec();
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();

    let (e, msg) = refused(s.registry.swap("ep", &random, Source::Admin).await);
    assert!(matches!(e, LoadError::NotAComponent(_)), "{e:?}");
    assert!(msg.contains("not a WebAssembly binary"), "{msg}");
    assert!(msg.contains("previous version keeps serving"), "{msg}");
    assert_still_v1(&s, &v1_sha, "after random bytes").await;

    let (e, msg) = refused(s.registry.swap("ep", &truncated, Source::Admin).await);
    assert!(matches!(e, LoadError::NotAComponent(_)), "{e:?}");
    assert!(msg.contains("truncated"), "{msg}");
    assert_still_v1(&s, &v1_sha, "after a truncated upload").await;

    let (e, msg) = refused(
        s.registry
            .swap("ep", b"\0asm\x01\0\0\0", Source::Admin)
            .await,
    );
    assert!(matches!(e, LoadError::NotAComponent(_)), "{e:?}");
    assert!(msg.contains("core WebAssembly module"), "{msg}");
    assert_still_v1(&s, &v1_sha, "after a core module").await;

    let (e, _) = refused(s.registry.swap("ep", b"", Source::Admin).await);
    assert!(matches!(e, LoadError::NotAComponent(_)), "{e:?}");
    assert_still_v1(&s, &v1_sha, "after an empty upload").await;

    // The same through the file watcher: a truncated file is refused...
    let rec = file_verdict(&s, &truncated, "the truncated file to be refused").await;
    assert!(!rec.accepted, "{rec:?}");
    assert!(rec.message.contains("truncated"), "{rec:?}");
    assert_still_v1(&s, &v1_sha, "after a truncated file").await;

    // ...and random bytes too.
    let rec = file_verdict(&s, &random, "the random file to be refused").await;
    assert!(!rec.accepted, "{rec:?}");
    assert_still_v1(&s, &v1_sha, "after a random file").await;

    // The watcher keeps working after refusals: a good file is taken.
    atomic_write(&s.adapter, &v2);
    wait_for("v2 from the file", &s.ep, |ep| {
        ep.current_info().version == "2.0.0"
    })
    .await;
    assert_eq!(
        echo_call(&s.registry, &s.ep, "after").await.unwrap(),
        "2.0.0"
    );
    let history = s.ep.history();
    let accepted: Vec<bool> = history.iter().map(|r| r.accepted).collect();
    assert_eq!(
        accepted,
        [false, false, false, false, false, false, true],
        "{history:#?}"
    );
    // Rollback after refusals returns to the version before the accepted swap.
    let back = s.registry.rollback("ep", false).await.unwrap();
    assert_eq!((back.version.as_str(), back.sha256), ("1.0.0", v1_sha));
}

#[tokio::test]
async fn a_half_written_file_is_refused_then_the_complete_one_taken() {
    let s = setup("echo", |e| e).await;
    let _watcher = registry::watch_files(s.registry.clone()).unwrap();
    let v1_sha = sha256_hex(&guest_bytes("echo"));
    let v2 = guest_bytes("echo-v2");
    // Written in place in two steps, with a pause longer than the debounce.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&s.adapter).unwrap();
        f.write_all(&v2[..v2.len() / 2]).unwrap();
        f.sync_all().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        wait_for("the half-written file to be refused", &s.ep, |ep| {
            ep.history().iter().any(|r| !r.accepted)
        })
        .await;
        assert_still_v1(&s, &v1_sha, "while half written").await;
        f.write_all(&v2[v2.len() / 2..]).unwrap();
        f.sync_all().unwrap();
    }
    wait_for("the complete file", &s.ep, |ep| {
        ep.current_info().version == "2.0.0"
    })
    .await;
    let history = s.ep.history();
    assert!(history.last().unwrap().accepted, "{history:#?}");
    assert!(
        history[..history.len() - 1].iter().all(|r| !r.accepted),
        "{history:#?}"
    );
}

#[tokio::test]
async fn a_sha256_pin_refuses_other_bytes() {
    let v1 = guest_bytes("echo");
    let v2 = guest_bytes("echo-v2");
    let pin = sha256_hex(&v1);
    let s = setup("echo", |e| e.sha256(&pin)).await;
    let _watcher = registry::watch_files(s.registry.clone()).unwrap();

    let (e, msg) = refused(s.registry.swap("ep", &v2, Source::Admin).await);
    assert_eq!(
        e,
        LoadError::Pinned {
            pinned: pin.clone(),
            actual: sha256_hex(&v2),
        }
    );
    assert!(msg.contains("pinned"), "{msg}");
    assert_still_v1(&s, &pin, "after a pinned refusal").await;

    // By file too.
    let rec = file_verdict(&s, &v2, "the pinned refusal of the file").await;
    assert!(
        !rec.accepted && rec.source == Source::File && rec.message.contains("pinned"),
        "{rec:?}"
    );
    assert_still_v1(&s, &pin, "after a pinned file").await;

    // The pinned bytes themselves are accepted.
    let info = s.registry.swap("ep", &v1, Source::Admin).await.unwrap();
    assert_eq!(info.sha256, pin);
}

#[tokio::test]
async fn a_wrong_pin_refuses_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest("echo"), dir.path().join("adapter.wasm")).unwrap();
    let pin = sha256_hex(&guest_bytes("echo-v2"));
    let cfg = config_for(dir.path(), |e| e.sha256(&pin));
    let errors = match Registry::from_config(runtime(), &cfg).await {
        Ok(_) => panic!("a wrong pin must refuse the endpoint"),
        Err(e) => e,
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "ep");
    assert!(
        matches!(&errors[0].1, LoadError::Pinned { pinned, .. } if *pinned == pin),
        "{errors:?}"
    );
}

// ------------------------------------------------------------- in flight

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn calls_in_flight_finish_on_the_old_version() {
    let (port, hits) = http_server(b"from-egress".to_vec(), Duration::from_secs(2)).await;
    let url = format!("http://127.0.0.1:{port}/slow");
    let s = setup("egress", |e| {
        e.egress([format!("http://127.0.0.1:{port}")])
            .settings(json!({ "url": url }))
    })
    .await;
    let echo = guest_bytes("echo");
    // Compile echo ahead so the swap itself is quick.
    s.registry.runtime().load(&echo).await.unwrap();
    let settings = s.ep.settings_json.clone();
    assert!(settings.contains(&url), "{settings}");

    let (registry, ep, st) = (s.registry.clone(), s.ep.clone(), settings.clone());
    let in_flight = tokio::spawn(async move {
        registry
            .invoke(&ep, Call::Start(ctx(&st), conversation()))
            .await
    });
    let deadline = Instant::now() + SETTLE;
    while hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the egress call never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Version A (`egress`) is waiting on the slow server: swap to B (`echo`).
    let info = s.registry.swap("ep", &echo, Source::Admin).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("echo", "1.0.0")
    );
    assert!(
        !in_flight.is_finished(),
        "the slow call ended before the swap; the test proves nothing"
    );
    // New calls get B right away, while A's call is still running.
    let out = s
        .registry
        .invoke(&s.ep, Call::Start(ctx(&settings), conversation()))
        .await
        .unwrap();
    let CallOutput::Step(step) = out else {
        panic!("{out:?}")
    };
    assert_eq!(step.state, b"1.0.0", "a new call is served by echo");
    assert!(!in_flight.is_finished());
    // The call in flight completes with A's behaviour.
    let out = in_flight
        .await
        .unwrap()
        .expect("the in-flight call succeeds");
    let CallOutput::Step(step) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        step.state, b"from-egress",
        "the in-flight call ran on egress"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

// ------------------------------------------------- real binary, admin API

pub(crate) const ADMIN_KEY: &str = "hot-swap-admin-key";

/// The real binary with endpoint `ep` on a copy of `echo` (uploads and
/// rollbacks write next to it, never to the built component).
pub(crate) struct Host {
    pub(crate) process: HostProcess,
    _adapter_dir: tempfile::TempDir,
}

impl Host {
    pub(crate) async fn start() -> Host {
        Host::start_with(|c, ep| c.endpoint(ep)).await
    }

    /// [`Host::start`] with the config (given the endpoint `ep`) shaped by `f`.
    pub(crate) async fn start_with(f: impl FnOnce(Config, EndpointConfig) -> Config) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let adapter = dir.path().join("echo.wasm");
        std::fs::copy(guest("echo"), &adapter).unwrap();
        let config = f(
            Config::new().admin_key(ADMIN_KEY),
            EndpointConfig::new("ep", &adapter),
        );
        Host {
            process: HostProcess::start(config).await,
            _adapter_dir: dir,
        }
    }

    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        self.process.request(method, path, key)
    }

    pub(crate) async fn show(&self) -> Value {
        let (code, v) = self
            .send(self.admin(reqwest::Method::GET, "/admin/endpoints/ep", Some(ADMIN_KEY)))
            .await;
        assert_eq!(code, 200, "{v}");
        v
    }

    pub(crate) async fn upload(&self, bytes: &[u8], key: Option<&str>) -> (u16, Value) {
        self.send(
            self.admin(reqwest::Method::PUT, "/admin/endpoints/ep/adapter", key)
                .header("content-type", "application/wasm")
                .body(bytes.to_vec()),
        )
        .await
    }

    async fn rollback(&self, key: Option<&str>) -> (u16, Value) {
        self.send(self.admin(reqwest::Method::POST, "/admin/endpoints/ep/rollback", key))
            .await
    }

    async fn create_handover(&self) -> String {
        let body = create_body("s-1");
        let (code, v) = self.process.post("/v1/endpoints/ep/handovers", body).await;
        assert_eq!(code, 201, "{v}\n{}", self.log());
        v["handover_id"].as_str().unwrap().to_string()
    }

    /// Send `text` as user input through the bot API and return the version
    /// named by the echo adapter's agent message (read from the SSE stream).
    pub(crate) async fn served_by(&self, id: &str, text: &str) -> String {
        let (code, v) = self.process.input(id, "text", text).await;
        assert_eq!(
            (code, v["result"].as_str()),
            (200, Some("forwarded")),
            "{v}"
        );
        let suffix = format!(":{text}");
        let version = |e: &Value| {
            let t = e["text"]
                .as_str()
                .filter(|_| e["type"] == "agent_message")?;
            t.strip_suffix(&suffix).map(String::from)
        };
        let req = self.process.http.get(self.process.url(&events_path(id)));
        let until = Until::Deadline(Duration::from_secs(15));
        let events = read_sse(req, until, |e| version(e).is_some()).await;
        events
            .iter()
            .find_map(version)
            .unwrap_or_else(|| panic!("no agent message for {text:?}: {events:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_upload_show_rollback_and_refusals() {
    let host = Host::start().await;
    let v1 = guest_bytes("echo");
    let v2 = guest_bytes("echo-v2");
    let (v1_sha, v2_sha) = (sha256_hex(&v1), sha256_hex(&v2));
    use reqwest::Method;

    // Without the right key: 401 everywhere, nothing changes.
    for key in [None, Some("wrong-key"), Some("")] {
        for req in [
            host.admin(Method::GET, "/admin/endpoints/ep", key),
            host.admin(Method::GET, "/admin/endpoints", key),
            host.admin(Method::POST, "/admin/endpoints/ep/rollback", key),
        ] {
            let (code, v) = host.send(req).await;
            assert_eq!(code, 401, "key {key:?}: {v}");
            assert_eq!(v["error"]["code"], "unauthorized", "{v}");
        }
        let (code, v) = host.upload(&v2, key).await;
        assert_eq!(code, 401, "upload with key {key:?}: {v}");
    }
    let (code, _) = host
        .send(
            host.admin(reqwest::Method::GET, "/admin/endpoints/ep", None)
                .header("authorization", ADMIN_KEY),
        )
        .await;
    assert_eq!(code, 401, "the key without `Bearer`");

    let v = host.show().await;
    assert_eq!(v["current"]["version"], "1.0.0", "{v}");
    assert_eq!(v["current"]["sha256"], v1_sha.as_str(), "{v}");
    assert_eq!(v["current"]["world"], "handover:provider@0.1.0", "{v}");
    assert!(v["previous"].is_null(), "{v}");

    let id = host.create_handover().await;
    assert_eq!(host.served_by(&id, "one").await, "1.0.0");

    // Upload v2: it serves the handover already in progress.
    let (code, v) = host.upload(&v2, Some(ADMIN_KEY)).await;
    assert_eq!(code, 200, "{v}\n{}", host.log());
    assert_eq!(v["current"]["version"], "2.0.0", "{v}");
    assert_eq!(v["current"]["sha256"], v2_sha.as_str(), "{v}");
    assert_eq!(v["current"]["source"], "admin", "{v}");
    let v = host.show().await;
    assert_eq!(v["current"]["name"], "echo", "{v}");
    assert_eq!(v["current"]["version"], "2.0.0", "{v}");
    assert_eq!(v["current"]["sha256"], v2_sha.as_str(), "{v}");
    assert_eq!(v["previous"]["version"], "1.0.0", "{v}");
    assert_eq!(v["previous"]["sha256"], v1_sha.as_str(), "{v}");
    assert_eq!(host.served_by(&id, "two").await, "2.0.0");

    // Invalid uploads: 422 with the diagnosis; v2 keeps serving.
    let random: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8 | 1)
        .collect();
    let (code, v) = host.upload(&random, Some(ADMIN_KEY)).await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["error"]["code"], "refused", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("not a WebAssembly binary"), "{msg}");
    assert!(msg.contains("previous version keeps serving"), "{msg}");
    let (code, v) = host.upload(&v1[..v1.len() / 2], Some(ADMIN_KEY)).await;
    assert_api_error(code, &v, 422, "truncated");
    let (code, v) = host.upload(b"", Some(ADMIN_KEY)).await;
    assert_eq!(code, 422, "{v}");
    let v = host.show().await;
    assert_eq!(v["current"]["version"], "2.0.0", "{v}");
    assert_eq!(v["current"]["sha256"], v2_sha.as_str(), "{v}");
    assert_eq!(v["previous"]["version"], "1.0.0", "{v}");
    let history = v["history"].as_array().unwrap();
    let accepted: Vec<bool> = history
        .iter()
        .map(|r| r["accepted"].as_bool().unwrap())
        .collect();
    assert_eq!(accepted, [true, false, false, false], "{v}");
    assert_eq!(host.served_by(&id, "three").await, "2.0.0");

    // Rollback returns to v1.
    let (code, v) = host.rollback(Some(ADMIN_KEY)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["current"]["version"], "1.0.0", "{v}");
    assert_eq!(v["current"]["sha256"], v1_sha.as_str(), "{v}");
    assert_eq!(v["current"]["source"], "rollback", "{v}");
    let v = host.show().await;
    assert_eq!(v["current"]["version"], "1.0.0", "{v}");
    assert_eq!(host.served_by(&id, "four").await, "1.0.0");
    // Nothing further back.
    let (code, v) = host.rollback(Some(ADMIN_KEY)).await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(host.show().await["current"]["version"], "1.0.0");

    // Unknown endpoint.
    let (code, _) = host
        .send(
            host.admin(
                Method::PUT,
                "/admin/endpoints/nope/adapter",
                Some(ADMIN_KEY),
            )
            .body(v2.clone()),
        )
        .await;
    assert_eq!(code, 404);
}

// ------------------------------------------------------------ instance reuse

/// `start` on the `counter` fixture: how many calls its instance has run.
async fn counted(registry: &Registry, ep: &Endpoint) -> String {
    match registry
        .invoke(ep, Call::Start(ctx("{}"), conversation()))
        .await
    {
        Ok(CallOutput::Step(step)) => String::from_utf8(step.state).unwrap(),
        other => panic!("start: {other:?}"),
    }
}

#[tokio::test]
pub(crate) async fn instance_reuse_keeps_instances_warm_until_a_swap() {
    let s = setup("counter", |e| e.instance_reuse(10)).await;
    assert_eq!(counted(&s.registry, &s.ep).await, "1");
    assert_eq!(
        counted(&s.registry, &s.ep).await,
        "2",
        "the warm instance served it"
    );
    let warm =
        s.ep.warm
            .as_ref()
            .expect("instance_reuse makes a warm pool");
    assert_eq!(warm.len(), 1);
    s.registry
        .swap("ep", &guest_bytes("counter"), Source::Admin)
        .await
        .unwrap();
    assert!(warm.is_empty(), "a swap drops the old version's instances");
    assert_eq!(counted(&s.registry, &s.ep).await, "1");
    s.registry.rollback("ep", false).await.unwrap();
    assert!(warm.is_empty(), "so does a rollback");
    assert_eq!(counted(&s.registry, &s.ep).await, "1");
}

#[tokio::test]
async fn without_instance_reuse_every_call_is_fresh() {
    let s = setup("counter", |e| e).await;
    assert!(s.ep.warm.is_none());
    for _ in 0..3 {
        assert_eq!(counted(&s.registry, &s.ep).await, "1");
    }
}

#[test]
fn a_bad_instance_reuse_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["instance_reuse = -1", "instance_reuse = \"many\""] {
        let source = format!("[[endpoints]]\nid = \"ep\"\nadapter = \"a.wasm\"\n{bad}\n");
        let path = dir.path().join("handover.toml");
        let err = config::parse(&path.display().to_string(), &source).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("instance_reuse"), "{bad}: {msg}");
        assert!(
            msg.contains(":4:"),
            "{bad}: the message names the line: {msg}"
        );
    }
}
