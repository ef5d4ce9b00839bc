//! End-to-end webhook ingest benchmark against the real server.
//!
//! Starts `target/release/handover-host serve` on a fresh SQLite data dir
//! with `--endpoints` sim endpoints and `--handovers` open handovers (seeded
//! through the store API before start), holds one SSE stream per endpoint
//! (`/v1/endpoints/{id}/events`), and posts signed sim `agent_message`
//! webhooks from `--concurrency` senders (each owns its handovers, so one
//! webhook per handover is in flight and provider order holds). Latency is
//! webhook-post start → the event read from the endpoint's SSE stream.
//!
//! `--compare-native` runs the same load twice in this one invocation: the
//! sim adapter in the sandbox, then the same provider logic compiled into
//! the host (needs a host built with `--features bench-native`; selected by
//! `HANDOVER_BENCH_NATIVE=1`), and prints the wasm/native throughput ratio.
//! `--compare-reuse N` adds a run with every endpoint on `instance_reuse =
//! N` (warm instances instead of a fresh one per call).
//!
//! cargo run --release -p handover-host --example loadgen -- --help

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::*;
use clap::Parser;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
struct Args {
    /// Open handovers the webhooks are spread over.
    #[arg(long, default_value_t = 2000)]
    handovers: usize,
    /// Endpoints (one SSE stream each).
    #[arg(long, default_value_t = 4)]
    endpoints: usize,
    /// Concurrent senders (webhooks in flight).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Offered load, events/s, paced; without it the senders run closed-loop
    /// (next webhook as soon as the previous one was answered).
    #[arg(long)]
    rate: Option<u64>,
    /// Warm-up before measuring, s.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Measured time, s.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Also run with the native (unsandboxed) sim logic and print the ratio.
    #[arg(long)]
    compare_native: bool,
    /// Also run with group commit off (`HANDOVER_SQLITE_MAX_BATCH=1`: one
    /// fsync per write) and print the ratio.
    #[arg(long)]
    compare_unbatched: bool,
    /// Also run with every webhook through the inbox (`inline_webhook_ms =
    /// 0`: stored, answered, then applied: two writes per webhook) and
    /// print the ratio.
    #[arg(long)]
    compare_inbox: bool,
    /// Also run with every endpoint reusing instances (`instance_reuse =
    /// N`: an instance serves up to N calls) and print the ratios (against
    /// fresh instances, and against native with `--compare-native`).
    #[arg(long, value_name = "N")]
    compare_reuse: Option<u32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Wasm,
    Native,
    Unbatched,
    Inbox,
    Reuse(u32),
}

struct Outcome {
    events: u64,
    secs: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    failed: u64,
    lost: u64,
    host_cpu: f64,
    driver_cpu: f64,
    /// Webhook post → 2xx (the step, or the inbox row, committed).
    ack_p50: f64,
    ack_p99: f64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }
}

const MAX_TOKENS: usize = 8_000_000;

async fn run(args: &Args, mode: Mode) -> Outcome {
    let native = mode == Mode::Native;
    let dir = tempfile::tempdir().unwrap();
    let sim = adapter("sim");
    let eps = sim_endpoints(args.endpoints, &sim);
    let config = write_config(dir.path(), &eps);
    let toml = std::fs::read_to_string(&config).unwrap();
    let toml = match mode {
        Mode::Inbox => toml.replacen("[server]\n", "[server]\ninline_webhook_ms = 0\n", 1),
        Mode::Reuse(n) => toml.replace(
            "webhook_secret = ",
            &format!("instance_reuse = {n}\nwebhook_secret = "),
        ),
        _ => toml,
    };
    std::fs::write(&config, toml).unwrap();
    let ids: Vec<String> = eps.iter().map(|e| e.id.clone()).collect();
    let seeded = seed(&dir.path().join("data"), &ids, args.handovers).await;
    let env: Vec<(&str, &str)> = match mode {
        Mode::Wasm | Mode::Inbox | Mode::Reuse(_) => vec![],
        Mode::Native => vec![("HANDOVER_BENCH_NATIVE", "1")],
        Mode::Unbatched => vec![("HANDOVER_SQLITE_MAX_BATCH", "1")],
    };
    let host = Host::start(&config, &env);
    if native {
        assert!(
            host.startup_log.iter().any(|l| l.contains("bench-native")),
            "the host did not switch to the native sim logic: build it with `--features bench-native`"
        );
    }
    let base = host.url("");
    let client = client();

    // Send times by token (ns since `origin`; 0 = not sent / not measured).
    let origin = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..MAX_TOKENS).map(|_| AtomicU64::new(0)).collect());
    let lat_us = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let received = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut streams = vec![];
    for ep in &ids {
        let (sent, lat_us, received) = (sent.clone(), lat_us.clone(), received.clone());
        let url = host.url(&format!("/v1/endpoints/{ep}/events"));
        streams.push(
            sse(&client, &url, move |kind, data| {
                if kind != "agent_message" {
                    return;
                }
                let now = origin.elapsed().as_nanos() as u64;
                let Some(i) = data.find("\"text\":\"t-") else {
                    return;
                };
                let rest = &data[i + 10..];
                let end = rest.find('"').unwrap_or(rest.len());
                let Ok(token) = rest[..end].parse::<usize>() else {
                    return;
                };
                received.fetch_add(1, Ordering::Relaxed);
                if let Some(slot) = sent.get(token) {
                    let t = slot.swap(0, Ordering::Relaxed);
                    if t != 0 {
                        lat_us.lock().unwrap().push((now - t) / 1000);
                    }
                }
            })
            .await,
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let next_token = Arc::new(AtomicU64::new(1));
    let failed = Arc::new(AtomicU64::new(0));
    let measured_sent = Arc::new(AtomicU64::new(0));
    let ack_us = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let c = args.concurrency.min(seeded.len()).max(1);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(c as f64 / r as f64));
    let mut senders = vec![];
    for j in 0..c {
        let mine: Vec<Seeded> = seeded.iter().skip(j).step_by(c).cloned().collect();
        let ack_us = ack_us.clone();
        let (client, base, stop, next_token, failed, sent, measuring, measured_sent) = (
            client.clone(),
            base.clone(),
            stop.clone(),
            next_token.clone(),
            failed.clone(),
            sent.clone(),
            measuring.clone(),
            measured_sent.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut seqs = vec![3u64; mine.len()];
            let start = Instant::now()
                + interval
                    .map(|i| i.mul_f64(j as f64 / c as f64))
                    .unwrap_or_default();
            let mut k: u32 = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some(iv) = interval {
                    tokio::time::sleep_until((start + iv * k).into()).await;
                    k += 1;
                }
                let h = &mine[i];
                let token = next_token.fetch_add(1, Ordering::Relaxed) as usize;
                if token >= MAX_TOKENS {
                    break;
                }
                let req = webhook(&base, &h.endpoint, &h.conversation, seqs[i], token as u64);
                let m = measuring.load(Ordering::Relaxed);
                if m {
                    sent[token].store(origin.elapsed().as_nanos().max(1) as u64, Ordering::Relaxed);
                    measured_sent.fetch_add(1, Ordering::Relaxed);
                }
                let t = Instant::now();
                match client.request(req).await {
                    Ok(r) if r.status().is_success() => {
                        use http_body_util::BodyExt;
                        let _ = r.into_body().collect().await;
                        seqs[i] += 1;
                        if m {
                            ack_us.lock().unwrap().push(t.elapsed().as_micros() as u64);
                        }
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        sent[token].store(0, Ordering::Relaxed);
                        if failed.load(Ordering::Relaxed) < 5 {
                            eprintln!("webhook answered {}", r.status());
                        }
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        sent[token].store(0, Ordering::Relaxed);
                        if failed.load(Ordering::Relaxed) < 5 {
                            eprintln!("webhook failed: {e}");
                        }
                    }
                }
                i = (i + 1) % mine.len();
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let host_cpu0 = host.cpu();
    let driver_cpu0 = self_cpu();
    let failed0 = failed.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let host_cpu = (host.cpu() - host_cpu0).as_secs_f64();
    let driver_cpu = (self_cpu() - driver_cpu0).as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.await;
    }
    // Let the last events arrive.
    let want = measured_sent.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (lat_us.lock().unwrap().len() as u64) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in streams {
        s.abort();
    }
    let mut acks = std::mem::take(&mut *ack_us.lock().unwrap());
    acks.sort_unstable();
    let mut l = std::mem::take(&mut *lat_us.lock().unwrap());
    l.sort_unstable();
    let failed = failed.load(Ordering::Relaxed) - failed0;
    let events = l.len() as u64;
    drop(host);
    Outcome {
        events,
        secs,
        p50: pct_ms(&l, 0.50),
        p90: pct_ms(&l, 0.90),
        p99: pct_ms(&l, 0.99),
        max: l.last().map(|v| *v as f64 / 1000.0).unwrap_or(f64::NAN),
        failed,
        lost: want.saturating_sub(events + failed),
        host_cpu,
        driver_cpu,
        ack_p50: pct_ms(&acks, 0.50),
        ack_p99: pct_ms(&acks, 0.99),
    }
}

fn print(label: &str, args: &Args, o: &Outcome) {
    println!(
        "e2e[{label}] handovers={} endpoints={} concurrency={} rate={}: {:.0} events/s ({} events in {:.1} s), latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.1} ms (2xx after p50 {:.2} ms p99 {:.2} ms), failed {}, lost {}, cpu host {:.2} cores driver {:.2} cores",
        args.handovers,
        args.endpoints,
        args.concurrency,
        args.rate
            .map(|r| r.to_string())
            .unwrap_or_else(|| "closed-loop".into()),
        o.rate(),
        o.events,
        o.secs,
        o.p50,
        o.p90,
        o.p99,
        o.max,
        o.ack_p50,
        o.ack_p99,
        o.failed,
        o.lost,
        o.host_cpu / o.secs,
        o.driver_cpu / o.secs,
    );
}

/// `a`'s throughput over `b`'s, and both sides' figures for the line.
fn compared(a: &Outcome, b: &Outcome) -> (f64, String) {
    let detail = format!(
        "({:.0} vs {:.0} events/s); p99 {:.2} ms vs {:.2} ms",
        a.rate(),
        b.rate(),
        a.p99,
        b.p99
    );
    (a.rate() / b.rate(), detail)
}

fn main() {
    let args = Args::parse();
    println!("machine: {}", machine());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let wasm = run(&args, Mode::Wasm).await;
        print("wasm", &args, &wasm);
        if args.compare_unbatched {
            let unbatched = run(&args, Mode::Unbatched).await;
            print("wasm, group commit off", &args, &unbatched);
            let (r, detail) = compared(&wasm, &unbatched);
            println!("group commit: {r:.2}x the throughput of one fsync per write {detail}");
        }
        if args.compare_inbox {
            let inbox = run(&args, Mode::Inbox).await;
            print("wasm, every webhook via the inbox", &args, &inbox);
            let (r, detail) = compared(&wasm, &inbox);
            println!("inline webhooks: {r:.2}x the throughput of the inbox path {detail}");
        }
        let reuse = match args.compare_reuse {
            Some(n) => {
                let reuse = run(&args, Mode::Reuse(n)).await;
                print(&format!("wasm, instance_reuse = {n}"), &args, &reuse);
                let (r, detail) = compared(&reuse, &wasm);
                println!("instance reuse: {r:.2}x the throughput of fresh instances {detail}");
                Some(reuse)
            }
            None => None,
        };
        if args.compare_native {
            let native = run(&args, Mode::Native).await;
            print("native", &args, &native);
            let (r, detail) = compared(&wasm, &native);
            println!("sandbox ratio: wasm/native throughput = {r:.2} {detail}");
            if let Some(reuse) = reuse {
                let (r, detail) = compared(&reuse, &native);
                println!(
                    "sandbox ratio with instance reuse: wasm/native throughput = {r:.2} {detail}"
                );
            }
        }
    });
}
