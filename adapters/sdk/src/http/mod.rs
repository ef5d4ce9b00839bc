//! JSON over `wasi:http`, synchronous inside an export (the wstd reactor
//! runs the exchange under `wstd::runtime::block_on`). Errors are typed
//! ([`HttpError`]) and convert into `Failure { reason: error, .. }` with the
//! status and a short body excerpt. Timeouts, egress rules and TLS are the
//! host's job.

mod error;
mod exchange;
mod stream;

pub use error::HttpError;
/// Use as the response type when the body does not matter:
/// `let _: http::Ignored = http::post_json(&url, &[], &body)?;`
pub use serde::de::IgnoredAny as Ignored;
pub use stream::{StreamLimits, StreamRead, read_stream};

use error::{excerpt, target};
use exchange::{ExchangeError, exchange};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A provider's response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names are lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Parses the body as JSON; an empty body parses as `null`.
    pub fn json<T: DeserializeOwned>(&self, target: &str) -> Result<T, HttpError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| HttpError::Decode {
            target: target.to_string(),
            status: self.status,
            message: e.to_string(),
            excerpt: excerpt(&self.body),
        })
    }
}

/// Sends one request and returns the response whatever its status; fails
/// only when there is no response. `headers` are sent as given.
pub fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    exchange(method, url, headers, body).map_err(|e| match e {
        ExchangeError::Invalid(message) => HttpError::InvalidRequest {
            target: target(method, url),
            message,
        },
        ExchangeError::Transport(message) => HttpError::Transport {
            target: target(method, url),
            message,
        },
    })
}

/// Like [`fetch`], but any status outside 2xx is an [`HttpError::Status`].
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    let response = fetch(method, url, headers, body)?;
    if !(200..300).contains(&response.status) {
        return Err(HttpError::Status {
            target: target(method, url),
            status: response.status,
            excerpt: excerpt(&response.body),
        });
    }
    Ok(response)
}

/// `GET url` and parse the JSON response.
pub fn get_json<T: DeserializeOwned>(url: &str, headers: &[(&str, &str)]) -> Result<T, HttpError> {
    let headers = with_defaults(headers, None);
    send("GET", url, &headers, None)?.json(&target("GET", url))
}

/// `POST url` with a JSON body and parse the JSON response (an empty
/// response body parses as `null`, which [`Ignored`] and `Option` accept).
pub fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    headers: &[(&str, &str)],
    body: &B,
) -> Result<T, HttpError> {
    let bytes = serde_json::to_vec(body).map_err(|e| HttpError::InvalidRequest {
        target: target("POST", url),
        message: e.to_string(),
    })?;
    let length = bytes.len().to_string();
    let headers = with_defaults(headers, Some(&length));
    send("POST", url, &headers, Some(&bytes))?.json(&target("POST", url))
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

/// Adds `accept` and, for a JSON body, `content-type` and
/// `content-length`, unless the caller set them.
fn with_defaults<'a>(
    headers: &[(&'a str, &'a str)],
    length: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut all = headers.to_vec();
    if !has("accept") {
        all.push(("accept", "application/json"));
    }
    if let Some(length) = length {
        if !has("content-type") {
            all.push(("content-type", "application/json"));
        }
        if !has("content-length") {
            all.push(("content-length", length));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(super::path_segment("c-1_a.b~"), "c-1_a.b~");
        assert_eq!(super::path_segment("a/b c"), "a%2Fb%20c");
    }
}
