//! JSON over `wasi:http`, run synchronously inside an export with
//! `wstd::runtime::block_on`. Errors are typed ([`HttpError`]) and convert
//! into a `Failure { reason: error, .. }` with the status and a short body
//! excerpt. Timeouts, egress rules and TLS are the host's job.

use crate::failure::error;
use crate::types::Failure;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use wstd::http::{Body, Client, Method, Request};

/// Use as the response type of a call whose response body does not matter:
/// `let _: http::Ignored = http::post_json(&url, &[], &body)?;`
pub use serde::de::IgnoredAny as Ignored;

/// Most characters of a response body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// A provider response with a 2xx status.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why an HTTP call to the provider failed.
#[derive(Debug, Clone)]
pub enum HttpError {
    /// The request could not be built (bad URL, header or method).
    InvalidRequest { target: String, message: String },
    /// No response: connection refused, DNS, denied by the host, timeout.
    Transport { target: String, message: String },
    /// The provider answered with a non-2xx status.
    Status {
        target: String,
        status: u16,
        excerpt: String,
    },
    /// A 2xx response whose body is not the expected JSON.
    Decode {
        target: String,
        status: u16,
        message: String,
        excerpt: String,
    },
}

impl HttpError {
    /// The HTTP status, when the provider answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest { target, message } => {
                write!(f, "{target}: invalid request: {message}")
            }
            Self::Transport { target, message } => {
                write!(f, "{target}: provider unreachable: {message}")
            }
            Self::Status {
                target,
                status,
                excerpt,
            } => {
                let what = match status {
                    429 => "provider rate limit hit, retry later",
                    500..=599 => "provider unavailable or failing",
                    401 | 403 => "provider rejected the credentials",
                    404 => "provider does not know this resource",
                    _ => "provider rejected the request",
                };
                write!(f, "{target}: {what} (HTTP {status})")?;
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
            Self::Decode {
                target,
                status,
                message,
                excerpt,
            } => write!(
                f,
                "{target}: unexpected response (HTTP {status}): {message}; body: {excerpt}"
            ),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        error(e.to_string())
    }
}

/// Sends one request and returns the 2xx response; any other status is an
/// [`HttpError::Status`]. `headers` are sent as given (e.g. authorization).
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Response, HttpError> {
    let target = describe_target(method, url);
    let invalid = |message: String| HttpError::InvalidRequest {
        target: target.clone(),
        message,
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(body) = &body {
        // A known length instead of chunked encoding: some providers insist.
        builder = builder.header("content-length", body.len());
    }
    let request = builder
        .body(body.map_or_else(Body::empty, Body::from))
        .map_err(|e| invalid(e.to_string()))?;

    let result = wstd::runtime::block_on(async move {
        let response = Client::new().send(request).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let body = body.contents().await?.to_vec();
        Ok::<_, wstd::http::Error>(Response {
            status,
            headers,
            body,
        })
    });
    let response = result.map_err(|e| HttpError::Transport {
        target: target.clone(),
        message: format!("{e:#}"),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(HttpError::Status {
            target,
            status: response.status,
            excerpt: excerpt(&response.body),
        });
    }
    Ok(response)
}

/// `GET url` and parse the JSON response.
pub fn get_json<T: DeserializeOwned>(url: &str, headers: &[(&str, &str)]) -> Result<T, HttpError> {
    let response = send("GET", url, &with_accept(headers, false), None)?;
    decode("GET", url, &response)
}

/// `POST url` with a JSON body and parse the JSON response. An empty
/// response body parses as JSON `null` (so `Option<T>`, `()` and
/// [`Ignored`] accept it).
pub fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    headers: &[(&str, &str)],
    body: &B,
) -> Result<T, HttpError> {
    let bytes = serde_json::to_vec(body).map_err(|e| HttpError::InvalidRequest {
        target: describe_target("POST", url),
        message: e.to_string(),
    })?;
    let response = send("POST", url, &with_accept(headers, true), Some(bytes))?;
    decode("POST", url, &response)
}

/// Percent-encodes one URL path segment (e.g. a provider id).
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode<T: DeserializeOwned>(
    method: &str,
    url: &str,
    response: &Response,
) -> Result<T, HttpError> {
    let body: &[u8] = if response.body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &response.body
    };
    serde_json::from_slice(body).map_err(|e| HttpError::Decode {
        target: describe_target(method, url),
        status: response.status,
        message: e.to_string(),
        excerpt: excerpt(&response.body),
    })
}

fn with_accept<'a>(headers: &[(&'a str, &'a str)], json_body: bool) -> Vec<(&'a str, &'a str)> {
    let mut all = Vec::with_capacity(headers.len() + 2);
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("accept") {
        all.push(("accept", "application/json"));
    }
    if json_body && !has("content-type") {
        all.push(("content-type", "application/json"));
    }
    all.extend_from_slice(headers);
    all
}

/// "METHOD /path" without scheme, host, query or credentials, so messages
/// never leak secrets carried in URLs.
fn describe_target(method: &str, url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    format!("{method} {path}")
}

/// The first [`EXCERPT_CHARS`] characters of a body, whitespace collapsed.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(EXCERPT_CHARS) {
        Some((index, _)) => format!("{}…", &collapsed[..index]),
        None => collapsed,
    }
}
