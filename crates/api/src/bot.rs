//! Bot API routes: create, input, typing, status, close, list, availability.
//!
//! Every route authenticates the caller's tenant key first; another
//! tenant's endpoint or handover answers 404, exactly like a missing one.
//! Malformed JSON bodies get a 400 naming the problem. A body is read only
//! after the key and the endpoint or handover are checked (handlers take
//! the raw request), so an unauthenticated caller costs no buffering.
//! Answers are the engine's typed results written out by `wire`.

use super::wire::{
    self, AvailabilityBody, CloseBody, CreatedBody, InputBody, ListBody, TypingBody, ViewBody,
};
use super::{AppState, error};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handover_engine::{CreateRequest, InputRequest, TypingRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/endpoints/{endpoint}/handovers", post(create).get(list))
        .route("/v1/endpoints/{endpoint}/availability", get(availability))
        .route("/v1/handovers/{id}", get(status))
        .route("/v1/handovers/{id}/input", post(input))
        .route("/v1/handovers/{id}/typing", post(typing))
        .route("/v1/handovers/{id}/close", post(close))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn bad_json(e: JsonRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("invalid JSON body: {}", e.body_text()),
    )
}

/// The most a bot API body may be (axum's default limit, stated).
const BODY_LIMIT: usize = 2 << 20;

fn too_large() -> Response {
    crate::too_large("a bot API body", BODY_LIMIT)
}

/// The request's JSON body, read now (after the caller was checked); a
/// declared length over the limit is refused before reading.
async fn json_body<T: DeserializeOwned>(s: &AppState, req: Request) -> Result<T, Response> {
    if crate::declared_over(req.headers(), BODY_LIMIT) {
        return Err(crate::refuse_unread(req.into_body(), too_large()).await);
    }
    Json::<T>::from_request(req, s)
        .await
        .map(|Json(v)| v)
        .map_err(bad_json)
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

async fn create(State(s): State<AppState>, Path(endpoint): Path<String>, req: Request) -> Response {
    let ep = match s
        .caller(req.headers())
        .and_then(|caller| s.endpoint_for(&caller, &endpoint))
    {
        Ok(ep) => ep,
        Err(r) => return crate::refuse_unread(req.into_body(), r).await,
    };
    let req: CreateRequest = or_return!(json_body(&s, req).await);
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
    let ep = endpoint_or_return!(s, &headers, endpoint);
    reply(s.engine.list(Some(&ep.id), q.open).await, |v| {
        ok(ListBody::new(v))
    })
}

async fn availability(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(endpoint): Path<String>,
) -> Response {
    let ep = endpoint_or_return!(s, &headers, endpoint);
    reply(s.engine.availability(&ep.id).await, |v| {
        ok(AvailabilityBody::from(v))
    })
}

async fn status(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handover_or_return!(s, &headers, id);
    reply(s.engine.status(&id).await, |v| ok(ViewBody::from(v)))
}

/// The JSON body of a request about handover `id`, read only once the
/// caller may see that handover (else the refusal, body unread).
async fn handover_body<T: DeserializeOwned>(
    s: &AppState,
    id: &str,
    req: Request,
) -> Result<T, Response> {
    let allowed = match s.caller(req.headers()) {
        Ok(caller) => s.handover_for(&caller, id).await.map(drop),
        Err(r) => Err(r),
    };
    if let Err(r) = allowed {
        return Err(crate::refuse_unread(req.into_body(), r).await);
    }
    json_body(s, req).await
}

async fn input(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let req: InputRequest = or_return!(handover_body(&s, &id, req).await);
    reply(s.engine.input(&id, req).await, |v| ok(InputBody::from(v)))
}

async fn typing(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let req: TypingRequest = or_return!(handover_body(&s, &id, req).await);
    reply(s.engine.typing(&id, req).await, |v| ok(TypingBody::from(v)))
}

async fn close(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handover_or_return!(s, &headers, id);
    reply(s.engine.close(&id).await, |v| ok(CloseBody::from(v)))
}
