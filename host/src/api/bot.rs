//! Bot API routes: create, input, status, close, list, availability.
//!
//! JSON bodies are rejected with a 400 naming the field when malformed.

use super::{AppState, error};
use crate::engine::{CreateRequest, InputRequest};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

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

async fn create(
    State(s): State<AppState>,
    Path(endpoint): Path<String>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match s.engine.create(&endpoint, req).await {
        Ok(v) => {
            let code = if v["already_in_progress"] == true {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (code, Json(v)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    open: bool,
}

async fn list(
    State(s): State<AppState>,
    Path(endpoint): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    if s.engine.registry.endpoint(&endpoint).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint `{endpoint}`"),
        );
    }
    match s.engine.list(Some(&endpoint), q.open).await {
        Ok(v) => Json(serde_json::json!({"handovers": v})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn availability(State(s): State<AppState>, Path(endpoint): Path<String>) -> Response {
    match s.engine.availability(&endpoint).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn status(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.engine.status(&id).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn input(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<InputRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match s.engine.input(&id, req).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn close(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.engine.close(&id).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
