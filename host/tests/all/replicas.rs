//! Acceptance test of the scale-out: three replicas of the real
//! `handover-host` binary on one PostgreSQL schema, and nothing lost when
//! one of them is SIGKILLed mid-load.
//!
//! The test plays the load balancer: bot calls go round-robin to the live
//! replicas (a call that fails on a dying replica is retried on another),
//! and the sim provider's webhooks go through a small round-robin HTTP
//! forwarder (the provider retries what fails). Each handover's SSE stream
//! is read from a replica other than the one that created it and resumed
//! with `Last-Event-ID` on a live replica when its replica dies.
//!
//! Needs `HANDOVER_TEST_PG_URL` (scripts/test sets it): without it these
//! fail unless `HANDOVER_SKIP_PG_TESTS=1` skips them (with a note); an
//! unreachable server fails them. The `#[ignore]`d
//! `throughput_*` test measures handovers completed per second with one and
//! three replicas (numbers in BENCHMARKS.md).

use crate::harness::pg::{Schema, pg_base_url};
use crate::harness::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use provider_simulators::SimProvider;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "replicas-webhook-secret";
const ADMIN_KEY: &str = "replicas-admin-key";
/// Generous: three replicas, PostgreSQL, the sim and this test share two cores.
const T: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------- replicas

/// One replica: a host and whether the load balancer thinks it is alive.
pub(crate) struct Replica {
    pub(crate) process: HostProcess,
    pub(crate) alive: Arc<AtomicBool>,
}

/// The replicas' config: schema `store_url`, `ADMIN_KEY`, no file watcher,
/// endpoints on the adapter file `adapter` (a copy, swapped by the tests).
pub(crate) fn config(store_url: &str, adapter: &Path, eps: Vec<Endpoint>) -> Config {
    Config::new()
        .postgres(store_url)
        .admin_key(ADMIN_KEY)
        .server(|s| s.watch_adapters = Some(false))
        .endpoints(eps.into_iter().map(|mut e| {
            e.adapter = adapter.to_path_buf();
            e
        }))
}

impl Replica {
    pub(crate) async fn start(config: Config) -> Replica {
        Replica {
            process: HostProcess::start_with(config, "warn", &[]).await,
            alive: Arc::new(AtomicBool::new(true)),
        }
    }

    pub(crate) async fn spawn(&mut self) {
        self.process.spawn().await;
        self.alive.store(true, Ordering::SeqCst);
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
        self.process.kill();
    }
}

/// What the test knows of the replicas: their URLs and which are alive
/// (the load balancer's view).
#[derive(Clone)]
pub(crate) struct Cluster {
    pub(crate) bases: Arc<Vec<String>>,
    pub(crate) alive: Arc<Vec<Arc<AtomicBool>>>,
    pub(crate) http: reqwest::Client,
    next: Arc<AtomicUsize>,
    /// Answers of 500 and above the bot calls and the forwarded webhooks
    /// got (each retried elsewhere).
    pub(crate) server_errors: Arc<AtomicUsize>,
}

impl Cluster {
    pub(crate) fn new(replicas: &[Replica]) -> Cluster {
        Cluster {
            bases: Arc::new(replicas.iter().map(|r| r.process.base.clone()).collect()),
            alive: Arc::new(replicas.iter().map(|r| r.alive.clone()).collect()),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            next: Arc::default(),
            server_errors: Arc::default(),
        }
    }

    pub(crate) fn n(&self) -> usize {
        self.bases.len()
    }

    /// Replica `i` if alive, else the next live one after it.
    pub(crate) fn live_from(&self, i: usize) -> usize {
        (0..self.n())
            .map(|k| (i + k) % self.n())
            .find(|&k| self.alive[k].load(Ordering::SeqCst))
            .expect("no live replica")
    }

    pub(crate) fn round_robin(&self) -> usize {
        self.live_from(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Creates a handover (session `session`) on endpoint `ep`, starting at
    /// replica `start`; returns the status code and the handover id.
    pub(crate) async fn create(&self, start: usize, ep: &str, session: &str) -> (u16, String) {
        let path = format!("/v1/endpoints/{ep}/handovers");
        let body = create_body(session);
        let (code, v) = self.call(start, Method::POST, &path, Some(body)).await;
        assert!(code == 201 || code == 200, "create {session}: {code} {v}");
        (code, v["handover_id"].as_str().unwrap().to_string())
    }

    /// A bot call starting at replica `start`, moved to the next live
    /// replica whenever one fails to answer (as a load balancer would).
    pub(crate) async fn call(
        &self,
        start: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let deadline = Instant::now() + T;
        let mut i = start;
        loop {
            let k = self.live_from(i);
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.bases[k]))
                .timeout(Duration::from_secs(30));
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(r) if r.status() == 429 => {
                    // Over a tenant quota on that replica: back off, like a bot.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    assert!(Instant::now() < deadline, "{path}: still over quota");
                    continue;
                }
                Ok(r) if r.status().as_u16() < 500 => {
                    let code = r.status().as_u16();
                    return (code, r.json().await.unwrap_or(Value::Null));
                }
                Ok(r) => {
                    self.server_errors.fetch_add(1, Ordering::SeqCst);
                    eprintln!("replica {k}: {path} answered {}; retrying", r.status())
                }
                Err(e) => eprintln!("replica {k}: {path} failed ({e}); retrying elsewhere"),
            }
            assert!(Instant::now() < deadline, "{path}: no replica answered");
            i = k + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One conversation: the agent joins, then `agent` agent messages and
    /// `user` bot inputs (`<id>: agent <m>`, `<id>: user <m>`) interleave,
    /// `gap` apart, and the agent ends it. `answered` gets each input's
    /// latency as it is answered. Returns the user texts sent.
    pub(crate) async fn converse(
        &self,
        sim: &SimProvider,
        id: &str,
        conv: &str,
        (agent, user, gap): (usize, usize, Duration),
        mut answered: impl FnMut(Duration),
    ) -> Vec<String> {
        sim.agent_join(conv, "a-1", "Alex").await;
        self.wait_status(id, "active").await;
        let mut sent = vec![];
        for m in 0..agent.max(user) {
            if m < agent {
                sim.agent_message(conv, &format!("{id}: agent {m}")).await;
            }
            if m < user {
                let text = format!("{id}: user {m}");
                let t = Instant::now();
                let (code, r) = self
                    .call(
                        self.round_robin(),
                        Method::POST,
                        &format!("/v1/handovers/{id}/input"),
                        Some(json!({"kind": "text", "text": text})),
                    )
                    .await;
                answered(t.elapsed());
                assert_eq!(
                    (code, r["result"].as_str()),
                    (200, Some("forwarded")),
                    "{r}"
                );
                sent.push(text);
            }
            tokio::time::sleep(gap).await;
        }
        sim.end(conv, "agent_closed").await;
        sent
    }

    /// Every handover's stream, each followed from the replica after the
    /// one that created it (`created`: creator and handover id).
    pub(crate) fn follow_all(
        &self,
        created: &[(usize, String)],
    ) -> Vec<tokio::task::JoinHandle<(Vec<Value>, usize)>> {
        created
            .iter()
            .map(|(k, id)| {
                let (c, id, reader) = (self.clone(), id.clone(), (k + 1) % self.n());
                tokio::spawn(async move { c.follow(reader, &id).await })
            })
            .collect()
    }

    /// Every handover reaches its final status: the first `no_agent` end
    /// by the no-agent timeout, the others completed by the agent.
    pub(crate) async fn all_final(&self, created: &[(usize, String)], no_agent: usize) {
        for (i, (_, id)) in created.iter().enumerate() {
            let (status, reason) = match i < no_agent {
                true => ("error", "no_agent_timeout"),
                false => ("completed", "agent_closed"),
            };
            let st = self.wait_status(id, status).await;
            assert_eq!(st["end_reason"], reason, "{st}");
        }
    }

    /// A followed stream of `id`: ids increasing, and the same events as a
    /// full re-read from a live replica.
    pub(crate) async fn same_as_full_read(&self, id: &str, events: &[Value]) {
        let got = ids(events);
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{id}: ids not increasing: {got:?}"
        );
        let (full, _) = self.follow(self.round_robin(), id).await;
        assert_eq!(
            events, full,
            "{id}: the followed stream differs from a full read"
        );
    }

    pub(crate) async fn status(&self, id: &str) -> Value {
        self.call(
            self.round_robin(),
            Method::GET,
            &format!("/v1/handovers/{id}"),
            None,
        )
        .await
        .1
    }

    pub(crate) async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + T;
        loop {
            let v = self.status(id).await;
            if v["status"] == status {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "handover {id} never reached `{status}`; last: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Read a handover's stream from replica `start` until its `ended`
    /// event, resuming with `Last-Event-ID` on a live replica whenever the
    /// stream breaks. Returns the events and how many connections it took.
    pub(crate) async fn follow(&self, start: usize, id: &str) -> (Vec<Value>, usize) {
        let deadline = Instant::now() + T;
        let mut events: Vec<Value> = vec![];
        let mut connections = 0;
        let mut i = start;
        loop {
            assert!(
                Instant::now() < deadline,
                "stream of {id} never ended; got {events:?}"
            );
            let k = self.live_from(i);
            let last = events.last().map(|e| e["id"].as_i64().unwrap());
            connections += 1;
            let ended = read_stream(&self.http, &self.bases[k], id, last, &mut events).await;
            if ended {
                return (events, connections);
            }
            // Broken (its replica died, most likely): resume on the next live one.
            i = k + 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Append the events of one SSE connection to `out`; true once `ended` came.
async fn read_stream(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    last: Option<i64>,
    out: &mut Vec<Value>,
) -> bool {
    let mut req = http.get(format!("{base}{}", events_path(id)));
    if let Some(l) = last {
        req = req.header("Last-Event-ID", l.to_string());
    }
    // Keep-alives come every 15 s; silence beyond that means trouble.
    let Some(mut stream) = SseStream::open(req, Until::Idle(Duration::from_secs(40))).await else {
        return false;
    };
    while let Some(v) = stream.next().await {
        let ended = v["type"] == "ended";
        out.push(v);
        if ended {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------- webhook forwarder

/// A round-robin HTTP forwarder in front of the replicas, for the provider's
/// webhooks (it has one URL). A replica that is down answers 502 here, and
/// the provider retries.
pub(crate) struct Forwarder {
    cluster: Cluster,
    forwarded: Arc<Mutex<BTreeMap<usize, usize>>>,
}

async fn forward(
    State(f): State<Arc<Forwarder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let k = f.cluster.round_robin();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = f
        .cluster
        .http
        .request(method, format!("{}{path}", f.cluster.bases[k]))
        .timeout(Duration::from_secs(30))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(r) => {
            if r.status().as_u16() >= 500 {
                f.cluster.server_errors.fetch_add(1, Ordering::SeqCst);
            }
            *f.forwarded.lock().unwrap().entry(k).or_default() += 1;
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            (status, r.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("replica {k}: {e}")).into_response(),
    }
}

pub(crate) async fn start_forwarder(cluster: Cluster) -> (String, Arc<Forwarder>) {
    let f = Arc::new(Forwarder {
        cluster,
        forwarded: Arc::default(),
    });
    let app = axum::Router::new().fallback(forward).with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), f)
}

pub(crate) async fn sim() -> SimProvider {
    let sim = sim_with_secret(SECRET).await;
    // Cover a replica's death: 100 ms doubling, 30 attempts.
    sim.set_webhook_retry(30, Duration::from_millis(100));
    sim
}

pub(crate) fn create_body(session: &str) -> Value {
    let mut body = crate::harness::create_body(session);
    body["idempotency_key"] = format!("create-{session}").into();
    body
}

/// The adapter's bytes with a custom section appended: the same adapter,
/// another sha256 (a new version to hot-swap to).
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    handover_guests::with_custom_section(bytes, "replicas-test", tag.as_bytes())
}

async fn admin(
    cluster: &Cluster,
    k: usize,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = cluster
        .http
        .request(method, format!("{}{path}", cluster.bases[k]))
        .header("authorization", format!("Bearer {ADMIN_KEY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Wait until every live replica serves `sha` for endpoint `ep`.
async fn all_serve(cluster: &Cluster, ep: &str, sha: &str, what: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut shas = vec![];
        for k in 0..cluster.n() {
            if cluster.alive[k].load(Ordering::SeqCst) {
                let (_, v) = admin(
                    cluster,
                    k,
                    Method::GET,
                    &format!("/admin/endpoints/{ep}"),
                    vec![],
                )
                .await;
                shas.push(v["current"]["sha256"].as_str().unwrap_or("?").to_string());
            }
        }
        if shas.iter().all(|s| s == sha) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what}: replicas serve {shas:?}, expected {sha} everywhere"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- the acceptance test

/// What the three-replica tests share: a fresh schema (and the right to
/// run three replicas: `THREE_REPLICAS`), provider A (agents join, talk and
/// end), provider B (no agent ever joins: endpoint `noagent`, with a
/// no-agent timeout), the sim adapter in a file of its own, and the two
/// endpoints.
pub(crate) struct TwoProviders {
    pub(crate) schema: Arc<Schema>,
    _alone: tokio::sync::MutexGuard<'static, ()>,
    pub(crate) sim_a: SimProvider,
    pub(crate) sim_b: SimProvider,
    _dir: tempfile::TempDir,
    pub(crate) adapter: std::path::PathBuf,
    pub(crate) eps: Vec<Endpoint>,
}

impl TwoProviders {
    /// `None` (skipped) when `HANDOVER_SKIP_PG_TESTS=1` and no server is named.
    pub(crate) async fn new(tag: &str, no_agent_timeout_s: i64) -> Option<TwoProviders> {
        let schema = Schema::create(tag).await?;
        let _alone = crate::harness::pg::THREE_REPLICAS.lock().await;
        let (sim_a, sim_b) = (sim().await, sim().await);
        let dir = tempfile::tempdir().unwrap();
        let adapter = dir.path().join("sim.wasm");
        std::fs::copy(guest("sim"), &adapter).unwrap();
        let eps = vec![
            Endpoint::sim("ep", &sim_a, SECRET),
            Endpoint::sim("noagent", &sim_b, SECRET)
                .timer("no_agent_timeout_s", no_agent_timeout_s),
        ];
        Some(TwoProviders {
            schema,
            _alone,
            sim_a,
            sim_b,
            _dir: dir,
            adapter,
            eps,
        })
    }

    /// The replicas' config (see [`config`]).
    pub(crate) fn config(&self) -> Config {
        config(&self.schema.url, &self.adapter, self.eps.clone())
    }

    /// Three replicas (each config adjusted by `tune`), their cluster, and
    /// both providers' webhooks sent through a round-robin forwarder.
    pub(crate) async fn three(
        &self,
        tune: impl Fn(&mut Config),
    ) -> (Vec<Replica>, Cluster, Arc<Forwarder>) {
        let mut replicas = vec![];
        for _ in 0..3 {
            let mut c = self.config();
            tune(&mut c);
            replicas.push(Replica::start(c).await);
        }
        let cluster = Cluster::new(&replicas);
        let (fwd_url, forwarder) = start_forwarder(cluster.clone()).await;
        self.sim_a
            .set_webhook_url(Some(format!("{fwd_url}/v1/webhooks/ep")));
        self.sim_b
            .set_webhook_url(Some(format!("{fwd_url}/v1/webhooks/noagent")));
        (replicas, cluster, forwarder)
    }

    /// The agent side of handover `id` (conversation `conv` at provider A)
    /// as its stream `events` show it: the agent messages are exactly what
    /// the provider sent, `agent_messages` of them. Returns the user
    /// messages the provider received, in order.
    pub(crate) fn agent_side(
        &self,
        id: &str,
        conv: &str,
        events: &[Value],
        agent_messages: usize,
    ) -> Vec<String> {
        assert_eq!(
            agent_texts(events),
            sim_agent_texts(&self.sim_a, conv),
            "{id}: agent messages differ from what the provider sent"
        );
        assert_eq!(agent_texts(events).len(), agent_messages, "{id}");
        self.sim_a
            .conversation(conv)
            .unwrap()
            .user_messages
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// In the database: exactly one `ended` for each of `handovers`.
    pub(crate) async fn one_ended_each(&self, handovers: usize) {
        let db = self.schema.connect().await;
        let rows = db
            .query(
                "SELECT handover_id, count(*) FROM events WHERE kind = 'ended' GROUP BY handover_id",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), handovers);
        assert!(
            rows.iter().all(|r| r.get::<_, i64>(1) == 1),
            "an `ended` was written twice"
        );
    }

    /// The cancels provider B received (its no-agent timers that fired),
    /// by path.
    pub(crate) fn cancels(&self) -> HashMap<String, usize> {
        let mut n = HashMap::new();
        for r in self.sim_b.requests() {
            if r.method == "POST" && r.path.ends_with("/cancel") {
                *n.entry(r.path).or_default() += 1;
            }
        }
        n
    }

    /// The conversations provider A was asked to start.
    pub(crate) fn starts(&self) -> usize {
        conversations_started(&self.sim_a)
    }

    /// The conversations provider B (the no-agent endpoint's) was asked
    /// to start.
    pub(crate) fn starts_at_b(&self) -> usize {
        conversations_started(&self.sim_b)
    }
}

fn conversations_started(sim: &SimProvider) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/conversations")
        .count()
}

const HANDOVERS: usize = 200;
/// Of which this many are on the endpoint with a no-agent timeout, and
/// never get an agent.
const NO_AGENT: usize = 20;
const AGENT_MESSAGES: usize = 3;
const USER_MESSAGES: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_nothing_when_one_is_killed() {
    let Some(setup) = TwoProviders::new("replicas", 6).await else {
        return;
    };
    let TwoProviders { sim_a, adapter, .. } = &setup;
    let (mut replicas, cluster, forwarder) = setup.three(|_| {}).await;

    // 200 concurrent creates, round-robin across the replicas.
    let t0 = Instant::now();
    let mut creates = vec![];
    for i in 0..HANDOVERS {
        let c = cluster.clone();
        let ep = if i < NO_AGENT { "noagent" } else { "ep" };
        creates.push(tokio::spawn(async move {
            let k = i % c.n();
            (k, c.create(k, ep, &format!("s-{i}")).await.1)
        }));
    }
    let mut created = vec![];
    for c in creates {
        created.push(c.await.unwrap());
    }
    eprintln!("{HANDOVERS} handovers created in {:?}", t0.elapsed());

    // Every handover's stream, each from a replica other than its creator.
    let streams = cluster.follow_all(&created);

    // The conversations: join, talk both ways, end; meanwhile replica 1 dies.
    let mut convs = vec![];
    for (i, (_, id)) in created.iter().enumerate().skip(NO_AGENT) {
        let (c, sim, id) = (cluster.clone(), sim_a.clone(), id.clone());
        convs.push(tokio::spawn(async move {
            let conv = sim
                .wait_for_conversation(&id, T)
                .await
                .expect("conversation")
                .id;
            tokio::time::sleep(Duration::from_millis((i as u64 * 37) % 2_000)).await;
            let talk = (AGENT_MESSAGES, USER_MESSAGES, Duration::from_millis(150));
            let sent = c.converse(&sim, &id, &conv, talk, |_| {}).await;
            (id, conv, sent)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    eprintln!("killing replica 1 (SIGKILL) at {:?}", t0.elapsed());
    replicas[1].kill();
    // A no-agent timer the dead replica was firing may have reached the
    // provider without its `ended` being committed: another replica fires it
    // again once the claim's lease runs out (at-least-once; a cancel cannot
    // be made atomic with a database commit). Those are the cancels the
    // provider had received when the replica died (loopback delivers what a
    // process wrote before it died within the grace period below).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled_at_kill: HashSet<String> = setup.cancels().into_keys().collect();

    let mut conversations = HashMap::new();
    for c in convs {
        let (id, conv, sent) = c.await.unwrap();
        conversations.insert(id, (conv, sent));
    }
    eprintln!("conversations done at {:?}", t0.elapsed());

    // Every handover reaches its final status.
    cluster.all_final(&created, NO_AGENT).await;
    eprintln!("all final at {:?}", t0.elapsed());

    // Every stream: every event exactly once, in order, as the provider sent it.
    let mut reconnected = 0;
    for (i, s) in streams.into_iter().enumerate() {
        let (events, connections) = s.await.unwrap();
        let id = &created[i].1;
        if connections > 1 {
            reconnected += 1;
        }
        assert_eq!(
            events.iter().filter(|e| e["type"] == "ended").count(),
            1,
            "{id}"
        );
        cluster.same_as_full_read(id, &events).await;
        if i >= NO_AGENT {
            let (conv, sent) = &conversations[id];
            let received = setup.agent_side(id, conv, &events, AGENT_MESSAGES);
            for t in sent {
                assert!(
                    received.contains(t),
                    "{id}: the provider never got {t:?}: {received:?}"
                );
            }
        } else {
            assert!(agent_texts(&events).is_empty());
            let end = events.last().unwrap();
            assert_eq!(end["end_reason"], "no_agent_timeout", "{end}");
        }
    }
    eprintln!("{reconnected} streams resumed on another replica");
    assert!(reconnected > 0, "no stream was on the killed replica");

    // In the database: exactly one `ended` per handover; each no-agent
    // timer fired once (one cancel reached the provider per conversation
    // it opened), or twice if it was in flight when its replica died (see
    // above). On a loaded machine a create can wait longer than the 6 s
    // timeout between storing the handover and taking its lock for
    // `start`; a timer that takes the lock first ends it (the create then
    // finds it ended and does not start it), so no conversation is opened
    // for it and none is cancelled. Every no-agent handover still ended by
    // its timer (checked above).
    setup.one_ended_each(HANDOVERS).await;
    let cancels = setup.cancels();
    let opened = setup.starts_at_b();
    assert!(
        (1..=NO_AGENT).contains(&opened),
        "{opened} starts at B for {NO_AGENT} handovers"
    );
    assert_eq!(
        cancels.len(),
        opened,
        "{opened} opened, cancels: {cancels:?}"
    );
    eprintln!(
        "{} no-agent handovers ended before their start ran",
        NO_AGENT - opened
    );
    let refired: Vec<_> = cancels.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "{} no-agent timers fired again after the kill",
        refired.len()
    );
    assert!(
        refired
            .iter()
            .all(|(path, n)| **n == 2 && cancelled_at_kill.contains(*path)),
        "a timer fired twice that was not in flight on the killed replica \
         (in flight then: {cancelled_at_kill:?}): {cancels:?}"
    );
    assert_eq!(setup.starts(), HANDOVERS - NO_AGENT, "a start ran twice");
    eprintln!(
        "webhooks forwarded per replica: {:?}",
        forwarder.forwarded.lock().unwrap()
    );

    // Hot swap on one replica reaches the others; so does a rollback, and a
    // replica restarting after both adopts what the others serve.
    let original = std::fs::read(adapter).unwrap();
    let (_, before) = admin(&cluster, 0, Method::GET, "/admin/endpoints/ep", vec![]).await;
    let old_sha = before["current"]["sha256"].as_str().unwrap().to_string();
    let (code, v) = admin(
        &cluster,
        0,
        Method::PUT,
        "/admin/endpoints/ep/adapter",
        variant(&original, "v2"),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let new_sha = v["current"]["sha256"].as_str().unwrap().to_string();
    assert_ne!(new_sha, old_sha);
    let took = all_serve(&cluster, "ep", &new_sha, "hot swap").await;
    eprintln!("hot swap reached every live replica in {took:?}");
    replicas[1].spawn().await;
    all_serve(&cluster, "ep", &new_sha, "restarted replica after the swap").await;
    let (code, v) = admin(
        &cluster,
        1,
        Method::POST,
        "/admin/endpoints/ep/rollback",
        vec![],
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["current"]["sha256"], old_sha.as_str(), "{v}");
    let took = all_serve(&cluster, "ep", &old_sha, "rollback").await;
    eprintln!("rollback reached every replica in {took:?}");

    // Still serving after all that: one more handover through the restarted replica.
    let (code, id) = cluster.create(1, "ep", "after").await;
    assert_eq!(code, 201, "a new session is created, not replayed");
    let conv = sim_a.wait_for_conversation(&id, T).await.unwrap().id;
    sim_a.agent_join(&conv, "a-1", "Alex").await;
    sim_a.end(&conv, "agent_closed").await;
    cluster.wait_status(&id, "completed").await;
    drop(replicas);
}

// ---------------------------------------------------------------- throughput

/// Handovers completed per second for a fixed workload (each: create, agent
/// joins, two agent messages, one user message, agent ends) with `n`
/// replicas on one fresh schema. Returns (handovers, seconds).
async fn throughput(n: usize, handovers: usize) -> (usize, f64) {
    let schema = Schema::create("replicas")
        .await
        .expect("HANDOVER_TEST_PG_URL");
    let _alone = crate::harness::pg::THREE_REPLICAS.lock().await;
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("sim.wasm");
    std::fs::copy(guest("sim"), &adapter).unwrap();
    let eps = vec![Endpoint::sim("ep", &sim, SECRET)];
    let mut replicas = vec![];
    for _ in 0..n {
        replicas.push(Replica::start(config(&schema.url, &adapter, eps.clone())).await);
    }
    let cluster = Cluster::new(&replicas);
    let (fwd_url, _f) = start_forwarder(cluster.clone()).await;
    sim.set_webhook_url(Some(format!("{fwd_url}/v1/webhooks/ep")));
    let t0 = Instant::now();
    let mut tasks = vec![];
    for i in 0..handovers {
        let (c, sim) = (cluster.clone(), sim.clone());
        tasks.push(tokio::spawn(async move {
            let (code, id) = c.create(i % c.n(), "ep", &format!("s-{i}")).await;
            assert_eq!(code, 201, "a new session is created, not replayed");
            let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
            sim.agent_join(&conv, "a-1", "Alex").await;
            c.wait_status(&id, "active").await;
            sim.agent_message(&conv, "hello").await;
            let (_, r) = c
                .call(
                    c.round_robin(),
                    Method::POST,
                    &format!("/v1/handovers/{id}/input"),
                    Some(json!({"kind": "text", "text": "hi"})),
                )
                .await;
            assert_eq!(r["result"], "forwarded", "{r}");
            sim.agent_message(&conv, "bye").await;
            sim.end(&conv, "agent_closed").await;
            c.wait_status(&id, "completed").await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    drop(replicas);
    (handovers, secs)
}

/// `cargo test --release -p handover-host --test all -- --ignored --nocapture replicas::throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run explicitly (see BENCHMARKS.md)"]
async fn throughput_one_and_three_replicas() {
    if pg_base_url("the replicas benchmark").is_none() {
        return;
    }
    let handovers: usize = std::env::var("HANDOVER_BENCH_HANDOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for n in [1, 3] {
        let (h, secs) = throughput(n, handovers).await;
        println!(
            "replicas={n} handovers={h} seconds={secs:.2} handovers_per_second={:.1}",
            h as f64 / secs
        );
    }
}
