//! What stands in front of a simulator's API routes: the [`Gate`] records
//! every request, checks credentials, validates JSON bodies against the
//! provider's OpenAPI document, holds scripted slow requests and answers
//! scripted faults, before the route runs.

use super::faults::{self, Faults};
use super::holds::{Hold, Holds};
use super::lock;
use crate::openapi::{Spec, Violation};
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use std::sync::Mutex;

/// One API request a simulator received.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
    /// The status the simulator answered (0 while still being handled).
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The provider's error document for a status and a message.
pub type ErrorFn = fn(StatusCode, &str) -> Response;

/// Everything in front of a simulator's API routes. For each request, in
/// order: records it; checks the credentials (401); validates its JSON body
/// against the spec operation of the matched route (`MatchedPath` must
/// spell the route like the spec's `paths` key; a violation is recorded
/// and answered with the invalid status); waits while a scripted hold
/// takes it; answers a scripted fault; else runs the route. Only the
/// recording, the holds and the faults are always on.
pub struct Gate {
    error: ErrorFn,
    /// The header carrying the credentials, and its value.
    credential: Option<(String, String)>,
    spec: Option<(Spec, StatusCode)>,
    body_limit: usize,
    fault_scope: &'static str,
    fault_response: Option<fn(u16) -> Response>,
    requests: Mutex<Vec<RecordedRequest>>,
    violations: Mutex<Vec<Violation>>,
    faults: Faults,
    holds: Holds,
}

impl Gate {
    /// A gate that records requests and answers faults with `error`'s
    /// document saying `injected fault (<status>)`.
    pub fn new(error: ErrorFn) -> Gate {
        Gate {
            error,
            credential: None,
            spec: None,
            body_limit: 64 << 20,
            fault_scope: "",
            fault_response: None,
            requests: Mutex::default(),
            violations: Mutex::default(),
            faults: Faults::default(),
            holds: Holds::default(),
        }
    }

    /// Requests without the header `name: value` get a 401.
    pub fn with_credential(mut self, name: impl Into<String>, value: String) -> Gate {
        self.credential = Some((name.into(), value));
        self
    }

    /// Bodies that break `spec` get `invalid_status` (e.g. Chatwoot 422,
    /// Sunshine 400).
    pub fn with_spec(mut self, spec: Spec, invalid_status: StatusCode) -> Gate {
        self.spec = Some((spec, invalid_status));
        self
    }

    /// Bodies are read up to `bytes` (default 64 MiB; a larger one is
    /// recorded and passed on as empty).
    pub fn with_body_limit(mut self, bytes: usize) -> Gate {
        self.body_limit = bytes;
        self
    }

    /// Faults only answer requests whose path starts with `prefix`.
    pub fn with_fault_scope(mut self, prefix: &'static str) -> Gate {
        self.fault_scope = prefix;
        self
    }

    /// Faults are answered with `response(status)` instead.
    pub fn with_fault_response(mut self, response: fn(u16) -> Response) -> Gate {
        self.fault_response = Some(response);
        self
    }

    /// The spec bodies are validated against, if any.
    pub fn spec(&self) -> Option<&Spec> {
        self.spec.as_ref().map(|(spec, _)| spec)
    }

    /// The scripted faults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The next `count` requests `method path` (any method when `None`;
    /// `path` may end in `*`) get `status`.
    pub fn fail_next(&self, method: Option<&str>, path: &str, status: u16, count: u32) {
        self.faults.add(method, path, status, count);
    }

    /// Holds the next request whose path starts with `prefix` (once its
    /// credentials and body passed) until the returned [`Hold`] releases
    /// it or is dropped; then it is answered as usual.
    pub fn hold_next(&self, prefix: &str) -> Hold {
        self.holds.add(prefix)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    /// Returns and forgets the violations recorded so far.
    pub fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut *lock(&self.violations))
    }

    pub fn record_violation(&self, v: Violation) {
        tracing::warn!(violation = %v, "schema violation");
        lock(&self.violations).push(v);
    }

    /// Passes `req` through the gate to `next` (or answers it here).
    pub async fn run(&self, req: Request, next: Next) -> Response {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, self.body_limit)
            .await
            .unwrap_or_default();
        let method = parts.method.to_string();
        let path = parts.uri.path().to_string();
        let index = {
            let mut requests = lock(&self.requests);
            requests.push(RecordedRequest {
                method: method.clone(),
                path: path.clone(),
                query: parts.uri.query().map(String::from),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
                status: 0,
            });
            requests.len() - 1
        };
        let response = if !self.authorized(&parts.headers) {
            (self.error)(StatusCode::UNAUTHORIZED, "invalid or missing credentials")
        } else if let Some((v, invalid)) = self.check(&parts, &method, &path, &bytes) {
            let message = v.errors.join("; ");
            self.record_violation(v);
            (self.error)(invalid, &message)
        } else {
            self.holds.wait(&path).await;
            match self.fault(&method, &path) {
                Some(status) => match self.fault_response {
                    Some(respond) => respond(status),
                    None => faults::injected(status, self.error),
                },
                None => {
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            }
        };
        if let Some(r) = lock(&self.requests).get_mut(index) {
            r.status = response.status().as_u16();
        }
        response
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.credential.as_ref().is_none_or(|(name, value)| {
            headers
                .get(name.as_str())
                .is_some_and(|v| v.as_bytes() == value.as_bytes())
        })
    }

    /// The violation of the body against the matched route's operation.
    fn check(
        &self,
        parts: &axum::http::request::Parts,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Option<(Violation, StatusCode)> {
        let (spec, invalid) = self.spec.as_ref()?;
        let template = parts.extensions.get::<MatchedPath>()?;
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let violation =
            spec.check_request_as(method, template.as_str(), path, content_type, body)?;
        Some((violation, *invalid))
    }

    fn fault(&self, method: &str, path: &str) -> Option<u16> {
        if path.starts_with(self.fault_scope) {
            self.faults.take(method, path)
        } else {
            None
        }
    }
}
