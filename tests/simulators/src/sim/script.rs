//! Scripting a [`SimProvider`]: injected API faults, held API requests,
//! availability, queue position, and webhook duplicates, holds and retries.

use super::SimProvider;
use serde_json::json;
use std::time::Duration;

impl SimProvider {
    /// Answers the next `count` provider API requests whose path starts
    /// with `path_prefix` with `status` and `{"error": …}` (429 and 503 also
    /// carry `Retry-After: 1`) without acting on them. Faults are matched
    /// in the order they were added.
    pub fn fail_next(&self, path_prefix: &str, status: u16, count: u32) {
        self.shared
            .gate
            .faults()
            .add_prefix(path_prefix, status, count);
    }

    /// Holds the next provider API request whose path starts with
    /// `path_prefix` until the returned [`Hold`](crate::kit::Hold) releases
    /// it (or is dropped); then it is answered as usual.
    pub fn hold_next(&self, path_prefix: &str) -> crate::kit::Hold {
        self.shared.gate.hold_next(path_prefix)
    }

    /// What `GET /availability` answers from now on.
    pub fn set_availability(&self, agents_available: bool, open: bool, wait_s: Option<u32>) {
        self.shared.lock().availability = json!({
            "agents_available": agents_available,
            "open": open,
            "estimated_wait_seconds": wait_s,
        });
    }

    /// The position and wait returned by `POST /conversations` and carried
    /// by the initial `queued` event (default 1 and 30).
    pub fn set_queue_position(&self, position: Option<u32>, wait_s: Option<u32>) {
        let mut st = self.shared.lock();
        st.queue_position = position;
        st.queue_wait = wait_s;
    }

    /// Delivers every later webhook twice (same event_id, same body).
    pub fn set_duplicate_webhooks(&self, on: bool) {
        self.shared.outbox.set_duplicate(on);
    }

    /// Holds later webhooks until [`SimProvider::release_held`].
    pub fn set_hold_webhooks(&self, on: bool) {
        self.shared.outbox.set_hold(on);
    }

    /// Delivers the held webhooks one after another (newest first when
    /// `reverse`), returning once all are delivered or gave up. Holding
    /// stays on or off as set.
    pub async fn release_held(&self, reverse: bool) {
        self.shared.outbox.release_held(reverse).await;
    }

    /// Attempts per delivery (default 8) and the first retry delay (default
    /// 50 ms, doubling after each attempt).
    pub fn set_webhook_retry(&self, max_attempts: u32, first_backoff: Duration) {
        self.shared.outbox.set_retry(max_attempts, first_backoff);
    }
}
