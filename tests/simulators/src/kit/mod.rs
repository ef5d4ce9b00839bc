//! What every simulator is built from, whatever the provider:
//!
//! - [`faults`]: scripted API failures and the answers they get;
//! - [`holds`]: scripted slow answers (a request held until released);
//! - [`gate`]: the middleware in front of the API routes (records
//!   requests, checks credentials, validates bodies against the OpenAPI
//!   document, holds and answers faults);
//! - [`outbox`]: webhook delivery (signed, in order, retried; duplicates,
//!   holding and releasing in reverse);
//! - [`oauth`]: an OAuth2 client-credentials token issuer and the pieces of
//!   simulators of OAuth-protected providers;
//! - [`simulator`]: [`Simulator`], a provider's state served behind those
//!   pieces, which the provider modules extend with their own calls;
//! - [`driven`]: the conformance-kit [`Driver`] of such a simulator, the
//!   provider bringing what differs as a [`Driven`];
//! - here: the HTTP [`Server`], change notification ([`Changes`]), what
//!   route handlers share ([`Answer`], [`Call`]) and small helpers (locks,
//!   ids, times, encodings).

pub mod driven;
pub mod faults;
pub mod gate;
pub mod holds;
pub mod oauth;
pub mod outbox;
pub mod simulator;
#[cfg(test)]
pub(crate) mod testing;

pub use driven::{Driven, Driver};
pub use faults::Faults;
pub use gate::{Gate, RecordedRequest};
pub use holds::Hold;
pub use oauth::Tokens;
pub use outbox::{Delivery, Job, Outbox, Policy, Signer, UrlSigner};
pub use simulator::{Provider, PushesWebhooks, Shared, Simulator};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Locks, ignoring poisoning (a panicking test must not hide the state).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh UUID-shaped id (unique within the process).
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        nanos,
        (n >> 32) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ` for `ms` milliseconds since the epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// HMAC-SHA256 under `secret` of `parts`, one after another.
pub fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    hmac::<Hmac<Sha256>>(secret, parts)
}

/// HMAC-SHA512 under `secret` of `parts`, one after another.
pub fn hmac_sha512(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    hmac::<Hmac<sha2::Sha512>>(secret, parts)
}

/// HMAC-SHA1 under `secret` of `parts`, one after another.
pub fn hmac_sha1(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    hmac::<Hmac<Sha1>>(secret, parts)
}

fn hmac<M: Mac + KeyInit>(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Standard base64, with padding.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What a route handler answers: `Err` is an early answer (a refusal or
/// an error), so the checks of a request can be applied with `?`.
pub type Answer = Result<Response, Response>;

/// A request to a route with one path parameter, taken apart for the
/// handler: the parameter, the URI (for the query), the headers and the
/// body.
pub struct Call {
    pub param: String,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Call, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(param) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Call {
            param,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// One header's value as text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `a=1&b=x%20y` → map (`+` and `%XX` decoded; the last of repeated names wins).
pub fn form(text: &str) -> HashMap<String, String> {
    form_pairs(text).into_iter().collect()
}

/// `a=1&b=x%20y` → the (name, value) pairs in order, repeats kept (`+` and
/// `%XX` decoded).
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) =
                    u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The pairs as an `application/x-www-form-urlencoded` body: unreserved
/// characters as they are, space as `+`, every other byte `%XX`.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A change counter: bumped on every change waiters may care about.
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Changes(watch::Sender::new(0))
    }
}

impl Changes {
    /// Wakes everyone waiting for a change.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Waits until `probe` finds something in `state` (checked now, after
    /// every change and at least every 50 ms) or `timeout` passes.
    pub async fn wait_until<S, T>(
        &self,
        state: &Mutex<S>,
        timeout: Duration,
        mut probe: impl FnMut(&S) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.subscribe();
        loop {
            if let Some(found) = probe(&lock(state)) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(50)), changes.changed()).await;
        }
    }
}

/// A running HTTP server.
pub struct Server {
    addr: SocketAddr,
    stop: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl Server {
    /// Serves `app` on `127.0.0.1:<free port>`.
    pub async fn start(app: Router) -> std::io::Result<Server> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), app).await
    }

    /// Serves `app` on `addr`.
    pub async fn start_on(addr: SocketAddr, app: Router) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator server failed");
            }
        });
        Ok(Server {
            addr,
            stop: Mutex::new(Some((stop, task))),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving; in-flight requests get 2 s.
    pub async fn shutdown(&self) {
        self.shutdown_within(Duration::from_secs(2)).await;
    }

    /// Stops serving; in-flight requests get `grace`, then are dropped.
    /// Idempotent.
    pub async fn shutdown_within(&self, grace: Duration) {
        let stop = lock(&self.stop).take();
        if let Some((stop, mut task)) = stop {
            let _ = stop.send(());
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_601_478_869_834), "2020-09-30T15:14:29.834Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn hmacs_match_rfc2202_and_rfc4231() {
        // RFC 2202 test case 2 and RFC 4231 test case 2 ("Jefe"), the data split.
        let data: [&[u8]; 2] = [b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex::encode(hmac_sha1("Jefe", &data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha256("Jefe", &data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn forms_decode() {
        let f = form("grant_type=client_credentials&client_id=a%20b&x=1+2&&flag");
        assert_eq!(f["grant_type"], "client_credentials");
        assert_eq!(f["client_id"], "a b");
        assert_eq!(f["x"], "1 2");
        assert_eq!(f["flag"], "");
    }

    #[test]
    fn forms_encode_and_round_trip() {
        let pairs = vec![
            ("Body".to_string(), "a b&c=d/é%".to_string()),
            ("Index".to_string(), "3".to_string()),
            ("Index".to_string(), "4".to_string()),
        ];
        let text = form_encode(&pairs);
        assert_eq!(text, "Body=a+b%26c%3Dd%2F%C3%A9%25&Index=3&Index=4");
        assert_eq!(form_pairs(&text), pairs);
    }
}
