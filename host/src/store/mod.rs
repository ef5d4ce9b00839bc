//! Durable state: the [`Store`] trait and its types live in
//! `handover-core` (re-exported here); this module holds the
//! implementations. SQLite (embedded) is the default; PostgreSQL serves
//! several replicas sharing one database.

pub use handover_core::store::*;

#[cfg(test)]
pub(crate) mod conformance;
pub mod postgres;
pub mod sqlite;

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
            let url = resolve_url(cfg.url.as_deref().unwrap_or(""))?;
            let store = postgres::PgStore::connect(&url)
                .await
                .with_context(|| format!("cannot use the PostgreSQL store at {}", redact(&url)))?;
            Ok(Arc::new(store))
        }
    }
}

/// `env:NAME` → the value of `NAME`; anything else as is.
pub fn resolve_url(url: &str) -> anyhow::Result<String> {
    let url = match url.strip_prefix("env:") {
        Some(name) => std::env::var(name).map_err(|_| {
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
        // SAFETY: a name no other test reads or writes.
        unsafe { std::env::set_var("HANDOVER_TEST_STORE_URL_X", "postgres://u:secret@h/db") };
        assert_eq!(
            resolve_url("env:HANDOVER_TEST_STORE_URL_X").unwrap(),
            "postgres://u:secret@h/db"
        );
        let err = resolve_url("env:HANDOVER_TEST_STORE_URL_MISSING").unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
        assert!(resolve_url("").is_err());
        assert_eq!(resolve_url("postgres://h/db").unwrap(), "postgres://h/db");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
