//! Admin API for safe rollouts: canaries (start one with a candidate
//! component and a policy, watch both versions' figures, promote or abort
//! it) and replay (a candidate against the endpoint's recorded handovers).
//!
//! Same rules as the rest of the admin API: the operator key or the
//! endpoint's own tenant key (other tenants' endpoints answer 404), the
//! policy checked before the body is read, the body capped at
//! [`UPLOAD_LIMIT`](super::admin::UPLOAD_LIMIT). A refused candidate never
//! serves a handover.

use super::admin::{owned_by, swap_error, take_upload};
use super::{AppState, error};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use handover_engine::registry::CanaryPolicy;
use handover_engine::tenancy::Caller;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/endpoints/{id}/canary", get(show).post(start))
        .route("/admin/endpoints/{id}/canary/promote", post(promote))
        .route("/admin/endpoints/{id}/canary/abort", post(abort))
        .route("/admin/endpoints/{id}/replay", post(replay))
}

/// `?last=N&allow=type,type`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayQuery {
    last: Option<u32>,
    allow: Option<String>,
}

async fn replay(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let query = |req: &Request| {
        Query::<ReplayQuery>::try_from_uri(req.uri())
            .map(|Query(q)| q)
            .map_err(|e| {
                let m = format!(
                    "the replay query: {}; known fields: last, allow",
                    e.body_text()
                );
                error(StatusCode::BAD_REQUEST, "bad_request", m)
            })
    };
    let (_, q, permit, body) = or_return!(take_upload(&s, &id, req, query).await);
    let allow: Vec<String> = q
        .allow
        .iter()
        .flat_map(|a| a.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let last = q.last.unwrap_or(100).clamp(1, 10_000);
    match s.engine.replay(&id, &body, last, &allow, permit).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => crate::engine_error(e),
    }
}

/// Who acts, for the history and the metrics.
fn by(caller: &Caller) -> &'static str {
    match caller {
        Caller::Tenant(_) => "tenant",
        _ => "operator",
    }
}

async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (_, ep) = or_return!(owned_by(&s, &headers, &id));
    Json(json!({"canary": ep.canary(), "last": ep.last_canary()})).into_response()
}

async fn start(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    // The policy is in the query string: checked before the body is read.
    let (source, policy, permit, body) = or_return!(take_upload(&s, &id, req, policy_of).await);
    match s
        .engine
        .start_canary(&id, &body, source, policy, permit)
        .await
    {
        Ok(v) => (StatusCode::CREATED, Json(json!({"canary": v}))).into_response(),
        Err(e) => swap_error(e),
    }
}

fn policy_of(req: &Request) -> Result<CanaryPolicy, Response> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, "bad_request", m);
    let Query(policy) = Query::<CanaryPolicy>::try_from_uri(req.uri()).map_err(|e| {
        bad(format!(
            "the canary policy (query string): {}; known fields: share_percent, min_sample, \
             margin_percent, promote_after_handovers, promote_after_seconds",
            e.body_text()
        ))
    })?;
    policy.check().map_err(bad)?;
    Ok(policy)
}

async fn promote(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (caller, _) = or_return!(owned_by(&s, &headers, &id));
    match s.engine.promote_canary(&id, by(&caller)).await {
        Ok(v) => Json(json!({"promoted": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn abort(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (caller, ep) = or_return!(owned_by(&s, &headers, &id));
    match s.engine.abort_canary(&id, by(&caller)).await {
        Ok(end) => Json(json!({"aborted": true, "current": ep.current_info(), "last": end}))
            .into_response(),
        Err(e) => swap_error(e),
    }
}
