//! Adapter lifecycle benchmarks:
//!
//! 1. first-load time per adapter: compile without the cache, compile +
//!    store into an empty cache, and load from the warm cache (in process,
//!    `Runtime::load`: compile or deserialize, link, `describe`);
//! 2. host start-up (`handover-host serve`, spawn → listening) with 50
//!    endpoints from the compiled cache: the sim adapter under 50 endpoint
//!    ids, and 50 distinct components (sim + a custom section each, so 50
//!    sha256s), each also cold (empty cache) for reference;
//! 3. hot-swap latency under load: bot inputs stream to an `echo` endpoint
//!    while the admin API swaps echo 1.0.0 ⇄ 2.0.0 (both precompiled in the
//!    cache); latency is PUT start → the first event produced by the new
//!    version on the endpoint's SSE stream; every request is counted.
//!
//! cargo run --release -p handover-host --example lifecycle

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::*;
use bytes::Bytes;
use handover_host::runtime::{Runtime, RuntimeConfig};
use http_body_util::{BodyExt, Full};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `bytes` plus a custom section named `bench-variant` holding `tag`: a
/// different sha256, the same component.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    handover_guests::with_custom_section(bytes, "bench-variant", tag.as_bytes())
}

fn small_runtime(cache: Option<&Path>) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.map(Path::to_path_buf),
        max_instances: 16,
        ..Default::default()
    })
    .unwrap()
}

async fn compile_times() {
    println!("## first load per adapter (Runtime::load: compile or cache, link, describe)");
    let names = [
        "echo",
        "sim",
        "sim-poll",
        "template",
        "chatwoot",
        "genesys-open-messaging",
        "liveperson",
        "matrix",
        "salesforce-live-agent",
        "salesforce-miaw",
        "sunshine-conversations",
    ];
    for name in names {
        let Ok(bytes) = std::fs::read(adapter(name)) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let a = small_runtime(None).load(&bytes).await;
        let no_cache = t.elapsed();
        if let Err(e) = a {
            println!("{name}: refused: {e}");
            continue;
        }
        let rt = small_runtime(Some(dir.path()));
        let t = Instant::now();
        rt.load(&bytes).await.unwrap();
        let cold = t.elapsed();
        drop(rt);
        let rt = small_runtime(Some(dir.path()));
        let t = Instant::now();
        rt.load(&bytes).await.unwrap();
        let warm = t.elapsed();
        println!(
            "load {name} ({} KiB): no cache {:.1} ms, empty cache (compile + store) {:.1} ms, warm cache {:.2} ms",
            bytes.len() / 1024,
            no_cache.as_secs_f64() * 1e3,
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );
    }
}

fn startup(label: &str, adapters: Vec<std::path::PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let eps: Vec<EndpointSpec> = adapters
        .into_iter()
        .enumerate()
        .map(|(i, adapter)| EndpointSpec {
            id: format!("ep{i}"),
            adapter,
        })
        .collect();
    let config = write_config(dir.path(), &eps);
    let cold = Host::start(&config, &[]);
    let cold_t = cold.startup;
    drop(cold);
    let mut warm = vec![];
    for _ in 0..5 {
        let h = Host::start(&config, &[]);
        warm.push(h.startup);
    }
    warm.sort();
    println!(
        "startup {label} ({} endpoints): empty cache {:.0} ms; warm cache median {:.0} ms (min {:.0}, max {:.0}, 5 starts)",
        eps.len(),
        cold_t.as_secs_f64() * 1e3,
        warm[2].as_secs_f64() * 1e3,
        warm[0].as_secs_f64() * 1e3,
        warm[4].as_secs_f64() * 1e3,
    );
}

fn startups() {
    println!("## host start-up from the compiled cache (spawn → listening)");
    let sim = adapter("sim");
    startup("sim x50 endpoint ids", vec![sim.clone(); 50]);
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&sim).unwrap();
    let distinct: Vec<_> = (0..50)
        .map(|i| {
            let p = dir.path().join(format!("sim-{i}.wasm"));
            std::fs::write(&p, variant(&bytes, &format!("v{i}"))).unwrap();
            p
        })
        .collect();
    startup("50 distinct components", distinct);
}

async fn hot_swap() {
    println!("## hot swap under load (echo 1.0.0 <-> 2.0.0, precompiled)");
    let dir = tempfile::tempdir().unwrap();
    let v1 = adapter("echo");
    let v2 = adapter("echo-v2");
    let eps = vec![
        EndpointSpec {
            id: "swap".into(),
            adapter: v1.clone(),
        },
        // Loads (so compiles and caches) the second version.
        EndpointSpec {
            id: "warm".into(),
            adapter: v2.clone(),
        },
    ];
    let config = write_config(dir.path(), &eps);
    let host = Host::start(&config, &[]);
    let client = client();
    let post = |url: String, body: String| {
        http::Request::post(url)
            .header("content-type", "application/json")
            .header("authorization", bearer())
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let mut handovers = vec![];
    for i in 0..64 {
        let body = format!(r#"{{"session_id":"s{i}","user_id":"u{i}","accepted_message":"ok"}}"#);
        let r = client
            .request(post(host.url("/v1/endpoints/swap/handovers"), body))
            .await
            .unwrap();
        assert!(r.status().is_success(), "create: {}", r.status());
        let v: serde_json::Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        handovers.push(v["handover_id"].as_str().unwrap().to_string());
    }
    // The version that produced the newest event, and when each was first seen.
    let first_seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let fs = first_seen.clone();
    let stream = sse(
        &client,
        &host.url("/v1/endpoints/swap/events"),
        move |kind, data| {
            if kind != "agent_message" {
                return;
            }
            let Some(i) = data.find("\"text\":\"") else {
                return;
            };
            let rest = &data[i + 8..];
            let version = rest.split(':').next().unwrap_or("").to_string();
            let mut fs = fs.lock().unwrap();
            if fs.last().is_none_or(|(v, _)| *v != version) {
                fs.push((version, Instant::now()));
            }
        },
    )
    .await;

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = vec![];
    for j in 0..16 {
        let mine: Vec<String> = handovers.iter().skip(j).step_by(16).cloned().collect();
        let (client, ok, failed, stop, base) = (
            client.clone(),
            ok.clone(),
            failed.clone(),
            stop.clone(),
            host.url(""),
        );
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{base}/v1/handovers/{}/input", mine[i % mine.len()]);
                let req = http::Request::post(url)
                    .header("content-type", "application/json")
                    .header("authorization", bearer())
                    .body(Full::new(Bytes::from_static(br#"{"text":"m"}"#)))
                    .unwrap();
                match client.request(req).await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.into_body().collect().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            let s = r.status();
                            let b = r
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            eprintln!("input answered {s}: {}", String::from_utf8_lossy(&b));
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("input failed: {e}");
                        }
                    }
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bytes = [std::fs::read(&v1).unwrap(), std::fs::read(&v2).unwrap()];
    let mut latencies = vec![];
    let t_load = Instant::now();
    let ok0 = ok.load(Ordering::Relaxed);
    for k in 0..6 {
        let (body, want) = if k % 2 == 0 {
            (&bytes[1], "2.0.0")
        } else {
            (&bytes[0], "1.0.0")
        };
        let put = http::Request::put(host.url("/admin/endpoints/swap/adapter"))
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let t = Instant::now();
        let r = client.request(put).await.unwrap();
        let status = r.status();
        let _ = r.into_body().collect().await;
        let put_done = t.elapsed();
        assert!(status.is_success(), "swap answered {status}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let seen = loop {
            let found = first_seen
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|(v, at)| v == want && *at >= t)
                .map(|(_, at)| *at);
            if let Some(at) = found {
                break Some(at - t);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        match seen {
            Some(d) => {
                println!(
                    "swap {} -> {want}: PUT answered in {:.1} ms, first event from {want} after {:.1} ms",
                    if want == "2.0.0" { "1.0.0" } else { "2.0.0" },
                    put_done.as_secs_f64() * 1e3,
                    d.as_secs_f64() * 1e3
                );
                latencies.push(d);
            }
            None => println!("swap to {want}: no event from the new version within 5 s"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let load_rate = (ok.load(Ordering::Relaxed) - ok0) as f64 / t_load.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.await;
    }
    stream.abort();
    latencies.sort();
    println!(
        "hot swap under load ({:.0} inputs/s, 16 senders): swap→first new-version event median {:.1} ms, max {:.1} ms over {} swaps; requests ok {}, failed {}",
        load_rate,
        latencies
            .get(latencies.len() / 2)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN),
        latencies
            .last()
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN),
        latencies.len(),
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}

fn main() {
    println!("machine: {}", machine());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let what: Vec<String> = std::env::args().skip(1).collect();
    let all = what.is_empty();
    let want = |s: &str| all || what.iter().any(|w| w == s);
    if want("compile") {
        rt.block_on(compile_times());
    }
    if want("startup") {
        startups();
    }
    if want("swap") {
        rt.block_on(hot_swap());
    }
}
