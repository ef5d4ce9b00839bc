//! Resident memory per open handover: the real `handover-host serve` holding
//! `--handovers` open sim handovers (seeded through the store API into its
//! SQLite file before start: active, agent joined, inactivity timers armed
//! an hour out, correlation keys bound) against the same host holding none.
//! RSS is sampled once a second over `--seconds` after start (so the timer,
//! poll and sweep loops have each run over the full set several times); the
//! figure is (RSS with N − RSS with 0) / N, from the last samples and from
//! the peaks. Also checks that the handovers are live: a status read and an
//! SSE stream of one of them, and a webhook processed for another.
//!
//! cargo run --release -p handover-host --example idle_scale -- --handovers 100000

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::*;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    handovers: usize,
    #[arg(long, default_value_t = 4)]
    endpoints: usize,
    /// How long each host runs while RSS is sampled, s.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

struct Sampled {
    last: u64,
    peak: u64,
}

async fn sample(host: &Host, seconds: u64) -> Sampled {
    let mut peak = 0;
    let mut last = 0;
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = host.rss_kib();
        peak = peak.max(last);
    }
    Sampled { last, peak }
}

async fn run(args: &Args, n: usize) -> Sampled {
    let dir = tempfile::tempdir().unwrap();
    let eps = sim_endpoints(args.endpoints, &adapter("sim"));
    let ids: Vec<String> = eps.iter().map(|e| e.id.clone()).collect();
    let config = write_config(dir.path(), &eps);
    let t = Instant::now();
    let seeded = seed(&dir.path().join("data"), &ids, n).await;
    if n > 0 {
        println!(
            "seeded {n} open handovers in {:.1} s (store API, group commit)",
            t.elapsed().as_secs_f64()
        );
    }
    let host = Host::start(&config, &[]);
    let client = client();
    let live = async {
        if n == 0 {
            return;
        }
        // Live: status, an SSE stream, and a webhook applied end to end.
        let h = &seeded[n - 1];
        let r = client
            .request(
                http::Request::get(host.url(&format!("/v1/handovers/{}", h.id)))
                    .header("authorization", bearer())
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = r.status();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stream = sse(
            &client,
            &host.url(&format!("/v1/handovers/{}/events", h.id)),
            move |kind, _| {
                let _ = tx.send(kind.to_string());
            },
        )
        .await;
        let t = Instant::now();
        let r = client
            .request(webhook(&host.url(""), &h.endpoint, &h.conversation, 3, 1))
            .await
            .unwrap();
        let hook = r.status();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        println!(
            "live check on {} of {n}: GET status {status} ({}), webhook {hook}, SSE event {:?} after {:.1} ms",
            h.id,
            v["status"],
            got.ok().flatten(),
            t.elapsed().as_secs_f64() * 1e3
        );
        stream.abort();
    };
    live.await;
    let s = sample(&host, args.seconds).await;
    println!(
        "host with {n} open handovers: RSS last {} KiB, peak {} KiB, cpu {:.2} s over the run",
        s.last,
        s.peak,
        host.cpu().as_secs_f64()
    );
    s
}

fn main() {
    let args = Args::parse();
    println!("machine: {}", machine());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let empty = run(&args, 0).await;
        let full = run(&args, args.handovers).await;
        let n = args.handovers as f64;
        println!(
            "idle scale: {} open handovers, RSS delta {} KiB (last) / {} KiB (peak) -> {:.0} B ({:.0} B peak) per open handover",
            args.handovers,
            full.last as i64 - empty.last as i64,
            full.peak as i64 - empty.peak as i64,
            (full.last as f64 - empty.last as f64) * 1024.0 / n,
            (full.peak as f64 - empty.peak as f64) * 1024.0 / n,
        );
    });
}
