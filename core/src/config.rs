//! The TOML configuration: server, runtime, default limits, egress
//! resolution overrides and endpoints (each bound to an adapter file).
//!
//! Parsing and static validation only; every error names the file, line
//! and field. Loading adapters is the registry's job, not this module's.

use crate::egress_policy::{AllowEntry, EgressPolicy};
use crate::limits::LimitsOverride;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub runtime: RuntimeSection,
    /// Default limits for every endpoint.
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub egress: EgressSection,
    #[serde(default)]
    pub store: StoreSection,
    /// Tenants by id. With none configured the bot API is open (local use);
    /// with any, every bot API call needs a tenant's API key.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// SQLite database, compiled-component cache, uploaded adapters.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Base URL providers use to reach this host (for URL-signed webhooks).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Operator key for the admin API, in plain text (prefer
    /// `admin_key_sha256`). Without either, only tenants' own keys work there.
    #[serde(default)]
    pub admin_key: Option<String>,
    /// Hex sha256 of the operator key.
    #[serde(default)]
    pub admin_key_sha256: Option<Spanned<String>>,
    /// Watch adapter files and swap on change.
    #[serde(default = "yes")]
    pub watch_adapters: bool,
    /// Apply a webhook inline (one durable write, the provider answered
    /// after it) while the adapter's recent `handle-webhook` calls average
    /// at most this many milliseconds; otherwise store it in the inbox
    /// first. 0 = always the inbox.
    #[serde(default = "default_inline_webhook_ms")]
    pub inline_webhook_ms: u64,
}

fn default_inline_webhook_ms() -> u64 {
    5
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8080".to_string())
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn yes() -> bool {
    true
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            public_url: None,
            admin_key: None,
            admin_key_sha256: None,
            watch_adapters: true,
            inline_webhook_ms: default_inline_webhook_ms(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    #[serde(default)]
    pub fuel: bool,
    #[serde(default = "default_instances")]
    pub max_instances: u32,
    #[serde(default = "default_max_memory")]
    pub max_memory_mib: u32,
    #[serde(default = "yes")]
    pub cache: bool,
}

fn default_instances() -> u32 {
    1000
}
fn default_max_memory() -> u32 {
    256
}

impl Default for RuntimeSection {
    fn default() -> Self {
        RuntimeSection {
            fuel: false,
            max_instances: default_instances(),
            max_memory_mib: default_max_memory(),
            cache: true,
        }
    }
}

/// One tenant: its API keys (stored as sha256 hashes) and quotas.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Hex sha256 of each API key (`handover-host hash-key KEY` prints it).
    #[serde(default)]
    pub api_key_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    pub quotas: Quotas,
}

/// Per-tenant quotas; every one has a default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Adapter calls running at once for this tenant.
    pub concurrent_calls: u32,
    /// Linear memory per adapter instance, MiB (caps endpoint limits).
    pub memory_mib: u32,
    /// Wall time per adapter call, ms (caps endpoint limits).
    pub wall_time_ms: u64,
    /// Adapter CPU time per second of wall time, ms (throttled beyond).
    pub cpu_ms_per_s: u64,
    /// Open handovers at once.
    pub open_handovers: u64,
    /// Webhook requests per second (burst = one second's worth).
    pub webhooks_per_s: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            concurrent_calls: 64,
            memory_mib: 128,
            wall_time_ms: 10_000,
            cpu_ms_per_s: 1_000,
            open_handovers: 10_000,
            webhooks_per_s: 500,
        }
    }
}

/// Where durable state lives.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` (default: `<data_dir>/handover.db`) or `postgres` (replicas).
    #[serde(default)]
    pub backend: StoreBackend,
    /// PostgreSQL connection URL, e.g. `postgres://user@127.0.0.1:5432/db`;
    /// `env:NAME` reads it from an environment variable.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EgressSection {
    /// Pinned host-name resolution, like curl's `--resolve`.
    #[serde(default)]
    pub resolve: BTreeMap<String, Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timers {
    /// End the handover if no agent joined within this many seconds.
    pub no_agent_timeout_s: Option<u64>,
    /// Outcome of that timeout: "error" (default) or "completed".
    #[serde(default)]
    pub no_agent_outcome: Option<Spanned<String>>,
    /// Send a warning event after this many seconds without user input.
    pub inactivity_warning_s: Option<u64>,
    /// End the handover after this many seconds without user input.
    pub inactivity_timeout_s: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub id: Spanned<String>,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Adapter file, relative to the config file.
    pub adapter: Spanned<String>,
    /// Refuse any adapter bytes with another sha256.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    /// Allowed egress: `scheme://host[:port]`, `*.` wildcards.
    #[serde(default)]
    pub egress: Vec<Spanned<String>>,
    /// Where bot callbacks may be POSTed: `scheme://host[:port]` entries,
    /// the same rules as `egress` (deny by default).
    #[serde(default)]
    pub callback_allow: Vec<Spanned<String>>,
    /// Secret for webhook signature verification.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Replay window for timestamped webhooks, seconds.
    #[serde(default = "default_replay")]
    pub replay_window_s: u64,
    /// Adapter settings (a TOML table, passed to the adapter as JSON).
    #[serde(default = "empty_table")]
    pub settings: toml::Table,
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub timers: Timers,
    /// Named secrets: `"literal"` or `"env:VAR"`. Referenced as `{{name}}`
    /// in `auth` rules and `webhook_secret`; never passed to the adapter.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Credentials the host adds to the adapter's requests to a target.
    #[serde(default)]
    pub auth: Vec<AuthRule>,
    /// Let one instance serve up to this many of this endpoint's calls
    /// (kept warm between them) instead of a fresh instance per call; `0`,
    /// the default, keeps "nothing survives between calls". See the
    /// README's "Instance reuse".
    #[serde(default)]
    pub instance_reuse: u32,
}

/// One credential rule: requests to `target` get exactly one of these.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthRule {
    /// `scheme://host[:port]` (like an egress entry; `*.` wildcards allowed).
    pub target: Spanned<String>,
    #[serde(default)]
    pub header: Option<HeaderAuth>,
    #[serde(default)]
    pub basic: Option<BasicAuth>,
    #[serde(default)]
    pub oauth_client_credentials: Option<OAuthClientCredentials>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeaderAuth {
    pub name: String,
    /// Template, e.g. `"Bearer {{token}}"`.
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// `{{name}}` references in a template.
pub fn template_refs(t: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        out.push(after[..j].trim().to_string());
        rest = &after[j + 2..];
    }
    out
}

/// Resolve one secret value (`env:VAR` or a literal).
pub fn resolve_secret(raw: &str) -> Result<String, String> {
    match raw.strip_prefix("env:") {
        Some(var) => {
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))
        }
        None => Ok(raw.to_string()),
    }
}

/// Expand `{{name}}` with the endpoint's resolved secrets.
pub fn expand(template: &str, secrets: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = template.to_string();
    for name in template_refs(template) {
        let v = secrets
            .get(&name)
            .ok_or_else(|| format!("unknown secret `{name}`"))?;
        out = out
            .replace(&format!("{{{{{name}}}}}"), v)
            .replace(&format!("{{{{ {name} }}}}"), v);
    }
    Ok(out)
}

fn default_tenant() -> String {
    "default".into()
}
fn default_replay() -> u64 {
    300
}
fn empty_table() -> toml::Table {
    toml::Table::new()
}

impl EndpointConfig {
    pub fn settings_json(&self) -> String {
        serde_json::to_string(&self.settings).unwrap_or_else(|_| "{}".into())
    }

    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy::new(
            self.egress
                .iter()
                .filter_map(|e| AllowEntry::parse(e.get_ref()).ok())
                .collect(),
        )
    }

    pub fn callback_policy(&self) -> EgressPolicy {
        EgressPolicy::new(
            self.callback_allow
                .iter()
                .filter_map(|e| AllowEntry::parse(e.get_ref()).ok())
                .collect(),
        )
    }
}

/// One problem in a config file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: `{}`: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

/// All problems found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// A loaded config plus where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    pub source: String,
}

impl LoadedConfig {
    /// Resolve a path written in the config relative to the config file.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    pub fn resolver_overrides(&self) -> std::collections::HashMap<String, Vec<IpAddr>> {
        self.config
            .egress
            .resolve
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.iter().filter_map(|s| s.get_ref().parse().ok()).collect(),
                )
            })
            .collect()
    }

    /// The data directory, relative to the config file.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve_path(&self.config.server.data_dir.to_string_lossy())
    }
}

/// The key of the `key = value` line whose value holds byte `offset`.
fn key_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = src[start..offset].split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// Parse and statically validate `src` (named `file` in messages).
pub fn parse(file: &str, src: &str) -> Result<Config, ConfigErrors> {
    let cfg: Config = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
        let message = e.message().to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("unknown field") || message.starts_with("missing field")
            })
            .map(str::to_string)
            // A bad value: name the key it was given to.
            .or_else(|| e.span().and_then(|s| key_at(src, s.start)))
            .unwrap_or_else(|| "-".into());
        ConfigErrors(vec![ConfigError {
            file: file.into(),
            line,
            column,
            field,
            message,
        }])
    })?;
    let mut errs = vec![];
    let mut at = |span: std::ops::Range<usize>, field: String, message: String| {
        let (line, column) = line_col(src, span.start);
        errs.push(ConfigError {
            file: file.into(),
            line,
            column,
            field,
            message,
        });
    };
    if cfg
        .server
        .listen
        .get_ref()
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        at(
            cfg.server.listen.span(),
            "server.listen".into(),
            format!(
                "`{}` is not an `ip:port` address",
                cfg.server.listen.get_ref()
            ),
        );
    }
    for (host, ips) in &cfg.egress.resolve {
        for ip in ips {
            if ip.get_ref().parse::<IpAddr>().is_err() {
                at(
                    ip.span(),
                    format!("egress.resolve.{host}"),
                    format!("`{}` is not an IP address", ip.get_ref()),
                );
            }
        }
    }
    if cfg.store.backend == StoreBackend::Postgres
        && cfg.store.url.as_deref().is_none_or(str::is_empty)
    {
        at(0..0, "store.url".into(), "backend \"postgres\" needs `url` (e.g. \"postgres://user@127.0.0.1:5432/handover\" or \"env:DATABASE_URL\")".into());
    }
    let is_hash = |h: &str| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(h) = &cfg.server.admin_key_sha256
        && !is_hash(h.get_ref())
    {
        at(
            h.span(),
            "server.admin_key_sha256".into(),
            "must be 64 hex digits (`handover-host hash-key KEY` prints it)".into(),
        );
    }
    for (t, tc) in &cfg.tenants {
        for h in &tc.api_key_sha256 {
            if !is_hash(h.get_ref()) {
                at(
                    h.span(),
                    format!("tenants.{t}.api_key_sha256"),
                    "must be 64 hex digits (`handover-host hash-key KEY` prints it)".into(),
                );
            }
        }
        let q = &tc.quotas;
        if q.concurrent_calls == 0
            || q.webhooks_per_s == 0
            || q.cpu_ms_per_s == 0
            || q.memory_mib == 0
            || q.wall_time_ms == 0
        {
            at(
                0..0,
                format!("tenants.{t}.quotas"),
                "quotas must be greater than zero".into(),
            );
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (i, ep) in cfg.endpoints.iter().enumerate() {
        let id = ep.id.get_ref();
        let f = |name: &str| format!("endpoints[{i}].{name}");
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            at(
                ep.id.span(),
                f("id"),
                format!("`{id}` must be non-empty and use only letters, digits, `-` and `_`"),
            );
        }
        if !cfg.tenants.is_empty() && !cfg.tenants.contains_key(&ep.tenant) {
            let defined = cfg.tenants.keys().cloned().collect::<Vec<_>>().join(", ");
            at(
                ep.id.span(),
                f("tenant"),
                format!(
                    "tenant `{}` is not defined in [tenants] (defined: {defined})",
                    ep.tenant
                ),
            );
        }
        if let Some(prev) = seen.insert(id.clone(), i) {
            at(
                ep.id.span(),
                f("id"),
                format!("duplicate endpoint id `{id}` (also endpoints[{prev}])"),
            );
        }
        if ep.adapter.get_ref().is_empty() {
            at(
                ep.adapter.span(),
                f("adapter"),
                "must name a `.wasm` file".into(),
            );
        }
        if let Some(pin) = &ep.sha256 {
            let p = pin.get_ref();
            if p.len() != 64 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                at(
                    pin.span(),
                    f("sha256"),
                    format!("`{p}` is not a sha256 (64 hex digits)"),
                );
            }
        }
        for (field, list) in [
            ("egress", &ep.egress),
            ("callback_allow", &ep.callback_allow),
        ] {
            for entry in list {
                if let Err(e) = AllowEntry::parse(entry.get_ref()) {
                    at(entry.span(), f(field), e.to_string());
                }
            }
        }
        if let Some(o) = &ep.timers.no_agent_outcome
            && !matches!(o.get_ref().as_str(), "error" | "completed")
        {
            at(
                o.span(),
                f("timers.no_agent_outcome"),
                format!("`{}` must be \"error\" or \"completed\"", o.get_ref()),
            );
        }
        if let (Some(w), Some(t)) = (
            ep.timers.inactivity_warning_s,
            ep.timers.inactivity_timeout_s,
        ) && w >= t
        {
            at(
                ep.id.span(),
                f("timers.inactivity_warning_s"),
                format!("warning after {w}s must come before the timeout after {t}s"),
            );
        }
        for (j, rule) in ep.auth.iter().enumerate() {
            let field = f(&format!("auth[{j}]"));
            if let Err(e) = AllowEntry::parse(rule.target.get_ref()) {
                at(rule.target.span(), format!("{field}.target"), e.to_string());
            }
            let kinds = [
                rule.header.is_some(),
                rule.basic.is_some(),
                rule.oauth_client_credentials.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                at(
                    rule.target.span(),
                    field.clone(),
                    "needs exactly one of `header`, `basic`, `oauth_client_credentials`".into(),
                );
            }
            let mut templates: Vec<&str> = vec![];
            if let Some(h) = &rule.header {
                templates.push(&h.value);
            }
            if let Some(b) = &rule.basic {
                templates.extend([b.username.as_str(), b.password.as_str()]);
            }
            if let Some(o) = &rule.oauth_client_credentials {
                templates.extend([o.client_id.as_str(), o.client_secret.as_str()]);
                if !(o.token_url.starts_with("http://") || o.token_url.starts_with("https://")) {
                    at(
                        rule.target.span(),
                        format!("{field}.oauth_client_credentials.token_url"),
                        "must be an http(s) URL".into(),
                    );
                }
            }
            for t in templates {
                for name in template_refs(t) {
                    if !ep.secrets.contains_key(&name) {
                        at(
                            rule.target.span(),
                            field.clone(),
                            format!("references `{{{{{name}}}}}`, which is not in `secrets`"),
                        );
                    }
                }
            }
        }
        if let Some(w) = &ep.webhook_secret {
            for name in template_refs(w) {
                if !ep.secrets.contains_key(&name) {
                    at(
                        ep.id.span(),
                        f("webhook_secret"),
                        format!("references `{{{{{name}}}}}`, which is not in `secrets`"),
                    );
                }
            }
        }
        if let Some(m) = ep.limits.memory_mib
            && m > cfg.runtime.max_memory_mib
        {
            at(
                ep.id.span(),
                f("limits.memory_mib"),
                format!(
                    "{m} MiB exceeds runtime.max_memory_mib = {}",
                    cfg.runtime.max_memory_mib
                ),
            );
        }
        if ep.limits.fuel.is_some() && !cfg.runtime.fuel {
            at(
                ep.id.span(),
                f("limits.fuel"),
                "fuel limits need `runtime.fuel = true`".into(),
            );
        }
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errs))
    }
}

/// Read and parse a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            field: "-".into(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    let config = parse(&file, &source)?;
    Ok(LoadedConfig {
        config,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_line_and_field() {
        let src = "[server]\nlisten = \"127.0.0.1:8080\"\n\n[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\negress = [\"ftp://nope\"]\n";
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].line, 7);
        assert_eq!(e.0[0].field, "endpoints[0].egress");
        assert!(e.0[0].message.contains("scheme"), "{}", e.0[0]);
    }

    #[test]
    fn unknown_field_is_located() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\nsetings = {}\n";
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0[0].line, 4, "{}", e);
        assert_eq!(e.0[0].field, "setings");
    }

    #[test]
    fn duplicate_ids_and_bad_pin() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n[[endpoints]]\nid = \"a\"\nadapter = \"y.wasm\"\nsha256 = \"abc\"\n";
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.to_string().contains("duplicate endpoint id"));
        assert!(e.to_string().contains("c.toml:7"));
    }

    #[test]
    fn auth_rules_are_checked() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n[endpoints.secrets]\ntok = \"s\"\n[[endpoints.auth]]\ntarget = \"https://api.x.com\"\nheader = { name = \"Authorization\", value = \"Bearer {{tok}} {{nope}}\" }\n[[endpoints.auth]]\ntarget = \"https://api.y.com\"\n";
        let e = parse("c.toml", src).unwrap_err().to_string();
        assert!(e.contains("`{{nope}}`, which is not in `secrets`"), "{e}");
        assert!(e.contains("exactly one of"), "{e}");
        let mut secrets = BTreeMap::new();
        secrets.insert("tok".to_string(), "abc".to_string());
        assert_eq!(expand("Bearer {{tok}}", &secrets).unwrap(), "Bearer abc");
        assert!(expand("{{other}}", &secrets).is_err());
    }

    #[test]
    fn empty_config_is_valid() {
        let c = parse("c.toml", "").unwrap();
        assert!(c.endpoints.is_empty());
        assert_eq!(c.server.listen.get_ref(), "127.0.0.1:8080");
    }
}
