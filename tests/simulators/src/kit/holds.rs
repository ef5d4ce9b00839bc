//! Scripted slow answers: "hold the next API request whose path starts
//! with P until the test lets it go". A test uses it to keep a caller (the
//! host, mid-step) waiting on the provider for exactly as long as it
//! needs, with no timing guess.
//!
//! Owns: the pending holds and the held requests' release. Must never:
//! hold a request whose [`Hold`] is gone (dropping it lets the request go,
//! so a failing test does not leave its caller stuck).

use super::lock;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// One held request's handle: whether it arrived, and its release.
pub struct Hold {
    arrived: watch::Receiver<bool>,
    release: watch::Sender<bool>,
}

impl Hold {
    /// Waits until the request is being held; `false` if none arrived
    /// within `timeout`.
    pub async fn arrived(&self, timeout: Duration) -> bool {
        let mut arrived = self.arrived.clone();
        tokio::time::timeout(timeout, arrived.wait_for(|a| *a))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Lets the held request (or the next matching one) go on.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

/// A hold waiting for its request.
struct Pending {
    prefix: String,
    arrived: watch::Sender<bool>,
    release: watch::Receiver<bool>,
}

/// Holds, matched in the order they were added; each takes one request.
#[derive(Default)]
pub struct Holds(Mutex<Vec<Pending>>);

impl Holds {
    /// Holds the next request whose path starts with `prefix`.
    pub fn add(&self, prefix: &str) -> Hold {
        let (arrived_tx, arrived) = watch::channel(false);
        let (release, release_rx) = watch::channel(false);
        lock(&self.0).push(Pending {
            prefix: prefix.to_string(),
            arrived: arrived_tx,
            release: release_rx,
        });
        Hold { arrived, release }
    }

    /// Waits while a hold takes this request (returns at once otherwise).
    pub async fn wait(&self, path: &str) {
        let pending = {
            let mut holds = lock(&self.0);
            match holds.iter().position(|h| path.starts_with(&h.prefix)) {
                Some(i) => holds.remove(i),
                None => return,
            }
        };
        pending.arrived.send_replace(true);
        let mut release = pending.release;
        // An error: the `Hold` is gone, which lets the request go too.
        let _ = release.wait_for(|r| *r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_request_waits_for_its_release_and_others_pass() {
        let holds = std::sync::Arc::new(Holds::default());
        let hold = holds.add("/conversations/c1/");
        // Another path is not held.
        holds.wait("/conversations/c2/messages").await;
        assert!(!hold.arrived(Duration::from_millis(10)).await);
        let held = {
            let holds = holds.clone();
            tokio::spawn(async move { holds.wait("/conversations/c1/messages").await })
        };
        assert!(hold.arrived(Duration::from_secs(10)).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished(), "let go before its release");
        hold.release();
        tokio::time::timeout(Duration::from_secs(10), held)
            .await
            .expect("released")
            .unwrap();
        // The hold took one request only.
        holds.wait("/conversations/c1/messages").await;
    }

    #[tokio::test]
    async fn dropping_the_hold_lets_its_request_go() {
        let holds = std::sync::Arc::new(Holds::default());
        let hold = holds.add("/x");
        let held = {
            let holds = holds.clone();
            tokio::spawn(async move { holds.wait("/x").await })
        };
        assert!(hold.arrived(Duration::from_secs(10)).await);
        drop(hold);
        tokio::time::timeout(Duration::from_secs(10), held)
            .await
            .expect("released by the drop")
            .unwrap();
    }
}
