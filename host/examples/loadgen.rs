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
//! `--compare-declared` adds a run of the contract 0.2.0 build of sim
//! (`sim-v2`: webhooks routed by its declaration, no `route-webhook`
//! instance). `--compare-reuse N` adds a run with every endpoint on `instance_reuse =
//! N` (warm instances instead of a fresh one per call). `--compare-floor`
//! adds a run of the `webhook-floor` fixture in sim's place: a guest that
//! parses no JSON, so the run measures the sandbox's own cost per webhook
//! (instance, SDK glue, calls, drop) apart from an adapter's code.
//!
//! Compared paths run in `--rounds` rounds (default 5): each round runs
//! every path once, in reverse order every other round (A B, B A, A B …,
//! so a drift of the machine's load favours no path), and the summary
//! gives each path's medians and each ratio's median with its min–max
//! over the rounds (a ratio is taken within a round). `--concurrency
//! 32,128` repeats the whole comparison at each number in flight. Every
//! run also reports the machine's other load (busy CPU outside the host,
//! the driver and the database), so a noisy run can be told apart.
//!
//! `--store postgres` runs the load on SQLite, then on PostgreSQL (a fresh
//! schema on the server `HANDOVER_TEST_PG_URL` names, as for the tests)
//! with one host, then with `--replicas N[,M…]` hosts on that database
//! (webhooks and SSE streams spread round-robin over them), and prints the
//! ratios; `--sweep 1,8,64,256` adds one-replica PostgreSQL runs at each
//! number of webhooks in flight, with the database's commits per second.
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
    /// Concurrent senders (webhooks in flight); several (comma-separated)
    /// repeat the comparison at each.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    concurrency: Vec<usize>,
    /// Rounds of alternating runs of the compared paths (medians reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
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
    /// Also run the contract 0.2.0 build of sim (`sim-v2`), whose webhooks
    /// the host routes by its declaration without a `route-webhook`
    /// instance, and print the ratios (against the 0.1.0 build, and
    /// against native with `--compare-native`).
    #[arg(long)]
    compare_declared: bool,
    /// Also run the `webhook-floor` fixture in place of sim: a guest that
    /// parses no JSON (byte search for the fields it needs), so its runs
    /// show what the sandbox itself costs per webhook. Prints sim's
    /// throughput over the floor's, the floor's ratio against native with
    /// `--compare-native`, and with `--compare-reuse N` adds a floor run
    /// reusing instances.
    #[arg(long)]
    compare_floor: bool,
    /// `postgres`: compare SQLite, PostgreSQL x 1 and x `--replicas`.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// Hosts sharing the PostgreSQL database (with `--store postgres`;
    /// default 2): one path per number given (comma-separated, e.g. 2,3).
    #[arg(long, value_delimiter = ',')]
    replicas: Vec<usize>,
    /// With `--store postgres`: also run one replica at each of these
    /// numbers of webhooks in flight (comma-separated).
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum StoreKind {
    Sqlite,
    Postgres,
}

/// Where the hosts keep their state.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    /// This many hosts on one PostgreSQL schema.
    Postgres(usize),
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Wasm,
    Native,
    Unbatched,
    Inbox,
    Reuse(u32),
    /// The contract 0.2.0 build of sim (`sim-v2`): webhooks routed by its
    /// declaration, no `route-webhook` instance.
    Declared,
    /// The `webhook-floor` fixture instead of sim, reusing instances when
    /// `Some(n)` (`instance_reuse = n`).
    Floor(Option<u32>),
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
    /// PostgreSQL server CPU, s, and transactions committed (0 on SQLite).
    db_cpu: f64,
    commits: i64,
    /// Busy CPU of the whole machine, s (everything, this run included).
    machine_cpu: f64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }

    /// Host CPU per event, µs.
    fn host_us(&self) -> f64 {
        self.host_cpu / self.events as f64 * 1e6
    }

    /// Cores busy outside the host(s), the driver and the database.
    fn other_load(&self) -> f64 {
        ((self.machine_cpu - self.host_cpu - self.driver_cpu - self.db_cpu) / self.secs).max(0.0)
    }
}

const MAX_TOKENS: usize = 8_000_000;

async fn run(args: &Args, mode: Mode, backend: Backend, concurrency: usize) -> Outcome {
    let native = mode == Mode::Native;
    let dir = tempfile::tempdir().unwrap();
    let sim = adapter(match mode {
        Mode::Declared => "sim-v2",
        Mode::Floor(_) => "webhook-floor",
        _ => "sim",
    });
    let eps = sim_endpoints(args.endpoints, &sim);
    let ids: Vec<String> = eps.iter().map(|e| e.id.clone()).collect();
    let (replicas, schema) = match backend {
        Backend::Sqlite => (1, None),
        Backend::Postgres(n) => (n.max(1), Some(pg::Schema::create("loadgen").await)),
    };
    // One config (and data dir: the compiled-component cache) per host.
    let mut configs = vec![];
    for r in 0..replicas {
        let own = dir.path().join(format!("r{r}"));
        std::fs::create_dir_all(&own).unwrap();
        let config = write_config(&own, &eps);
        let toml = std::fs::read_to_string(&config).unwrap();
        let mut toml = match mode {
            Mode::Inbox => toml.replacen("[server]\n", "[server]\ninline_webhook_ms = 0\n", 1),
            Mode::Reuse(n) | Mode::Floor(Some(n)) => toml.replace(
                "webhook_secret = ",
                &format!("instance_reuse = {n}\nwebhook_secret = "),
            ),
            _ => toml,
        };
        if let Some(schema) = &schema {
            toml.push_str(&schema.config());
        }
        std::fs::write(&config, toml).unwrap();
        configs.push(config);
    }
    let seeded = match &schema {
        None => seed(&dir.path().join("r0/data"), &ids, args.handovers).await,
        Some(schema) => seed_into(schema.store().await, &ids, args.handovers).await,
    };
    let env: Vec<(&str, &str)> = match mode {
        Mode::Wasm | Mode::Inbox | Mode::Reuse(_) | Mode::Declared | Mode::Floor(_) => vec![],
        Mode::Native => vec![("HANDOVER_BENCH_NATIVE", "1")],
        Mode::Unbatched => vec![("HANDOVER_SQLITE_MAX_BATCH", "1")],
    };
    let hosts: Vec<Host> = configs.iter().map(|c| Host::start(c, &env)).collect();
    if native {
        for host in &hosts {
            assert!(
                host.startup_log.iter().any(|l| l.contains("bench-native")),
                "the host did not switch to the native sim logic: build it with `--features bench-native`"
            );
        }
    }
    let client = client();

    // Send times by token (ns since `origin`; 0 = not sent / not measured).
    let origin = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..MAX_TOKENS).map(|_| AtomicU64::new(0)).collect());
    let lat_us = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let received = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut streams = vec![];
    for (i, ep) in ids.iter().enumerate() {
        let (sent, lat_us, received) = (sent.clone(), lat_us.clone(), received.clone());
        let url = hosts[i % replicas].url(&format!("/v1/endpoints/{ep}/events"));
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
    let c = concurrency.min(seeded.len()).max(1);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(c as f64 / r as f64));
    let mut senders = vec![];
    for j in 0..c {
        let mine: Vec<Seeded> = seeded.iter().skip(j).step_by(c).cloned().collect();
        let ack_us = ack_us.clone();
        let (client, base, stop, next_token, failed, sent, measuring, measured_sent) = (
            client.clone(),
            hosts[j % replicas].url(""),
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
    let hosts_cpu = || hosts.iter().map(Host::cpu).sum::<Duration>();
    let host_cpu0 = hosts_cpu();
    let driver_cpu0 = self_cpu();
    let db_cpu0 = pg::server_cpu();
    let machine_cpu0 = machine_busy();
    let commits0 = match &schema {
        Some(s) => s.commits().await,
        None => 0,
    };
    let failed0 = failed.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let host_cpu = (hosts_cpu() - host_cpu0).as_secs_f64();
    let driver_cpu = (self_cpu() - driver_cpu0).as_secs_f64();
    let machine_cpu = machine_busy().saturating_sub(machine_cpu0).as_secs_f64();
    let db_cpu = match &schema {
        Some(_) => pg::server_cpu().saturating_sub(db_cpu0).as_secs_f64(),
        None => 0.0,
    };
    let commits = match &schema {
        Some(s) => s.commits().await - commits0,
        None => 0,
    };
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
    drop(hosts);
    drop(schema);
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
        db_cpu,
        commits,
        machine_cpu,
    }
}

fn print_at(label: &str, args: &Args, concurrency: usize, o: &Outcome) {
    let db = if o.commits > 0 {
        format!(
            ", database {:.2} cores, {:.0} commits/s ({:.1} events per commit)",
            o.db_cpu / o.secs,
            o.commits as f64 / o.secs,
            o.events as f64 / o.commits as f64
        )
    } else {
        String::new()
    };
    println!(
        "e2e[{label}] handovers={} endpoints={} concurrency={} rate={}: {:.0} events/s ({} events in {:.1} s), latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.1} ms (2xx after p50 {:.2} ms p99 {:.2} ms), failed {}, lost {}, cpu host {:.2} cores ({:.0} us/event) driver {:.2} cores, other load {:.2} cores{db}",
        args.handovers,
        args.endpoints,
        concurrency,
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
        o.host_us(),
        o.driver_cpu / o.secs,
        o.other_load(),
    );
}

fn main() {
    let args = Args::parse();
    println!("machine: {}", machine());
    let rt = tokio::runtime::Runtime::new().unwrap();
    if args.rounds == 0 || args.concurrency.contains(&0) {
        eprintln!("loadgen: --rounds and --concurrency must be at least 1");
        std::process::exit(2);
    }
    if args.store == StoreKind::Postgres {
        let comparing = args.compare_native
            || args.compare_unbatched
            || args.compare_inbox
            || args.compare_declared
            || args.compare_floor
            || args.compare_reuse.is_some();
        if comparing {
            eprintln!(
                "loadgen: the --compare-* runs use SQLite; run them without --store postgres"
            );
            std::process::exit(2);
        }
        if args.concurrency.len() > 1 {
            eprintln!("loadgen: --store postgres takes one --concurrency (use --sweep)");
            std::process::exit(2);
        }
        if args.replicas.iter().any(|&n| n < 2) || args.sweep.contains(&0) {
            eprintln!(
                "loadgen: --replicas counts hosts beyond the one always run (each at least 2), \
                 --sweep webhooks in flight (each at least 1)"
            );
            std::process::exit(2);
        }
        let (paths, ratios) = postgres_paths(&args);
        rt.block_on(compare(&args, paths, ratios));
        return;
    }
    if !args.replicas.is_empty() || !args.sweep.is_empty() {
        eprintln!("loadgen: --replicas and --sweep need --store postgres");
        std::process::exit(2);
    }
    rt.block_on(async {
        for &c in &args.concurrency {
            let (paths, ratios) = sqlite_paths(&args, c);
            compare(&args, paths, ratios).await;
        }
    });
}

/// One compared configuration: its label, path, store and webhooks in flight.
struct Path {
    label: String,
    mode: Mode,
    backend: Backend,
    concurrency: usize,
}

impl Path {
    fn new(label: impl Into<String>, mode: Mode, backend: Backend, concurrency: usize) -> Path {
        let label = label.into();
        Path {
            label,
            mode,
            backend,
            concurrency,
        }
    }
}

/// A ratio to report: its description, then the indexes (into the paths)
/// of the numerator and the denominator.
type Ratio = (String, usize, usize);

/// The SQLite paths compared at `c` in flight: fresh-instance wasm first,
/// then each `--compare-*` asked for; and the ratios between them.
fn sqlite_paths(args: &Args, c: usize) -> (Vec<Path>, Vec<Ratio>) {
    let sqlite = |label: String, mode| Path::new(label, mode, Backend::Sqlite, c);
    let mut paths = vec![sqlite("wasm".into(), Mode::Wasm)];
    let mut ratios: Vec<Ratio> = vec![];
    // Paths compared with fresh-instance wasm as the numerator.
    let under_wasm = [
        (
            args.compare_unbatched,
            "wasm, group commit off",
            Mode::Unbatched,
            "group commit: throughput over one fsync per write",
        ),
        (
            args.compare_inbox,
            "wasm, every webhook via the inbox",
            Mode::Inbox,
            "inline webhooks: throughput over the inbox path",
        ),
    ];
    for (asked, label, mode, what) in under_wasm {
        if asked {
            paths.push(sqlite(label.into(), mode));
            ratios.push((what.into(), 0, paths.len() - 1));
        }
    }
    let reuse = args.compare_reuse.map(|n| {
        paths.push(sqlite(
            format!("wasm, instance_reuse = {n}"),
            Mode::Reuse(n),
        ));
        let r = paths.len() - 1;
        ratios.push((
            "instance reuse: throughput over fresh instances".into(),
            r,
            0,
        ));
        r
    });
    let declared = args.compare_declared.then(|| {
        paths.push(sqlite(
            "wasm 0.2.0, declared routing".into(),
            Mode::Declared,
        ));
        let d = paths.len() - 1;
        ratios.push((
            "declared routing: throughput over route-webhook (fresh instances)".into(),
            d,
            0,
        ));
        d
    });
    let floor = args.compare_floor.then(|| {
        paths.push(sqlite(
            "wasm, webhook-floor guest".into(),
            Mode::Floor(None),
        ));
        let f = paths.len() - 1;
        ratios.push((
            "sim's own code: sim over the floor guest, throughput (fresh instances)".into(),
            0,
            f,
        ));
        let reused = args.compare_reuse.map(|n| {
            paths.push(sqlite(
                format!("wasm, webhook-floor guest, instance_reuse = {n}"),
                Mode::Floor(Some(n)),
            ));
            paths.len() - 1
        });
        (f, reused)
    });
    if args.compare_native {
        paths.push(sqlite("native".into(), Mode::Native));
        let n = paths.len() - 1;
        ratios.push(("sandbox ratio: wasm/native throughput".into(), 0, n));
        if let Some(d) = declared {
            let what =
                "sandbox ratio with declared routing (fresh instances): wasm/native throughput";
            ratios.push((what.into(), d, n));
        }
        if let Some(r) = reuse {
            let what = "sandbox ratio with instance reuse: wasm/native throughput";
            ratios.push((what.into(), r, n));
        }
        if let Some((f, reused)) = floor {
            let what =
                "sandbox floor (webhook-floor guest, fresh instances): wasm/native throughput";
            ratios.push((what.into(), f, n));
            if let Some(r) = reused {
                let what = "sandbox floor with instance reuse: wasm/native throughput";
                ratios.push((what.into(), r, n));
            }
        }
    }
    (paths, ratios)
}

/// `--store postgres`: SQLite, PostgreSQL x 1 and x `--replicas`, and the
/// one-replica sweep; and the ratios between them.
fn postgres_paths(args: &Args) -> (Vec<Path>, Vec<Ratio>) {
    let c = args.concurrency[0];
    let mut paths = vec![
        Path::new("sqlite", Mode::Wasm, Backend::Sqlite, c),
        Path::new("postgres x 1", Mode::Wasm, Backend::Postgres(1), c),
    ];
    let mut ratios = vec![("postgres x 1 / sqlite: throughput".to_string(), 1, 0)];
    let replicas = if args.replicas.is_empty() {
        vec![2]
    } else {
        args.replicas.clone()
    };
    for n in replicas {
        let label = format!("postgres x {n}");
        paths.push(Path::new(&label, Mode::Wasm, Backend::Postgres(n), c));
        ratios.push((
            format!("{label} / postgres x 1: throughput"),
            paths.len() - 1,
            1,
        ));
    }
    let first = paths.len();
    for &k in &args.sweep {
        let label = format!("postgres x 1, sweep {k} in flight");
        paths.push(Path::new(label, Mode::Wasm, Backend::Postgres(1), k));
        if paths.len() - 1 > first {
            let k1 = args.sweep[0];
            let what = format!("postgres x 1: {k} in flight over {k1} in flight: throughput");
            ratios.push((what, paths.len() - 1, first));
        }
    }
    (paths, ratios)
}

/// Every path `--rounds` times, alternating; then each path's medians and
/// each ratio's median and range (a ratio is taken within a round).
async fn compare(args: &Args, paths: Vec<Path>, ratios: Vec<Ratio>) {
    let mut runs: Vec<Vec<Outcome>> = paths.iter().map(|_| vec![]).collect();
    for round in 0..args.rounds {
        let mut order: Vec<usize> = (0..paths.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let p = &paths[i];
            let o = run(args, p.mode, p.backend, p.concurrency).await;
            print_at(
                &format!("{} #{}", p.label, round + 1),
                args,
                p.concurrency,
                &o,
            );
            runs[i].push(o);
        }
    }
    let rounds = args.rounds;
    println!("summary: medians of {rounds} alternating rounds");
    for (p, os) in paths.iter().zip(&runs) {
        let m = |f: fn(&Outcome) -> f64| median(&os.iter().map(f).collect::<Vec<_>>());
        let db = match p.backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres(_) => format!(
                ", database CPU {:.0} us/event, {:.1} events per commit",
                m(|o| o.db_cpu / o.events as f64 * 1e6),
                m(|o| o.events as f64 / o.commits as f64),
            ),
        };
        println!(
            "  {} at {} in flight: {:.0} events/s, latency p50 {:.2} ms p99 {:.2} ms (p99/p50 {:.1}), host CPU {:.0} us/event{db}, other load {:.2} cores, failed {}, lost {}",
            p.label,
            p.concurrency,
            m(Outcome::rate),
            m(|o| o.p50),
            m(|o| o.p99),
            m(|o| o.p99 / o.p50),
            m(Outcome::host_us),
            m(Outcome::other_load),
            os.iter().map(|o| o.failed).sum::<u64>(),
            os.iter().map(|o| o.lost).sum::<u64>(),
        );
    }
    for (what, a, b) in ratios {
        let r: Vec<f64> = runs[a]
            .iter()
            .zip(&runs[b])
            .map(|(x, y)| x.rate() / y.rate())
            .collect();
        let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "  {what}: median {:.2}x (min {lo:.2}, max {hi:.2} over {} rounds)",
            median(&r),
            r.len()
        );
    }
}
