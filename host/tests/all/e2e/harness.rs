//! The end-to-end host: a `HostProcess` (the real binary, real HTTP over
//! loopback) on SQLite, or on a PostgreSQL schema of its own when
//! `HANDOVER_E2E_STORE=postgres` (see `postgres`), with the operator key
//! `ADMIN_KEY`; the sim provider simulator signs with `SECRET`.

use crate::e2e::support::T;
use crate::harness::pg::Schema;
pub use crate::harness::{
    Config, Endpoint, HostProcess, Webhook, agent_texts, assert_api_error, events_path, guest,
    guest_bytes, ids, now_ms, now_s, sim_agent_texts, types,
};
use provider_simulators::SimProvider;
use provider_simulators::driver::ProviderDriver;
use serde_json::Value;
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
    pub async fn start_on(config: Config, pg: Option<Arc<Schema>>) -> Host {
        Host::start_on_under(config, pg, &[]).await
    }

    /// Like `start_config`, the binary run by `wrapper` (see
    /// [`HostProcess::start_under`]).
    pub async fn start_under(config: Config, wrapper: &[&str]) -> Host {
        let pg = crate::e2e::postgres::schema_for_env().await;
        Host::start_on_under(config, pg, wrapper).await
    }

    /// `start_on`, the binary run by `wrapper`.
    async fn start_on_under(mut config: Config, pg: Option<Arc<Schema>>, wrapper: &[&str]) -> Host {
        if let Some(schema) = &pg {
            config = config.postgres(&schema.url);
        }
        Host {
            process: HostProcess::start_wrapped(config, wrapper).await,
            _pg: pg,
        }
    }

    /// The host's own store, opened beside it from the test (SQLite: the
    /// same file, which WAL lets two processes share; PostgreSQL: its
    /// schema): for a test that must write what no API call can, e.g. a
    /// handover whose `start` never ran.
    pub async fn open_store(&self) -> Arc<dyn handover_core::store::Store> {
        match &self._pg {
            Some(schema) => Arc::new(
                handover_store_postgres::PgStore::connect(&schema.url)
                    .await
                    .expect("the test connects to the host's PostgreSQL schema"),
            ),
            None => {
                let db = self.data_dir.join("handover.db");
                assert!(db.exists(), "no SQLite file at {}", db.display());
                Arc::new(
                    handover_store_sqlite::SqliteStore::open(&db)
                        .expect("the test opens the host's SQLite file"),
                )
            }
        }
    }

    /// Inserts handover `id` as a create leaves it before `start` completes
    /// (status `requested`, no provider state), with the endpoint, tenant
    /// and request of the started handover `like`; `edit` sets what else
    /// the test needs (a due deadline).
    pub async fn insert_never_started(
        &self,
        like: &str,
        id: &str,
        session: &str,
        edit: impl FnOnce(&mut handover_core::store::HandoverRow),
    ) {
        let store = self.open_store().await;
        let model = store.get_handover(like).await.unwrap().unwrap();
        let mut row = handover_core::store::HandoverRow::requested(
            id,
            &model.endpoint_id,
            &model.tenant,
            session,
            model.request.clone(),
            crate::harness::now_ms(),
        );
        edit(&mut row);
        let inserted = store.insert_handover(row, None).await.unwrap();
        assert!(
            matches!(inserted, handover_core::store::Insert::Inserted(_)),
            "{id} was not inserted"
        );
    }

    /// `ep` alone, with `sim`'s webhooks pointed at it.
    pub async fn start_sim(ep: Endpoint, sim: &SimProvider) -> Host {
        let id = ep.id.clone();
        let host = Host::start(&[ep]).await;
        sim.set_webhook_url(Some(host.webhook_url(&id)));
        host
    }

    /// A handover on `ep` for `session` (the bot's default body); its id.
    pub async fn create_id(&self, ep: &str, session: &str) -> String {
        self.create_id_with(ep, session, serde_json::json!({}))
            .await
    }

    /// `create_id` with `extra`'s keys in the body.
    pub async fn create_id_with(&self, ep: &str, session: &str, extra: Value) -> String {
        let (code, created) = self.create(ep, session, extra).await;
        assert_eq!(code, 201, "{created}\n{}", self.log());
        created["handover_id"].as_str().unwrap().to_string()
    }

    /// A handover on endpoint `ep` (bound to `sim`) and its conversation id
    /// at the sim.
    pub async fn sim_handover(&self, sim: &SimProvider, session: &str) -> (String, String) {
        self.sim_handover_with(sim, session, serde_json::json!({}))
            .await
    }

    /// `sim_handover` with `extra`'s keys in the create body.
    pub async fn sim_handover_with(
        &self,
        sim: &SimProvider,
        session: &str,
        extra: Value,
    ) -> (String, String) {
        let id = self.create_id_with("ep", session, extra).await;
        let conv = sim.wait_for_conversation(&id, T).await.unwrap().id;
        (id, conv)
    }

    /// Send user input; asserts it was answered 200 with `result`.
    pub async fn input_expect(&self, id: &str, kind: &str, text: &str, result: &str) -> Value {
        let (code, r) = self.input(id, kind, text).await;
        assert_eq!((code, r["result"].as_str()), (200, Some(result)), "{r}");
        r
    }

    /// `sim_handover` with agent Alex (`a-1`) joined: the handover is active.
    pub async fn active_sim_handover(&self, sim: &SimProvider, session: &str) -> (String, String) {
        let (id, conv) = self.sim_handover(sim, session).await;
        sim.agent_join(&conv, "a-1", "Alex").await;
        self.wait_status(&id, "active", T).await;
        (id, conv)
    }
}

/// The event types of a conversation that ends after an agent joined,
/// typed and sent `messages` messages.
pub fn conversation_types(messages: usize) -> Vec<&'static str> {
    let mut t = vec!["queued", "agent_joined", "agent_typing"];
    t.extend(std::iter::repeat_n("agent_message", messages));
    t.push("ended");
    t
}
