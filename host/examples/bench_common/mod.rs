//! Shared by the benchmark drivers in `host/examples/` (`loadgen`,
//! `idle_scale`, `lifecycle`, `noisy_neighbour`, `hostile_tenant`): run
//! the real `handover-host serve` release binary on a generated config,
//! seed its SQLite file through the store API, sign sim webhooks, read SSE
//! streams, find the guest components, take percentiles, and describe the
//! machine.
#![allow(dead_code)]

pub mod pg;

use bytes::Bytes;
use handover_host::store::sqlite::SqliteStore;
use handover_host::store::{Change, HandoverRow, Insert, Status, Store};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "bench-secret";
pub const ADMIN_KEY: &str = "bench-admin";
/// The bench tenant's API key (bot API and SSE).
pub const API_KEY: &str = "bench-key";

/// `authorization` header value for the bot API.
pub fn bearer() -> String {
    format!("Bearer {API_KEY}")
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The host binary: `$HANDOVER_BIN` or `target/release/handover-host`.
pub fn host_bin() -> PathBuf {
    std::env::var_os("HANDOVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/handover-host"))
}

pub fn adapter(name: &str) -> PathBuf {
    workspace()
        .join("target/adapters")
        .join(format!("{name}.wasm"))
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `nproc`, `free -g` (total/used/available) and the load average now.
pub fn machine() -> String {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        mem.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "nproc={nproc}, mem total={} GiB available={} GiB, load average {}",
        kib("MemTotal:") >> 20,
        kib("MemAvailable:") >> 20,
        load.join(" ")
    )
}

/// One endpoint of a generated config.
pub struct EndpointSpec {
    pub id: String,
    pub adapter: PathBuf,
}

pub fn sim_endpoints(n: usize, adapter_path: &Path) -> Vec<EndpointSpec> {
    (0..n)
        .map(|i| EndpointSpec {
            id: format!("ep{i}"),
            adapter: adapter_path.to_path_buf(),
        })
        .collect()
}

/// Writes `<dir>/handover.toml`: SQLite in `<dir>/data`, compiled cache on,
/// sim endpoints with the bench webhook secret. Returns the config path.
pub fn write_config(dir: &Path, endpoints: &[EndpointSpec]) -> PathBuf {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nadmin_key = \"{ADMIN_KEY}\"\nwatch_adapters = false\n\n[runtime]\ncache = true\n\n",
        dir.join("data").display()
    );
    // The bench tenant: quotas raised far above the defaults (500 webhooks/s,
    // 64 concurrent calls, 10k open handovers), which would otherwise be
    // what is measured.
    use sha2::Digest;
    let key_hash = hex::encode(sha2::Sha256::digest(API_KEY.as_bytes()));
    s.push_str(&format!(
        "[tenants.default]\napi_key_sha256 = [\"{key_hash}\"]\nquotas = {{ concurrent_calls = 100000, cpu_ms_per_s = 100000000, open_handovers = 10000000, webhooks_per_s = 10000000, event_streams = 100000 }}\n\n"
    ));
    for ep in endpoints {
        s.push_str(&format!(
            "[[endpoints]]\nid = \"{}\"\ntenant = \"default\"\nadapter = \"{}\"\nwebhook_secret = \"{SECRET}\"\negress = [\"http://127.0.0.1:9\"]\nsettings = {{ base_url = \"http://127.0.0.1:9\" }}\n\n[endpoints.timers]\nno_agent_timeout_s = 3600\ninactivity_warning_s = 3000\ninactivity_timeout_s = 3600\n\n",
            ep.id,
            ep.adapter.display()
        ));
    }
    let path = dir.join("handover.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// A running `handover-host serve`; killed on drop.
pub struct Host {
    pub child: Child,
    pub addr: SocketAddr,
    /// From spawn to the "listening" line.
    pub startup: Duration,
    /// stderr lines before the "listening" line.
    pub startup_log: Vec<String>,
}

impl Host {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Host {
        let bin = host_bin();
        assert!(
            bin.exists(),
            "{} is missing: cargo build --release -p handover-host",
            bin.display()
        );
        let t = Instant::now();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn handover-host");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = vec![];
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("handover-host listening on http://") {
                        break a.trim().parse::<SocketAddr>().unwrap();
                    }
                    eprintln!("host: {line}");
                    log.push(line);
                }
                _ => panic!("handover-host exited before listening"),
            }
        };
        let startup = t.elapsed();
        // Keep draining stderr so the host never blocks on a full pipe
        // (echo the first lines only: warnings under load can be many).
        std::thread::spawn(move || {
            for (n, line) in lines.map_while(Result::ok).enumerate() {
                if n < 20 {
                    eprintln!("host: {line}");
                }
            }
        });
        Host {
            child,
            addr,
            startup,
            startup_log: log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size, KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// User + system CPU time used so far.
    pub fn cpu(&self) -> Duration {
        proc_cpu(self.pid())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process (clock ticks of 10 ms on Linux).
pub fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields after the comm: state is index 0, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

pub fn self_cpu() -> Duration {
    proc_cpu(std::process::id())
}

/// CPU time the whole machine spent busy (every core, every process: all
/// of `/proc/stat`'s first line but idle and iowait), for the load beside
/// a run.
pub fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Duration::from_millis((ticks.iter().sum::<u64>() - idle) * 10)
}

/// The median of `v`: the middle value, or the mean of the middle two
/// (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One seeded handover: its id, endpoint and sim conversation.
#[derive(Clone)]
pub struct Seeded {
    pub id: String,
    pub endpoint: String,
    pub conversation: String,
}

/// Inserts `n` open (active, agent joined, timers armed) sim handovers into
/// the host's SQLite file, spread over `endpoints`, each bound to its sim
/// conversation by correlation key, as `start` + `agent_joined` would leave
/// them. Run before the host starts.
pub async fn seed(data_dir: &Path, endpoints: &[String], n: usize) -> Vec<Seeded> {
    let store = Arc::new(SqliteStore::open(&data_dir.join("handover.db")).unwrap());
    seed_into(store, endpoints, n).await
}

/// [`seed`] into any store (PostgreSQL: `pg::Schema::store`).
pub async fn seed_into(store: Arc<dyn Store>, endpoints: &[String], n: usize) -> Vec<Seeded> {
    let now = now_ms();
    let mut out = Vec::with_capacity(n);
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..n {
        let s = Seeded {
            id: format!("h-{i:06}"),
            endpoint: endpoints[i % endpoints.len()].clone(),
            conversation: format!("c-{i:06}"),
        };
        let request = serde_json::json!({
            "session_id": format!("s-{i:06}"), "user_id": format!("u-{i}"),
            "channel": "webchat", "locale": "en-US", "user_profile": {},
            "transcript": [], "context": null, "routing": {"skills": [], "custom": {}},
            "accepted_message": "An agent will be with you shortly.",
            "required_capabilities": []
        });
        let session = format!("s-{i:06}");
        let row = HandoverRow {
            status: Status::Active,
            provider_state: serde_json::to_vec(&serde_json::json!({
                "conversation_id": s.conversation, "last_event_seq": 2
            }))
            .unwrap(),
            agent: Some(serde_json::json!({"id": "a1", "name": "Ann"})),
            agent_joined_at_ms: Some(now),
            inactivity_warn_at_ms: Some(now + 3_000_000),
            inactivity_end_at_ms: Some(now + 3_600_000),
            ..HandoverRow::requested(&s.id, &s.endpoint, "default", session, request, now)
        };
        let store = store.clone();
        let conv = s.conversation.clone();
        pending.push(async move {
            let row = match store.insert_handover(row, None).await.unwrap() {
                Insert::Inserted(r) => r,
                other => panic!("seed: {other:?}"),
            };
            store
                .apply(Change {
                    row: Some(row),
                    events: vec![],
                    correlation_keys: vec![conv],
                    ..Change::default()
                })
                .await
                .unwrap();
        });
        // Enough in flight to fill the store's group commits.
        if pending.len() >= 2048 {
            pending.next().await;
        }
        out.push(s);
    }
    while pending.next().await.is_some() {}
    out
}

pub fn client() -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build(c)
}

/// A signed sim `agent_message` webhook for `conversation` (event `seq`),
/// whose text is `t-<token>`.
pub fn webhook(
    host: &str,
    endpoint: &str,
    conversation: &str,
    seq: u64,
    token: u64,
) -> http::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"event_id":"e-{token}","conversation_id":"{conversation}","seq":{seq},"type":"agent_message","agent":{{"id":"a1","name":"Ann"}},"text":"t-{token}"}}"#
    );
    let ts = (now_ms() / 1000) as u64;
    let sig = provider_simulators::sign(SECRET, ts, body.as_bytes());
    http::Request::post(format!("{host}/v1/webhooks/{endpoint}"))
        .header("content-type", "application/json")
        .header("x-sim-signature", sig)
        .header("x-sim-timestamp", ts.to_string())
        .header("x-sim-delivery", format!("e-{token}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Opens an SSE stream and calls `on_data(event, data)` for every event.
pub async fn sse<F: FnMut(&str, &str) + Send + 'static>(
    client: &HttpClient,
    url: &str,
    mut on_data: F,
) -> tokio::task::JoinHandle<()> {
    let req = http::Request::get(url)
        .header("accept", "text/event-stream")
        .header("authorization", bearer())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.expect("sse connect");
    assert!(resp.status().is_success(), "sse {url}: {}", resp.status());
    let mut body = resp.into_body();
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let mut event = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]);
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    on_data(&event, d.trim_start());
                }
            }
        }
    })
}

/// The `p` quantile of `v` (sorted here), in its unit; NaN when empty.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// p-quantile of sorted microsecond samples, in ms.
pub fn pct_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() as f64 * q) as usize).min(sorted_us.len() - 1);
    sorted_us[i] as f64 / 1000.0
}
