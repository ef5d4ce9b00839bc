//! Webhook delivery: signing, the per-conversation in-order delivery task,
//! retries with exponential backoff, duplicates and held deliveries.

use super::state::Shared;
use super::types::Delivery;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// The `X-Sim-Signature` value for `body` sent at `timestamp`:
/// `sha256=<lowercase hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One event to deliver, `copies` times (2 in duplicate mode).
pub(crate) struct DeliveryJob {
    event_id: String,
    conversation_id: String,
    body: Vec<u8>,
    copies: u8,
}

impl DeliveryJob {
    pub fn new(event: &Value, copies: u8) -> Self {
        DeliveryJob {
            event_id: event["event_id"].as_str().unwrap_or_default().into(),
            conversation_id: event["conversation_id"].as_str().unwrap_or_default().into(),
            body: serde_json::to_vec(event).expect("event serializes"),
            copies,
        }
    }
}

/// Starts the task delivering one conversation's events in order.
pub(crate) fn spawn_delivery_task(shared: &Arc<Shared>) -> mpsc::UnboundedSender<DeliveryJob> {
    let (tx, mut rx) = mpsc::unbounded_channel::<DeliveryJob>();
    let task_shared = shared.clone();
    let task = tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            deliver(&task_shared, &job).await;
        }
    });
    shared.track(task.abort_handle());
    tx
}

/// Delivers `job` (all its copies), awaiting every attempt.
pub(crate) async fn deliver(shared: &Shared, job: &DeliveryJob) {
    for _ in 0..job.copies {
        deliver_once(shared, job).await;
    }
}

/// Delivers the held jobs one after another (newest first when `reverse`)
/// and returns how many there were.
pub(crate) async fn release_held(shared: &Shared, reverse: bool) -> usize {
    let mut held = std::mem::take(&mut shared.lock().held);
    if reverse {
        held.reverse();
    }
    for job in &held {
        deliver(shared, job).await;
    }
    held.len()
}

async fn deliver_once(shared: &Shared, job: &DeliveryJob) {
    let (url, max_attempts, mut backoff) = {
        let st = shared.lock();
        (
            st.webhook_url.clone(),
            st.max_attempts.max(1),
            st.first_backoff,
        )
    };
    let Some(url) = url else { return };
    let mut record = Delivery {
        event_id: job.event_id.clone(),
        conversation_id: job.conversation_id.clone(),
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
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let sent = shared
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-sim-timestamp", timestamp.to_string())
            .header("x-sim-delivery", &job.event_id)
            .header(
                "x-sim-signature",
                sign(&shared.secret, timestamp, &job.body),
            )
            .body(job.body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                record.status = Some(resp.status().as_u16());
                if resp.status().is_success() {
                    record.ok = true;
                    break;
                }
                tracing::debug!(event = %job.event_id, status = %resp.status(), "sim webhook rejected");
            }
            Err(e) => tracing::debug!(event = %job.event_id, error = %e, "sim webhook failed"),
        }
    }
    shared.lock().deliveries.push(record);
    shared.bump();
}
