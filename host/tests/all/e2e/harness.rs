//! The end-to-end host: a `HostProcess` (the real binary, real HTTP over
//! loopback) on SQLite, or on a PostgreSQL schema of its own when
//! `HANDOVER_E2E_STORE=postgres` (see `postgres`), with the operator key
//! `ADMIN_KEY`; the sim provider simulator signs with `SECRET`.

use crate::harness::pg::Schema;
pub use crate::harness::{
    Config, Endpoint, HostProcess, Webhook, agent_texts, events_path, guest, guest_bytes, ids,
    now_ms, now_s, sim_agent_texts, types,
};
use provider_simulators::SimProvider;
use provider_simulators::driver::ProviderDriver;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub const SECRET: &str = "e2e-webhook-secret";
pub const ADMIN_KEY: &str = "e2e-admin-key";

/// An endpoint on the `sim` guest bound to `sim` (signing with `SECRET`).
pub fn sim_ep(id: &str, sim: &SimProvider) -> Endpoint {
    Endpoint::sim(id, sim, SECRET)
}

/// A simulator signing its webhooks with `SECRET` (URL set later).
pub async fn sim() -> SimProvider {
    crate::harness::sim_with_secret(SECRET).await
}

pub struct Host {
    pub process: HostProcess,
    /// The PostgreSQL schema of a host in PG mode, kept until the host is
    /// gone (dropping the last `Arc` drops the schema).
    _pg: Option<Arc<Schema>>,
}

impl Deref for Host {
    type Target = HostProcess;
    fn deref(&self) -> &HostProcess {
        &self.process
    }
}

impl DerefMut for Host {
    fn deref_mut(&mut self) -> &mut HostProcess {
        &mut self.process
    }
}

impl Host {
    /// The suite's config: `ADMIN_KEY` and these endpoints.
    pub fn config(eps: &[Endpoint]) -> Config {
        Config::new()
            .admin_key(ADMIN_KEY)
            .endpoints(eps.iter().cloned())
    }

    /// SQLite, or PostgreSQL when `HANDOVER_E2E_STORE=postgres`.
    pub async fn start(eps: &[Endpoint]) -> Host {
        Host::start_config(Host::config(eps)).await
    }

    /// Like `start`, with a config of the caller's.
    pub async fn start_config(config: Config) -> Host {
        let pg = crate::e2e::postgres::schema_for_env().await;
        Host::start_on(config, pg).await
    }

    /// Endpoint `id` on guest `name` set up as `driver` asks, with the
    /// driver's webhooks pointed at it.
    pub async fn start_for_driver(id: &str, name: &str, driver: &dyn ProviderDriver) -> Host {
        let ep = Endpoint::from_driver_setup(id, name, driver.endpoint_setup());
        let host = Host::start(&[ep]).await;
        driver.set_webhook_url(&host.webhook_url(id));
        host
    }

    /// On PostgreSQL schema `pg` (shared by every host started on it, like
    /// replicas), or on SQLite with `None`.
    pub async fn start_on(mut config: Config, pg: Option<Arc<Schema>>) -> Host {
        if let Some(schema) = &pg {
            config = config.postgres(&schema.url);
        }
        Host {
            process: HostProcess::start(config).await,
            _pg: pg,
        }
    }
}
