//! Hostile-tenant benchmark (issue 13): tenant A runs every attack at once
//! — hostile adapters at full tilt (busy loop, memory bomb, log flood,
//! egress denials and 1 MiB answers, oversized events), 120 callback
//! receivers that never finish answering, 60 long polls on a silent
//! provider, 40 open handovers carrying 1.5 MiB requests, unsigned webhooks
//! naming 256 unknown correlation keys, more event streams than its cap,
//! and unauthenticated 60 MiB uploads — while tenant B runs normal
//! handovers through the `sim` adapter with a callback receiver. B's
//! create, input and callback-delivery latencies are measured alone and
//! under attack in one invocation, with the host's peak RSS.
//!
//! The host is the real `handover-host serve` release binary in its own
//! process; B's and A's clients run here on separate runtimes (see `main`).
//!
//! Run (release): `cargo build --release -p handover-host --bin handover-host
//! --example hostile_tenant && target/release/examples/hostile_tenant`
//! (`HT_HANDOVERS` changes B's workload, `HT_ATTACKER_NICE` the attack
//! clients' priority). Needs the guest components from
//! `scripts/build-adapters.sh`.

mod bench_common;

use bench_common::{Host, adapter, percentile};
use handover_host::tenancy::hash_key;
use provider_simulators::{SimConfig, SimProvider};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The host process's peak resident set so far (`VmHWM`), MiB.
fn host_peak_rss_mib(host: &Host) -> f64 {
    bench_common::proc_status_kib(host.pid(), "VmHWM:") as f64 / 1024.0
}

/// When each of B's handovers' first callback arrived.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// B's callback receiver: records the first arrival per handover.
async fn b_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let a = arrivals.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let a = a.clone();
        async move {
            if let Some(id) = headers.get("x-handover-id").and_then(|v| v.to_str().ok()) {
                a.lock()
                    .unwrap()
                    .entry(id.to_string())
                    .or_insert_with(Instant::now);
            }
            "ok"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (origin, arrivals)
}

/// A server that takes requests and never finishes answering (a 200 head,
/// then a byte a second): A's callback receivers and its silent long-poll
/// provider.
async fn drip_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let mut ok = c
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                    .await
                    .is_ok();
                while ok {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ok = c.write_all(b"x").await.is_ok();
                }
            });
        }
    });
    origin
}

struct Phase {
    create: Vec<f64>,
    input: Vec<f64>,
    callback: Vec<f64>,
    failed: u64,
}

/// B's workload: `n` handovers, 4 at a time: create (with a callback URL),
/// one input, close; the callback latency is from the create's start to
/// the first callback's arrival.
async fn tenant_b(
    http: &reqwest::Client,
    base: &str,
    cb: &str,
    arrivals: &Arrivals,
    n: usize,
    tag: &str,
) -> Phase {
    let create = Arc::new(Mutex::new(vec![]));
    let input = Arc::new(Mutex::new(vec![]));
    let started = Arc::new(Mutex::new(vec![]));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..4 {
        let (http, base, cb, create, input, started, failed, next, tag) = (
            http.clone(),
            base.to_string(),
            cb.to_string(),
            create.clone(),
            input.clone(),
            started.clone(),
            failed.clone(),
            next.clone(),
            tag.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                if i >= n {
                    break;
                }
                let body = json!({"session_id": format!("b-{tag}-{i}"), "user_id": "u", "accepted_message": "ok", "cancel_button_text": "Cancel", "callback_url": format!("{cb}/cb")});
                let t = Instant::now();
                let r = http.post(format!("{base}/v1/endpoints/b-sim/handovers")).bearer_auth("key-b").json(&body).send().await;
                let Ok(r) = r else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                };
                let v: Value = r.json().await.unwrap_or(Value::Null);
                create.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3);
                let Some(id) = v["handover_id"].as_str().filter(|_| v["status"] == "queued") else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                };
                started.lock().unwrap().push((id.to_string(), t));
                let t = Instant::now();
                let r = http.post(format!("{base}/v1/handovers/{id}/input")).bearer_auth("key-b").json(&json!({"text": "hello"})).send().await;
                match r {
                    Ok(r) if r.status().is_success() => input.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3),
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _ = http.post(format!("{base}/v1/handovers/{id}/close")).bearer_auth("key-b").send().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every first callback, waited for up to 30 s after the last create.
    let started = std::mem::take(&mut *started.lock().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut callback = vec![];
    for (id, t) in started {
        loop {
            if let Some(at) = arrivals.lock().unwrap().get(&id) {
                callback.push(at.duration_since(t).as_secs_f64() * 1e3);
                break;
            }
            if Instant::now() > deadline {
                failed.fetch_add(1, Ordering::SeqCst);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let create = std::mem::take(&mut *create.lock().unwrap());
    let input = std::mem::take(&mut *input.lock().unwrap());
    Phase {
        create,
        input,
        callback,
        failed: failed.load(Ordering::SeqCst),
    }
}

/// What A's attack did, counted by kind.
#[derive(Default)]
struct Attack {
    hostile_creates: AtomicU64,
    refused_429: AtomicU64,
    webhooks: AtomicU64,
    streams_refused: AtomicU64,
    uploads_refused: AtomicU64,
    standing: AtomicU64,
}

fn spawn_hammers(
    http: &reqwest::Client,
    base: &str,
    stop: &Arc<AtomicBool>,
    attack: &Arc<Attack>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![];
    // Hostile adapters at full tilt (as in noisy_neighbour).
    for t in 0..12usize {
        let (http, base, stop, attack) =
            (http.clone(), base.to_string(), stop.clone(), attack.clone());
        tasks.push(tokio::spawn(async move {
            let eps = ["a-loop", "a-bomb", "a-flood", "a-egress-denied", "a-egress-big", "a-big-events"];
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let ep = eps[(t + i) % eps.len()];
                let body = json!({"session_id": format!("h-{t}-{i}"), "user_id": "u", "accepted_message": "ok"});
                if let Ok(r) = http.post(format!("{base}/v1/endpoints/{ep}/handovers")).bearer_auth("key-a").json(&body).send().await {
                    // Counted before the back-off below, so a loop stopped
                    // in its sleep never shows more refusals than creates.
                    attack.hostile_creates.fetch_add(1, Ordering::SeqCst);
                    if r.status() == 429 {
                        attack.refused_429.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                i += 1;
            }
        }));
    }
    // Unsigned webhooks naming 256 unknown correlation keys.
    for _ in 0..4 {
        let (http, base, stop, attack) =
            (http.clone(), base.to_string(), stop.clone(), attack.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let _ = http
                    .post(format!("{base}/v1/webhooks/a-hooks/keys/256"))
                    .body("{}")
                    .send()
                    .await;
                attack.webhooks.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Unauthenticated 60 MiB uploads, declared in the headers.
    for _ in 0..8 {
        let (http, base, stop, attack) =
            (http.clone(), base.to_string(), stop.clone(), attack.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let body = reqwest::Body::from(vec![0u8; 1 << 20]);
                let r = http
                    .put(format!("{base}/admin/endpoints/a-echo/adapter"))
                    .header("content-length", (60u64 << 20).to_string())
                    .body(body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().is_client_error()) {
                    attack.uploads_refused.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tasks
}

/// A's standing load: handovers whose callbacks never finish, long polls
/// on a silent provider, large open handovers, and more event streams
/// than its cap (held open until the attack ends).
async fn standing_load(
    http: &reqwest::Client,
    base: &str,
    drip: &str,
    attack: &Arc<Attack>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use futures::StreamExt;
    let big_transcript: Vec<Value> = (0..24)
        .map(|i| json!({"author": "user", "text": "x".repeat(64_000), "timestamp_ms": i}))
        .collect();
    let mut creates: Vec<(String, Value)> = vec![];
    for i in 0..120 {
        creates.push(("a-echo".to_string(), json!({"session_id": format!("cb-{i}"), "user_id": "u", "accepted_message": "ok", "callback_url": format!("{drip}/cb")})));
    }
    for i in 0..60 {
        creates.push((
            "a-poll".to_string(),
            json!({"session_id": format!("poll-{i}"), "user_id": "u", "accepted_message": "ok"}),
        ));
    }
    for i in 0..40 {
        creates.push(("a-echo".to_string(), json!({"session_id": format!("big-{i}"), "user_id": "u", "accepted_message": "ok", "transcript": big_transcript})));
    }
    let wanted = creates.len();
    let ids: Vec<String> = futures::stream::iter(creates)
        .map(|(ep, body)| {
            let http = http.clone();
            let base = base.to_string();
            async move {
                // A has 4 call slots: a create refused 429 is tried again.
                for _ in 0..200 {
                    let r = http
                        .post(format!("{base}/v1/endpoints/{ep}/handovers"))
                        .bearer_auth("key-a")
                        .json(&body)
                        .send()
                        .await
                        .ok()?;
                    if r.status() == 429 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let v: Value = r.json().await.ok()?;
                    return v["handover_id"].as_str().map(String::from);
                }
                None
            }
        })
        .buffer_unordered(8)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    attack.standing.store(ids.len() as u64, Ordering::SeqCst);
    if ids.len() < wanted {
        // Long polls hold A's 4 call slots while they wait: A's own further
        // creates are refused, as its quota says.
        eprintln!(
            "A's standing load: {} of {wanted} handovers created",
            ids.len()
        );
    }
    let mut streams = vec![];
    for id in ids.iter().take(40) {
        let (http, base, attack, id) = (http.clone(), base.to_string(), attack.clone(), id.clone());
        streams.push(tokio::spawn(async move {
            match http
                .get(format!("{base}/v1/handovers/{id}/events"))
                .bearer_auth("key-a")
                .send()
                .await
            {
                Ok(r) if r.status() == 429 => {
                    attack.streams_refused.fetch_add(1, Ordering::SeqCst);
                }
                Ok(mut r) => while let Ok(Some(_)) = r.chunk().await {},
                Err(_) => {}
            }
        }));
    }
    streams
}

/// A runtime of its own for one side of the benchmark, its worker threads
/// at `nice` (Linux: a thread's own priority).
fn side_runtime(name: &str, nice: i32) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .on_thread_start(move || {
            if nice != 0 {
                // SAFETY: setpriority on the calling thread (who = 0) only.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
            }
        })
        .enable_all()
        .build()
}

fn main() -> anyhow::Result<()> {
    // The host is the real `handover-host serve` release binary, in its own
    // process. Tenant B's client, its provider simulator and its callback
    // receiver run on one runtime; tenant A's attack clients and A's own
    // servers (stuck receivers, 1 MiB answers) on another, whose threads
    // run at `HT_ATTACKER_NICE` (default 10): a real attacker's client
    // runs on its own machines, and only what it costs the host — every
    // request parsed, authenticated, refused or run — belongs to the
    // figure. `HT_ATTACKER_NICE=0` gives the attack the same priority.
    let nice: i32 = std::env::var("HT_ATTACKER_NICE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let b_rt = side_runtime("tenant-b", 0)?;
    let a_rt = side_runtime("tenant-a", nice)?;
    let a = a_rt.handle().clone();
    b_rt.block_on(run(a, nice))
}

async fn run(a: tokio::runtime::Handle, nice: i32) -> anyhow::Result<()> {
    let n: usize = std::env::var("HT_HANDOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let sim = SimProvider::start(SimConfig {
        webhook_url: None,
        webhook_secret: "s".into(),
        auto_agent: None,
    })
    .await?;
    let (big_origin, drip) = a
        .spawn(async {
            let big = axum::Router::new().fallback(|| async { vec![b'x'; 1 << 20] });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let big_origin = format!("http://{}", l.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(l, big).await });
            (big_origin, drip_server().await)
        })
        .await?;
    let (b_cb, arrivals) = b_receiver().await;

    let dir = std::env::temp_dir().join(format!("hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut src = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {}\nwatch_adapters = false\nadmin_key_sha256 = \"{}\"\n\n\
         [tenants.a]\napi_key_sha256 = [\"{}\"]\n[tenants.a.quotas]\nconcurrent_calls = 4\ncpu_ms_per_s = 400\nwall_time_ms = 1000\nmemory_mib = 32\n\n\
         [tenants.b]\napi_key_sha256 = [\"{}\"]\n\n",
        q(&dir.join("data").display().to_string()),
        hash_key("operator"),
        hash_key("key-a"),
        hash_key("key-b")
    );
    let endpoints = [
        ("a-loop", "loop", "{}".to_string()),
        ("a-bomb", "membomb", "{}".to_string()),
        ("a-flood", "log-flood", "{}".to_string()),
        (
            "a-egress-denied",
            "egress",
            r#"{ url = "http://203.0.113.9/" }"#.to_string(),
        ),
        (
            "a-egress-big",
            "egress",
            format!("{{ url = \"{big_origin}/\" }}"),
        ),
        ("a-big-events", "big-events", "{}".to_string()),
        ("a-echo", "echo", "{}".to_string()),
        (
            "a-poll",
            "long-poll",
            format!("{{ poll = \"wait\", url = \"{drip}/poll\" }}"),
        ),
        ("a-hooks", "webhook-reply", "{}".to_string()),
    ];
    for (id, fixture, settings) in endpoints {
        src += &format!(
            "[[endpoints]]\nid = \"{id}\"\ntenant = \"a\"\nadapter = {}\negress = [\"{big_origin}\", \"{drip}\"]\ncallback_allow = [\"{drip}\"]\nsettings = {settings}\n\n",
            q(&adapter(fixture).display().to_string())
        );
    }
    src += &format!(
        "[[endpoints]]\nid = \"b-sim\"\ntenant = \"b\"\nadapter = {}\negress = [\"{}\"]\ncallback_allow = [\"{b_cb}\"]\nwebhook_secret = \"s\"\nsettings = {{ base_url = \"{}\" }}\n",
        q(&adapter("sim").display().to_string()),
        sim.base_url(),
        sim.base_url()
    );
    let config = dir.join("hostile.toml");
    std::fs::write(&config, &src)?;
    let host = Host::start(&config, &[("RUST_LOG", "error")]);
    let base = format!("http://{}", host.addr);
    sim.set_webhook_url(Some(format!("{base}/v1/webhooks/b-sim")));
    // One client per side: a connection is driven by the runtime that
    // opened it.
    let http = reqwest::Client::new();
    let http_a = reqwest::Client::new();

    // Start-up compiles the ten components (no cache yet): its peak apart.
    let rss_start = host_peak_rss_mib(&host);
    let _ = tenant_b(&http, &base, &b_cb, &arrivals, 20, "warm").await;
    let mut alone = tenant_b(&http, &base, &b_cb, &arrivals, n, "alone").await;
    let rss_alone = host_peak_rss_mib(&host);

    let stop = Arc::new(AtomicBool::new(false));
    let attack = Arc::new(Attack::default());
    let t_attack = Instant::now();
    let mut tasks = {
        let (http_a, base, drip, attack) =
            (http_a.clone(), base.clone(), drip.clone(), attack.clone());
        a.spawn(async move { standing_load(&http_a, &base, &drip, &attack).await })
            .await?
    };
    let setup_s = t_attack.elapsed().as_secs_f64();
    {
        let _in_a = a.enter();
        tasks.extend(spawn_hammers(&http_a, &base, &stop, &attack));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut noisy = tenant_b(&http, &base, &b_cb, &arrivals, n, "noisy").await;
    stop.store(true, Ordering::SeqCst);
    let rss_attack = host_peak_rss_mib(&host);
    for t in tasks {
        t.abort();
    }
    drop(host);

    println!("machine: {}", bench_common::machine());
    println!("attack clients' threads at nice {nice} (HT_ATTACKER_NICE)");
    println!(
        "tenant A: standing load ({} of 220 open handovers created (120 with stuck callback receivers, 60 long polls, 40 with 1.5 MiB requests; long polls hold A's 4 call slots, so A's own later creates are refused); 40 streams opened) set up in {setup_s:.1} s; {} hostile creates ({} answered 429), {} webhooks with 256 unknown keys, {} streams refused over the cap, {} unauthenticated 60 MiB uploads refused",
        attack.standing.load(Ordering::SeqCst),
        attack.hostile_creates.load(Ordering::SeqCst),
        attack.refused_429.load(Ordering::SeqCst),
        attack.webhooks.load(Ordering::SeqCst),
        attack.streams_refused.load(Ordering::SeqCst),
        attack.uploads_refused.load(Ordering::SeqCst),
    );
    println!(
        "| tenant B ({n} handovers, 4 at a time) | B alone p50 | B alone p99 | B under attack p50 | B under attack p99 | p99 ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, a, b) in [
        (
            "create (start at provider)",
            &mut alone.create,
            &mut noisy.create,
        ),
        (
            "user input (forward to provider)",
            &mut alone.input,
            &mut noisy.input,
        ),
        (
            "callback delivery (create to first callback)",
            &mut alone.callback,
            &mut noisy.callback,
        ),
    ] {
        let (a50, a99, b50, b99) = (
            percentile(a, 0.5),
            percentile(a, 0.99),
            percentile(b, 0.5),
            percentile(b, 0.99),
        );
        println!(
            "| {name} | {a50:.2} ms | {a99:.2} ms | {b50:.2} ms | {b99:.2} ms | {:.2}× |",
            b99 / a99
        );
    }
    let (a_max, b_max) = (
        percentile(&mut alone.callback, 1.0),
        percentile(&mut noisy.callback, 1.0),
    );
    println!(
        "callback worst case: alone {a_max:.1} ms, under attack {b_max:.1} ms (scheduling tick 50 ms)"
    );
    println!(
        "B failures: alone {}, under attack {}",
        alone.failed, noisy.failed
    );
    println!(
        "peak RSS of the host process (VmHWM): after start-up {rss_start:.0} MiB, after B alone {rss_alone:.0} MiB, after the attack {rss_attack:.0} MiB"
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
