//! A typed `handover-host` config (the schema of `core/src/config.rs`),
//! serialized with the `toml` crate: tests say what they configure, never
//! format TOML text.
//!
//! ```ignore
//! Config::new()
//!     .tenant("a", |t| t.key(KEY_A).open_handovers(2))
//!     .endpoint(Endpoint::sim("a-ep", &sim, SECRET).tenant("a"))
//! ```

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// `Option` fields need no `skip_serializing_if`: the `toml` serializer leaves
// a `None` field out of its table (TOML has no null).

/// The whole config file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    pub store: Option<Store>,
    pub server: Server,
    pub runtime: Option<Runtime>,
    /// `[retention]`: seconds (or a count) by setting name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub retention: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, Tenant>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
}

/// `[server]`; `listen` and `data_dir` are filled in by `HostProcess`
/// when left unset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Server {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub admin_key: Option<String>,
    pub admin_key_sha256: Option<String>,
    pub watch_adapters: Option<bool>,
    pub inline_webhook_ms: Option<u64>,
    /// `HostProcess` sets `true` when left unset, so tests scrape
    /// `/metrics` without a key; `hostile.rs` tests the default.
    pub public_metrics: Option<bool>,
    pub drain_unready_ms: Option<u64>,
    pub shutdown_grace_s: Option<u64>,
}

/// `[runtime]`. `HostProcess` fills in [`Runtime::shared_cache`] when a test
/// leaves it unset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Runtime {
    pub cache_dir: Option<PathBuf>,
    /// `None`: the host's default (on).
    pub cache_gc: Option<bool>,
    pub max_poll_wait_s: Option<u64>,
}

impl Runtime {
    /// One compiled-component cache for every host a test run starts, so
    /// each guest is compiled by cranelift once per run instead of once per
    /// host process (`CARGO_TARGET_TMPDIR`: under `target/`, gone with
    /// `cargo clean`; entries are keyed by the component's and the engine
    /// configuration's hashes and checksummed, so sharing is safe, and kept
    /// across runs for the same reason; the key beside it is shared too).
    /// Garbage collection is off: hosts with other adapters share it. A
    /// test that needs the default `<data_dir>/cache` sets
    /// `Runtime::default()`.
    pub fn shared_cache() -> Runtime {
        Runtime {
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
            cache_gc: Some(false),
            max_poll_wait_s: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Serialize)]
pub struct Store {
    pub backend: String,
    pub url: String,
}

/// `[tenants.<id>]`: API keys (written as their sha256) and quotas.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tenant {
    pub api_key_sha256: Vec<String>,
    pub quotas: BTreeMap<String, u64>,
}

impl Tenant {
    pub fn key(mut self, key: &str) -> Self {
        self.api_key_sha256.push(sha256_hex(key));
        self
    }

    fn quota(mut self, name: &str, value: u64) -> Self {
        self.quotas.insert(name.into(), value);
        self
    }
}

/// One method per quota of `core::config::Quotas`, named as its key.
macro_rules! quotas {
    ($($name:ident),*) => {
        impl Tenant {
            $(pub fn $name(self, n: u64) -> Self {
                self.quota(stringify!($name), n)
            })*
        }
    };
}

quotas!(
    concurrent_calls,
    memory_mib,
    wall_time_ms,
    cpu_ms_per_s,
    open_handovers,
    webhooks_per_s,
    background_in_flight,
    event_streams
);

/// One `[[endpoints]]` table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub tenant: Option<String>,
    pub adapter: PathBuf,
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callback_allow: Vec<String>,
    pub webhook_secret: Option<String>,
    pub instance_reuse: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_handovers: Option<u32>,
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub settings: toml::Table,
    /// `[endpoints.limits]` by key (`core::limits::LimitsOverride`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, u64>,
    /// `[endpoints.timers]` by key (`core::config::Timers`).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub timers: toml::Table,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<Auth>,
    /// Keys a `provider_simulators` driver gives as TOML
    /// (`EndpointSetup::extra_toml`), merged in as they are.
    #[serde(skip)]
    pub driver_toml: toml::Table,
}

/// One `[[endpoints.auth]]` rule.
#[derive(Debug, Clone, Serialize)]
pub struct Auth {
    pub target: String,
    #[serde(flatten)]
    pub kind: AuthKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Header {
        name: String,
        value: String,
    },
    Basic {
        username: String,
        password: String,
    },
    OauthClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
    },
}

impl AuthKind {
    pub fn header(name: &str, value: &str) -> Self {
        AuthKind::Header {
            name: name.into(),
            value: value.into(),
        }
    }

    pub fn basic(username: &str, password: &str) -> Self {
        AuthKind::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    pub fn oauth(token_url: &str, client_id: &str, client_secret: &str) -> Self {
        AuthKind::OauthClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl Config {
    pub fn new() -> Self {
        Config::default()
    }

    pub fn admin_key(mut self, key: &str) -> Self {
        self.server.admin_key = Some(key.into());
        self
    }

    /// The operator key, written as its sha256 only.
    pub fn admin_key_hashed(mut self, key: &str) -> Self {
        self.server.admin_key_sha256 = Some(sha256_hex(key));
        self
    }

    pub fn server(mut self, f: impl FnOnce(&mut Server)) -> Self {
        f(&mut self.server);
        self
    }

    /// `[store] backend = "postgres"` on `url`.
    pub fn postgres(mut self, url: &str) -> Self {
        self.store = Some(Store {
            backend: "postgres".into(),
            url: url.into(),
        });
        self
    }

    /// One `[retention]` setting.
    pub fn retention(mut self, name: &str, value: u64) -> Self {
        self.retention.insert(name.into(), value);
        self
    }

    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    pub fn tenant(mut self, id: &str, f: impl FnOnce(Tenant) -> Tenant) -> Self {
        self.tenants.insert(id.into(), f(Tenant::default()));
        self
    }

    pub fn endpoint(mut self, e: Endpoint) -> Self {
        self.endpoints.push(e);
        self
    }

    pub fn endpoints(mut self, eps: impl IntoIterator<Item = Endpoint>) -> Self {
        self.endpoints.extend(eps);
        self
    }

    pub fn to_toml(&self) -> String {
        let mut doc = toml::Table::try_from(self).expect("config serializes");
        if let Some(toml::Value::Array(eps)) = doc.get_mut("endpoints") {
            for (t, e) in eps.iter_mut().zip(&self.endpoints) {
                let t = t.as_table_mut().unwrap();
                for (k, v) in &e.driver_toml {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        toml::to_string(&doc).unwrap()
    }
}

impl Endpoint {
    pub fn new(id: &str, adapter: impl AsRef<Path>) -> Self {
        Endpoint {
            id: id.into(),
            adapter: adapter.as_ref().to_path_buf(),
            ..Default::default()
        }
    }

    /// The `sim` guest bound to a sim provider that signs with `secret`.
    pub fn sim(id: &str, sim: &provider_simulators::SimProvider, secret: &str) -> Self {
        Endpoint::new(id, super::guest("sim"))
            .settings(serde_json::json!({"base_url": sim.base_url()}))
            .egress([sim.base_url()])
            .webhook_secret(secret)
    }

    /// Guest `name` configured as a `provider_simulators` driver asks.
    pub fn from_driver_setup(
        id: &str,
        name: &str,
        setup: provider_simulators::driver::EndpointSetup,
    ) -> Self {
        let mut e = Endpoint::new(id, super::guest(name))
            .settings(setup.settings)
            .egress(setup.egress);
        e.webhook_secret = setup.webhook_secret;
        let doc: toml::Table = format!("[[endpoints]]\n{}", setup.extra_toml)
            .parse()
            .unwrap_or_else(|err| panic!("driver TOML: {err}\n{}", setup.extra_toml));
        if let Some(toml::Value::Array(a)) = doc.get("endpoints")
            && let Some(toml::Value::Table(t)) = a.first()
        {
            e.driver_toml = t.clone();
        }
        e
    }

    pub fn tenant(mut self, t: &str) -> Self {
        self.tenant = Some(t.into());
        self
    }

    /// Settings as JSON (an object), passed to the guest.
    pub fn settings(mut self, v: Value) -> Self {
        self.settings = serde_json::from_value(v).expect("settings must be a JSON object");
        self
    }

    pub fn egress<S: Into<String>>(mut self, allow: impl IntoIterator<Item = S>) -> Self {
        self.egress = allow.into_iter().map(Into::into).collect();
        self
    }

    pub fn callback_allow(mut self, origin: &str) -> Self {
        self.callback_allow.push(origin.into());
        self
    }

    pub fn webhook_secret(mut self, s: &str) -> Self {
        self.webhook_secret = Some(s.into());
        self
    }

    pub fn sha256(mut self, pin: &str) -> Self {
        self.sha256 = Some(pin.into());
        self
    }

    pub fn instance_reuse(mut self, n: u32) -> Self {
        self.instance_reuse = Some(n);
        self
    }

    pub fn record_handovers(mut self, n: u32) -> Self {
        self.record_handovers = Some(n);
        self
    }

    /// One `[endpoints.limits]` key, e.g. `wall_time_ms`.
    pub fn limit(mut self, name: &str, value: u64) -> Self {
        self.limits.insert(name.into(), value);
        self
    }

    /// One `[endpoints.timers]` key, e.g. `no_agent_timeout_s` (numbers
    /// and strings: `no_agent_outcome = "completed"`).
    pub fn timer(mut self, name: &str, value: impl Into<toml::Value>) -> Self {
        self.timers.insert(name.into(), value.into());
        self
    }

    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.into(), value.into());
        self
    }

    /// `f(self)`: a group of settings several endpoints share.
    pub fn with(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }

    pub fn auth(mut self, target: &str, kind: AuthKind) -> Self {
        self.auth.push(Auth {
            target: target.into(),
            kind,
        });
        self
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}
