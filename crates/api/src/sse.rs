//! Server-sent event streams per handover and per endpoint, resumable with
//! `Last-Event-ID` (or `?after=`) without loss or duplicates.
//!
//! The store is the source of truth: a stream reads events after the last id
//! it sent, then waits for a wake-up (or a 1 s safety tick, so a missed
//! wake-up delays but never loses an event); wake-ups queued meanwhile are
//! coalesced into that one read. A handover stream ends after
//! its `ended` event.

use super::{AppState, event_json};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use handover_core::store::EventScope;
use serde::Deserialize;
use std::convert::Infallible;
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
    handover_or_return!(s, &headers, id);
    stream(s, EventScope::Handover(id), start_after(&headers, &q))
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
        EventScope::Endpoint(ep.id.clone()),
        start_after(&headers, &q),
    )
}

fn stream(s: AppState, scope: EventScope, after: i64) -> Response {
    let ends = matches!(scope, EventScope::Handover(_));
    let body = async_stream::stream! {
        let mut wake = s.engine.subscribe();
        let mut last = after;
        'outer: loop {
            let batch = match s.engine.events_after(&scope, last, 500).await {
                Ok(b) => b,
                Err(_) => { tokio::time::sleep(Duration::from_millis(200)).await; continue; }
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
            if ends && let EventScope::Handover(id) = &scope
                && let Ok(Some(row)) = s.engine.handover(id).await
                && !row.status.is_open()
            {
                // Resumed after the end: nothing more will come.
                let more = s.engine.events_after(&scope, last, 1).await.map(|v| v.is_empty()).unwrap_or(false);
                if more {
                    break;
                }
            }
            tokio::select! {
                _ = wake.recv() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            // Under load wake-ups arrive faster than one read: take every
            // wake-up already queued so one read serves them all (the read
            // below sees every event committed before any of them).
            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) = wake.try_recv() {}
        }
    };
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
