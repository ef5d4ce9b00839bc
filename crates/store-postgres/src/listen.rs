//! Wake-ups for events written by other replicas: a dedicated connection
//! runs `LISTEN handover_events_<schema digest>` (after `apply` commits,
//! the store notifies with the newest event id, the handover, its endpoint
//! and the sending store: [`payload`], batched by `notify`; the digest keeps
//! schemas that share a database apart) and forwards the notifications of
//! other stores, coalesced per handover, to a broadcast channel as
//! [`EventNotice`]s.
//!
//! Owns: the listener connection, its reconnects and the payload's format.
//! After every (re)connect it sends `EventNotice::Any` with the newest
//! settled event id, so every stream catches up on anything written while
//! it was not listening. Streams also re-read the
//! store every 20 s, so a lost notification only delays. Must never: be
//! the only path by which an event reaches a stream.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use super::ops::EVENTS_CHANNEL;
use handover_core::store::{EventNotice, Result, StoreError};
use std::collections::BTreeMap;

/// How long to wait before reconnecting after the listener connection failed.
const RECONNECT: Duration = Duration::from_secs(1);
/// How often the idle listener connection is checked.
const PING: Duration = Duration::from_secs(15);
/// Notifications arriving within this window are forwarded as one wake-up
/// per handover.
const COALESCE: Duration = Duration::from_millis(5);
/// More handovers than this in one window are forwarded as one
/// `EventNotice::Any`.
const MAX_NAMED: usize = 256;

/// The notification sent after `apply` commits: `<newest id> <handover>
/// <endpoint> <sender>` (handover ids are UUIDs, endpoint ids
/// `[A-Za-z0-9_-]`, the sender a store's UUID: no spaces).
pub(super) fn payload(newest: i64, handover: &str, endpoint: &str, sender: &str) -> String {
    format!("{newest} {handover} {endpoint} {sender}")
}

/// A notification's payload as a notice, and the store that sent it
/// (older versions name none); anything else (a replica of an older
/// version sends the id alone) wakes every stream.
fn notice(payload: &str) -> (EventNotice, Option<&str>) {
    let mut parts = payload.split(' ');
    let newest = parts.next().and_then(|n| n.parse::<i64>().ok());
    match (
        newest,
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(newest), Some(h), Some(e), sender, None) if !h.is_empty() && !e.is_empty() => {
            let notice = EventNotice::Handover {
                newest,
                handover: h.to_string(),
                endpoint: e.to_string(),
            };
            (notice, sender)
        }
        _ => {
            let newest = newest.unwrap_or(i64::MAX);
            (EventNotice::Any { newest }, None)
        }
    }
}

/// Notices received in one window, one per handover (the newest id each).
fn coalesce(notices: Vec<EventNotice>) -> Vec<EventNotice> {
    let mut named: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut any: Option<i64> = None;
    for n in notices {
        match n {
            EventNotice::Handover {
                newest,
                handover,
                endpoint,
            } => {
                let e = named.entry((handover, endpoint)).or_insert(newest);
                *e = (*e).max(newest);
            }
            EventNotice::Any { newest } => any = Some(any.unwrap_or(newest).max(newest)),
        }
    }
    let newest = named.values().copied().max().into_iter().chain(any).max();
    match newest {
        Some(newest) if any.is_some() || named.len() > MAX_NAMED => {
            vec![EventNotice::Any { newest }]
        }
        _ => named
            .into_iter()
            .map(|((handover, endpoint), newest)| EventNotice::Handover {
                newest,
                handover,
                endpoint,
            })
            .collect(),
    }
}

/// Listen until `stop` changes or is dropped (the store was dropped).
pub(super) async fn run(
    config: tokio_postgres::Config,
    out: broadcast::Sender<EventNotice>,
    mut stop: watch::Receiver<()>,
    me: String,
) {
    loop {
        tokio::select! {
            r = listen_once(&config, &out, &me) => {
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

/// `me`: this store's sender id; its own notifications are dropped (the
/// engine woke its local streams when it committed).
async fn listen_once(
    config: &tokio_postgres::Config,
    out: &broadcast::Sender<EventNotice>,
    me: &str,
) -> Result<()> {
    let me = me.to_string();
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<EventNotice>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let (notice, sender) = notice(n.payload());
                    if sender == Some(me.as_str()) {
                        continue;
                    }
                    if tx.send(notice).is_err() {
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
        .query_one(super::watermark::NEWEST_SETTLED, &[])
        .await?
        .get(0);
    let _ = out.send(EventNotice::Any { newest: last });
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    loop {
        tokio::select! {
            n = rx.recv() => {
                let Some(first) = n else {
                    return match driver.await {
                        Ok(Err(e)) => Err(e),
                        _ => Err(StoreError::backend("postgres: listener connection closed")),
                    };
                };
                tokio::time::sleep(COALESCE).await;
                let mut window = vec![first];
                while let Ok(n) = rx.try_recv() {
                    window.push(n);
                }
                for n in coalesce(window) {
                    let _ = out.send(n);
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn named(newest: i64, h: &str) -> EventNotice {
        EventNotice::Handover {
            newest,
            handover: h.into(),
            endpoint: "ep".into(),
        }
    }

    #[test]
    fn payloads_name_the_handover_and_old_ones_wake_everything() {
        assert_eq!(
            notice(&payload(7, "h-1", "ep", "me")),
            (named(7, "h-1"), Some("me"))
        );
        assert_eq!(notice("7 h-1 ep"), (named(7, "h-1"), None), "older senders");
        assert_eq!(notice("42"), (EventNotice::Any { newest: 42 }, None));
        assert_eq!(
            notice("junk"),
            (EventNotice::Any { newest: i64::MAX }, None)
        );
        assert_eq!(notice("1 a b c d"), (EventNotice::Any { newest: 1 }, None));
    }

    #[test]
    fn a_window_is_one_notice_per_handover_or_one_for_all() {
        let out = coalesce(vec![named(3, "a"), named(5, "b"), named(4, "a")]);
        assert_eq!(out, [named(4, "a"), named(5, "b")]);
        let out = coalesce(vec![named(3, "a"), EventNotice::Any { newest: 2 }]);
        assert_eq!(out, [EventNotice::Any { newest: 3 }]);
        let many = (0..=MAX_NAMED as i64).map(|i| named(i, &i.to_string()));
        let out = coalesce(many.collect());
        assert_eq!(
            out,
            [EventNotice::Any {
                newest: MAX_NAMED as i64
            }]
        );
    }
}
