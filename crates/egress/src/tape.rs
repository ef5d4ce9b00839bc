//! A call's outgoing HTTP exchanges, recorded or replayed.
//!
//! Recording (an endpoint with `record_handovers`): every request the call
//! sends is kept as the adapter made it (before the host adds credentials,
//! with credential-like headers redacted) with the response it got, for a
//! later replay. Replaying (`handover-host replay`): the call's requests
//! are answered from a recording, in order, and never reach the network; a
//! request that is not the recorded one (method and URL) is refused and
//! named. The runtime scopes a tape around one call ([`Tape::scope`]); the
//! egress hook reads it when a request starts. Must never: let a replayed
//! call reach the network, or keep a credential the host injected.

use super::SendResult as Sent;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static TAPE: Arc<Tape>;
}

/// Request headers whose values are never recorded.
const REDACTED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
];

/// One request and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    /// As the adapter sent it (text as a string, other bytes as base64).
    #[serde(with = "handover_core::recorded_body")]
    pub request_body: Vec<u8>,
    /// `None`: the request failed (denied, no connection, timeout).
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// As received, and answered to the adapter byte for byte on replay.
    #[serde(with = "handover_core::recorded_body")]
    pub response_body: Vec<u8>,
}

/// Recording or replaying one call's exchanges.
#[derive(Debug)]
pub enum Tape {
    Recording(Mutex<Vec<Exchange>>),
    Replaying {
        queue: Mutex<VecDeque<Exchange>>,
        /// Requests that were not the recorded ones.
        mismatches: Mutex<Vec<String>>,
    },
}

impl Tape {
    pub fn recording() -> Arc<Tape> {
        Arc::new(Tape::Recording(Mutex::default()))
    }

    pub fn replaying(exchanges: Vec<Exchange>) -> Arc<Tape> {
        Arc::new(Tape::Replaying {
            queue: Mutex::new(exchanges.into()),
            mismatches: Mutex::default(),
        })
    }

    /// Run `f` (one adapter call) with this tape.
    pub async fn scope<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        TAPE.scope(self.clone(), f).await
    }

    /// The tape of the calling task, if any (read when a request starts).
    pub(crate) fn current() -> Option<Arc<Tape>> {
        TAPE.try_with(Arc::clone).ok()
    }

    /// What was recorded (empty when replaying).
    pub fn exchanges(&self) -> Vec<Exchange> {
        match self {
            Tape::Recording(v) => v.lock().unwrap().clone(),
            Tape::Replaying { .. } => vec![],
        }
    }

    /// Replay: requests that were not the recorded ones, and recorded
    /// requests the call did not make.
    pub fn mismatches(&self) -> Vec<String> {
        match self {
            Tape::Recording(_) => vec![],
            Tape::Replaying { queue, mismatches } => {
                let mut m = mismatches.lock().unwrap().clone();
                for left in queue.lock().unwrap().iter() {
                    m.push(format!(
                        "the recording has {} {} that the candidate did not send",
                        left.method, left.url
                    ));
                }
                m
            }
        }
    }

    pub(crate) fn record(&self, e: Exchange) {
        if let Tape::Recording(v) = self {
            v.lock().unwrap().push(e);
        }
    }

    /// Replay: the recorded answer to `method url`, or `None` (refused,
    /// and named) when the next recorded request is another.
    pub(crate) fn answer(&self, method: &str, url: &str) -> Option<Exchange> {
        let Tape::Replaying { queue, mismatches } = self else {
            return None;
        };
        let mut q = queue.lock().unwrap();
        match q.front() {
            Some(e) if e.method == method && e.url == url => q.pop_front(),
            next => {
                let expected = next
                    .map(|e| format!("{} {}", e.method, e.url))
                    .unwrap_or_else(|| "no further request".into());
                mismatches.lock().unwrap().push(format!(
                    "the candidate sent {method} {url}; the recording has {expected}"
                ));
                None
            }
        }
    }

    pub fn is_replaying(&self) -> bool {
        matches!(self, Tape::Replaying { .. })
    }
}

/// A header as recorded: its name lower-cased, a credential-like value
/// replaced by `[redacted]` (outgoing exchanges here, webhook requests in
/// the engine's recordings).
pub fn recorded_header(name: &str, value: &[u8]) -> (String, String) {
    let name = name.to_ascii_lowercase();
    let value = if REDACTED.contains(&name.as_str()) {
        "[redacted]".to_string()
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    (name, value)
}

/// Headers as recorded: credential-like values redacted.
pub(crate) fn recorded_headers(h: &http::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| recorded_header(k.as_str(), v.as_bytes()))
        .collect()
}

fn body(b: bytes::Bytes) -> wasmtime_wasi_http::WasiBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(b)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Answer `request` from the tape; nothing reaches the network.
pub(crate) async fn replay(t: &Tape, request: http::Request<wasmtime_wasi_http::WasiBody>) -> Sent {
    let (method, url) = (request.method().to_string(), request.uri().to_string());
    super::send::drain(request.into_body()).await;
    let Some(e) = t.answer(&method, &url) else {
        return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
    };
    let Some(status) = e.status else {
        return Err(wasmtime_wasi_http::Error::ConnectionReadTimeout);
    };
    let mut r = http::Response::builder().status(status);
    for (k, v) in &e.response_headers {
        r = r.header(k, v);
    }
    let r = r
        .body(body(bytes::Bytes::from(e.response_body)))
        .map_err(|_| wasmtime_wasi_http::Error::HttpProtocolError)?;
    Ok((r, Box::new(async { Ok(()) })))
}

/// Send `request` with `send`, keeping the exchange on the tape (bodies
/// read whole: the response's within the egress cap `send` enforces).
pub(crate) async fn record(
    t: &Tape,
    request: http::Request<wasmtime_wasi_http::WasiBody>,
    send: impl AsyncFnOnce(http::Request<wasmtime_wasi_http::WasiBody>) -> Sent,
) -> Sent {
    use http_body_util::BodyExt;
    let (method, url) = (request.method().to_string(), request.uri().to_string());
    let request_headers = recorded_headers(request.headers());
    let (parts, b) = request.into_parts();
    let sent = b.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let request_body = sent.to_vec();
    let mut e = Exchange {
        method,
        url,
        request_headers,
        request_body,
        status: None,
        response_headers: vec![],
        response_body: vec![],
    };
    match send(http::Request::from_parts(parts, body(sent))).await {
        Ok((resp, io)) => {
            let (parts, b) = resp.into_parts();
            let got = b.collect().await.map(|c| c.to_bytes());
            e.status = Some(parts.status.as_u16());
            e.response_headers = recorded_headers(&parts.headers);
            match got {
                Ok(got) => {
                    e.response_body = got.to_vec();
                    t.record(e);
                    Ok((http::Response::from_parts(parts, body(got)), io))
                }
                Err(err) => {
                    t.record(e);
                    Err(err)
                }
            }
        }
        Err(err) => {
            t.record(e);
            Err(err)
        }
    }
}
