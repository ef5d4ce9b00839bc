//! OAuth2-protected providers that push signed webhooks (Genesys,
//! LivePerson): the client-credentials token issuer ([`Tokens`]), what
//! their simulators share (faults on `/api/` paths, requests recorded
//! without bodies, conversations, the agent side and its scripted
//! refusals) and their conformance-kit [`Driven`]. A provider brings what
//! differs as an [`OAuthProvider`] and [`OAuthDriven`].

use super::driven::Driven;
use super::faults;
use super::simulator::{PushesWebhooks, Shared, Simulator};
use super::{
    Gate, Outbox, Policy, RecordedRequest, Signer, form, header_str, json_response, lock, new_id,
};
use crate::driver::{EndpointSetup, oauth_toml};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An OAuth2 client-credentials token endpoint and the check of the
/// bearer tokens it issued (which expire after the TTL).
pub struct Tokens {
    client_id: String,
    client_secret: String,
    ttl: Mutex<Duration>,
    issued: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    pub fn new(client_id: &str, client_secret: &str) -> Tokens {
        Tokens {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            ttl: Mutex::new(Duration::from_secs(3600)),
            issued: Mutex::default(),
        }
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl;
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> usize {
        lock(&self.issued).len()
    }

    /// Answers a token request: `grant_type=client_credentials` in the form
    /// body or query, the client authenticated with HTTP Basic or with
    /// `client_id`/`client_secret` parameters. Wrong credentials get 401.
    pub fn token_response(&self, headers: &HeaderMap, query: &str, body: &[u8]) -> Response {
        let mut params = form(query);
        params.extend(form(&String::from_utf8_lossy(body)));
        if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}),
            );
        }
        let basic = header_str(headers, "authorization")
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            });
        let (id, secret) = basic.unwrap_or_else(|| {
            let get = |k: &str| params.get(k).cloned().unwrap_or_default();
            (get("client_id"), get("client_secret"))
        });
        if id != self.client_id || secret != self.client_secret {
            return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
        }
        let ttl = *lock(&self.ttl);
        let token = format!("tok-{}", new_id());
        lock(&self.issued).insert(token.clone(), Instant::now() + ttl);
        json_response(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs().max(1)}),
        )
    }

    /// Whether `Authorization` carries an issued, unexpired token
    /// (`Bearer <token>`, or the bare token when `bare` is allowed).
    pub fn check(&self, headers: &HeaderMap, bare: bool) -> bool {
        let Some(value) = header_str(headers, "authorization") else {
            return false;
        };
        let token = match value.strip_prefix("Bearer ") {
            Some(t) => t,
            None if bare => value,
            None => return false,
        };
        lock(&self.issued)
            .get(token.trim())
            .is_some_and(|until| Instant::now() < *until)
    }
}

/// One API request as an OAuth provider's simulator lists it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
}

impl From<RecordedRequest> for Recorded {
    fn from(r: RecordedRequest) -> Recorded {
        Recorded {
            authorization: r.header("authorization").is_some(),
            method: r.method,
            path: r.path,
            status: r.status,
        }
    }
}

/// Scripted refusals of the agent side.
#[derive(Debug, Default)]
pub struct Refusals {
    /// Agents never join.
    pub never_assign: bool,
    /// Conversations never end.
    pub never_end: bool,
}

/// The state of an OAuth provider's simulator and what differs between
/// such simulators.
pub trait OAuthProvider: PushesWebhooks + Default {
    /// A conversation as the simulator shows it.
    type Conversation: Clone + Send;
    /// Names the simulator in panics, e.g. `genesys`.
    const NAME: &'static str;
    /// Attempts per webhook, 100 ms apart while they time out or get a 429
    /// or 5xx.
    const WEBHOOK_ATTEMPTS: u32;
    /// The headers that sign a webhook.
    fn signer(cfg: &Self::Config) -> Signer;
    /// The provider's API routes.
    fn routes(shared: Arc<Shared<Self>>) -> Router;
    /// The client id and secret the token endpoint accepts.
    fn client(cfg: &Self::Config) -> (&str, &str);
    /// The token endpoint's path (and query).
    fn token_path(cfg: &Self::Config) -> String;
    fn conversations(&mut self) -> &mut Vec<Self::Conversation>;
    fn conversation_id(c: &Self::Conversation) -> &str;
    /// The conversation the adapter opened for `handover_id`, if any.
    fn handover_conversation(&self, handover_id: &str) -> Option<&Self::Conversation>;
    fn refusals(&mut self) -> &mut Refusals;
    /// An agent called `name` joins `conv` (unless refused).
    fn agent_joins(sim: &Simulator<Self>, conv: &str, name: &str);
    /// The agent sends `text` on `conv`.
    fn agent_says(sim: &Simulator<Self>, conv: &str, text: &str);
    /// The agent ends `conv` (unless refused).
    fn agent_ends(sim: &Simulator<Self>, conv: &str);
}

/// The gate of an OAuth provider's API: no credentials check (the routes
/// check tokens themselves), faults only on `/api/` paths, answered with
/// `{"message": "simulated fault <status>", "status": <status>}`.
pub fn gate() -> Gate {
    Gate::new(|status, message| {
        json_response(
            status,
            json!({"message": message, "status": status.as_u16()}),
        )
    })
    .with_fault_scope("/api/")
    .with_fault_response(|status| {
        faults::response(status, |code| {
            json_response(
                code,
                json!({"message": format!("simulated fault {status}"), "status": status}),
            )
        })
    })
}

impl<P: OAuthProvider> Simulator<P> {
    /// Serves on `127.0.0.1:<free port>`: the provider's routes behind
    /// [`gate`], access tokens for [`OAuthProvider::client`], webhooks
    /// signed by [`OAuthProvider::signer`].
    pub async fn start(cfg: P::Config) -> std::io::Result<Simulator<P>> {
        let policy = Policy {
            max_attempts: P::WEBHOOK_ATTEMPTS,
            first_backoff: Duration::from_millis(100),
            doubling: false,
            transient_only: true,
            ..Policy::default()
        };
        let outbox = Outbox::new(P::signer(&cfg), policy);
        let (id, secret) = P::client(&cfg);
        let tokens = Tokens::new(id, secret);
        let shared = Shared::new(cfg, P::default(), gate())
            .with_outbox(outbox)
            .with_tokens(tokens);
        Simulator::serve(shared, P::routes).await
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), P::token_path(self.config()))
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens().issued()
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.tokens().set_ttl(ttl);
    }

    /// The agent side's joins do nothing (no agent ever picks up).
    pub fn set_never_assign(&self, on: bool) {
        self.shared.lock().refusals().never_assign = on;
    }

    /// The agent side's ends do nothing (the conversation never ends).
    pub fn set_never_end(&self, on: bool) {
        self.shared.lock().refusals().never_end = on;
    }

    pub fn conversation(&self, id: &str) -> Option<P::Conversation> {
        let mut st = self.shared.lock();
        let found = st
            .conversations()
            .iter()
            .find(|c| P::conversation_id(c) == id);
        found.cloned()
    }

    pub fn conversations(&self) -> Vec<P::Conversation> {
        self.shared.lock().conversations().clone()
    }

    /// The conversation the adapter opened for `handover_id`, once it
    /// exists.
    pub async fn wait_for_conversation(
        &self,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<P::Conversation> {
        self.wait_until(timeout, |st| st.handover_conversation(handover_id).cloned())
            .await
    }

    /// An agent called `name` joins (nothing when scripted never to).
    pub fn agent_join(&self, conv: &str, name: &str) {
        if !self.shared.lock().refusals().never_assign {
            P::agent_joins(self, conv, name);
        }
    }

    /// The agent sends a text.
    pub fn agent_message(&self, conv: &str, text: &str) {
        P::agent_says(self, conv, text);
    }

    /// The agent ends the conversation (nothing when scripted never to).
    pub fn end(&self, conv: &str) {
        if !self.shared.lock().refusals().never_end {
            P::agent_ends(self, conv);
        }
    }

    /// Runs `f` on conversation `conv` (panics when there is none), then
    /// wakes the waiters.
    pub(crate) fn with_conv<R>(
        &self,
        conv: &str,
        f: impl FnOnce(&Shared<P>, &mut P::Conversation) -> R,
    ) -> R {
        let r = {
            let mut st = self.shared.lock();
            let Some(c) = st
                .conversations()
                .iter_mut()
                .find(|c| P::conversation_id(c) == conv)
            else {
                panic!("{} sim: no conversation {conv}", P::NAME);
            };
            f(&self.shared, c)
        };
        self.shared.bump();
        r
    }
}

/// What differs in how the conformance kit drives OAuth providers'
/// simulators; the rest of their [`Driven`] is the same: the host gets
/// access tokens from the simulator's token URL (client credentials) for
/// every request to it.
pub trait OAuthDriven: OAuthProvider {
    /// The simulator's name in the kit, e.g. `genesys-open-messaging`.
    const DRIVER: &'static str;
    /// The adapter settings for `sim`.
    fn settings(sim: &Simulator<Self>) -> Value;
    /// The secret webhooks are signed with.
    fn webhook_secret(cfg: &Self::Config) -> &str;
    /// The path of the requests that start a conversation (a prefix when it
    /// ends in `*`).
    fn start_path(cfg: &Self::Config) -> String;
    /// Texts the user sent, in order.
    fn user_messages(c: Self::Conversation) -> Vec<String>;
    /// Whether the bot side closed the conversation (`None`: the provider
    /// has no such notion).
    fn closed_by_bot(c: &Self::Conversation) -> Option<bool>;
}

impl<P: OAuthDriven> Driven for P
where
    P::Config: Default,
{
    const DRIVER: &'static str = <P as OAuthDriven>::DRIVER;

    /// A simulator with the default configuration.
    async fn start() -> anyhow::Result<Simulator<P>> {
        Ok(Simulator::<P>::start(P::Config::default()).await?)
    }

    fn endpoint_setup(sim: &Simulator<P>) -> EndpointSetup {
        let base = sim.base_url();
        let cfg = sim.config();
        let (id, secret) = P::client(cfg);
        EndpointSetup {
            settings: P::settings(sim),
            egress: vec![base.clone()],
            webhook_secret: Some(P::webhook_secret(cfg).to_string()),
            extra_toml: oauth_toml(&base, &sim.token_url(), id, secret),
        }
    }

    async fn wait_for_conversation(
        sim: &Simulator<P>,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let c = sim.wait_for_conversation(handover_id, timeout).await?;
        Some(P::conversation_id(&c).to_string())
    }

    fn agent_join(sim: &Simulator<P>, conv: &str, name: &str) {
        sim.agent_join(conv, name);
    }

    fn agent_message(sim: &Simulator<P>, conv: &str, text: &str) {
        sim.agent_message(conv, text);
    }

    fn end(sim: &Simulator<P>, conv: &str) {
        sim.end(conv);
    }

    fn user_messages(sim: &Simulator<P>, conv: &str) -> Vec<String> {
        let c = sim.conversation(conv);
        c.map(<P as OAuthDriven>::user_messages).unwrap_or_default()
    }

    fn closed_by_bot(sim: &Simulator<P>, conv: &str) -> Option<bool> {
        <P as OAuthDriven>::closed_by_bot(&sim.conversation(conv)?)
    }

    fn start_request(cfg: &P::Config) -> (Option<&'static str>, String) {
        (None, P::start_path(cfg))
    }
}
