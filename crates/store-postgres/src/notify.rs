//! Notifying other replicas of new events, after the write commits and in
//! batches.
//!
//! Why not `pg_notify` inside the write: PostgreSQL serializes the commits
//! of every transaction that notifies (its notification queue is locked
//! from pre-commit until the commit is durable), which made every
//! event-writing commit of every replica wait for the previous one's fsync
//! (a global serialization point like the old event counter). Here the
//! write commits without it, and a task sends the queued payloads in one
//! statement on a pooled connection (`SELECT pg_notify(..) FROM unnest`),
//! so a burst of commits costs one notifying transaction, which writes no
//! data and waits for no flush.
//!
//! Owns: the queue and its sending task. A notification lost (the process
//! died between its commit and the send, or the send failed) only delays
//! other replicas' streams until their next read (a later notification of
//! the endpoint, or the 20 s re-read). Must never: block or fail a write.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Inner, PgStore, listen, ops};
use handover_core::store::StoredEvent;

/// Most payloads sent in one statement.
const BATCH: usize = 512;

/// Payloads waiting to be sent.
pub(super) type Queue = mpsc::UnboundedSender<String>;

impl PgStore {
    /// Queue the notification for events up to `last` (of one handover).
    pub(super) fn notify_events(&self, last: &StoredEvent) {
        let queue = self.inner.notify.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(send(Arc::downgrade(&self.inner), rx));
            tx
        });
        let payload = listen::payload(
            last.id,
            &last.handover_id,
            &last.endpoint_id,
            &self.inner.sender,
        );
        let _ = queue.send(payload);
    }
}

/// Send queued payloads, as many per statement as have queued meanwhile,
/// until the store is dropped.
async fn send(store: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(inner) = store.upgrade() else { return };
        let store = PgStore { inner };
        let sent = async {
            let c = store.client().await?;
            let stmt = c.prepare_cached(ops::NOTIFY_EVENTS).await?;
            c.execute(&stmt, &[&batch]).await?;
            Ok::<_, handover_core::store::StoreError>(())
        };
        if let Err(e) = sent.await {
            tracing::warn!(
                "notifying other replicas of {} handovers' events failed (their streams \
                 catch up at their next read): {e}",
                batch.len()
            );
        }
        batch.clear();
    }
}
