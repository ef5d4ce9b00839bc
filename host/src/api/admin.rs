//! Admin API (operator key): endpoints and their adapter versions, hot swap
//! by upload, rollback, swap history, handover listing.
//!
//! Fails closed: without a configured admin key every admin route answers
//! 401. Keys are compared in constant time.

use super::{AppState, error};
use crate::registry::{Source, SwapError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/endpoints", get(list))
        .route("/admin/endpoints/{id}", get(show))
        .route("/admin/endpoints/{id}/adapter", put(upload))
        .route("/admin/endpoints/{id}/rollback", post(rollback))
        .route("/admin/handovers", get(handovers))
}

/// `Some(401 response)` unless the request carries the admin key.
fn denied(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(key) = s.admin_key.as_deref() else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API is disabled: set `server.admin_key`",
        ));
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
        None
    } else {
        Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong `Authorization: Bearer <admin key>`",
        ))
    }
}

fn endpoint_json(ep: &crate::registry::Endpoint) -> serde_json::Value {
    json!({
        "id": ep.id,
        "tenant": ep.tenant,
        "adapter_path": ep.adapter_path.display().to_string(),
        "current": ep.current_info(),
        "previous": ep.previous_info(),
        "capabilities": ep.current().info.capabilities,
        "channels": ep.current().info.channels,
    })
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&s, &headers) {
        return r;
    }
    let eps: Vec<_> = s
        .engine
        .registry
        .endpoints()
        .map(|e| endpoint_json(e))
        .collect();
    Json(json!({"endpoints": eps})).into_response()
}

async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = denied(&s, &headers) {
        return r;
    }
    match s.engine.registry.endpoint(&id) {
        Some(ep) => {
            let mut v = endpoint_json(&ep);
            v["history"] = json!(ep.history());
            Json(v).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint `{id}`"),
        ),
    }
}

fn swap_error(e: SwapError) -> Response {
    match e {
        SwapError::UnknownEndpoint(m) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint `{m}`"),
        ),
        SwapError::Refused(_) => error(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string()),
        SwapError::NothingToRollBack => {
            error(StatusCode::CONFLICT, "nothing_to_roll_back", e.to_string())
        }
    }
}

async fn upload(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = denied(&s, &headers) {
        return r;
    }
    match s.engine.registry.swap(&id, &body, Source::Admin).await {
        Ok(v) => Json(json!({"swapped": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn rollback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = denied(&s, &headers) {
        return r;
    }
    match s.engine.registry.rollback(&id).await {
        Ok(v) => Json(json!({"rolled_back": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn handovers(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&s, &headers) {
        return r;
    }
    match s.engine.list(None, false).await {
        Ok(v) => Json(json!({"handovers": v})).into_response(),
        Err(e) => e.into_response(),
    }
}
