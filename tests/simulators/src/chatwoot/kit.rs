//! Simulator plumbing that is not Chatwoot-specific (the Sunshine simulator
//! uses it too): scripted API faults, recorded requests, and an outbox that
//! delivers webhooks in order with retries, duplicates and holds.

use super::openapi::{Spec, Violation};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Locks, ignoring poisoning (a panicking test must not hide the state).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One API request the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Scripted answers: the next `count` requests matching `method` (any when
/// `None`) and exactly `path` (or any path starting with it when it ends in
/// `*`) get `status` without being acted on.
#[derive(Default)]
pub struct Faults(Vec<Fault>);

struct Fault {
    method: Option<String>,
    path: String,
    status: u16,
    count: u32,
}

impl Faults {
    pub fn add(&mut self, method: Option<&str>, path: &str, status: u16, count: u32) {
        self.0.push(Fault {
            method: method.map(str::to_ascii_uppercase),
            path: path.to_string(),
            status,
            count,
        });
    }

    /// The status to answer `method path` with, if a fault matches (consumed).
    pub fn take(&mut self, method: &str, path: &str) -> Option<u16> {
        let i = self.0.iter().position(|f| {
            f.count > 0
                && f.method.as_deref().is_none_or(|m| m == method)
                && match f.path.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => f.path == path,
                }
        })?;
        let fault = &mut self.0[i];
        fault.count -= 1;
        let status = fault.status;
        if fault.count == 0 {
            self.0.remove(i);
        }
        Some(status)
    }
}

/// Everything in front of a simulator's API routes: records each request,
/// checks credentials (401), validates the JSON body against the spec
/// operation of the matched route (`MatchedPath` must spell the route like
/// the spec's `paths` key; a violation is recorded and answered with
/// `invalid_status`), then answers scripted faults.
pub struct Gate {
    pub spec: Spec,
    /// Whether the request carries the right credentials.
    pub authorized: Box<dyn Fn(&HeaderMap) -> bool + Send + Sync>,
    /// The provider's error response for a status and message.
    pub error: fn(StatusCode, &str) -> Response,
    /// Status for a body that breaks the spec (Chatwoot 422, Sunshine 400).
    pub invalid_status: StatusCode,
    requests: Mutex<Vec<RecordedRequest>>,
    violations: Mutex<Vec<Violation>>,
    faults: Mutex<Faults>,
}

impl Gate {
    pub fn new(
        spec: Spec,
        authorized: Box<dyn Fn(&HeaderMap) -> bool + Send + Sync>,
        error: fn(StatusCode, &str) -> Response,
        invalid_status: StatusCode,
    ) -> Gate {
        Gate {
            spec,
            authorized,
            error,
            invalid_status,
            requests: Mutex::default(),
            violations: Mutex::default(),
            faults: Mutex::default(),
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    /// Returns and forgets the violations recorded so far.
    pub fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut *lock(&self.violations))
    }

    pub fn record_violation(&self, v: Violation) {
        tracing::warn!(violation = %v, "schema violation");
        lock(&self.violations).push(v);
    }

    pub fn fail_next(&self, method: Option<&str>, path: &str, status: u16, count: u32) {
        lock(&self.faults).add(method, path, status, count);
    }

    fn fault_response(&self, status: u16) -> Response {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (self.error)(status, &format!("injected fault ({})", status.as_u16()));
        if matches!(status.as_u16(), 429 | 503) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The [`Gate`] middleware (`axum::middleware::from_fn_with_state`).
pub async fn gate(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let index = {
        let mut requests = lock(&gate.requests);
        requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: parts.uri.query().map(String::from),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            status: 0,
        });
        requests.len() - 1
    };
    let response = if !(gate.authorized)(&parts.headers) {
        (gate.error)(StatusCode::UNAUTHORIZED, "invalid or missing credentials")
    } else {
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string());
        let violation = template
            .as_deref()
            .and_then(|t| gate.spec.check_request(&method, t, &path, &bytes));
        if let Some(v) = violation {
            let message = v.errors.join("; ");
            gate.record_violation(v);
            (gate.error)(gate.invalid_status, &message)
        } else if let Some(status) = lock(&gate.faults).take(&method, &path) {
            gate.fault_response(status)
        } else {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    if let Some(r) = lock(&gate.requests).get_mut(index) {
        r.status = response.status().as_u16();
    }
    response
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ` for milliseconds since the epoch.
pub fn iso8601_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
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

/// The result of delivering one webhook (all attempts).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The provider's delivery / event id.
    pub id: String,
    /// What it was, e.g. `message_created`.
    pub label: String,
    /// Correlation of the conversation it concerns.
    pub conversation: String,
    pub status: Option<u16>,
    pub attempts: u32,
    pub ok: bool,
}

/// A webhook waiting to be delivered.
#[derive(Clone)]
pub struct Job {
    pub id: String,
    pub label: String,
    pub conversation: String,
    pub body: Vec<u8>,
}

/// Builds the headers of one attempt (signatures may include a timestamp).
pub type Signer = Arc<dyn Fn(&Job) -> Vec<(String, String)> + Send + Sync>;

struct OutboxState {
    url: Option<String>,
    duplicate: bool,
    hold: bool,
    held: Vec<Job>,
    deliveries: Vec<Delivery>,
    max_attempts: u32,
    first_backoff: Duration,
}

/// Delivers webhooks one after another, in enqueue order, each until a 2xx
/// or `max_attempts` (backoff doubling from `first_backoff`).
#[derive(Clone)]
pub struct Outbox {
    state: Arc<Mutex<OutboxState>>,
    http: reqwest::Client,
    signer: Signer,
    tx: mpsc::UnboundedSender<Job>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Outbox {
    pub fn new(signer: Signer) -> Outbox {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let outbox = Outbox {
            state: Arc::new(Mutex::new(OutboxState {
                url: None,
                duplicate: false,
                hold: false,
                held: Vec::new(),
                deliveries: Vec::new(),
                max_attempts: 6,
                first_backoff: Duration::from_millis(50),
            })),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
            signer,
            tx,
            task: Arc::default(),
        };
        let worker = outbox.clone();
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                worker.deliver(&job).await;
            }
        });
        *lock(&outbox.task) = Some(task);
        outbox
    }

    pub fn set_url(&self, url: Option<String>) {
        lock(&self.state).url = url;
    }

    pub fn set_duplicate(&self, on: bool) {
        lock(&self.state).duplicate = on;
    }

    pub fn set_hold(&self, on: bool) {
        lock(&self.state).hold = on;
    }

    pub fn set_retry(&self, max_attempts: u32, first_backoff: Duration) {
        let mut st = lock(&self.state);
        st.max_attempts = max_attempts.max(1);
        st.first_backoff = first_backoff;
    }

    /// Queues `job` (or holds it while holding is on).
    pub fn send(&self, job: Job) {
        let mut st = lock(&self.state);
        if st.hold {
            st.held.push(job);
        } else {
            drop(st);
            let _ = self.tx.send(job);
        }
    }

    /// Delivers the held webhooks now, newest first when `reverse`, and
    /// returns once all were delivered or gave up.
    pub async fn release_held(&self, reverse: bool) -> usize {
        let mut held = std::mem::take(&mut lock(&self.state).held);
        if reverse {
            held.reverse();
        }
        for job in &held {
            self.deliver(job).await;
        }
        held.len()
    }

    pub fn held(&self) -> usize {
        lock(&self.state).held.len()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).deliveries.clone()
    }

    /// Waits until at least `n` deliveries finished (true) or `timeout`.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if lock(&self.state).deliveries.len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the delivery task and drops held webhooks.
    pub fn shutdown(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        lock(&self.state).held.clear();
    }

    async fn deliver(&self, job: &Job) {
        let copies = if lock(&self.state).duplicate { 2 } else { 1 };
        for _ in 0..copies {
            self.deliver_once(job).await;
        }
    }

    async fn deliver_once(&self, job: &Job) {
        let (url, max_attempts, mut backoff) = {
            let st = lock(&self.state);
            (st.url.clone(), st.max_attempts, st.first_backoff)
        };
        let Some(url) = url else { return };
        let mut record = Delivery {
            id: job.id.clone(),
            label: job.label.clone(),
            conversation: job.conversation.clone(),
            status: None,
            attempts: 0,
            ok: false,
        };
        while record.attempts < max_attempts {
            if record.attempts > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            record.attempts += 1;
            let mut request = self
                .http
                .post(&url)
                .header("content-type", "application/json");
            for (name, value) in (self.signer)(job) {
                request = request.header(name, value);
            }
            match request.body(job.body.clone()).send().await {
                Ok(resp) => {
                    record.status = Some(resp.status().as_u16());
                    if resp.status().is_success() {
                        record.ok = true;
                        break;
                    }
                }
                Err(e) => tracing::debug!(id = %job.id, error = %e, "webhook delivery failed"),
            }
        }
        lock(&self.state).deliveries.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::{Faults, iso8601_ms};

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_601_478_869_834), "2020-09-30T15:14:29.834Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn faults_match_method_and_path() {
        let mut f = Faults::default();
        f.add(Some("post"), "/a/*", 503, 2);
        f.add(None, "/b", 429, 1);
        assert_eq!(f.take("GET", "/a/x"), None);
        assert_eq!(f.take("POST", "/a/x"), Some(503));
        assert_eq!(f.take("POST", "/a/y"), Some(503));
        assert_eq!(f.take("POST", "/a/z"), None);
        assert_eq!(f.take("GET", "/b/c"), None);
        assert_eq!(f.take("GET", "/b"), Some(429));
        assert_eq!(f.take("GET", "/b"), None);
    }
}
