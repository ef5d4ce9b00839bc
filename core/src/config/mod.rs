//! The TOML configuration schema: server, runtime, default limits, store,
//! tenants, egress resolution overrides and endpoints (each bound to an
//! adapter file), with every default; plus `LoadedConfig`, a parsed config
//! and the path it is relative to.
//!
//! The submodules own the rest: `parse` (TOML → `Config` with located
//! errors, then static validation in `validate`), `secrets` (`{{name}}`
//! templates and secret resolution), `errors` (`ConfigError(s)` and their
//! `file:line:column: `field`: message` rendering).
//!
//! Must never do I/O: no reading the config or adapter files, no
//! environment lookups (reading the file is the host binary's
//! `handover_host::config::load`; `env:` secrets take the caller's lookup).
//! Loading adapters is the registry's job, not this module's.

mod errors;
mod parse;
mod secrets;
mod validate;

pub use errors::{ConfigError, ConfigErrors};
pub use parse::parse;
pub use secrets::{SecretError, expand, resolve_secret, template_refs};

use crate::egress_policy::{AllowEntry, EgressPolicy};
use crate::limits::LimitsOverride;
use serde::Deserialize;
use std::collections::BTreeMap;
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
    #[serde(default)]
    pub retention: RetentionSection,
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
    /// Serve `/metrics` and `/openapi.json` without credentials. Off by
    /// default: they need the operator key (a tenant key is refused: the
    /// metrics cover every tenant), except in the open mode (no tenants
    /// configured, local use).
    #[serde(default)]
    pub public_metrics: bool,
    /// On SIGTERM: how long the host goes on serving, unready (`/readyz`
    /// answers 503), before it stops accepting connections: the time a
    /// load balancer needs to notice. 0 = stop accepting at once.
    #[serde(default)]
    pub drain_unready_ms: u64,
    /// On SIGTERM: the most time requests, steps and callback deliveries
    /// in flight get to finish before the process exits anyway (what is
    /// left unfinished is taken over by another replica, or by this one
    /// after its restart).
    #[serde(default = "default_shutdown_grace_s")]
    pub shutdown_grace_s: u64,
}

fn default_inline_webhook_ms() -> u64 {
    5
}
fn default_shutdown_grace_s() -> u64 {
    30
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
            public_metrics: false,
            drain_unready_ms: 0,
            shutdown_grace_s: default_shutdown_grace_s(),
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
    /// Where the compiled-component cache lives (relative paths: to the
    /// config file's directory); default `<data_dir>/cache`. Hosts that run
    /// the same adapters (replicas on one machine, the conformance kit's
    /// scenarios, test suites) may share one (and its key): entries are
    /// keyed by the component's and the engine configuration's hashes and
    /// sealed with the key in `cache_key_file`.
    #[serde(default)]
    pub cache_dir: Option<std::path::PathBuf>,
    /// The key cache entries are sealed with (HMAC-SHA256), created on
    /// first use with mode 0600 (relative paths: to the config file's
    /// directory); default beside the cache directory, `<cache_dir>.key`.
    /// Hosts sharing a cache share its key. Whoever can write this file can
    /// make the host run native code: protect it like the binary.
    #[serde(default)]
    pub cache_key_file: Option<std::path::PathBuf>,
    /// Delete cache entries of components no endpoint keeps (and of other
    /// engine configurations) at start-up and after every swap or
    /// rollback. Turn off when hosts with different adapters share one
    /// `cache_dir`, or they delete each other's entries.
    #[serde(default = "yes")]
    pub cache_gc: bool,
    /// The longest I/O wait, seconds, a long-polled adapter's `poll` may
    /// add to its call's wall time, whatever wait the adapter declares.
    /// Guest execution in the call stays within the per-call wall time.
    #[serde(default = "default_max_poll_wait_s")]
    pub max_poll_wait_s: u64,
}

fn default_max_poll_wait_s() -> u64 {
    60
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
            cache_dir: None,
            cache_key_file: None,
            cache_gc: true,
            max_poll_wait_s: default_max_poll_wait_s(),
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
    /// Background work of each kind (timer steps, polls, callback
    /// deliveries) in flight at once; beyond it the tenant's further due
    /// work waits its turn, and other tenants' work is not held up.
    pub background_in_flight: u32,
    /// Server-sent event streams open at once (handover and endpoint
    /// streams of this tenant's resources).
    pub event_streams: u32,
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
            event_streams: 32,
            background_in_flight: 32,
        }
    }
}

/// How long finished records are kept before the background pruner
/// deletes them (seconds; 0 keeps them forever). Open handovers and pending
/// work are never pruned.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Ended handovers, with their request, events, correlation keys and
    /// processed webhooks (counted from the end).
    pub ended_handovers_s: u64,
    /// Callback deliveries that were delivered or given up.
    pub callbacks_s: u64,
    /// Processed webhooks in the inbox.
    pub inbox_s: u64,
    /// Webhook delivery ids kept to drop duplicates; at least every
    /// endpoint's `replay_window_s`.
    pub webhook_deliveries_s: u64,
    /// Adapter version records kept per endpoint, newest first (a rollback
    /// reaches back 10); components no kept record names are deleted.
    pub adapter_versions_kept: u32,
    /// Seconds between pruning passes.
    pub interval_s: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionSection {
            ended_handovers_s: 30 * DAY,
            callbacks_s: 7 * DAY,
            inbox_s: 7 * DAY,
            webhook_deliveries_s: 7 * DAY,
            adapter_versions_kept: 50,
            interval_s: 60,
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
    /// Record this endpoint's handover calls (inputs, outgoing exchanges,
    /// outcomes) for `handover-host replay`, keeping the newest this many
    /// handovers; `0`, the default, records nothing. See docs/rollouts.md.
    #[serde(default)]
    pub record_handovers: u32,
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

    /// The compiled-component cache directory, `None` when `runtime.cache`
    /// is off.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        let r = &self.config.runtime;
        r.cache.then(|| match &r.cache_dir {
            Some(dir) => self.resolve_path(&dir.to_string_lossy()),
            None => self.data_dir().join("cache"),
        })
    }

    /// The cache key file if configured (`None`: beside the cache).
    pub fn cache_key_file(&self) -> Option<PathBuf> {
        let r = &self.config.runtime;
        r.cache_key_file
            .as_ref()
            .map(|f| self.resolve_path(&f.to_string_lossy()))
    }
}
