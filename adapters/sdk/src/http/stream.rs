//! Bounded reads of responses whose body does not end on its own: server-sent
//! event streams, chunked "firehoses". [`read_stream`] reads until the server
//! ends the body, a deadline passes, or the stream goes quiet, then drops the
//! connection; the caller parses what arrived and resumes later (e.g. with
//! `Last-Event-Id`). Blocking inside the export, on wasi:io pollables and the
//! monotonic clock, so the call stays within the host's wall-time limit.

use super::Response;
use super::error::{HttpError, excerpt, target};
use super::exchange::{ExchangeError, MAX_RESPONSE_BYTES, build, headers_of, transport};
use std::time::Duration;
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::OutgoingBody;
use wasip2::io::poll::poll;
use wasip2::io::streams::StreamError;

/// How long [`read_stream`] keeps reading.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Stop once this long has passed since the request was sent (the
    /// response headers must arrive within it too).
    pub max_wait: Duration,
    /// Once the caller's `settled` check accepts the bytes read so far, stop
    /// after this long without new bytes.
    pub idle_gap: Duration,
}

/// What [`read_stream`] read.
#[derive(Debug, Clone)]
pub struct StreamRead {
    /// Status, headers and the body bytes read before the read stopped.
    pub response: Response,
    /// The server ended the body (rather than a limit ending the read).
    pub ended: bool,
}

/// Sends a request without a body and reads the streaming response until the
/// server ends it, `limits.max_wait` passes, or `limits.idle_gap` passes
/// without new bytes while `settled(body so far)` is true (e.g. "holds at
/// least one complete event"). A non-2xx status is an [`HttpError::Status`]
/// with an excerpt of what was read within the same limits.
pub fn read_stream(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    limits: StreamLimits,
    settled: impl Fn(&[u8]) -> bool,
) -> Result<StreamRead, HttpError> {
    let target = target(method, url);
    let fail = |e: ExchangeError| match e {
        ExchangeError::Invalid(message) => HttpError::InvalidRequest {
            target: target.clone(),
            message,
        },
        ExchangeError::Transport(message) => HttpError::Transport {
            target: target.clone(),
            message,
        },
    };
    let gone = |what: &str| fail(ExchangeError::Transport(format!("{what} already taken")));
    let deadline = monotonic_clock::now().saturating_add(nanos(limits.max_wait));
    let idle_gap = nanos(limits.idle_gap);

    let request = build(method, url, headers).map_err(fail)?;
    let body = request.body().map_err(|()| gone("request body"))?;
    let future = outgoing_handler::handle(request, None).map_err(|c| fail(transport(c)))?;
    OutgoingBody::finish(body, None).map_err(|c| fail(transport(c)))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(fail(transport(code))),
            Some(Err(())) => return Err(gone("response")),
            None => {}
        }
        if monotonic_clock::now() >= deadline {
            return Err(fail(ExchangeError::Transport(format!(
                "no response within {} ms",
                limits.max_wait.as_millis()
            ))));
        }
        let ready = future.subscribe();
        let timer = monotonic_clock::subscribe_instant(deadline);
        poll(&[&ready, &timer]);
    };
    let status = response.status();
    let response_headers = headers_of(&response);
    let incoming = response.consume().map_err(|()| gone("response body"))?;
    let stream = incoming
        .stream()
        .map_err(|()| gone("response body stream"))?;
    let mut bytes = Vec::new();
    let mut last_data = None;
    let ended = loop {
        match stream.read(64 * 1024) {
            Ok(chunk) if !chunk.is_empty() => {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(fail(ExchangeError::Transport(format!(
                        "response body larger than {MAX_RESPONSE_BYTES} bytes"
                    ))));
                }
                bytes.extend_from_slice(&chunk);
                last_data = Some(monotonic_clock::now());
                continue;
            }
            Ok(_) => {}
            Err(StreamError::Closed) => break true,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(fail(ExchangeError::Transport(format!(
                    "reading response body: {}",
                    e.to_debug_string()
                ))));
            }
        }
        let wake = match last_data {
            Some(at) if settled(&bytes) => deadline.min(at.saturating_add(idle_gap)),
            _ => deadline,
        };
        if monotonic_clock::now() >= wake {
            break false;
        }
        let ready = stream.subscribe();
        let timer = monotonic_clock::subscribe_instant(wake);
        poll(&[&ready, &timer]);
    };
    // Children before parents: the stream, its body, the response, the future.
    drop(stream);
    drop(incoming);
    drop(response);
    drop(future);
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            target,
            status,
            excerpt: excerpt(&bytes),
        });
    }
    Ok(StreamRead {
        response: Response {
            status,
            headers: response_headers,
            body: bytes,
        },
        ended,
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
