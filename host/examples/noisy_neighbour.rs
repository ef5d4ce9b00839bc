//! Noisy-neighbour benchmark: tenant A runs hostile adapters (busy loops,
//! memory bombs, log floods, egress floods) at full tilt while tenant B runs
//! normal handovers through the `sim` adapter; B's latency is compared with
//! B alone, in one invocation.
//!
//! Run (release): `cargo run --release -p handover-host --example noisy_neighbour`
//! (`NN_HANDOVERS`, `NN_A_TASKS` change the workload). Needs the guest
//! components from `scripts/build-adapters.sh`.

mod bench_common;

use bench_common::{adapter, percentile};
use handover_host::config::{self, LoadedConfig};
use handover_host::server;
use handover_host::tenancy::hash_key;
use provider_simulators::{SimConfig, SimProvider};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Phase {
    create: Vec<f64>,
    input: Vec<f64>,
    failed: u64,
}

async fn tenant_b(http: &reqwest::Client, base: &str, n: usize, tag: &str) -> Phase {
    let create = Arc::new(std::sync::Mutex::new(vec![]));
    let input = Arc::new(std::sync::Mutex::new(vec![]));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..4 {
        let (http, base, create, input, failed, next, tag) = (
            http.clone(),
            base.to_string(),
            create.clone(),
            input.clone(),
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
                let body = json!({"session_id": format!("b-{tag}-{i}"), "user_id": "u", "accepted_message": "ok", "cancel_button_text": "Cancel"});
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
    let create = std::mem::take(&mut *create.lock().unwrap());
    let input = std::mem::take(&mut *input.lock().unwrap());
    Phase {
        create,
        input,
        failed: failed.load(Ordering::SeqCst),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("NN_HANDOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let a_tasks: usize = std::env::var("NN_A_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let sim = SimProvider::start(SimConfig {
        webhook_url: None,
        webhook_secret: "s".into(),
        auto_agent: None,
    })
    .await?;
    // A local server for A's egress flood: 1 MiB answers.
    let big = axum::Router::new().fallback(|| async { vec![b'x'; 1 << 20] });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let big_port = l.local_addr()?.port();
    tokio::spawn(async move { axum::serve(l, big).await });
    let dir = std::env::temp_dir().join(format!("noisy-{}", std::process::id()));
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut src = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {}\nwatch_adapters = false\n\n\
         [tenants.a]\napi_key_sha256 = [\"{}\"]\n[tenants.a.quotas]\nconcurrent_calls = 4\ncpu_ms_per_s = 400\nwall_time_ms = 1000\nmemory_mib = 32\n\n\
         [tenants.b]\napi_key_sha256 = [\"{}\"]\n\n",
        q(&dir.display().to_string()),
        hash_key("key-a"),
        hash_key("key-b")
    );
    for (id, fixture, settings) in [
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
            format!("{{ url = \"http://127.0.0.1:{big_port}/\" }}"),
        ),
    ] {
        src += &format!(
            "[[endpoints]]\nid = \"{id}\"\ntenant = \"a\"\nadapter = {}\negress = [\"http://127.0.0.1:{big_port}\"]\nsettings = {settings}\n\n",
            q(&adapter(fixture).display().to_string())
        );
    }
    src += &format!(
        "[[endpoints]]\nid = \"b-sim\"\ntenant = \"b\"\nadapter = {}\negress = [\"{}\"]\nwebhook_secret = \"s\"\nsettings = {{ base_url = \"{}\" }}\n",
        q(&adapter("sim").display().to_string()),
        sim.base_url(),
        sim.base_url()
    );
    let cfg = config::parse("noisy.toml", &src).map_err(|e| anyhow::anyhow!("{e}"))?;
    let srv = server::start(&LoadedConfig {
        config: cfg,
        path: dir.join("noisy.toml"),
        source: src,
    })
    .await?;
    let base = format!("http://{}", srv.addr);
    sim.set_webhook_url(Some(format!("{base}/v1/webhooks/b-sim")));
    let http = reqwest::Client::new();

    // Warm-up (compiles nothing: components are compiled at start-up).
    let _ = tenant_b(&http, &base, 20, "warm").await;
    let mut alone = tenant_b(&http, &base, n, "alone").await;

    let stop = Arc::new(AtomicBool::new(false));
    let a_calls = Arc::new(AtomicU64::new(0));
    let a_429 = Arc::new(AtomicU64::new(0));
    let mut hammer = vec![];
    for t in 0..a_tasks {
        let (http, base, stop, a_calls, a_429) = (
            http.clone(),
            base.clone(),
            stop.clone(),
            a_calls.clone(),
            a_429.clone(),
        );
        hammer.push(tokio::spawn(async move {
            let eps = ["a-loop", "a-bomb", "a-flood", "a-egress-denied", "a-egress-big"];
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let ep = eps[(t + i as usize) % eps.len()];
                let body = json!({"session_id": format!("a-{t}-{i}"), "user_id": "u", "accepted_message": "ok"});
                if let Ok(r) = http.post(format!("{base}/v1/endpoints/{ep}/handovers")).bearer_auth("key-a").json(&body).send().await {
                    if r.status() == 429 {
                        a_429.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    a_calls.fetch_add(1, Ordering::SeqCst);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut noisy = tenant_b(&http, &base, n, "noisy").await;
    stop.store(true, Ordering::SeqCst);
    for h in hammer {
        let _ = h.await;
    }
    println!("machine: {}", bench_common::machine());
    println!(
        "tenant A: {a_tasks} tasks, {} create requests ({} answered 429)",
        a_calls.load(Ordering::SeqCst),
        a_429.load(Ordering::SeqCst)
    );
    println!(
        "| tenant B ({n} handovers, 4 at a time) | B alone p50 | B alone p99 | B with A p50 | B with A p99 | p99 ratio |"
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
    println!(
        "B failures: alone {}, with A {}",
        alone.failed, noisy.failed
    );
    srv.abort();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
