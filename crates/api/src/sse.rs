//! Server-sent event streams per handover and per endpoint, resumable with
//! `Last-Event-ID` (or `?after=`) without loss or duplicates.
//!
//! The store is the source of truth: a stream reads events after the last id
//! it sent (the SQLite store answers recent ones from memory, see its
//! `event_tail`), then waits for a wake-up pushed by the engine when events
//! of its handover or endpoint are committed (or written by another
//! replica), or for a slow safety re-read (20 s, so a missed wake-up delays
//! but never loses an event); wake-ups that came meanwhile are coalesced
//! into that one read. Every read is counted (`sse_store_reads_total`) and times out
//! (5 s). Each open stream holds one of its tenant's `event_streams` slots.
//! A handover stream ends after its `ended` event.
//!
//! Must never read the store on a timer faster than the safety re-read, nor
//! wait on a store read without a timeout.

use super::{AppState, engine_error, event_json};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use handover_core::store::EventScope;
use handover_metrics as metrics;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/handovers/{id}/events", get(handover_events))
        .route("/v1/endpoints/{endpoint}/events", get(endpoint_events))
}

#[derive(Deserialize, Default)]
struct After {
    after: Option<i64>,
}

fn start_after(headers: &HeaderMap, q: &After) -> i64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(q.after)
        .unwrap_or(0)
}

async fn handover_events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Response {
    let caller = or_return!(s.caller(&headers));
    let row = match tokio::time::timeout(READ_TIMEOUT, s.handover_for(&caller, &id)).await {
        Ok(found) => or_return!(found),
        Err(_) => {
            let message = format!("the store did not answer within {READ_TIMEOUT:?}");
            return super::error(StatusCode::SERVICE_UNAVAILABLE, "storage", message);
        }
    };
    stream(
        s,
        &row.tenant,
        EventScope::Handover(id),
        start_after(&headers, &q),
    )
}

async fn endpoint_events(
    State(s): State<AppState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Response {
    let ep = endpoint_or_return!(s, &headers, endpoint);
    stream(
        s,
        &ep.tenant,
        EventScope::Endpoint(ep.id.clone()),
        start_after(&headers, &q),
    )
}

/// How long one store read of a stream may take; a read that takes longer
/// counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle stream's safety re-read: bounds how long a lost wake-up can
/// delay an event (wake-ups are pushed, so this is not how events arrive).
const FALLBACK: Duration = Duration::from_secs(20);
/// The reconnect delay a stream suggests when it ends because its
/// replica is draining.
const DRAIN_RETRY: Duration = Duration::from_millis(250);
/// The next attempt after a failed or timed-out read.
const RETRY: Duration = Duration::from_secs(1);

/// One store read of a stream, counted and timed out (`None`: failed).
async fn read<T, E>(f: impl Future<Output = Result<T, E>>) -> Option<T> {
    metrics::SSE_STORE_READS.inc();
    tokio::time::timeout(READ_TIMEOUT, f).await.ok()?.ok()
}

/// An open stream: its tenant slot and its place in the gauge, both given
/// back when the client goes away (the body is dropped).
struct Open(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

impl Open {
    fn new(slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Open {
        metrics::SSE_STREAMS_OPEN.fetch_add(1, Ordering::Relaxed);
        Open(slot)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::SSE_STREAMS_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream of `scope`'s events after `after`, counted against `tenant`'s
/// `event_streams` quota (429 with Retry-After over it).
fn stream(s: AppState, tenant: &str, scope: EventScope, after: i64) -> Response {
    let slot = or_return!(s.engine.open_stream(tenant).map_err(engine_error));
    let ends = matches!(scope, EventScope::Handover(_));
    let body = async_stream::stream! {
        let _open = Open::new(slot);
        let mut wake = s.engine.subscribe(&scope);
        let mut last = after;
        let mut first = true;
        'outer: loop {
            let Some(batch) = read(s.engine.events_after(&scope, last, 500)).await else {
                tokio::select! {
                    _ = wake.woken() => {}
                    _ = tokio::time::sleep(RETRY) => {}
                }
                continue;
            };
            let full = batch.len() == 500;
            for e in batch {
                last = e.id;
                let ended = e.kind == "ended";
                yield Ok::<Event, Infallible>(Event::default().id(e.id.to_string()).event(e.kind.clone()).data(event_json(&e).to_string()));
                if ends && ended {
                    break 'outer;
                }
            }
            if full {
                continue;
            }
            // Resumed after the end: nothing more will come. Checked once
            // (a handover that ends later sends its `ended` event).
            if std::mem::take(&mut first) && let EventScope::Handover(id) = &scope
                && let Some(Some(row)) = read(s.engine.handover(id)).await
                && !row.status.is_open()
                && read(s.engine.events_after(&scope, last, 1)).await.is_some_and(|v| v.is_empty())
            {
                break;
            }
            tokio::select! {
                _ = wake.woken() => {}
                _ = tokio::time::sleep(FALLBACK) => {}
                _ = s.engine.draining() => {
                    // This replica is shutting down: the client reconnects
                    // (to another replica) with Last-Event-ID after the hint.
                    yield Ok(Event::default().retry(DRAIN_RETRY).comment("draining"));
                    break;
                }
            }
        }
    };
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
