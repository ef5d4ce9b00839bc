//! Test helpers: a loopback webhook receiver that verifies `X-Sim-Signature`
//! with its own HMAC code (not the crate's `sign`), and a tiny JSON client.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

pub const SECRET: &str = "test-secret";
pub const WAIT: Duration = Duration::from_secs(5);

/// One webhook the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub delivery: String,
    pub timestamp: u64,
    pub signature: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub event: Value,
    /// Signature matches `SECRET` and the timestamp is within 5 minutes.
    pub verified: bool,
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    reject_next: u32,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<watch::Sender<usize>>,
}

fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            inner: Arc::default(),
            changed: Arc::new(watch::Sender::new(0)),
        };
        let app = Router::new()
            .route("/hook", routing::post(hook))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Answers the next `n` webhooks with 500.
    pub fn reject_next(&self, n: u32) {
        self.inner.lock().unwrap().reject_next = n;
    }

    /// Accepted (2xx) webhooks so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    /// Waits for `n` accepted webhooks (panics on timeout).
    pub async fn wait_hits(&self, n: usize) -> Vec<Hit> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("expected {n} webhooks, got {}: {hits:#?}", hits.len());
            }
        }
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    {
        let mut inner = r.inner.lock().unwrap();
        if inner.reject_next > 0 {
            inner.reject_next -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        let ts = h("x-sim-timestamp");
        let timestamp: u64 = ts.parse().unwrap_or(0);
        let signature = h("x-sim-signature");
        let verified =
            signature == expected_signature(&ts, &body) && now().abs_diff(timestamp) < 300;
        inner.hits.push(Hit {
            delivery: h("x-sim-delivery"),
            timestamp,
            signature,
            content_type: h("content-type"),
            event: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body: body.to_vec(),
            verified,
        });
    }
    r.changed.send_modify(|n| *n += 1);
    StatusCode::OK
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs `body` as JSON; returns status and JSON body (`null` if none).
pub async fn post(url: &str, body: Value) -> (u16, Value) {
    let resp = client().post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn get(url: &str) -> (u16, Value) {
    let resp = client().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A `POST /conversations` body for `handover_id`.
pub fn new_conversation(handover_id: &str) -> Value {
    serde_json::json!({
        "handover_id": handover_id,
        "session_id": "s-1",
        "user_id": "u-1",
        "channel": "webchat",
        "locale": "en-GB",
        "profile": { "tier": "gold" },
        "transcript": [
            { "author": "user", "text": "I need a human", "ts": 1700000000000u64 },
            { "author": "bot", "text": "Connecting you", "ts": 1700000001000u64 }
        ],
        "routing": { "skills": ["billing"], "language": "en", "priority": 2, "queue": null, "custom": { "k": "v" } }
    })
}

/// Creates a conversation over HTTP and returns its id.
pub async fn create(base: &str, handover_id: &str) -> String {
    let (status, body) = post(
        &format!("{base}/conversations"),
        new_conversation(handover_id),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}
