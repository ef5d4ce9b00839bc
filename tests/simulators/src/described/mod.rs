//! A simulator of a provider the kit has never seen, built from the
//! integrator's provider description (`--provider provider.toml`; format
//! in docs/conformance.md): it serves the described API routes, records
//! what the adapter sent, validates every body (the routes' required
//! pointers and, if given, the provider's OpenAPI document), and plays the
//! agent by pushing the described webhook bodies, signed as described.
//!
//! Every request that breaks the description is recorded as a violation,
//! which fails the scenario it happened in; the simulator never answers
//! a broken request as if it were right.

pub mod description;
pub mod template;
#[cfg(test)]
mod tests;

pub use description::Description;

use crate::driver::{EndpointSetup, ProviderDriver, header_auth_toml};
use crate::kit::{self, Gate, Job, Outbox, Policy, Provider, PushesWebhooks, Simulator};
use crate::openapi::{Spec, Violation};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use description::{Algorithm, Encoding, Role, Signed, Source, json};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use template::Var;

/// A conversation the adapter opened.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub handover_id: String,
    /// The user's texts, in arrival order.
    pub texts: Vec<String>,
    /// Whether the bot side closed it.
    pub closed: bool,
    /// Agent actions so far (the `{{seq}}` of the next is this + 1).
    pub seq: u64,
}

/// The simulator's state.
#[derive(Default)]
pub struct Data {
    pub convs: Vec<Conversation>,
}

impl Data {
    fn conv(&mut self, id: &str) -> Option<&mut Conversation> {
        self.convs.iter_mut().find(|c| c.id == id)
    }
}

impl Provider for Data {
    type Config = Arc<Description>;
    type Request = kit::RecordedRequest;
}

impl PushesWebhooks for Data {}

/// A running simulator of a described provider.
pub type DescribedSim = Simulator<Data>;

fn error(status: StatusCode, message: &str) -> Response {
    kit::json_response(status, json!({ "error": message }))
}

impl Simulator<Data> {
    /// Serves the described provider on `127.0.0.1:<free port>`. Fails
    /// when its OpenAPI document cannot be read.
    pub async fn start(desc: Arc<Description>) -> anyhow::Result<DescribedSim> {
        let mut gate = Gate::new(error);
        if let Some(auth) = &desc.endpoint.auth {
            gate = gate.with_credential(auth.header.to_ascii_lowercase(), auth.value.clone());
        }
        if let Some(spec) = &desc.spec {
            let invalid = StatusCode::from_u16(desc.invalid_status)?;
            gate = gate.with_spec(Spec::load_path(spec)?, invalid);
        }
        let policy = Policy {
            max_attempts: desc.webhooks.attempts,
            transient_only: true,
            no_proxy: true,
            ..Policy::default()
        };
        let outbox = Outbox::new(signer(&desc.webhooks), policy);
        let shared = kit::Shared::new(desc, Data::default(), gate).with_outbox(outbox);
        Ok(Simulator::serve(shared, router).await?)
    }

    /// The agent acts on `conv`: the described webhook `body`, rendered
    /// with the conversation's variables and `text`, goes out.
    fn agent_act(&self, conv: &str, body: &toml::Value, agent: &str, text: &str) {
        let mut data = self.shared.lock();
        let Some(c) = data.conv(conv) else {
            tracing::warn!("described provider: no conversation {conv} to act on");
            return;
        };
        c.seq += 1;
        let (seq, handover, event_id) = (c.seq, c.handover_id.clone(), kit::new_id());
        let base = self.base_url();
        let now = kit::unix_ms();
        let vars = |v: Var| -> Option<String> {
            Some(match v {
                Var::BaseUrl => base.clone(),
                Var::Conversation => conv.to_string(),
                Var::HandoverId => handover.clone(),
                Var::EventId | Var::Id => event_id.clone(),
                Var::Agent => agent.to_string(),
                Var::Text => text.to_string(),
                Var::Seq => seq.to_string(),
                Var::NowMs => now.to_string(),
                Var::Now => kit::iso8601(now),
            })
        };
        let body = template::render(&json(body), &vars);
        self.outbox()
            .send(Job::new(event_id.clone(), "agent", conv, &body));
    }
}

/// The headers the provider adds to each delivery.
///
/// Each signing gets a timestamp of its own (one second after the last
/// when the clock has not moved on), as a provider's redelivery is signed
/// anew: so a duplicate is a new signed request, which the host's replay
/// check does not drop, and the adapter's own deduplication is what the
/// duplicate scenario tests.
fn signer(w: &description::Webhooks) -> kit::Signer {
    let w = w.clone();
    let last = std::sync::atomic::AtomicU64::new(0);
    Arc::new(move |job: &Job| {
        let now = kit::unix_secs();
        let prev = last.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
        let ts = if prev >= now {
            last.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
        } else {
            now
        };
        let ts = ts.to_string();
        let signed: Vec<&[u8]> = match &w.signed {
            Signed::Body => vec![&job.body],
            Signed::TimestampThenBody(sep) => vec![ts.as_bytes(), sep.as_bytes(), &job.body],
        };
        let mac = match w.algorithm {
            Algorithm::HmacSha256 => kit::hmac_sha256(&w.secret, &signed),
            Algorithm::HmacSha1 => kit::hmac_sha1(&w.secret, &signed),
            Algorithm::HmacSha512 => kit::hmac_sha512(&w.secret, &signed),
            Algorithm::SharedSecret => w.secret.as_bytes().to_vec(),
        };
        let encoded = match (w.algorithm, w.encoding) {
            (Algorithm::SharedSecret, _) => w.secret.clone(),
            (_, Encoding::Hex) => hex::encode(mac),
            (_, Encoding::Base64) => kit::base64(&mac),
        };
        let mut headers = vec![(w.signature_header.clone(), format!("{}{encoded}", w.prefix))];
        if let Some(h) = &w.timestamp_header {
            headers.push((h.clone(), ts.clone()));
        }
        if let Some(h) = &w.delivery_id_header {
            headers.push((h.clone(), job.id.clone()));
        }
        headers
    })
}

type Shared = kit::Shared<Data>;

/// One axum route per described path, each method to [`answer`].
fn router(shared: Arc<Shared>) -> Router {
    let mut paths: BTreeMap<String, MethodRouter<Arc<Shared>>> = BTreeMap::new();
    for (i, route) in shared.cfg.routes.iter().enumerate() {
        let method: Method = route.method.parse().expect("checked when read");
        let filter = MethodFilter::try_from(method).expect("checked when read");
        let handler = move |State(s): State<Arc<Shared>>, req: Request| answer(s, i, req);
        let entry = paths.remove(&route.path).unwrap_or_default();
        paths.insert(route.path.clone(), entry.on(filter, handler));
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, (path, m)| r.route(&path, m))
        .with_state(shared)
}

/// The path parameters of `path` under `template`.
fn params(template: &str, path: &str) -> BTreeMap<String, String> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, p)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_string(), p.to_string()))
        })
        .collect()
}

/// Answers route `i`: checks the body has what the description requires,
/// acts on the conversation, answers the described status and body.
async fn answer(shared: Arc<Shared>, i: usize, req: Request) -> Response {
    let route = &shared.cfg.routes[i];
    let path = req.uri().path().to_string();
    let what = format!("{} {path}", route.method);
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let doc: Option<Value> = serde_json::from_slice(&body).ok();
    let params = params(&route.path, &path);
    let get = |src: &Source| -> Option<String> {
        match src {
            Source::Param(p) => params.get(p).cloned(),
            Source::Pointer(p) => doc.as_ref()?.pointer(p).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
        }
    };
    let mut missing: Vec<String> = route.require.clone();
    missing.extend(route.handover_id.clone());
    missing.extend(route.text.clone());
    if let Some(Source::Pointer(p)) = route.conversation_source() {
        missing.push(p);
    }
    missing.retain(|p| doc.as_ref().and_then(|d| d.pointer(p)).is_none());
    if !missing.is_empty() {
        let errors: Vec<String> = missing
            .iter()
            .map(|p| format!("the body has nothing at `{p}`, which the description requires"))
            .collect();
        let message = errors.join("; ");
        shared.gate.record_violation(Violation {
            what,
            schema: format!(
                "provider description, route {} {}",
                route.method, route.path
            ),
            errors,
            body: String::from_utf8_lossy(&body).chars().take(2000).collect(),
        });
        return error(StatusCode::BAD_REQUEST, &message);
    }
    let conversation = match route.role {
        Role::Start => {
            let id = kit::new_id();
            let handover = get(&Source::Pointer(
                route.handover_id.clone().unwrap_or_default(),
            ));
            shared.lock().convs.push(Conversation {
                id: id.clone(),
                handover_id: handover.unwrap_or_default(),
                texts: Vec::new(),
                closed: false,
                seq: 0,
            });
            Some(id)
        }
        _ => route.conversation_source().and_then(|s| get(&s)),
    };
    if route.role != Role::Start
        && let Some(conv) = &conversation
    {
        let mut data = shared.lock();
        let Some(c) = data.conv(conv) else {
            return error(StatusCode::NOT_FOUND, &format!("no conversation `{conv}`"));
        };
        match route.role {
            Role::Message => {
                let text = route
                    .text
                    .as_ref()
                    .map(|p| get(&Source::Pointer(p.clone())));
                c.texts.push(text.flatten().unwrap_or_default());
            }
            Role::Close => c.closed = true,
            _ => {}
        }
    }
    let Some(template) = &route.response else {
        return StatusCode::from_u16(route.status)
            .unwrap_or(StatusCode::OK)
            .into_response();
    };
    let handover = conversation.as_ref().and_then(|c| {
        let data = shared.lock();
        data.convs
            .iter()
            .find(|x| &x.id == c)
            .map(|x| x.handover_id.clone())
    });
    let now = kit::unix_ms();
    let fresh = kit::new_id();
    let vars = |v: Var| -> Option<String> {
        match v {
            Var::Conversation => conversation.clone(),
            Var::HandoverId => handover.clone(),
            Var::Id => Some(fresh.clone()),
            Var::NowMs => Some(now.to_string()),
            Var::Now => Some(kit::iso8601(now)),
            _ => None,
        }
    };
    let status = StatusCode::from_u16(route.status).unwrap_or(StatusCode::OK);
    kit::json_response(status, template::render(&json(template), &vars))
}

/// The conformance-kit driver of a described provider.
pub struct DescribedDriver {
    pub sim: DescribedSim,
}

impl DescribedDriver {
    pub async fn start(desc: Arc<Description>) -> anyhow::Result<DescribedDriver> {
        Ok(DescribedDriver {
            sim: Simulator::<Data>::start(desc).await?,
        })
    }

    fn desc(&self) -> &Description {
        self.sim.config()
    }
}

#[async_trait]
impl ProviderDriver for DescribedDriver {
    fn name(&self) -> &str {
        &self.desc().name
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let base = self.sim.base_url();
        let vars = |v: Var| (v == Var::BaseUrl).then(|| base.clone());
        let d = self.desc();
        EndpointSetup {
            settings: template::render(&description::settings_json(d), &vars),
            egress: vec![base.clone()],
            webhook_secret: Some(d.webhooks.secret.clone()),
            extra_toml: d.endpoint.auth.as_ref().map_or_else(String::new, |a| {
                header_auth_toml(&base, "provider_credential", &a.value, &a.header, "")
            }),
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        self.sim
            .wait_until(timeout, |d| {
                d.convs
                    .iter()
                    .find(|c| c.handover_id == handover_id)
                    .map(|c| c.id.clone())
            })
            .await
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        let body = self.desc().agent.join.body.clone();
        self.sim.agent_act(conv, &body, name, "");
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        let body = self.desc().agent.message.body.clone();
        self.sim.agent_act(conv, &body, "Agent", text);
    }

    async fn end(&self, conv: &str) {
        let body = self.desc().agent.end.body.clone();
        self.sim.agent_act(conv, &body, "Agent", "");
    }

    async fn user_messages(&self, conv: &str) -> Vec<String> {
        let mut data = self.sim.shared.lock();
        data.conv(conv).map(|c| c.texts.clone()).unwrap_or_default()
    }

    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        if !self.desc().has_close() {
            return None;
        }
        let mut data = self.sim.shared.lock();
        data.conv(conv).map(|c| c.closed)
    }

    fn fail_next_start(&self, status: u16) {
        let start = self.desc().start();
        let path = match start.path.find('{') {
            Some(i) => format!("{}*", &start.path[..i]),
            None => start.path.clone(),
        };
        self.sim.fail_next(Some(&start.method), &path, status, 1);
    }

    async fn shutdown(&self) {
        self.sim.shutdown().await;
    }

    fn outbox(&self) -> Option<&Outbox> {
        Some(self.sim.outbox())
    }

    fn take_violations(&self) -> Vec<String> {
        let violations = self.sim.take_violations();
        violations.iter().map(ToString::to_string).collect()
    }
}
