//! Webhook delivery: signed POSTs, in order, one at a time per queue, each
//! retried as the provider does, with the test scripting every simulator
//! offers (duplicates, holding and releasing in reverse).

use super::lock;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// A webhook to deliver.
#[derive(Clone, Debug)]
pub struct Job {
    /// The provider's delivery / event id (may be empty).
    pub id: String,
    /// What it is, e.g. `message_created` (may be empty).
    pub label: String,
    /// The conversation it concerns (may be empty).
    pub conversation: String,
    pub body: Vec<u8>,
    /// The body's media type: `application/json` unless made by [`Job::form`].
    pub content_type: &'static str,
}

/// The media type of form-encoded webhook bodies.
pub const FORM: &str = "application/x-www-form-urlencoded";

impl Job {
    pub fn new(id: String, label: &str, conversation: &str, body: &Value) -> Job {
        Job {
            id,
            label: label.to_string(),
            conversation: conversation.to_string(),
            body: serde_json::to_vec(body).expect("JSON serializes"),
            content_type: "application/json",
        }
    }

    /// A form-encoded (`application/x-www-form-urlencoded`) webhook of
    /// `pairs`, in that order.
    pub fn form(id: String, label: &str, conversation: &str, pairs: &[(String, String)]) -> Job {
        Job {
            id,
            label: label.to_string(),
            conversation: conversation.to_string(),
            body: super::form_encode(pairs).into_bytes(),
            content_type: FORM,
        }
    }

    /// The body as JSON: itself, or for a form the object of its fields
    /// (`null` when it is neither).
    pub fn body_json(&self) -> Value {
        if self.content_type == FORM {
            let text = String::from_utf8_lossy(&self.body);
            Value::Object(
                super::form_pairs(&text)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        } else {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
    }

    /// A job known only by its body.
    pub fn body(body: &Value) -> Job {
        Job::new(String::new(), "", "", body)
    }
}

/// The result of delivering one copy of a webhook (all its attempts).
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: String,
    pub label: String,
    pub conversation: String,
    pub body: Value,
    /// The last status received; `None` when no attempt got a response.
    pub status: Option<u16>,
    pub attempts: u32,
    /// Whether an attempt got a 2xx.
    pub ok: bool,
}

/// The headers a provider adds to one attempt (signatures, which may
/// include the time of the attempt).
pub type Signer = Arc<dyn Fn(&Job) -> Vec<(String, String)> + Send + Sync>;

/// A [`Signer`] that also signs the URL the attempt is posted to (Twilio's
/// `X-Twilio-Signature`).
pub type UrlSigner = Arc<dyn Fn(&Job, &str) -> Vec<(String, String)> + Send + Sync>;

/// How a provider delivers.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Attempts per copy (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub first_backoff: Duration,
    /// Whether the wait doubles after every attempt (else it stays).
    pub doubling: bool,
    /// Whether only timeouts, 429 and 5xx are retried (else any failure).
    pub transient_only: bool,
    /// Whether each conversation has its own queue (else one for all).
    pub per_conversation: bool,
    /// The timeout of one attempt.
    pub timeout: Duration,
    /// Whether the proxy environment variables are ignored.
    pub no_proxy: bool,
}

impl Default for Policy {
    /// 6 attempts 50 ms apart, doubling, any failure retried, one queue.
    fn default() -> Self {
        Policy {
            max_attempts: 6,
            first_backoff: Duration::from_millis(50),
            doubling: true,
            transient_only: false,
            per_conversation: false,
            timeout: Duration::from_secs(10),
            no_proxy: false,
        }
    }
}

/// A job and how many copies of it go out (2 in duplicate mode).
struct Queued {
    job: Job,
    copies: u8,
}

struct State {
    url: Option<String>,
    duplicate: bool,
    hold: bool,
    held: Vec<Queued>,
    deliveries: Vec<Delivery>,
    max_attempts: u32,
    first_backoff: Duration,
    /// The queues by conversation ("" when there is one for all).
    queues: HashMap<String, mpsc::UnboundedSender<Queued>>,
    tasks: Vec<JoinHandle<()>>,
    stopped: bool,
}

struct Inner {
    state: Mutex<State>,
    policy: Policy,
    signer: UrlSigner,
    http: reqwest::Client,
    delivered: Notify,
    runtime: Handle,
}

/// Delivers webhooks, each queue's in the order they were sent, each copy
/// until a 2xx or the last attempt. Cheap to clone.
#[derive(Clone)]
pub struct Outbox(Arc<Inner>);

impl Outbox {
    /// Must be called within a tokio runtime (its queues run there).
    pub fn new(signer: Signer, policy: Policy) -> Outbox {
        Self::url_signed(Arc::new(move |job: &Job, _url: &str| signer(job)), policy)
    }

    /// Like [`Outbox::new`], the signer also given the URL of each attempt.
    pub fn url_signed(signer: UrlSigner, policy: Policy) -> Outbox {
        let mut http = reqwest::Client::builder().timeout(policy.timeout);
        if policy.no_proxy {
            http = http.no_proxy();
        }
        Outbox(Arc::new(Inner {
            state: Mutex::new(State {
                url: None,
                duplicate: false,
                hold: false,
                held: Vec::new(),
                deliveries: Vec::new(),
                max_attempts: policy.max_attempts.max(1),
                first_backoff: policy.first_backoff,
                queues: HashMap::new(),
                tasks: Vec::new(),
                stopped: false,
            }),
            policy,
            signer,
            http: http.build().expect("reqwest client"),
            delivered: Notify::new(),
            runtime: Handle::current(),
        }))
    }

    /// Where deliveries go (`None`: nowhere; they are dropped).
    pub fn set_url(&self, url: Option<String>) {
        lock(&self.0.state).url = url;
    }

    pub fn has_url(&self) -> bool {
        lock(&self.0.state).url.is_some()
    }

    /// Whether later webhooks go out twice (same body, same id).
    pub fn set_duplicate(&self, on: bool) {
        lock(&self.0.state).duplicate = on;
    }

    /// Whether later webhooks are held until [`Outbox::release_held`].
    pub fn set_hold(&self, on: bool) {
        lock(&self.0.state).hold = on;
    }

    /// Attempts per copy and the first retry delay.
    pub fn set_retry(&self, max_attempts: u32, first_backoff: Duration) {
        let mut st = lock(&self.0.state);
        st.max_attempts = max_attempts.max(1);
        st.first_backoff = first_backoff;
    }

    /// Queues `job` (or holds it while holding is on).
    pub fn send(&self, job: Job) {
        let mut st = lock(&self.0.state);
        let queued = Queued {
            job,
            copies: if st.duplicate { 2 } else { 1 },
        };
        if st.hold {
            st.held.push(queued);
            return;
        }
        if st.stopped {
            return;
        }
        let key = if self.0.policy.per_conversation {
            queued.job.conversation.clone()
        } else {
            String::new()
        };
        let queue = match st.queues.get(&key) {
            Some(queue) => queue.clone(),
            None => {
                let (queue, task) = self.spawn_queue();
                st.tasks.retain(|t| !t.is_finished());
                st.tasks.push(task);
                st.queues.insert(key, queue.clone());
                queue
            }
        };
        let _ = queue.send(queued);
    }

    /// A task delivering what is sent to the returned queue, in order.
    fn spawn_queue(&self) -> (mpsc::UnboundedSender<Queued>, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        let task = self.0.runtime.spawn(async move {
            while let Some(queued) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                Outbox(inner).deliver(&queued).await;
            }
        });
        (tx, task)
    }

    /// Delivers the held webhooks one after another, newest first when
    /// `reverse`, and returns how many there were once all were delivered
    /// or gave up.
    pub async fn release_held(&self, reverse: bool) -> usize {
        let mut held = std::mem::take(&mut lock(&self.0.state).held);
        if reverse {
            held.reverse();
        }
        for queued in &held {
            self.deliver(queued).await;
        }
        held.len()
    }

    pub fn held(&self) -> usize {
        lock(&self.0.state).held.len()
    }

    /// Every finished delivery, in the order they finished.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.0.state).deliveries.clone()
    }

    /// Waits until at least `n` deliveries finished (true) or `timeout`.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let delivered = self.0.delivered.notified();
            if lock(&self.0.state).deliveries.len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, delivered).await.is_err() {
                return lock(&self.0.state).deliveries.len() >= n;
            }
        }
    }

    /// Stops delivering: the queues end and held webhooks are dropped.
    pub fn shutdown(&self) {
        let mut st = lock(&self.0.state);
        st.stopped = true;
        st.held.clear();
        st.queues.clear();
        for task in st.tasks.drain(..) {
            task.abort();
        }
    }

    async fn deliver(&self, queued: &Queued) {
        for _ in 0..queued.copies {
            self.deliver_once(&queued.job).await;
        }
    }

    async fn deliver_once(&self, job: &Job) {
        let (url, max_attempts, mut backoff) = {
            let st = lock(&self.0.state);
            (st.url.clone(), st.max_attempts, st.first_backoff)
        };
        let Some(url) = url else { return };
        let policy = &self.0.policy;
        let mut record = Delivery {
            id: job.id.clone(),
            label: job.label.clone(),
            conversation: job.conversation.clone(),
            body: job.body_json(),
            status: None,
            attempts: 0,
            ok: false,
        };
        while record.attempts < max_attempts {
            if record.attempts > 0 {
                tokio::time::sleep(backoff).await;
                if policy.doubling {
                    backoff *= 2;
                }
            }
            record.attempts += 1;
            let mut request = self
                .0
                .http
                .post(&url)
                .header("content-type", job.content_type);
            for (name, value) in (self.0.signer)(job, &url) {
                request = request.header(name, value);
            }
            match request.body(job.body.clone()).send().await {
                Ok(response) => {
                    let status = response.status();
                    record.status = Some(status.as_u16());
                    if status.is_success() {
                        record.ok = true;
                        break;
                    }
                    if policy.transient_only
                        && status != StatusCode::TOO_MANY_REQUESTS
                        && !status.is_server_error()
                    {
                        break;
                    }
                    tracing::debug!(id = %job.id, %status, "simulated webhook rejected");
                }
                Err(e) => tracing::debug!(id = %job.id, error = %e, "simulated webhook failed"),
            }
        }
        lock(&self.0.state).deliveries.push(record);
        self.0.delivered.notify_waiters();
    }
}
