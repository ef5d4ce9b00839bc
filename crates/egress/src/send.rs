//! The connection half of egress: resolve, re-check, connect to the checked
//! address, TLS by host name, HTTP/1.1, response body capped.
//!
//! Never resolves a name twice, so a DNS answer cannot change between the
//! check and the connect.

use super::{Denial, EgressConfig, EgressPolicy, Reach, SharedIncidents};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, WasiBody};

/// An admitted destination: where to connect and how.
pub struct Target {
    addr: SocketAddr,
    host: String,
    tls: bool,
}

pub async fn admit(cfg: &EgressConfig, uri: &http::Uri) -> Result<Target, Denial> {
    let url = uri.to_string();
    let deny = |why: &str| Denial {
        url: url.clone(),
        why: why.to_string(),
    };
    let scheme = uri.scheme_str().ok_or_else(|| deny("URL has no scheme"))?;
    let host = uri.host().ok_or_else(|| deny("URL has no host"))?;
    let entry = cfg.policy.admit(&url, scheme, host, uri.port_u16())?;
    let tls = scheme.eq_ignore_ascii_case("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let bare = host.trim_matches(['[', ']']);
    let ips = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => cfg
            .resolver
            .resolve(bare, port)
            .await
            .map_err(|e| deny(&format!("DNS resolution of `{bare}` failed: {e}")))?,
    };
    if ips.is_empty() {
        return Err(deny(&format!("`{bare}` resolved to no address")));
    }
    // Every answer must pass: a mixed answer is how rebinding attacks start.
    for ip in &ips {
        EgressPolicy::check_ip(entry, &url, *ip)?;
    }
    Ok(Target {
        addr: SocketAddr::new(ips[0], port),
        host: bare.to_string(),
        tls,
    })
}

/// Read and discard a denied request's body so the guest sees the denial.
pub async fn drain(body: WasiBody) {
    let mut body = body;
    let mut budget: usize = 16 << 20;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(d) = frame.data_ref() {
            budget = budget.saturating_sub(d.len());
            if budget == 0 {
                break;
            }
        }
    }
}

type Io = Box<dyn Future<Output = Result<(), Error>> + Send>;

pub async fn send(
    mut req: http::Request<WasiBody>,
    target: Target,
    cfg: &EgressConfig,
    incidents: SharedIncidents,
    reach: Option<Arc<Reach>>,
) -> Result<(http::Response<WasiBody>, Io), Error> {
    // Up to the handshake nothing of the request was written: a failure
    // there did not reach the provider (see `reach`).
    let undelivered = |e: Error| {
        if let Some(r) = &reach {
            r.undelivered();
        }
        e
    };
    let url = req.uri().to_string();
    let timeout = cfg.timeout;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
        Ok(s) => s.map_err(Error::Connect).map_err(undelivered)?,
        Err(_) => return Err(undelivered(Error::ConnectionTimeout)),
    };
    let io: Box<dyn IoStream> = if target.tls {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| undelivered(Error::HttpRequestUriInvalid))?;
        let tls = tokio::time::timeout(timeout, connector.connect(name, stream))
            .await
            .map_err(|_| undelivered(Error::ConnectionTimeout))?
            .map_err(Error::Tls)
            .map_err(undelivered)?;
        Box::new(tls)
    } else {
        Box::new(stream)
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(Error::from)
            .map_err(undelivered)?;
    // The connection task ends when the response is read or the timeout hits.
    let conn_task = tokio::spawn(async move {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(300), conn).await;
    });
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
        )
        .build()
        .map_err(|_| undelivered(Error::HttpRequestUriInvalid))?;
    let res = match tokio::time::timeout(timeout, sender.send_request(req)).await {
        Ok(r) => r.map_err(Error::from)?,
        Err(_) => {
            conn_task.abort();
            return Err(Error::ConnectionReadTimeout);
        }
    };
    let cap = cfg.max_response_bytes;
    let res = res.map(|incoming| {
        CappedBody {
            inner: incoming,
            left: cap,
            cap,
            url,
            incidents,
        }
        .boxed_unsync()
    });
    Ok((res, Box::new(async { Ok(()) })))
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

/// A response body that fails once more than `cap` bytes arrive.
struct CappedBody {
    inner: hyper::body::Incoming,
    left: usize,
    cap: usize,
    url: String,
    incidents: SharedIncidents,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    if d.len() > self.left {
                        let cap = self.cap as u64;
                        let why = format!("response body exceeds the cap of {cap} bytes");
                        let denial = Denial {
                            url: self.url.clone(),
                            why,
                        };
                        if self.incidents.lock().unwrap().record(denial) {
                            tracing::warn!(cap, url = %self.url, "egress response body over the cap");
                        }
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(cap)))));
                    }
                    self.left -= d.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
