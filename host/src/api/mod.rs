//! HTTP surface: the bot API (REST + server-sent events), webhook ingress,
//! the admin API, `/metrics`, `/openapi.json` and `/healthz`.
//!
//! Translates HTTP to engine and registry calls and engine errors to HTTP;
//! holds no handover state of its own and never calls adapters directly.

mod admin;
mod bot;
mod sse;
mod webhook;

use crate::engine::{Engine, EngineError};
use crate::store::StoredEvent;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Operator key for the admin API; `None` disables the admin API.
    pub admin_key: Option<String>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(bot::routes())
        .merge(sse::routes())
        .merge(webhook::routes())
        .merge(admin::routes())
        .route(
            "/metrics",
            axum::routing::get(|| async {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    crate::metrics::render(),
                )
            }),
        )
        .route(
            "/openapi.json",
            axum::routing::get(|| async { ([("content-type", "application/json")], OPENAPI) }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

pub const OPENAPI: &str = include_str!("openapi.json");

/// An event as the bot receives it (stream data and callback body).
pub fn event_json(e: &StoredEvent) -> Value {
    let mut v = e.payload.clone();
    if !v.is_object() {
        v = json!({});
    }
    v["id"] = json!(e.id);
    v["handover_id"] = json!(e.handover_id);
    v["endpoint_id"] = json!(e.endpoint_id);
    v["seq"] = json!(e.seq);
    v["created_at_ms"] = json!(e.created_at_ms);
    v["type"] = json!(e.kind);
    v
}

pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

impl IntoResponse for EngineError {
    fn into_response(self) -> Response {
        match self {
            EngineError::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", m),
            EngineError::BadRequest(m) => error(StatusCode::BAD_REQUEST, "bad_request", m),
            EngineError::Ended(f) => (
                StatusCode::CONFLICT,
                axum::Json(json!({"error": {"code": "ended", "message": "the handover has already ended"}, "handover": f["handover"]})),
            )
                .into_response(),
            EngineError::Conflict(m) => error(StatusCode::CONFLICT, "conflict", m),
            EngineError::Upstream(m) => error(StatusCode::BAD_GATEWAY, "provider_error", m),
            EngineError::Store(crate::store::StoreError::Conflict(m)) => error(StatusCode::CONFLICT, "conflict", format!("handover {m} was changed concurrently; retry")),
            EngineError::Store(e) => error(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()),
        }
    }
}
