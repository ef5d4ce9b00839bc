//! One HTTP exchange over `wasi:http/outgoing-handler`, driven by the wstd
//! reactor. Unlike `wstd::http::Client::send` (0.6.8), a failure to write
//! the request body never hides the response or the real transport error:
//! the host may close the body early (e.g. for a GET, or when the server
//! answers at once), which wstd reports as "connection reset".

use super::Response;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wstd::http::Uri;
use wstd::io::{AsyncInputStream, AsyncOutputStream, AsyncPollable, AsyncRead};

/// Largest response body read; beyond it the call fails.
pub(super) const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Why an exchange failed: the request was invalid, or no response came.
pub(crate) enum ExchangeError {
    Invalid(String),
    Transport(String),
}

/// Sends the request and reads the whole response, whatever its status.
pub(crate) fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, ExchangeError> {
    let request = build(method, url, headers)?;
    let outgoing_body = request
        .body()
        .map_err(|()| ExchangeError::Invalid("request body already taken".into()))?;
    let future = outgoing_handler::handle(request, None).map_err(transport)?;
    wstd::runtime::block_on(async move {
        // Send the body; a write error only matters if no response comes.
        let _ = write_body(outgoing_body, body.unwrap_or_default()).await;
        AsyncPollable::new(future.subscribe()).wait_for().await;
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(transport(code)),
            Some(Err(())) | None => {
                return Err(ExchangeError::Transport("response already taken".into()));
            }
        };
        let status = response.status();
        let headers = headers_of(&response);
        let incoming = response
            .consume()
            .map_err(|()| ExchangeError::Transport("response body already taken".into()))?;
        let stream = incoming
            .stream()
            .map_err(|()| ExchangeError::Transport("response body stream already taken".into()))?;
        let mut reader = AsyncInputStream::new(stream);
        let mut bytes = Vec::new();
        let read = read_capped(&mut reader, &mut bytes).await;
        drop(reader);
        drop(incoming);
        drop(response);
        read?;
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    })
}

pub(super) fn build(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<OutgoingRequest, ExchangeError> {
    let invalid = |what: &str| ExchangeError::Invalid(what.to_string());
    let uri: Uri = url
        .parse()
        .map_err(|e| ExchangeError::Invalid(format!("bad URL: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        _ => return Err(invalid("URL must start with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("URL has no host"))?;
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields)
        .map_err(|e| ExchangeError::Invalid(format!("bad header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_string()),
    };
    request
        .set_method(&method)
        .map_err(|()| invalid("bad method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("bad scheme"))?;
    request
        .set_authority(Some(authority.as_str()))
        .map_err(|()| invalid("bad host"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    request
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("bad path"))?;
    Ok(request)
}

async fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), ()> {
    if !bytes.is_empty() {
        let stream = AsyncOutputStream::new(body.write()?);
        let written = stream.write_all(bytes).await;
        let flushed = stream.flush().await;
        drop(stream);
        written.and(flushed).map_err(drop)?;
    }
    OutgoingBody::finish(body, None).map_err(drop)
}

async fn read_capped(
    reader: &mut AsyncInputStream,
    out: &mut Vec<u8>,
) -> Result<(), ExchangeError> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .await
            .map_err(|e| ExchangeError::Transport(format!("reading response body: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        if out.len() + n > MAX_RESPONSE_BYTES {
            return Err(ExchangeError::Transport(format!(
                "response body larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// A response's headers as (lower-case name, value) pairs; values that
/// are not UTF-8 are converted lossily.
pub(super) fn headers_of(response: &IncomingResponse) -> Vec<(String, String)> {
    response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

pub(super) fn transport(code: ErrorCode) -> ExchangeError {
    ExchangeError::Transport(format!("{code:?}"))
}
