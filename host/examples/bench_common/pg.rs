//! PostgreSQL for the benchmark drivers: a fresh schema on the server the
//! tests use (`HANDOVER_TEST_PG_URL`), the server's CPU time and its commit
//! counter.

use handover_host::store::Store;
use handover_host::store::postgres::PgStore;
use std::sync::Arc;
use std::time::Duration;

/// The server's URL: `HANDOVER_TEST_PG_URL`, the variable the tests read.
pub fn base_url() -> String {
    std::env::var("HANDOVER_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own on the server; dropped with the value.
pub struct Schema {
    base: String,
    pub name: String,
    /// The URL selecting the schema (for the host's `[store] url`).
    pub url: String,
}

async fn admin(base: &str, sql: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {base} (HANDOVER_TEST_PG_URL): {e}"));
    tokio::spawn(conn);
    if !sql.is_empty() {
        client.batch_execute(sql).await.unwrap();
    }
    client
}

impl Schema {
    pub async fn create(tag: &str) -> Schema {
        let base = base_url();
        let name = format!("bench_{tag}_{}", std::process::id());
        admin(
            &base,
            &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
        )
        .await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Schema { base, name, url }
    }

    /// A store on the schema (migrates it).
    pub async fn store(&self) -> Arc<dyn Store> {
        Arc::new(PgStore::connect(&self.url).await.unwrap())
    }

    /// Transactions committed in the server's database so far (the
    /// statistics collector's count, flushed about once a second).
    pub async fn commits(&self) -> i64 {
        let c = admin(&self.base, "").await;
        c.query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
    }

    /// `[store]` for the host's config.
    pub fn config(&self) -> String {
        format!(
            "\n[store]\nbackend = \"postgres\"\nurl = \"{}\"\n",
            self.url
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin(
                &base,
                &format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            ));
        })
        .join()
        .ok();
    }
}

/// User + system CPU of every `postgres` process now running (the
/// server's work for the host; a backend that exits takes its share).
pub fn server_cpu() -> Duration {
    let mut total = Duration::ZERO;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            total += super::proc_cpu(pid);
        }
    }
    total
}
