//! Outgoing HTTP for adapters: the only way out of the sandbox.
//!
//! Implements `WasiHttpHooks::send_request`. Every request is checked by the
//! endpoint's [`EgressPolicy`] before any DNS query, the resolved addresses are
//! checked again, and the connection goes to the checked address itself (no
//! second resolution). Denials drain the request body first (so the guest
//! sees the denial, not a reset), are logged with tenant, endpoint, adapter
//! and URL, and are recorded so the call fails with reason `error`.
//! This module must never connect anywhere the policy has not admitted.

pub mod credentials;
pub use handover_core::egress_policy as policy;

pub use credentials::Credentials;
mod reach;
mod send;
pub mod tape;
pub use reach::Reach;
pub use tape::{Exchange, Tape};

pub use policy::{AllowEntry, AllowEntryError, Denial, EgressPolicy};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// Names attached to every log line and denial of a call.
#[derive(Debug, Clone, Default)]
pub struct CallLabels {
    pub tenant: String,
    pub endpoint: String,
    pub adapter: String,
}

/// Host-name resolution with operator-pinned overrides (like curl `--resolve`).
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    overrides: HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    pub fn with_overrides(overrides: HashMap<String, Vec<IpAddr>>) -> Self {
        Resolver {
            overrides: overrides
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        }
    }

    pub async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        if let Some(ips) = self.overrides.get(&host.to_ascii_lowercase()) {
            return Ok(ips.clone());
        }
        let addrs = tokio::net::lookup_host((host, port)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// What the hooks need per call.
#[derive(Clone)]
pub struct EgressConfig {
    pub policy: Arc<EgressPolicy>,
    pub resolver: Arc<Resolver>,
    pub labels: Arc<CallLabels>,
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub max_requests: u32,
    /// Credentials the host adds for matching targets (adapters never see them).
    pub credentials: Option<Arc<Credentials>>,
}

/// POST a JSON body through the same policy and connection code adapters
/// use (for bot callbacks). Returns the HTTP status.
pub async fn post_json(
    cfg: &EgressConfig,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<u16, String> {
    use http_body_util::BodyExt;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL `{url}`: {e}"))?;
    let target = send::admit(cfg, &uri).await.map_err(|d| d.to_string())?;
    let mut b = http::Request::post(uri.clone()).header("content-type", "application/json");
    if let Some(h) = uri.authority() {
        b = b.header("host", h.as_str());
    }
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let req = b.body(body).map_err(|e| e.to_string())?;
    // One deadline for the whole exchange, the response body included: a
    // receiver dripping its answer a byte at a time holds the delivery
    // (and its tenant's delivery slot) no longer than `cfg.timeout`.
    let exchange = async {
        let (res, _io) = send::send(req, target, cfg, Arc::default(), None)
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        // Drain (bounded by the response cap) so the connection closes cleanly.
        let _ = res.into_body().collect().await;
        Ok(status)
    };
    tokio::time::timeout(cfg.timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no complete answer within {} ms",
                cfg.timeout.as_millis()
            ))
        })
}

/// Denials logged in full per call; the rest are counted and summarized in
/// one line when the call ends.
pub const LOGGED_DENIALS: u64 = 8;

/// What the policy refused during one call: the first refusal (what the
/// call fails with) and how many there were. Constant size whatever the
/// guest does (before: every denial was kept in a list and logged, 20,001
/// lines and 380 MB for one call).
#[derive(Debug, Default)]
pub(crate) struct Incidents {
    first: Option<Denial>,
    count: u64,
}

impl Incidents {
    /// Records a refusal; `true` while it is among the first
    /// [`LOGGED_DENIALS`] of the call (the caller logs it in full).
    pub(crate) fn record(&mut self, denial: Denial) -> bool {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(denial);
        }
        self.count <= LOGGED_DENIALS
    }
}

pub(crate) type SharedIncidents = Arc<Mutex<Incidents>>;

/// Per-call hooks; the incidents are shared with the send futures, and read
/// by the call (`first_denial`) so it can fail.
pub struct EgressHooks {
    cfg: EgressConfig,
    sent: u32,
    incidents: SharedIncidents,
}

impl EgressHooks {
    pub fn new(cfg: EgressConfig) -> Self {
        EgressHooks {
            cfg,
            sent: 0,
            incidents: Arc::default(),
        }
    }

    /// The first request of the current call the policy denied, if any.
    pub fn first_denial(&self) -> Option<Denial> {
        self.incidents.lock().unwrap().first.clone()
    }

    /// Start the next call of a session: its own request budget, no
    /// denials (a call that was denied ends its session anyway). Logs the
    /// denials of the call that ended beyond those logged in full.
    pub fn reset(&mut self) {
        self.summarize();
        self.sent = 0;
        *self.incidents.lock().unwrap() = Incidents::default();
    }

    fn summarize(&self) {
        let count = self.incidents.lock().unwrap().count;
        if count > LOGGED_DENIALS {
            tracing::warn!(
                tenant = %self.cfg.labels.tenant,
                endpoint = %self.cfg.labels.endpoint,
                adapter = %self.cfg.labels.adapter,
                denied = count,
                not_logged = count - LOGGED_DENIALS,
                "egress denied: more requests in the same call (first {LOGGED_DENIALS} logged)"
            );
        }
    }
}

impl Drop for EgressHooks {
    fn drop(&mut self) {
        self.summarize();
    }
}

pub(crate) type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;
type SendFuture = Box<dyn Future<Output = SendResult> + Send>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> SendFuture {
        self.sent += 1;
        let reach = Reach::started();
        let tape = Tape::current();
        let over_budget = self.sent > self.cfg.max_requests;
        let cfg = self.cfg.clone();
        let incidents = self.incidents.clone();
        Box::new(async move {
            match tape {
                Some(t) if t.is_replaying() => tape::replay(&t, request).await,
                Some(t) => {
                    tape::record(&t, request, async |r| {
                        checked(r, cfg, incidents, reach, over_budget).await
                    })
                    .await
                }
                None => checked(request, cfg, incidents, reach, over_budget).await,
            }
        })
    }
}

/// Send `request` if the policy admits it (credentials added after), or
/// refuse it, counted and logged.
async fn checked(
    mut request: http::Request<WasiBody>,
    cfg: EgressConfig,
    incidents: SharedIncidents,
    reach: Option<Arc<Reach>>,
    over_budget: bool,
) -> SendResult {
    let url = request.uri().to_string();
    let verdict = if over_budget {
        Err(Denial {
            url: url.clone(),
            why: format!(
                "more than {} outgoing requests in one call",
                cfg.max_requests
            ),
        })
    } else {
        match send::admit(&cfg, request.uri()).await {
            Ok(target) => match &cfg.credentials {
                // Credentials are added only after the policy admitted
                // the request, and only for a rule's own target.
                Some(creds) => match creds.header_for(request.uri(), &cfg).await {
                    Ok(Some((name, value))) => {
                        request.headers_mut().insert(name, value);
                        Ok(target)
                    }
                    Ok(None) => Ok(target),
                    Err(why) => Err(Denial {
                        url: url.clone(),
                        why: format!("credentials unavailable: {why}"),
                    }),
                },
                None => Ok(target),
            },
            Err(d) => Err(d),
        }
    };
    match verdict {
        Ok(target) => send::send(request, target, &cfg, incidents, reach).await,
        Err(denial) => {
            send::drain(request.into_body()).await;
            handover_metrics::EGRESS_DENIED.inc();
            let (url, why) = (denial.url.clone(), denial.why.clone());
            if incidents.lock().unwrap().record(denial) {
                tracing::warn!(
                    tenant = %cfg.labels.tenant,
                    endpoint = %cfg.labels.endpoint,
                    adapter = %cfg.labels.adapter,
                    %url,
                    %why,
                    "egress denied"
                );
            }
            Err(wasmtime_wasi_http::Error::HttpRequestDenied)
        }
    }
}
