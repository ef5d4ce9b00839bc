//! HTTP surface: the bot API (REST + server-sent events), webhook ingress,
//! the admin API, `/metrics`, `/openapi.json` and `/healthz`.
//!
//! Translates HTTP to engine and registry calls, and the engine's typed
//! results and errors to HTTP: this crate owns every wire type, JSON body
//! and status code (`wire`); the engine returns meaning only. Holds no
//! handover state of its own and never calls adapters directly.

// Handlers return an early `axum::response::Response` as their error type,
// which is large by design.
#![allow(clippy::result_large_err)]

/// For handlers: the `Ok` value, or return the `Err` response.
macro_rules! or_return {
    ($result:expr) => {
        match $result {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

/// For handlers: resolve caller + endpoint, or return the 401/404 response.
macro_rules! endpoint_or_return {
    ($s:expr, $headers:expr, $id:expr) => {{
        let caller = or_return!($s.caller($headers));
        or_return!($s.endpoint_for(&caller, &$id))
    }};
}

/// For handlers: resolve caller + handover ownership, or return the 401/404
/// response.
macro_rules! handover_or_return {
    ($s:expr, $headers:expr, $id:expr) => {{
        let caller = or_return!($s.caller($headers));
        or_return!($s.handover_for(&caller, &$id).await)
    }};
}

mod admin;
mod bot;
mod canary;
mod console;
mod sse;
mod webhook;
pub mod wire;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handover_core::store::StoredEvent;
use handover_engine::tenancy::Caller;
use handover_engine::{Engine, EngineError};
use serde_json::{Value, json};
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// `[server] public_metrics`: `/metrics` and `/openapi.json` without
    /// credentials.
    pub public_metrics: bool,
}

impl AppState {
    /// Who is calling: `Err(401)` for a missing or unknown key (unless no
    /// tenants are configured, the local open mode).
    pub fn caller(&self, headers: &axum::http::HeaderMap) -> Result<Caller, Response> {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        self.engine.authenticate(key).ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown API key: send `Authorization: Bearer <tenant API key>`",
            )
        })
    }

    /// The endpoint if the caller may use it; 404 otherwise (ids are not probed).
    pub fn endpoint_for(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<handover_engine::registry::Endpoint>, Response> {
        match self.engine.find_endpoint(id) {
            Some(ep) if caller.may_access(&ep.tenant) => Ok(ep),
            _ => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no endpoint `{id}`"),
            )),
        }
    }

    /// 404 unless the handover exists and belongs to the caller's tenant.
    pub async fn handover_for(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<handover_core::store::HandoverRow, Response> {
        match self.engine.handover(id).await {
            Ok(Some(h)) if caller.may_access(&h.tenant) => Ok(h),
            Ok(_) => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no handover `{id}`"),
            )),
            Err(e) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                e.to_string(),
            )),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(bot::routes())
        .merge(sse::routes())
        .merge(webhook::routes())
        .merge(admin::routes())
        .merge(console::routes())
        .route("/metrics", axum::routing::get(metrics))
        .route("/openapi.json", axum::routing::get(openapi))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(state)
}

/// 200 while serving; 503 once draining (SIGTERM), so a load balancer
/// routes new requests elsewhere before the listener closes.
async fn readyz(State(s): State<AppState>) -> Response {
    if s.engine.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        "ready".into_response()
    }
}

pub const OPENAPI: &str = include_str!("openapi.json");

/// A refusal `r` sent before the request's `body` was read. Up to 256 KiB
/// of the body, for at most a second, is read and discarded (never
/// buffered), so a client that already sent a small body reads the refusal
/// rather than a reset; then the connection is closed after the answer
/// (`Connection: close`): what is left of the body is still on it.
async fn refuse_unread(body: axum::body::Body, mut r: Response) -> Response {
    use futures::StreamExt;
    const DISCARD: usize = 256 << 10;
    let mut chunks = body.into_data_stream();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let mut read = 0;
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len();
            if read >= DISCARD {
                break;
            }
        }
    })
    .await;
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

/// 413 for a body (`what`: "an adapter upload", …) over `limit` bytes.
fn too_large(what: &str, limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("{what} may be at most {limit} bytes"),
    )
}

/// Whether the request declares (`Content-Length`) a body over `limit`
/// bytes: refused before any of it is read.
fn declared_over(headers: &axum::http::HeaderMap, limit: usize) -> bool {
    headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
}

/// `Err(401)` unless the host's own documents may be served to this caller:
/// `public_metrics`, the operator key, or the open mode. A tenant key is
/// refused (the metrics cover every tenant).
fn operator_document(s: &AppState, headers: &axum::http::HeaderMap) -> Result<(), Response> {
    if s.public_metrics {
        return Ok(());
    }
    match s.caller(headers) {
        Ok(Caller::Operator | Caller::Open) => Ok(()),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this document needs `Authorization: Bearer <operator key>` \
             (or `[server] public_metrics = true`)",
        )),
    }
}

async fn metrics(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    or_return!(operator_document(&s, &headers));
    (
        [("content-type", "text/plain; version=0.0.4")],
        handover_metrics::render(),
    )
        .into_response()
}

async fn openapi(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    or_return!(operator_document(&s, &headers));
    ([("content-type", "application/json")], OPENAPI).into_response()
}

/// An event as the bot receives it (stream data and callback body).
/// The body of an event as the bot receives it (callbacks; the engine gets
/// this function as its [`handover_engine::EventEncoder`]).
pub fn encode_event(e: &StoredEvent) -> Vec<u8> {
    event_json(e).to_string().into_bytes()
}

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

/// `{"code", "message"}`: the `error` member of every error body.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
}

/// `Error` in `openapi.json`.
#[derive(serde::Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

/// The 409 for a handover that has already ended: the error and its final object.
#[derive(serde::Serialize)]
struct EndedBody<'a> {
    error: ErrorBody<'a>,
    handover: wire::FinalHandover<'a>,
}

pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(ErrorEnvelope {
            error: ErrorBody {
                code,
                message: message.into(),
            },
        }),
    )
        .into_response()
}

/// The HTTP answer to an engine error (status, code, body; `Retry-After`
/// for quotas). The engine's errors carry meaning only; this is the one
/// place that turns them into HTTP.
pub fn engine_error(e: EngineError) -> Response {
    match &e {
        EngineError::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", m),
        EngineError::BadRequest(m) => error(StatusCode::BAD_REQUEST, "bad_request", m),
        EngineError::Ended(f) => (
            StatusCode::CONFLICT,
            axum::Json(EndedBody {
                error: ErrorBody {
                    code: "ended",
                    message: e.to_string(),
                },
                handover: f.into(),
            }),
        )
            .into_response(),
        EngineError::Quota(q) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "quota", q.to_string());
            r.headers_mut()
                .insert("retry-after", q.retry_after_s.into());
            r
        }
        EngineError::Conflict(m) => error(StatusCode::CONFLICT, "conflict", m),
        EngineError::Upstream(m) => error(StatusCode::BAD_GATEWAY, "provider_error", m),
        EngineError::Store(handover_core::store::StoreError::Conflict(m)) => error(
            StatusCode::CONFLICT,
            "conflict",
            format!("handover {m} was changed concurrently; retry"),
        ),
        EngineError::Store(s) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            handover_core::report::chain(s),
        ),
    }
}
