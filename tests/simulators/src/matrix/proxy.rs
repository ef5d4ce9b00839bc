//! A pass-through HTTP proxy in front of Synapse for the adapter's traffic:
//! it forwards every request unchanged (Synapse itself checks the access
//! token), records what it saw, and can answer the next matching request
//! with an injected error (the conformance kit's "5xx on start").

use crate::kit::Server;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the proxy forwarded (or failed on purpose).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Whether it carried `Authorization: Bearer …`.
    pub bearer: bool,
    pub status: u16,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    /// (path suffix, status): the next request whose path ends so fails.
    failures: Mutex<Vec<(String, u16)>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct Proxy {
    shared: Arc<Shared>,
    server: Server,
}

/// Hop-by-hop and recomputed headers, not forwarded either way.
const SKIP: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

impl Proxy {
    /// Serves on `127.0.0.1:<free port>`, forwarding to `upstream`.
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            failures: Mutex::default(),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let server = Server::start(app).await?;
        Ok(Proxy { shared, server })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The next request whose path ends with `suffix` gets `status`.
    pub fn fail_next(&self, suffix: &str, status: u16) {
        let mut failures = self.shared.failures.lock().unwrap();
        failures.push((suffix.to_string(), status));
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Stops serving at once (in-flight requests are dropped).
    pub async fn stop(&self) {
        self.server.shutdown_within(Duration::ZERO).await;
    }
}

async fn forward(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let injected = {
        let mut failures = s.failures.lock().unwrap();
        let i = failures
            .iter()
            .position(|(suffix, _)| path.ends_with(suffix));
        i.map(|i| failures.remove(i).1)
    };
    let response = match injected {
        Some(status) => injected_error(status),
        None => relay(&s, method.clone(), &uri, headers, body).await,
    };
    s.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path,
        bearer,
        status: response.status().as_u16(),
    });
    response
}

/// A Matrix-shaped error body for an injected failure.
fn injected_error(status: u16) -> Response {
    let body = if status == 429 {
        json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 1000})
    } else {
        json!({"errcode": "M_UNKNOWN", "error": format!("injected failure (HTTP {status})")})
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

async fn relay(s: &Shared, method: Method, uri: &Uri, headers: HeaderMap, body: Bytes) -> Response {
    let target = format!(
        "{}{}",
        s.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = s.http.request(method, target).body(body);
    for (name, value) in &headers {
        if !SKIP.contains(&name.as_str()) {
            req = req.header(name, value);
        }
    }
    let upstream = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!("matrix proxy: {e}")))
                .expect("response");
        }
    };
    let mut out = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if !SKIP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let bytes = upstream.bytes().await.unwrap_or_default();
    out.body(Body::from(bytes)).expect("response")
}
