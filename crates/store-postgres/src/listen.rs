//! Wake-ups for events written by other replicas: a dedicated connection
//! runs `LISTEN handover_events_<schema digest>` (`apply` notifies with the
//! newest event id in the same transaction; the digest keeps schemas that
//! share a database apart) and forwards each notification, coalesced, to a
//! broadcast channel.
//!
//! Owns: the listener connection and its reconnects. After every
//! (re)connect it sends the current highest event id, so streams catch up
//! on anything written while it was not listening. Streams also re-read the
//! store every 20 s, so a lost notification only delays. Must never: be
//! the only path by which an event reaches a stream.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use super::ops::EVENTS_CHANNEL;
use handover_core::store::{Result, StoreError};

/// How long to wait before reconnecting after the listener connection failed.
const RECONNECT: Duration = Duration::from_secs(1);
/// How often the idle listener connection is checked.
const PING: Duration = Duration::from_secs(15);
/// Notifications arriving within this window are forwarded as one wake-up.
const COALESCE: Duration = Duration::from_millis(5);

/// Listen until `stop` changes or is dropped (the store was dropped).
pub(super) async fn run(
    config: tokio_postgres::Config,
    out: broadcast::Sender<i64>,
    mut stop: watch::Receiver<()>,
) {
    loop {
        tokio::select! {
            r = listen_once(&config, &out) => {
                if let Err(e) = r {
                    tracing::warn!("postgres event listener: {e}; reconnecting");
                }
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn listen_once(config: &tokio_postgres::Config, out: &broadcast::Sender<i64>) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<i64>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let id = n.payload().parse::<i64>().unwrap_or(i64::MAX);
                    if tx.send(id).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(StoreError::from(e)),
            }
        }
        Ok(())
    });
    // Abort the driver however this function returns.
    let _abort = AbortOnDrop(driver.abort_handle());
    let channel: String = client
        .query_one(&format!("SELECT {EVENTS_CHANNEL}"), &[])
        .await?
        .get(0);
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await?;
    let last: i64 = client
        .query_one("SELECT last_id FROM event_counter", &[])
        .await?
        .get(0);
    let _ = out.send(last);
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    loop {
        tokio::select! {
            n = rx.recv() => {
                let Some(mut newest) = n else {
                    return match driver.await {
                        Ok(Err(e)) => Err(e),
                        _ => Err(StoreError::backend("postgres: listener connection closed")),
                    };
                };
                tokio::time::sleep(COALESCE).await;
                while let Ok(id) = rx.try_recv() {
                    newest = newest.max(id);
                }
                let _ = out.send(newest);
            }
            _ = ping.tick() => {
                match tokio::time::timeout(Duration::from_secs(10), client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => return Err(StoreError::backend("postgres: listener connection timed out")),
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
