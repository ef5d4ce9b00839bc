//! The operator console: a static page (`/console`), its script modules
//! and style sheet (`/console/{asset}`), committed as source beside this
//! file and embedded in the binary (no bundler, no build step), and the
//! metrics history its charts draw (`/admin/metrics/history`, `history`).
//!
//! The page and its assets are plain code and need no key: the page asks
//! for an operator or tenant key, keeps it in the tab's `sessionStorage` and
//! calls the admin API with it, so everything it shows is what that key may
//! see. Must never put data into the page on the server side (no templating:
//! the static files are served byte for byte) nor serve anything but the
//! files listed in [`ASSETS`]; the page's Content-Security-Policy admits
//! scripts, styles and requests from this host only.

mod history;

use super::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(page))
        .route("/console/{asset}", get(asset))
        .route("/admin/metrics/history", get(history::history))
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file served under `/console/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console.css"),
    ),
    ("app.js", JS, include_str!("app.js")),
    ("api.js", JS, include_str!("api.js")),
    ("dom.js", JS, include_str!("dom.js")),
    ("endpoints.js", JS, include_str!("endpoints.js")),
    ("canary.js", JS, include_str!("canary.js")),
    ("handovers.js", JS, include_str!("handovers.js")),
    ("charts.js", JS, include_str!("charts.js")),
];

const PAGE: &str = include_str!("console.html");

/// Scripts, styles and requests from this host only; no inline code, no
/// frames, no forms posted elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // Revalidated on every load: an upgraded host serves its own console.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

async fn page() -> Response {
    file("text/html; charset=utf-8", PAGE)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => file(content_type, body),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}
