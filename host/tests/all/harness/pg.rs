//! PostgreSQL for the tests that run the host on it: a fresh schema per
//! test (or per group of replicas) on the server named by
//! `HANDOVER_TEST_PG_URL`, dropped with the last `Arc<Schema>`. Without the
//! variable those tests fail, unless `HANDOVER_SKIP_PG_TESTS=1` skips them
//! with a note ([`pg_base_url`]); with it, an unreachable server fails them.

use std::sync::Arc;

/// Taken by the tests that run three replicas at once (up to 25 connections
/// each), so two of them never exceed the server's `max_connections` (100
/// by default) together.
pub static THREE_REPLICAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A schema of its own on the test server.
pub struct Schema {
    base: String,
    pub name: String,
    /// The URL selecting the schema (what the hosts' config names).
    pub url: String,
}

pub use handover_store_conformance::pg_base_url;

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let r = client.batch_execute(sql).await.map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    r
}

impl Schema {
    /// A fresh schema named `<prefix>_<uuid>`, or `None` (skip) without
    /// `HANDOVER_TEST_PG_URL`.
    pub async fn create(prefix: &str) -> Option<Arc<Schema>> {
        let base = pg_base_url(&format!("a PostgreSQL test ({prefix})"))?;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        execute(&base, &format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| {
                panic!("cannot create a schema on HANDOVER_TEST_PG_URL {base}: {e}")
            });
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Some(Arc::new(Schema { base, name, url }))
    }
}

impl Schema {
    /// A client on the schema (its connection driven by a spawned task).
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url));
        tokio::spawn(conn);
        client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, sql) = (
            self.base.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
        // Own thread and runtime: this may run inside (or after) a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = execute(&base, &sql).await;
            });
        })
        .join();
    }
}
