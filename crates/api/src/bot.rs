//! Bot API routes: create, input, status, close, list, availability.
//!
//! Every route authenticates the caller's tenant key first; another
//! tenant's endpoint or handover answers 404, exactly like a missing one.
//! Malformed JSON bodies get a 400 naming the problem. Answers are the
//! engine's typed results written out by `wire`.

use super::wire::{self, AvailabilityBody, CloseBody, CreatedBody, InputBody, ListBody, ViewBody};
use super::{AppState, error};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handover_engine::{CreateRequest, InputRequest};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/endpoints/{endpoint}/handovers", post(create).get(list))
        .route("/v1/endpoints/{endpoint}/availability", get(availability))
        .route("/v1/handovers/{id}", get(status))
        .route("/v1/handovers/{id}/input", post(input))
        .route("/v1/handovers/{id}/close", post(close))
}

fn bad_json(e: JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("invalid JSON body: {}", e.body_text()),
    )
}

/// 200 with the wire form (`body`) of the result, or the engine error's answer.
fn reply<T>(
    r: Result<T, handover_engine::EngineError>,
    body: impl FnOnce(&T) -> Response,
) -> Response {
    match r {
        Ok(v) => body(&v),
        Err(e) => crate::engine_error(e),
    }
}

fn ok(body: impl Serialize) -> Response {
    Json(body).into_response()
}

async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(endpoint): Path<String>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Response {
    let ep = endpoint_or_return!(s, headers, endpoint);
    let Json(req) = or_return!(body.map_err(bad_json));
    match s.engine.create(&ep.id, req).await {
        Ok(c) => (wire::created_status(&c), Json(CreatedBody::from(&c))).into_response(),
        Err(e) => crate::engine_error(e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    open: bool,
}

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(endpoint): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let ep = endpoint_or_return!(s, headers, endpoint);
    reply(s.engine.list(Some(&ep.id), q.open).await, |v| {
        ok(ListBody::new(v))
    })
}

async fn availability(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(endpoint): Path<String>,
) -> Response {
    let ep = endpoint_or_return!(s, headers, endpoint);
    reply(s.engine.availability(&ep.id).await, |v| {
        ok(AvailabilityBody::from(v))
    })
}

async fn status(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handover_or_return!(s, headers, id);
    reply(s.engine.status(&id).await, |v| ok(ViewBody::from(v)))
}

async fn input(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<InputRequest>, JsonRejection>,
) -> Response {
    handover_or_return!(s, headers, id);
    let Json(req) = or_return!(body.map_err(bad_json));
    reply(s.engine.input(&id, req).await, |v| ok(InputBody::from(v)))
}

async fn close(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handover_or_return!(s, headers, id);
    reply(s.engine.close(&id).await, |v| ok(CloseBody::from(v)))
}
