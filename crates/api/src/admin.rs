//! Admin API: endpoints and their adapter versions, hot swap by upload,
//! rollback, swap history, handover listing.
//!
//! The operator key sees every tenant; a tenant key sees and changes only
//! its own endpoints (others answer 404). Fails closed: without a key the
//! admin API answers 401, also in the open (no-tenant) mode.

use super::wire::ListBody;
use super::{AppState, error};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use handover_engine::registry::{Endpoint, Source, SwapError};
use handover_engine::tenancy::Caller;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/endpoints", get(list))
        .route("/admin/endpoints/{id}", get(show))
        .route(
            "/admin/endpoints/{id}/adapter",
            put(upload).layer(DefaultBodyLimit::max(64 << 20)),
        )
        .route("/admin/endpoints/{id}/rollback", post(rollback))
        .route("/admin/handovers", get(handovers))
}

/// The caller, if it holds the operator key or a tenant key.
fn admin(s: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    match s.caller(headers)? {
        Caller::Open => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API needs `Authorization: Bearer <operator or tenant key>`",
        )),
        c => Ok(c),
    }
}

fn endpoint_json(ep: &Endpoint) -> serde_json::Value {
    let current = ep.current();
    json!({
        "id": ep.id,
        "tenant": ep.tenant,
        "adapter_path": ep.adapter_path.display().to_string(),
        "current": ep.current_info(),
        "previous": ep.previous_info(),
        "capabilities": current.info.capabilities,
        "channels": current.info.channels,
    })
}

fn owned(s: &AppState, headers: &HeaderMap, id: &str) -> Result<Arc<Endpoint>, Response> {
    let caller = admin(s, headers)?;
    s.endpoint_for(&caller, id)
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let caller = or_return!(admin(&s, &headers));
    let eps: Vec<_> = s
        .engine
        .endpoints()
        .filter(|e| caller.may_access(&e.tenant))
        .map(|e| endpoint_json(e))
        .collect();
    Json(json!({"endpoints": eps})).into_response()
}

async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match owned(&s, &headers, &id) {
        Ok(ep) => {
            let mut v = endpoint_json(&ep);
            v["history"] = json!(ep.history());
            Json(v).into_response()
        }
        Err(r) => r,
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
    if let Err(r) = owned(&s, &headers, &id) {
        return r;
    }
    match s.engine.swap_adapter(&id, &body, Source::Admin).await {
        Ok(v) => Json(json!({"swapped": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn rollback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = owned(&s, &headers, &id) {
        return r;
    }
    match s.engine.rollback_adapter(&id).await {
        Ok(v) => Json(json!({"rolled_back": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn handovers(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let caller = or_return!(admin(&s, &headers));
    match s.engine.list(None, false).await {
        Ok(v) => {
            let mine = v.iter().filter(|h| caller.may_access(&h.tenant));
            Json(ListBody::new(mine)).into_response()
        }
        Err(e) => crate::engine_error(e),
    }
}
