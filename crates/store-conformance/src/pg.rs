//! Where the PostgreSQL tests find their server, for every crate that has
//! them (the PostgreSQL store's own tests and the host's).
//!
//! Must never let a PostgreSQL test pass without a server: with no URL the
//! test fails, unless the skip was asked for by name.

/// `HANDOVER_TEST_PG_URL`. Unset, the test fails (a test that cannot reach
/// its server must not count as passed) unless `HANDOVER_SKIP_PG_TESTS=1`
/// asks for the skip explicitly: then `None`, with a note that `what` is
/// skipped.
pub fn pg_base_url(what: &str) -> Option<String> {
    match std::env::var("HANDOVER_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("HANDOVER_SKIP_PG_TESTS").as_deref() == Ok("1") => {
            eprintln!("HANDOVER_SKIP_PG_TESTS=1: skipping {what}");
            None
        }
        _ => panic!(
            "HANDOVER_TEST_PG_URL is not set, needed by {what} \
             (scripts/test sets postgres://postgres@127.0.0.1:5432/test); \
             set HANDOVER_SKIP_PG_TESTS=1 to skip the PostgreSQL tests on purpose"
        ),
    }
}
