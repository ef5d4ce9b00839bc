//! Admin API: endpoints and their adapter versions, hot swap by upload,
//! rollback, swap history, handover listing.
//!
//! The operator key sees every tenant; a tenant key sees and changes only
//! its own endpoints (others answer 404). Fails closed: without a key the
//! admin API answers 401, also in the open (no-tenant) mode. An upload's
//! body is read only after its key and endpoint are checked, and at most
//! [`UPLOAD_LIMIT`] bytes of it.

use super::wire::ListBody;
use super::{AppState, error};
use axum::body::to_bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use handover_engine::registry::{Endpoint, Source, SwapError, UploadPermit};
use handover_engine::tenancy::Caller;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/endpoints", get(list))
        .route("/admin/endpoints/{id}", get(show))
        .route("/admin/endpoints/{id}/adapter", put(upload))
        .route("/admin/endpoints/{id}/rollback", post(rollback))
        .route("/admin/handovers", get(handovers))
        .merge(super::canary::routes())
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

/// An endpoint as the admin API shows it. `adapter_path` (a path on the
/// host's file system) only to the operator: a tenant learns nothing about
/// the server's layout.
fn endpoint_json(ep: &Endpoint, caller: &Caller) -> serde_json::Value {
    let current = ep.current();
    let mut v = json!({
        "id": ep.id,
        "tenant": ep.tenant,
        "current": ep.current_info(),
        "previous": ep.previous_info(),
        "capabilities": current.info.capabilities,
        "channels": current.info.channels,
    });
    if !matches!(caller, Caller::Tenant(_)) {
        v["adapter_path"] = json!(ep.adapter_path.display().to_string());
    }
    v
}

/// The caller and the endpoint, if the caller may administer it.
pub(crate) fn owned_by(
    s: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Caller, Arc<Endpoint>), Response> {
    let caller = admin(s, headers)?;
    let ep = s.endpoint_for(&caller, id)?;
    Ok((caller, ep))
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let caller = or_return!(admin(&s, &headers));
    let eps: Vec<_> = s
        .engine
        .endpoints()
        .filter(|e| caller.may_access(&e.tenant))
        .map(|e| endpoint_json(e, &caller))
        .collect();
    Json(json!({"endpoints": eps})).into_response()
}

async fn show(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match owned_by(&s, &headers, &id) {
        Ok((caller, ep)) => {
            let mut v = endpoint_json(&ep, &caller);
            v["history"] = json!(ep.history());
            Json(v).into_response()
        }
        Err(r) => r,
    }
}

pub(crate) fn swap_error(e: SwapError) -> Response {
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
        SwapError::NotTenantsVersion(_) => error(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
        SwapError::CanaryRunning(_) => error(StatusCode::CONFLICT, "canary_running", e.to_string()),
        SwapError::NoCanary => error(StatusCode::CONFLICT, "no_canary", e.to_string()),
        SwapError::BadPolicy(_) => error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    }
}

/// The largest component an upload may carry.
pub const UPLOAD_LIMIT: usize = 64 << 20;

fn too_large() -> Response {
    crate::too_large("an adapter upload", UPLOAD_LIMIT)
}

/// What every upload (a swap, a canary) shares: the caller's key and
/// endpoint, `check` on the request (its answer travels on), the declared
/// size, the tenant's compile and call slot, then the body. Anything refused
/// is answered before the body is read.
pub(crate) async fn take_upload<T>(
    s: &AppState,
    id: &str,
    req: Request,
    check: impl FnOnce(&Request) -> Result<T, Response>,
) -> Result<(Source, T, UploadPermit, axum::body::Bytes), Response> {
    let (source, ep) = match owned_by(s, req.headers(), id) {
        Ok((Caller::Tenant(_), ep)) => (Source::Tenant, ep),
        Ok((_, ep)) => (Source::Admin, ep),
        Err(r) => return Err(crate::refuse_unread(req.into_body(), r).await),
    };
    let checked = match check(&req) {
        Ok(c) => c,
        Err(r) => return Err(crate::refuse_unread(req.into_body(), r).await),
    };
    if crate::declared_over(req.headers(), UPLOAD_LIMIT) {
        return Err(crate::refuse_unread(req.into_body(), too_large()).await);
    }
    // The tenant's one compile and a call slot, before the body is read: a
    // tenant's second upload at once is answered 429 from the headers.
    let permit = match s.engine.reserve_upload(&ep, source == Source::Tenant).await {
        Ok(p) => p,
        Err(e) => return Err(crate::refuse_unread(req.into_body(), crate::engine_error(e)).await),
    };
    let Ok(body) = to_bytes(req.into_body(), UPLOAD_LIMIT).await else {
        return Err(too_large());
    };
    Ok((source, checked, permit, body))
}

async fn upload(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let (source, (), permit, body) = or_return!(take_upload(&s, &id, req, |_| Ok(())).await);
    match s.engine.swap_adapter(&id, &body, source, permit).await {
        Ok(v) => Json(json!({"swapped": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn rollback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (caller, _) = or_return!(owned_by(&s, &headers, &id));
    let by_tenant = matches!(caller, Caller::Tenant(_));
    match s.engine.rollback_adapter(&id, by_tenant).await {
        Ok(v) => Json(json!({"rolled_back": true, "current": v})).into_response(),
        Err(e) => swap_error(e),
    }
}

async fn handovers(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let caller = or_return!(admin(&s, &headers));
    match s.engine.list_for(&caller).await {
        Ok(v) => Json(ListBody::new(v.iter())).into_response(),
        Err(e) => crate::engine_error(e),
    }
}
