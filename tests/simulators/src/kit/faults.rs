//! Scripted API failures: "answer the next N matching requests with status
//! S", and the response such a fault gets.

use super::lock;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::sync::Mutex;

/// One scripted failure.
struct Fault {
    /// Upper-case method; any when `None`.
    method: Option<String>,
    path: String,
    /// Whether `path` is a prefix (else the exact path).
    prefix: bool,
    status: u16,
    remaining: u32,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && if self.prefix {
                path.starts_with(&self.path)
            } else {
                self.path == path
            }
    }
}

/// Scripted failures, matched in the order they were added; each answers
/// its next `count` matching requests, then is gone.
#[derive(Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    /// The next `count` requests of `method` (any when `None`) to exactly
    /// `path`, or to any path starting with it when it ends in `*`, get
    /// `status`.
    pub fn add(&self, method: Option<&str>, path: &str, status: u16, count: u32) {
        let (path, prefix) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (path, false),
        };
        self.push(Fault {
            method: method.map(str::to_ascii_uppercase),
            path: path.to_string(),
            prefix,
            status,
            remaining: count,
        });
    }

    /// The next `count` requests (any method) whose path starts with
    /// `prefix` get `status`.
    pub fn add_prefix(&self, prefix: &str, status: u16, count: u32) {
        self.push(Fault {
            method: None,
            path: prefix.to_string(),
            prefix: true,
            status,
            remaining: count,
        });
    }

    fn push(&self, fault: Fault) {
        if fault.remaining > 0 {
            lock(&self.0).push(fault);
        }
    }

    /// The status to answer `method path` with, if a fault matches (one of
    /// its uses is consumed).
    pub fn take(&self, method: &str, path: &str) -> Option<u16> {
        let mut faults = lock(&self.0);
        let i = faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut faults[i];
        fault.remaining -= 1;
        let status = fault.status;
        if fault.remaining == 0 {
            faults.remove(i);
        }
        Some(status)
    }
}

/// The answer to a fault of `status`: `body` for its status code (500 when
/// `status` is not one), with `Retry-After: 1` on 429 and 503.
pub fn response(status: u16, body: impl FnOnce(StatusCode) -> Response) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = body(code);
    if matches!(code.as_u16(), 429 | 503) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// [`response`] with the provider's error document (`error`) saying
/// `injected fault (<status>)`.
pub fn injected(status: u16, error: impl FnOnce(StatusCode, &str) -> Response) -> Response {
    response(status, |code| {
        error(code, &format!("injected fault ({})", code.as_u16()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn faults_match_method_and_path() {
        let f = Faults::default();
        f.add(Some("post"), "/a/*", 503, 2);
        f.add(None, "/b", 429, 1);
        assert_eq!(f.take("GET", "/a/x"), None);
        assert_eq!(f.take("POST", "/a/x"), Some(503));
        assert_eq!(f.take("POST", "/a/y"), Some(503));
        assert_eq!(f.take("POST", "/a/z"), None);
        assert_eq!(f.take("GET", "/b/c"), None);
        assert_eq!(f.take("GET", "/b"), Some(429));
        assert_eq!(f.take("GET", "/b"), None);
    }

    #[test]
    fn prefixes_match_in_order_and_zero_counts_never() {
        let f = Faults::default();
        f.add_prefix("/api/", 0, 0);
        f.add_prefix("/api/", 500, 1);
        f.add_prefix("/", 429, 1);
        assert_eq!(f.take("POST", "/api/x"), Some(500));
        assert_eq!(f.take("GET", "/api/x"), Some(429));
        assert_eq!(f.take("GET", "/api/x"), None);
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let r = injected(429, |code, msg| (code, msg.to_string()).into_response());
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let r = response(1000, |code| code.into_response());
        assert_eq!(r.status(), 500);
        assert!(r.headers().get("retry-after").is_none());
    }
}
