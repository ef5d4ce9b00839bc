//! The provider description file (`provider.toml`): how an integrator
//! describes a provider the kit has no simulator for, parsed and checked.
//!
//! Everything is checked when the file is read, so a mistake is reported
//! once, with the file and the field, before any scenario runs: unknown
//! fields, a missing start route, a template naming a variable it cannot
//! have, a path parameter the route does not declare. Must never accept a
//! description the simulator would then interpret differently from what
//! the integrator wrote.

use super::template::{self, Var};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A provider as its description file states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// The provider's name (shown in the kit's table).
    pub name: String,
    /// An OpenAPI document (JSON or YAML, relative to the description)
    /// every API request body is validated against.
    pub spec: Option<PathBuf>,
    /// The status a body that breaks `spec` is answered with.
    #[serde(default = "default_invalid_status")]
    pub invalid_status: u16,
    pub endpoint: Endpoint,
    pub webhooks: Webhooks,
    pub routes: Vec<Route>,
    pub agent: Agent,
}

fn default_invalid_status() -> u16 {
    400
}

/// How the host's endpoint is configured for this provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The adapter's settings; strings may use `{{base_url}}`.
    pub settings: toml::Table,
    /// A header the host adds to every request to the provider (its
    /// credentials); the simulator answers 401 without it.
    pub auth: Option<HeaderAuth>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderAuth {
    pub header: String,
    pub value: String,
}

/// How the provider signs and delivers its webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// The secret the endpoint's `webhook_secret` is set to.
    pub secret: String,
    pub signature_header: String,
    pub algorithm: Algorithm,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default)]
    pub prefix: String,
    /// What is signed: `body`, or `timestamp.body` with the separator
    /// between (`signed = { timestamp_then_body = "." }`).
    #[serde(default)]
    pub signed: Signed,
    /// Header carrying the signing time (Unix seconds); required when the
    /// timestamp is signed.
    pub timestamp_header: Option<String>,
    /// Header carrying each delivery's id.
    pub delivery_id_header: Option<String>,
    /// Attempts per delivery (the provider retries a non-2xx answer).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_attempts() -> u32 {
    5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    HmacSha256,
    HmacSha1,
    HmacSha512,
    /// The header carries the secret itself.
    SharedSecret,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signed {
    #[default]
    Body,
    TimestampThenBody(String),
}

/// What an API route means to the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Opens a conversation (exactly one route).
    Start,
    /// Carries one user message to the agent.
    Message,
    /// The bot side cancels or closes the conversation.
    Close,
    /// Anything else the adapter calls (answered, recorded).
    Other,
}

/// One API route of the provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub role: Role,
    pub method: String,
    /// Spelled like the OpenAPI document's `paths` key, parameters in
    /// braces, e.g. `/v1/conversations/{conversation}/messages`.
    pub path: String,
    /// Where the conversation id is: `{param}` (a path parameter) or a
    /// JSON pointer into the body. Default `{conversation}` for message
    /// and close routes.
    pub conversation: Option<String>,
    /// Start: the JSON pointer of the handover id in the request body.
    pub handover_id: Option<String>,
    /// Message: the JSON pointer of the user's text in the request body.
    pub text: Option<String>,
    /// JSON pointers the request body must have (a missing one is a
    /// violation of the provider's API).
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default = "default_status")]
    pub status: u16,
    /// The answer's JSON body (none when absent).
    pub response: Option<toml::Value>,
}

fn default_status() -> u16 {
    200
}

/// The webhook bodies of the provider's agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub join: AgentEvent,
    pub message: AgentEvent,
    pub end: AgentEvent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEvent {
    pub body: toml::Value,
}

impl Route {
    /// Where this route's conversation id is (see [`Route::conversation`]).
    pub fn conversation_source(&self) -> Option<Source> {
        let spec = match (&self.conversation, self.role) {
            (Some(s), _) => s.as_str(),
            (None, Role::Message | Role::Close) => "{conversation}",
            (None, _) => return None,
        };
        Some(
            match spec.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => Source::Param(param.to_string()),
                None => Source::Pointer(spec.to_string()),
            },
        )
    }

    /// The path parameters the route's path names.
    fn params(&self) -> Vec<&str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

/// Where a value is in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Param(String),
    Pointer(String),
}

impl Description {
    /// Reads and checks the description at `path`; the error names the
    /// file and what to fix.
    pub fn load(path: &Path) -> Result<Description, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read provider description {}: {e}", path.display()))?;
        let mut d = Description::parse(&text)
            .map_err(|e| format!("provider description {}: {e}", path.display()))?;
        if let Some(spec) = &d.spec {
            d.spec = Some(path.parent().unwrap_or(Path::new(".")).join(spec));
        }
        Ok(d)
    }

    /// Parses and checks a description's text.
    pub fn parse(text: &str) -> Result<Description, String> {
        let d: Description = toml::from_str(text).map_err(|e| e.to_string())?;
        d.check()?;
        Ok(d)
    }

    /// The route of the start request.
    pub fn start(&self) -> &Route {
        self.routes
            .iter()
            .find(|r| r.role == Role::Start)
            .expect("checked: one start route")
    }

    /// Whether the bot side can close a conversation at this provider.
    pub fn has_close(&self) -> bool {
        self.routes.iter().any(|r| r.role == Role::Close)
    }

    fn check(&self) -> Result<(), String> {
        let starts = self.routes.iter().filter(|r| r.role == Role::Start).count();
        if starts != 1 {
            return Err(format!(
                "`routes` must have exactly one route with role = \"start\" (it has {starts})"
            ));
        }
        if !self.routes.iter().any(|r| r.role == Role::Message) {
            return Err("`routes` must have a route with role = \"message\"".into());
        }
        for (i, r) in self.routes.iter().enumerate() {
            self.check_route(r)
                .map_err(|e| format!("routes[{i}] ({} {}): {e}", r.method, r.path))?;
        }
        let w = &self.webhooks;
        if matches!(w.signed, Signed::TimestampThenBody(_)) && w.timestamp_header.is_none() {
            return Err(
                "webhooks: `signed` includes the timestamp, so `timestamp_header` is required"
                    .into(),
            );
        }
        if w.attempts == 0 {
            return Err("webhooks: `attempts` must be at least 1".into());
        }
        let agent_vars = [
            Var::Conversation,
            Var::HandoverId,
            Var::EventId,
            Var::Agent,
            Var::Seq,
            Var::NowMs,
            Var::Now,
            Var::BaseUrl,
        ];
        for (what, event, extra) in [
            ("agent.join", &self.agent.join, None),
            ("agent.message", &self.agent.message, Some(Var::Text)),
            ("agent.end", &self.agent.end, None),
        ] {
            let allowed: Vec<Var> = agent_vars.iter().copied().chain(extra).collect();
            template::check(&json(&event.body), &allowed)
                .map_err(|e| format!("{what}.body: {e}"))?;
        }
        template::check(
            &Value::Object(to_json_map(&self.endpoint.settings)),
            &[Var::BaseUrl],
        )
        .map_err(|e| format!("endpoint.settings: {e}"))
    }

    fn check_route(&self, r: &Route) -> Result<(), String> {
        if !r.path.starts_with('/') {
            return Err("`path` must start with `/`".into());
        }
        if r.method.parse::<axum::http::Method>().is_err()
            || r.method != r.method.to_ascii_uppercase()
        {
            return Err(format!(
                "`method` must be an HTTP method in capitals, not `{}`",
                r.method
            ));
        }
        if !(100..=599).contains(&r.status) {
            return Err(format!("`status` {} is not an HTTP status", r.status));
        }
        let params = r.params();
        let pointer = |what: &str, p: &str| -> Result<(), String> {
            if p.is_empty() || p.starts_with('/') {
                Ok(())
            } else {
                Err(format!(
                    "`{what}` must be a JSON pointer (start with `/`), not `{p}`"
                ))
            }
        };
        match r.conversation_source() {
            Some(Source::Param(p)) if !params.contains(&p.as_str()) => {
                return Err(format!(
                    "the conversation id is taken from path parameter `{{{p}}}`, which `path` does not have (set `conversation` to the parameter's name in braces or to a JSON pointer into the body)"
                ));
            }
            Some(Source::Pointer(p)) => pointer("conversation", &p)?,
            _ => {}
        }
        match r.role {
            Role::Start => {
                let p = r.handover_id.as_deref().ok_or(
                    "the start route needs `handover_id`: the JSON pointer of the handover id in the request body (how the kit finds the conversation of a handover)",
                )?;
                pointer("handover_id", p)?;
            }
            Role::Message => {
                let p = r.text.as_deref().ok_or(
                    "a message route needs `text`: the JSON pointer of the user's text in the request body",
                )?;
                pointer("text", p)?;
            }
            Role::Close | Role::Other => {}
        }
        for p in &r.require {
            pointer("require", p)?;
        }
        if let Some(resp) = &r.response {
            let mut allowed = vec![Var::Id, Var::NowMs, Var::Now, Var::BaseUrl];
            if r.role == Role::Start {
                allowed.extend([Var::Conversation, Var::HandoverId]);
            } else if r.conversation_source().is_some() {
                allowed.push(Var::Conversation);
            }
            template::check(&json(resp), &allowed).map_err(|e| format!("response: {e}"))?;
        }
        Ok(())
    }
}

/// A TOML value as JSON (datetimes become strings).
pub fn json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn to_json_map(t: &toml::Table) -> serde_json::Map<String, Value> {
    t.iter().map(|(k, v)| (k.clone(), json(v))).collect()
}

/// The endpoint settings as JSON.
pub fn settings_json(d: &Description) -> Value {
    Value::Object(to_json_map(&d.endpoint.settings))
}
