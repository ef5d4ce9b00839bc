//! Webhook ingress: `/v1/webhooks/{endpoint}[/…]`, any method. Collects the
//! raw request (body capped) and hands it to the engine; answers with the
//! adapter's response once the request is stored — only its status, JSON or
//! plain-text body and `retry-after`, plus the host's own safety headers
//! (`handover_core::webhook_reply`) — or the status `wire` gives the
//! engine's refusal (401/404/400/413/429/500/503). Must never pass an
//! adapter's header to the client unfiltered.

use super::AppState;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use handover_core::model::HttpRequest;
use handover_core::webhook_reply::{self, Reply};
use handover_engine::WebhookReply;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{endpoint}", any(ingest))
        .route("/v1/webhooks/{endpoint}/{*rest}", any(ingest_rest))
}

async fn ingest_rest(
    s: State<AppState>,
    Path((endpoint, _rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    handle(s, endpoint, req).await
}

async fn ingest(s: State<AppState>, Path(endpoint): Path<String>, req: Request) -> Response {
    handle(s, endpoint, req).await
}

async fn handle(State(s): State<AppState>, endpoint: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let max = s.engine.cfg.max_webhook_bytes;
    let Ok(body) = to_bytes(body, max).await else {
        return super::too_large("a webhook body", max);
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let request = HttpRequest {
        method: parts.method.as_str().to_string(),
        path,
        headers,
        body: body.to_vec(),
    };
    match s.engine.ingest_webhook(&endpoint, request).await {
        WebhookReply::Accepted(answer) => {
            let Reply {
                response: r,
                changed,
            } = webhook_reply::sanitize(answer);
            if !changed.is_empty() {
                tracing::warn!(
                    endpoint = %endpoint,
                    changed = %changed.join("; "),
                    "the adapter's webhook answer was not sent as given"
                );
            }
            let mut b = Response::builder()
                .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK));
            for (k, v) in &r.headers {
                b = b.header(k.as_str(), v.as_str());
            }
            b.body(Body::from(r.body))
                .unwrap_or_else(|_| StatusCode::OK.into_response())
        }
        WebhookReply::Refused(why) => {
            let code = super::wire::refusal_status(&why);
            let mut r = super::error(code, "webhook_refused", why.to_string());
            if code == StatusCode::TOO_MANY_REQUESTS {
                r.headers_mut().insert("retry-after", 1.into());
            }
            r
        }
    }
}
