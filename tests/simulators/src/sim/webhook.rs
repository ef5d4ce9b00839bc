//! The sim provider's webhooks: the `X-Sim-*` signature and how they are
//! delivered ([`crate::kit::Outbox`]: in order per conversation, retried
//! with exponential backoff, duplicates and held deliveries).

use crate::kit::{self, Job, Outbox, Policy};
use std::sync::Arc;
use std::time::Duration;

/// The `X-Sim-Signature` value for `body` sent at `timestamp`:
/// `sha256=<lowercase hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mac = kit::hmac_sha256(secret, &[timestamp.to_string().as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(mac))
}

/// The outbox of a sim provider signing with `secret`: each conversation's
/// events in order, 8 attempts from 50 ms apart, doubling.
pub(crate) fn outbox(secret: String) -> Outbox {
    let signer = Arc::new(move |job: &Job| {
        let timestamp = kit::unix_secs();
        vec![
            ("x-sim-timestamp".to_string(), timestamp.to_string()),
            ("x-sim-delivery".to_string(), job.id.clone()),
            (
                "x-sim-signature".to_string(),
                sign(&secret, timestamp, &job.body),
            ),
        ]
    });
    Outbox::new(
        signer,
        Policy {
            max_attempts: 8,
            per_conversation: true,
            timeout: Duration::from_secs(5),
            no_proxy: true,
            ..Policy::default()
        },
    )
}
