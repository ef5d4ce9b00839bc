//! [`HttpError`]: why a call to the provider failed, with messages that say
//! what happened (429 and 5xx spelled out) and never include URL secrets.

use crate::failure::error;
use crate::types::Failure;
use std::fmt;

/// Why an HTTP call to the provider failed. `target` is "METHOD /path"
/// (no scheme, host, query or credentials).
#[derive(Debug, Clone)]
pub enum HttpError {
    /// The request could not be built (bad URL, header or method).
    InvalidRequest { target: String, message: String },
    /// No response: connection refused, DNS, denied by the host, timeout.
    /// `message` is the wasi:http client's error text.
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

/// "METHOD /path" without scheme, host, query or credentials.
pub(crate) fn target(method: &str, url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    format!("{method} {path}")
}

/// Most characters of a response body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// The first [`EXCERPT_CHARS`] characters of a body, whitespace collapsed.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(EXCERPT_CHARS) {
        Some((index, _)) => format!("{}…", &collapsed[..index]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hide_host_and_query() {
        assert_eq!(target("GET", "https://u:p@h/a/b?key=s"), "GET /a/b");
        assert_eq!(target("POST", "http://h"), "POST /");
    }

    #[test]
    fn status_messages() {
        let e = |status| HttpError::Status {
            target: "GET /x".into(),
            status,
            excerpt: excerpt(b"  too\n many  "),
        };
        assert_eq!(
            e(429).to_string(),
            "GET /x: provider rate limit hit, retry later (HTTP 429): too many"
        );
        assert!(
            e(503)
                .to_string()
                .contains("unavailable or failing (HTTP 503)")
        );
        assert!(excerpt(&[b'a'; 500]).ends_with('…'));
    }
}
