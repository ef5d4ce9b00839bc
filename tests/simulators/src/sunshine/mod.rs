//! Simulator of Zendesk Sunshine Conversations (v2 API) with a switchboard
//! of two integrations: the bot (`bot`, type `custom`) and the agent
//! workspace (`zd-agentWorkspace`, type `zd:agentWorkspace`).
//!
//! - Every request needs HTTP Basic auth with the app key id and secret
//!   (401 otherwise).
//! - Every JSON request body is validated against
//!   `shared/specs/sunshine/openapi.yaml` (400 and a recorded violation),
//!   and so is every webhook body it sends (against the `x-webhooks`
//!   "Webhook Event" schema; a violation is recorded).
//! - Webhooks carry the shared secret in `X-API-Key`, like Sunshine's
//!   integration webhooks.
//!
//! Any conversation id the API is called with is taken as the user's
//! existing conversation, the bot in control (unless
//! `known_conversations_only`); the agent side is played through
//! [`SunshineSim`]'s methods.

mod api;
mod driver;
mod state;

pub use driver::SunshineDriver;

use crate::chatwoot::kit::{self, Delivery, Gate, Outbox, RecordedRequest, lock};
use crate::chatwoot::openapi::{Spec, Violation};
use crate::driver::ProviderDriver;
use serde_json::{Value, json};
use state::{AGENT, BOT, Data};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the webhook body schema lives in the spec.
const WEBHOOK_SCHEMA: &str =
    "/x-webhooks/Webhook Event/post/requestBody/content/application~1json/schema";

/// How to start a [`SunshineSim`].
#[derive(Debug, Clone)]
pub struct SunshineConfig {
    pub app_id: String,
    pub key_id: String,
    pub key_secret: String,
    /// Sent as `X-API-Key` with every webhook.
    pub webhook_secret: String,
    pub webhook_url: Option<String>,
    /// Answer 404 for conversations not created with
    /// [`SunshineSim::create_conversation`] (default: any id is taken as the
    /// user's existing conversation).
    pub known_conversations_only: bool,
}

impl Default for SunshineConfig {
    fn default() -> Self {
        SunshineConfig {
            app_id: "5ebee0975ac5304b664a12fa".into(),
            key_id: "app_5ebee0975ac5304b664a12fb".into(),
            key_secret: "sunshine-sim-key-secret".into(),
            webhook_secret: "sunshine-sim-webhook-secret".into(),
            webhook_url: None,
            known_conversations_only: false,
        }
    }
}

/// Standard base64 (with padding), for the Basic credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) struct Shared {
    pub data: Mutex<Data>,
    pub outbox: Outbox,
    pub gate: Arc<Gate>,
}

impl Shared {
    /// Builds, validates and queues a webhook with one event. The body is
    /// checked against the "Webhook Event" schema, and the event against
    /// the schema titled with its type (the body schema only says `anyOf`
    /// all event schemas, which a wrong event easily satisfies).
    pub fn emit(&self, data: &mut Data, kind: &str, conv: &str, payload: Value) {
        let (id, body) = data.webhook(kind, payload);
        let spec = &self.gate.spec;
        let what = format!("webhook {kind}");
        let mut violations: Vec<Violation> = spec
            .check_value(&what, WEBHOOK_SCHEMA, &body)
            .into_iter()
            .collect();
        match spec.schema_titled(kind) {
            Some(pointer) => {
                violations.extend(spec.check_value(&what, &pointer, &body["events"][0]))
            }
            None => violations.push(Violation {
                what: what.clone(),
                schema: "sunshine/openapi.yaml".into(),
                errors: vec![format!("the spec has no event schema titled {kind:?}")],
                body: body.to_string(),
            }),
        }
        for v in violations {
            self.gate.record_violation(v);
        }
        state::send(&self.outbox, id, kind, conv, &body);
    }
}

type Server = (oneshot::Sender<()>, JoinHandle<()>);

/// A running Sunshine Conversations simulator. Cheap to clone.
#[derive(Clone)]
pub struct SunshineSim {
    shared: Arc<Shared>,
    config: SunshineConfig,
    addr: SocketAddr,
    server: Arc<Mutex<Option<Server>>>,
}

impl SunshineSim {
    /// Serves on `127.0.0.1:<free port>`. Fails when the spec cannot be loaded.
    pub async fn start(config: SunshineConfig) -> anyhow::Result<SunshineSim> {
        let spec = Spec::load("sunshine/openapi.yaml")?;
        let expected = format!(
            "Basic {}",
            base64(format!("{}:{}", config.key_id, config.key_secret).as_bytes())
        );
        let gate = Arc::new(Gate::new(
            spec,
            Box::new(move |headers| {
                headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == expected.as_bytes())
            }),
            api::error,
            axum::http::StatusCode::BAD_REQUEST,
        ));
        let secret = config.webhook_secret.clone();
        let outbox = Outbox::new(Arc::new(move |_job: &kit::Job| {
            vec![("x-api-key".to_string(), secret.clone())]
        }));
        outbox.set_url(config.webhook_url.clone());
        let mut data = Data::new(&config.app_id);
        data.known_only = config.known_conversations_only;
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            outbox,
            gate: gate.clone(),
        });
        let app = api::router(shared.clone())
            .layer(axum::middleware::from_fn_with_state(gate, kit::gate));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "sunshine simulator failed");
            }
        });
        Ok(SunshineSim {
            shared,
            config,
            addr,
            server: Arc::new(Mutex::new(Some((stop, task)))),
        })
    }

    /// `http://127.0.0.1:<port>` (the `/v2/...` paths hang off it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &SunshineConfig {
        &self.config
    }

    /// `(bot, agent workspace)` switchboard integration names.
    pub fn integration_names(&self) -> (String, String) {
        let data = lock(&self.shared.data);
        (
            data.integrations[BOT].name.clone(),
            data.integrations[AGENT].name.clone(),
        )
    }

    pub fn set_webhook_url(&self, url: Option<String>) {
        self.shared.outbox.set_url(url);
    }

    pub async fn shutdown(&self) {
        let server = lock(&self.server).take();
        if let Some((stop, mut task)) = server {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        self.shared.outbox.shutdown();
    }

    /// Creates the user's conversation `id` (bot in control).
    pub fn create_conversation(&self, id: &str) {
        let mut data = lock(&self.shared.data);
        if data.conversation(id).is_none() {
            data.conversations.push(state::Conversation::new(id));
        }
    }

    // ---- the agent side ----

    /// The agent workspace accepts control for agent `name`
    /// (`switchboard:acceptControl`, `metadata.agentName`).
    pub fn accept(&self, conv: &str, name: &str) {
        let mut data = lock(&self.shared.data);
        let c = data
            .conversation_mut(conv)
            .expect("unknown sunshine conversation");
        c.active = Some(AGENT);
        c.agent_name = Some(name.into());
        let payload =
            json!({"conversation": data.conversation_json(conv), "metadata": {"agentName": name}});
        self.shared
            .emit(&mut data, "switchboard:acceptControl", conv, payload);
    }

    /// A business message from the agent (`conversation:message`).
    pub fn agent_message(&self, conv: &str, text: &str) -> String {
        self.agent_post(conv, json!({"type": "text", "text": text}))
    }

    /// An image from the agent.
    pub fn agent_image(&self, conv: &str, url: &str, text: &str) -> String {
        self.agent_post(
            conv,
            json!({"type": "image", "mediaUrl": url, "mediaType": "image/png", "text": text}),
        )
    }

    fn agent_post(&self, conv: &str, content: Value) -> String {
        let mut data = lock(&self.shared.data);
        let name = data
            .conversation(conv)
            .expect("unknown sunshine conversation")
            .agent_name
            .clone()
            .unwrap_or_else(|| "Agent".into());
        let author = json!({"type": "business", "subtypes": ["agent"], "displayName": name,
                            "avatarUrl": "https://example.com/agent.png"});
        let message = data.push_message(conv, author, content, None, "zd:agentWorkspace");
        let payload =
            json!({"conversation": data.conversation_json(conv), "message": message.json()});
        self.shared
            .emit(&mut data, "conversation:message", conv, payload);
        message.id
    }

    /// `conversation:typing` (`typing:start` / `typing:stop`) from the agent.
    pub fn typing(&self, conv: &str, on: bool) {
        let mut data = lock(&self.shared.data);
        let activity = json!({"type": if on { "typing:start" } else { "typing:stop" },
                              "author": {"type": "business"}, "source": {"type": "zd:agentWorkspace"}});
        let payload = json!({"conversation": data.conversation_json(conv), "activity": activity});
        self.shared
            .emit(&mut data, "conversation:typing", conv, payload);
    }

    /// The agent closes the ticket: a `ticket:closed` activity message, then
    /// `switchboard:releaseControl` with reason `ticketClosed`.
    pub fn close_ticket(&self, conv: &str) {
        let mut data = lock(&self.shared.data);
        let author = json!({"type": "business", "subtypes": ["activity"]});
        let mut message = data.push_message(
            conv,
            author,
            json!({"type": "text", "text": "Ticket closed"}),
            None,
            "zd:agentWorkspace",
        );
        message.activity = Some(json!({"type": "ticket:closed", "data": {}}));
        if let Some(m) = data.messages.last_mut() {
            m.activity = message.activity.clone();
        }
        let payload =
            json!({"conversation": data.conversation_json(conv), "message": message.json()});
        self.shared
            .emit(&mut data, "conversation:message", conv, payload);
        data.conversation_mut(conv)
            .expect("unknown sunshine conversation")
            .active = None;
        let payload =
            json!({"conversation": data.conversation_json(conv), "reason": "ticketClosed"});
        self.shared
            .emit(&mut data, "switchboard:releaseControl", conv, payload);
    }

    /// The agent side passes control back to the bot (`switchboard:passControl`).
    pub fn pass_back(&self, conv: &str) {
        let mut data = lock(&self.shared.data);
        data.conversation_mut(conv)
            .expect("unknown sunshine conversation")
            .active = Some(BOT);
        let payload = json!({"conversation": data.conversation_json(conv)});
        self.shared
            .emit(&mut data, "switchboard:passControl", conv, payload);
    }

    // ---- inspection ----

    /// The conversation handed over for `handover_id` (its passControl
    /// `metadata.handover_id`).
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<String> {
        lock(&self.shared.data)
            .conversations
            .iter()
            .find(|c| {
                c.handover_metadata
                    .as_ref()
                    .is_some_and(|m| m["handover_id"] == handover_id)
            })
            .map(|c| c.id.clone())
    }

    pub async fn wait_for_conversation(
        &self,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.conversation_for_handover(handover_id) {
                return Some(c);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The passControl metadata of the handover to the agent.
    pub fn handover_metadata(&self, conv: &str) -> Option<Value> {
        lock(&self.shared.data)
            .conversation(conv)?
            .handover_metadata
            .clone()
    }

    /// Name of the switchboard integration in control (`None`: released).
    pub fn active(&self, conv: &str) -> Option<String> {
        let data = lock(&self.shared.data);
        let active = data.conversation(conv)?.active?;
        Some(data.integrations[active].name.clone())
    }

    /// Every message of the conversation (`message` schema).
    pub fn messages(&self, conv: &str) -> Vec<Value> {
        lock(&self.shared.data)
            .messages
            .iter()
            .filter(|m| m.conversation_id == conv)
            .map(|m| m.json())
            .collect()
    }

    /// Texts of user-authored messages posted after control passed to the
    /// agent workspace (what the user said to the agent).
    pub fn user_messages(&self, conv: &str) -> Vec<String> {
        let data = lock(&self.shared.data);
        let Some(from) = data.conversation(conv).and_then(|c| c.handed_over_at) else {
            return Vec::new();
        };
        data.messages[from..]
            .iter()
            .filter(|m| m.conversation_id == conv && m.is_user())
            .map(|m| m.content["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Whether an API call (the bot) released control or passed it back.
    pub fn returned_by_api(&self, conv: &str) -> Option<bool> {
        Some(lock(&self.shared.data).conversation(conv)?.returned_by_api)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.gate.requests()
    }

    /// Request and webhook bodies that broke the spec so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.gate.violations()
    }

    pub fn take_violations(&self) -> Vec<Violation> {
        self.shared.gate.take_violations()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.outbox.deliveries()
    }

    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        self.shared.outbox.wait_for_deliveries(n, timeout).await
    }

    // ---- scripting ----

    pub fn fail_next(&self, method: Option<&str>, path: &str, status: u16, count: u32) {
        self.shared.gate.fail_next(method, path, status, count);
    }

    pub fn set_duplicate_webhooks(&self, on: bool) {
        self.shared.outbox.set_duplicate(on);
    }

    pub fn set_hold_webhooks(&self, on: bool) {
        self.shared.outbox.set_hold(on);
    }

    pub async fn release_held(&self, reverse: bool) -> usize {
        self.shared.outbox.release_held(reverse).await
    }

    pub fn set_webhook_retry(&self, max_attempts: u32, first_backoff: Duration) {
        self.shared.outbox.set_retry(max_attempts, first_backoff);
    }

    /// Emits any webhook event (for tests of odd payloads); the body is
    /// validated like every other.
    pub fn emit(&self, conv: &str, kind: &str, payload: Value) {
        let mut data = lock(&self.shared.data);
        self.shared.emit(&mut data, kind, conv, payload);
    }
}

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(SunshineDriver::start().await?))
}

#[cfg(test)]
mod tests;
