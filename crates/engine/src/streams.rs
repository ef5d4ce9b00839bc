//! Wake-ups for event streams, pushed and keyed: a commit wakes the streams
//! of its own handover and endpoint, nothing else, and so does another
//! replica's commit (PostgreSQL LISTEN/NOTIFY names the handover); only a
//! notice that names none (the listener's catch-up after a reconnect) wakes
//! every local stream. A stream reads the store only when woken (or on its
//! slow safety re-read), never once a second on its own.
//!
//! Owns the map from stream scope to a `watch` channel, entries living as
//! long as a stream of that scope does. Holds no events (streams read the
//! store) and must never block a commit: waking is a non-blocking send.

use handover_core::store::EventScope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

type Senders = Arc<Mutex<HashMap<EventScope, watch::Sender<()>>>>;

/// The streams' wake-up channels by scope.
#[derive(Default)]
pub(crate) struct Wakers {
    by_scope: Senders,
}

/// One stream's wake-ups; dropping it drops the scope's channel when it was
/// the last stream of that scope.
pub struct StreamWake {
    scope: EventScope,
    rx: watch::Receiver<()>,
    by_scope: Senders,
}

impl StreamWake {
    /// Resolves at the first wake-up since the last one seen (a wake-up
    /// sent while the stream was reading is not lost: it resolves at once).
    /// Wake-ups that came meanwhile are coalesced into this one.
    pub async fn woken(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender lives in the map as long as this stream does.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for StreamWake {
    fn drop(&mut self) {
        let mut map = self.by_scope.lock().unwrap();
        // Under the lock no stream can subscribe meanwhile: if this is the
        // scope's last receiver, the entry goes.
        if map
            .get(&self.scope)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            map.remove(&self.scope);
        }
    }
}

impl Wakers {
    /// Wake-ups for a stream of `scope`.
    pub(crate) fn subscribe(&self, scope: &EventScope) -> StreamWake {
        let mut map = self.by_scope.lock().unwrap();
        let rx = map
            .entry(scope.clone())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        StreamWake {
            scope: scope.clone(),
            rx,
            by_scope: self.by_scope.clone(),
        }
    }

    /// Events of `handover` (on `endpoint`) were committed: wake the
    /// streams that show them.
    pub(crate) fn wake(&self, handover: &str, endpoint: &str) {
        let map = self.by_scope.lock().unwrap();
        for scope in [
            EventScope::Handover(handover.to_string()),
            EventScope::Endpoint(endpoint.to_string()),
        ] {
            if let Some(tx) = map.get(&scope) {
                tx.send_replace(());
            }
        }
    }

    /// Events of unknown handovers were committed (by another replica):
    /// wake every stream.
    pub(crate) fn wake_all(&self) {
        for tx in self.by_scope.lock().unwrap().values() {
            tx.send_replace(());
        }
    }

    /// Scopes with at least one stream now.
    #[cfg(test)]
    fn scopes(&self) -> usize {
        self.by_scope.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn h(id: &str) -> EventScope {
        EventScope::Handover(id.into())
    }

    async fn is_woken(w: &mut StreamWake) -> bool {
        tokio::time::timeout(Duration::from_millis(50), w.woken())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_commit_wakes_its_handover_and_endpoint_streams_only() {
        let wakers = Wakers::default();
        let mut a = wakers.subscribe(&h("a"));
        let mut a2 = wakers.subscribe(&h("a"));
        let mut b = wakers.subscribe(&h("b"));
        let mut ep = wakers.subscribe(&EventScope::Endpoint("ep".into()));
        // Sent before the streams wait: not lost, and coalesced.
        wakers.wake("a", "ep");
        wakers.wake("a", "ep");
        assert!(is_woken(&mut a).await && is_woken(&mut a2).await);
        assert!(is_woken(&mut ep).await);
        assert!(!is_woken(&mut b).await, "another handover's commit");
        assert!(!is_woken(&mut a).await, "two wake-ups, one read");
        wakers.wake_all();
        assert!(is_woken(&mut a).await && is_woken(&mut b).await);
    }

    #[tokio::test]
    async fn entries_live_as_long_as_their_streams() {
        let wakers = Wakers::default();
        let a = wakers.subscribe(&h("a"));
        let a2 = wakers.subscribe(&h("a"));
        assert_eq!(wakers.scopes(), 1);
        drop(a);
        assert_eq!(wakers.scopes(), 1);
        drop(a2);
        assert_eq!(wakers.scopes(), 0);
        wakers.wake("a", "ep");
    }
}
