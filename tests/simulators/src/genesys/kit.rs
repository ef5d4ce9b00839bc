//! Provider-independent pieces of a simulator for an OAuth-protected
//! provider that pushes signed webhooks: scripted faults, an OAuth2
//! client-credentials token issuer with expiring tokens, ordered webhook
//! delivery (duplicates, holds, reverse release, retries), the HTTP
//! server's life and small helpers. Generic: the `genesys` and
//! `liveperson` simulators both use it.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Locks, ignoring poisoning (a panicking test must not cascade).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh UUID-shaped id (unique within the process).
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        nanos,
        (n >> 32) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2024-05-01T13:01:14.462Z` for `ms` since the Unix epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// One header's value as text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A scripted failure: the next `remaining` requests whose path starts
/// with `prefix` get `status`.
struct Fault {
    prefix: String,
    status: u16,
    remaining: u32,
}

/// Scripted faults, matched in the order they were added.
#[derive(Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    pub fn add(&self, prefix: &str, status: u16, count: u32) {
        lock(&self.0).push(Fault {
            prefix: prefix.into(),
            status,
            remaining: count,
        });
    }

    /// The status to answer `path` with, if a fault matches (used up).
    pub fn take(&self, path: &str) -> Option<u16> {
        let mut faults = lock(&self.0);
        let i = faults
            .iter()
            .position(|f| f.remaining > 0 && path.starts_with(&f.prefix))?;
        faults[i].remaining -= 1;
        let status = faults[i].status;
        faults.retain(|f| f.remaining > 0);
        Some(status)
    }

    /// The response of a fault: 429 and 503 carry `Retry-After: 1`.
    pub fn response(status: u16) -> Response {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(
            code,
            json!({"message": format!("simulated fault {status}"), "status": status}),
        );
        if status == 429 || status == 503 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().expect("static header"));
        }
        r
    }
}

/// An OAuth2 client-credentials token endpoint and the check of the
/// bearer tokens it issued (which expire after the TTL).
pub struct Tokens {
    client_id: String,
    client_secret: String,
    ttl: Mutex<Duration>,
    issued: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    pub fn new(client_id: &str, client_secret: &str) -> Tokens {
        Tokens {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            ttl: Mutex::new(Duration::from_secs(3600)),
            issued: Mutex::default(),
        }
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl;
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> usize {
        lock(&self.issued).len()
    }

    /// Answers a token request: `grant_type=client_credentials` in the form
    /// body or query, the client authenticated with HTTP Basic or with
    /// `client_id`/`client_secret` parameters. Wrong credentials get 401.
    pub fn token_response(&self, headers: &HeaderMap, query: &str, body: &[u8]) -> Response {
        let mut params = form(query);
        params.extend(form(&String::from_utf8_lossy(body)));
        if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}),
            );
        }
        let basic = header_str(headers, "authorization")
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            });
        let (id, secret) = basic.unwrap_or_else(|| {
            let get = |k: &str| params.get(k).cloned().unwrap_or_default();
            (get("client_id"), get("client_secret"))
        });
        if id != self.client_id || secret != self.client_secret {
            return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
        }
        let ttl = *lock(&self.ttl);
        let token = format!("tok-{}", new_id());
        lock(&self.issued).insert(token.clone(), Instant::now() + ttl);
        json_response(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs().max(1)}),
        )
    }

    /// Whether `Authorization` carries an issued, unexpired token
    /// (`Bearer <token>`, or the bare token when `bare` is allowed).
    pub fn check(&self, headers: &HeaderMap, bare: bool) -> bool {
        let Some(value) = header_str(headers, "authorization") else {
            return false;
        };
        let token = match value.strip_prefix("Bearer ") {
            Some(t) => t,
            None if bare => value,
            None => return false,
        };
        lock(&self.issued)
            .get(token.trim())
            .is_some_and(|until| Instant::now() < *until)
    }
}

/// `a=1&b=x%20y` → map (`+` and `%XX` decoded).
pub fn form(text: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) =
                    u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The headers a provider adds to one webhook body (signature etc.).
pub type Signer = Box<dyn Fn(&[u8]) -> Vec<(String, String)> + Send + Sync>;

/// One webhook delivery (all attempts of one copy).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Value,
    /// Last HTTP status, if any answer came.
    pub status: Option<u16>,
    pub attempts: u32,
    pub ok: bool,
}

struct Job {
    body: Vec<u8>,
    copies: u8,
}

struct Outbox {
    url: Option<String>,
    duplicate: bool,
    hold: bool,
    held: Vec<Job>,
    deliveries: Vec<Delivery>,
    max_attempts: u32,
    backoff: Duration,
}

/// Signed webhook delivery, in order, one at a time.
pub struct Webhooks {
    outbox: Mutex<Outbox>,
    sign: Signer,
    http: reqwest::Client,
    queue: mpsc::UnboundedSender<Job>,
    delivered: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    /// `max_attempts` per copy on a timeout, 429 or 5xx (e.g. Genesys: 1 +
    /// 5 retries), `backoff` between attempts.
    pub fn start(sign: Signer, max_attempts: u32, backoff: Duration) -> Arc<Webhooks> {
        let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
        let hooks = Arc::new(Webhooks {
            outbox: Mutex::new(Outbox {
                url: None,
                duplicate: false,
                hold: false,
                held: Vec::new(),
                deliveries: Vec::new(),
                max_attempts: max_attempts.max(1),
                backoff,
            }),
            sign,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
            queue,
            delivered: Notify::new(),
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&hooks);
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let Some(hooks) = weak.upgrade() else { return };
                hooks.deliver(&job).await;
            }
        });
        *lock(&hooks.task) = Some(task);
        hooks
    }

    /// Where deliveries go (`None`: nowhere; they are dropped).
    pub fn set_url(&self, url: Option<String>) {
        lock(&self.outbox).url = url;
    }

    pub fn set_duplicate(&self, on: bool) {
        lock(&self.outbox).duplicate = on;
    }

    pub fn set_hold(&self, on: bool) {
        lock(&self.outbox).hold = on;
    }

    /// Queues `body` for delivery (held while holding is on).
    pub fn send(&self, body: &Value) {
        let mut outbox = lock(&self.outbox);
        let job = Job {
            body: serde_json::to_vec(body).expect("JSON serializes"),
            copies: if outbox.duplicate { 2 } else { 1 },
        };
        if outbox.hold {
            outbox.held.push(job);
        } else {
            let _ = self.queue.send(job);
        }
    }

    /// Delivers the held bodies one after another (newest first when
    /// `reverse`) and returns once all are delivered or gave up.
    pub async fn release_held(&self, reverse: bool) {
        let mut held = std::mem::take(&mut lock(&self.outbox).held);
        if reverse {
            held.reverse();
        }
        for job in &held {
            self.deliver(job).await;
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.outbox).deliveries.clone()
    }

    pub fn held(&self) -> usize {
        lock(&self.outbox).held.len()
    }

    /// Waits until at least `n` deliveries finished (or `timeout`).
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.delivered.notified();
            if lock(&self.outbox).deliveries.len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return lock(&self.outbox).deliveries.len() >= n;
            }
        }
    }

    pub fn stop(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        lock(&self.outbox).held.clear();
    }

    async fn deliver(&self, job: &Job) {
        for _ in 0..job.copies {
            self.deliver_once(&job.body).await;
        }
    }

    async fn deliver_once(&self, body: &[u8]) {
        let (url, max_attempts, backoff) = {
            let o = lock(&self.outbox);
            (o.url.clone(), o.max_attempts, o.backoff)
        };
        let Some(url) = url else { return };
        let mut record = Delivery {
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            status: None,
            attempts: 0,
            ok: false,
        };
        while record.attempts < max_attempts {
            if record.attempts > 0 {
                tokio::time::sleep(backoff).await;
            }
            record.attempts += 1;
            let mut request = self
                .http
                .post(&url)
                .header("content-type", "application/json");
            for (k, v) in (self.sign)(body) {
                request = request.header(k, v);
            }
            match request.body(body.to_vec()).send().await {
                Ok(response) => {
                    let status = response.status();
                    record.status = Some(status.as_u16());
                    if status.is_success() {
                        record.ok = true;
                        break;
                    }
                    // Only timeouts, 429 and 5xx are retried.
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        break;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "simulated webhook failed"),
            }
        }
        lock(&self.outbox).deliveries.push(record);
        self.delivered.notify_waiters();
    }
}

/// A running HTTP server on `127.0.0.1:<free port>`.
pub struct Server {
    pub addr: SocketAddr,
    stop: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl Server {
    pub async fn start(app: Router) -> std::io::Result<Server> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator server failed");
            }
        });
        Ok(Server {
            addr,
            stop: Mutex::new(Some((stop, task))),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(&self) {
        let stop = lock(&self.stop).take();
        if let Some((stop, mut task)) = stop {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

/// Waits until `find` returns something (re-checked whenever `changed`
/// fires, and every 50 ms) or `timeout` passes.
pub async fn wait_until<T>(
    changed: &Notify,
    timeout: Duration,
    mut find: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = changed.notified();
        if let Some(found) = find() {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
    }
}

/// The `[endpoints.secrets]` and `[[endpoints.auth]]` TOML lines that make
/// the host fetch client-credentials tokens from `token_url` and add them
/// to every request to `target`.
pub fn oauth_toml(target: &str, token_url: &str, client_id: &str, client_secret: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("string serializes");
    format!(
        "[endpoints.secrets]\nclient_id = {}\nclient_secret = {}\n\n[[endpoints.auth]]\ntarget = {}\n\
         oauth_client_credentials = {{ token_url = {}, client_id = \"{{{{client_id}}}}\", client_secret = \"{{{{client_secret}}}}\" }}\n",
        q(client_id),
        q(client_secret),
        q(target),
        q(token_url)
    )
}
