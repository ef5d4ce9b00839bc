//! Durable state: the [`Store`] trait and its types live in
//! `handover-core` (re-exported here); the implementations are the crates
//! `handover-store-sqlite` (embedded, the default) and
//! `handover-store-postgres` (several replicas sharing one database). This
//! module only opens the configured one (it reads the environment for
//! `env:NAME` URLs, which is why it lives in the binary and not in `core`).

pub use handover_core::store::*;
pub use handover_store_postgres as postgres;
pub use handover_store_sqlite as sqlite;

use std::path::Path;
use std::sync::Arc;

use handover_core::config::{StoreBackend, StoreSection};

/// The configured store: SQLite at `<data_dir>/handover.db`, or PostgreSQL
/// at `store.url` (`env:NAME` reads the URL from that environment variable).
pub async fn open(cfg: &StoreSection, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    use anyhow::Context;
    match cfg.backend {
        StoreBackend::Sqlite => {
            let db = data_dir.join("handover.db");
            let store = sqlite::SqliteStore::open(&db)
                .with_context(|| format!("cannot open {}", db.display()))?;
            Ok(Arc::new(store))
        }
        StoreBackend::Postgres => {
            let url = resolve_url(cfg.url.as_deref().unwrap_or(""), |name| {
                std::env::var(name).ok()
            })?;
            let store = postgres::PgStore::connect(&url)
                .await
                .with_context(|| format!("cannot use the PostgreSQL store at {}", redact(&url)))?;
            Ok(Arc::new(store))
        }
    }
}

/// `env:NAME` → the value of `NAME` as `env` reads it; anything else as is.
pub fn resolve_url(url: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let url = match url.strip_prefix("env:") {
        Some(name) => env(name).ok_or_else(|| {
            anyhow::anyhow!(
                "store.url is `env:{name}` but the environment variable {name} is not set"
            )
        })?,
        None => url.to_string(),
    };
    if url.trim().is_empty() {
        anyhow::bail!("store.url is empty: backend \"postgres\" needs a connection URL");
    }
    Ok(url)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn env_urls_are_resolved_and_passwords_redacted() {
        // The environment is read through a function, so the test needs no
        // `set_var` (unsound while other test threads read the environment).
        let env = |name: &str| {
            (name == "HANDOVER_TEST_STORE_URL_X").then(|| "postgres://u:secret@h/db".to_string())
        };
        assert_eq!(
            resolve_url("env:HANDOVER_TEST_STORE_URL_X", env).unwrap(),
            "postgres://u:secret@h/db"
        );
        let err = resolve_url("env:HANDOVER_TEST_STORE_URL_MISSING", env).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
        assert!(resolve_url("", env).is_err());
        assert_eq!(
            resolve_url("postgres://h/db", env).unwrap(),
            "postgres://h/db"
        );
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
