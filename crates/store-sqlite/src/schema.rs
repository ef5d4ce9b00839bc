//! SQLite schema: connection settings (pragmas) and the ordered list of
//! migrations, applied in one transaction when a database is opened.
//!
//! Owns: `PRAGMA user_version` (the schema version) and `application_id`.
//! Must never: edit a migration that has shipped (append a new one instead),
//! run handover logic, or touch data outside a migration.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use handover_core::store::{Result, StoreError, check_schema_version, migration_failed};

/// Marks a file as a handover-host database ("HOVR").
pub(super) const APPLICATION_ID: i32 = 0x484F_5652;

/// How long a statement waits for a lock held by another connection.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to
/// `i + 1`. Append only.
///
/// The text `status IN ('requested','queued','active')` is repeated verbatim
/// in queries (see `ops.rs`) so SQLite can use the partial indexes.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
CREATE TABLE handovers (
    id                     TEXT PRIMARY KEY NOT NULL,
    endpoint_id            TEXT NOT NULL,
    tenant                 TEXT NOT NULL,
    session_id             TEXT NOT NULL,
    idempotency_key        TEXT,
    status                 TEXT NOT NULL CHECK (status IN
                               ('requested','queued','active','completed','cancelled','error')),
    error_reason           TEXT,
    error_message          TEXT,
    end_reason             TEXT,
    request                TEXT NOT NULL,      -- JSON
    provider_state         BLOB NOT NULL,
    queue_position         INTEGER,
    estimated_wait_seconds INTEGER,
    agent                  TEXT,               -- JSON
    callback_url           TEXT,
    created_at_ms          INTEGER NOT NULL,
    updated_at_ms          INTEGER NOT NULL,
    agent_joined_at_ms     INTEGER,
    ended_at_ms            INTEGER,
    last_user_activity_ms  INTEGER NOT NULL,
    no_agent_deadline_ms   INTEGER,
    inactivity_warn_at_ms  INTEGER,
    inactivity_end_at_ms   INTEGER,
    next_poll_at_ms        INTEGER,
    poll_failures          INTEGER NOT NULL,
    version                INTEGER NOT NULL,
    -- Earliest armed timer deadline (NULL when none is armed).
    timer_due_ms           INTEGER GENERATED ALWAYS AS (NULLIF(MIN(
                               COALESCE(no_agent_deadline_ms, 9223372036854775807),
                               COALESCE(inactivity_warn_at_ms, 9223372036854775807),
                               COALESCE(inactivity_end_at_ms, 9223372036854775807)),
                               9223372036854775807)) VIRTUAL
) STRICT;

-- At most one open handover per endpoint and session.
CREATE UNIQUE INDEX handovers_open_session ON handovers (endpoint_id, session_id)
    WHERE status IN ('requested','queued','active');
CREATE UNIQUE INDEX handovers_idempotency ON handovers (endpoint_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX handovers_endpoint_created ON handovers (endpoint_id, created_at_ms);
CREATE INDEX handovers_created ON handovers (created_at_ms);
CREATE INDEX handovers_timers ON handovers (timer_due_ms)
    WHERE status IN ('requested','queued','active');
CREATE INDEX handovers_polls ON handovers (next_poll_at_ms)
    WHERE status IN ('requested','queued','active');

CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    handover_id   TEXT NOT NULL REFERENCES handovers (id),
    endpoint_id   TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,                      -- JSON
    created_at_ms INTEGER NOT NULL,
    UNIQUE (handover_id, seq)
) STRICT;
CREATE INDEX events_endpoint ON events (endpoint_id, id);
CREATE INDEX events_handover ON events (handover_id, id);

CREATE TABLE correlation_keys (
    endpoint_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    handover_id TEXT NOT NULL REFERENCES handovers (id),
    PRIMARY KEY (endpoint_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX correlation_keys_handover ON correlation_keys (handover_id);

CREATE TABLE webhook_deliveries (
    endpoint_id    TEXT NOT NULL,
    delivery_id    TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, delivery_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE inbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id    TEXT NOT NULL,
    handover_id    TEXT NOT NULL REFERENCES handovers (id),
    request        TEXT NOT NULL,                     -- JSON
    received_at_ms INTEGER NOT NULL,
    done           INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
) STRICT;
CREATE INDEX inbox_pending ON inbox (handover_id, id) WHERE done = 0;

CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    handover_id        TEXT NOT NULL REFERENCES handovers (id),
    event_id           INTEGER NOT NULL REFERENCES events (id),
    url                TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending','delivered','dead')),
    last_error         TEXT,
    updated_at_ms      INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_pending ON outbox (handover_id, id) WHERE status = 'pending';
"#,
    // 2: adapter versions (which component serves which endpoint) and their bytes.
    r#"
CREATE TABLE adapter_blobs (
    sha256 TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
) STRICT;
CREATE TABLE adapter_versions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id    TEXT NOT NULL,
    sha256         TEXT NOT NULL REFERENCES adapter_blobs(sha256),
    source         TEXT NOT NULL,
    recorded_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX adapter_versions_endpoint ON adapter_versions (endpoint_id, seq);
"#,
    // 3: one index fewer to write per event. A handover's events are read
    // through UNIQUE (handover_id, seq) (seq follows id within a handover).
    r#"
DROP INDEX events_handover;
"#,
    // 4: the recovery sweep finds abandoned starts without reading every
    // open handover (it read up to 10,000 rows every 5 s, stalling a reader
    // thread). Only `requested` rows are in it.
    r#"
CREATE INDEX handovers_requested ON handovers (created_at_ms) WHERE status = 'requested';
"#,
    // 5: open handovers per tenant, kept exact by triggers on every insert,
    // status change and delete, so the `open_handovers` quota is one read
    // (before: every create loaded every open handover of every tenant with
    // its request JSON). Seeded from the rows already there.
    r#"
CREATE TABLE tenant_open (
    tenant TEXT PRIMARY KEY NOT NULL,
    open   INTEGER NOT NULL
) STRICT;
INSERT INTO tenant_open (tenant, open)
    SELECT tenant, COUNT(*) FROM handovers
    WHERE status IN ('requested','queued','active') GROUP BY tenant;
CREATE TRIGGER handovers_open_insert AFTER INSERT ON handovers
WHEN NEW.status IN ('requested','queued','active') BEGIN
    INSERT INTO tenant_open (tenant, open) VALUES (NEW.tenant, 1)
        ON CONFLICT (tenant) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER handovers_open_update AFTER UPDATE OF status, tenant ON handovers
WHEN (OLD.status IN ('requested','queued','active')) OR (NEW.status IN ('requested','queued','active')) BEGIN
    UPDATE tenant_open SET open = open - 1
        WHERE tenant = OLD.tenant AND OLD.status IN ('requested','queued','active');
    INSERT INTO tenant_open (tenant, open)
        SELECT NEW.tenant, 1 WHERE NEW.status IN ('requested','queued','active')
        ON CONFLICT (tenant) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER handovers_open_delete AFTER DELETE ON handovers
WHEN OLD.status IN ('requested','queued','active') BEGIN
    UPDATE tenant_open SET open = open - 1 WHERE tenant = OLD.tenant;
END;
"#,
    // 6: what the pruner (`Store::prune`) reads and deletes by: ended
    // handovers by end time, finished callback deliveries and webhook
    // delivery ids by age, and the child keys its deletes (and their
    // foreign-key checks) look up, which only partial indexes covered.
    r#"
CREATE INDEX handovers_ended ON handovers (ended_at_ms)
    WHERE status NOT IN ('requested','queued','active');
CREATE INDEX outbox_finished ON outbox (updated_at_ms) WHERE status <> 'pending';
CREATE INDEX outbox_handover ON outbox (handover_id);
CREATE INDEX outbox_event ON outbox (event_id);
CREATE INDEX inbox_handover ON inbox (handover_id);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (received_at_ms);
"#,
    // 7: steps write only what changed: the request (up to 2 MiB, never
    // changed after the create) moves to its own table, so a step rewrites
    // a small handover row instead of the request with it (SQLite rewrites
    // a whole row on UPDATE, assigned columns or not).
    r#"
CREATE TABLE handover_requests (
    handover_id TEXT PRIMARY KEY NOT NULL REFERENCES handovers (id),
    request     TEXT NOT NULL
) STRICT;
INSERT INTO handover_requests (handover_id, request) SELECT id, request FROM handovers;
ALTER TABLE handovers DROP COLUMN request;
"#,
    // 8: a tenant's handovers (`/admin/handovers` with a tenant key), newest
    // first, from an index rather than one read per endpoint.
    r#"
CREATE INDEX handovers_tenant_created ON handovers (tenant, created_at_ms, id);
"#,
    // 9: what contract 0.2.0 adapters report beyond the status (hand-back
    // variables, wrap-up, survey, provider references), a JSON object.
    r#"
ALTER TABLE handovers ADD COLUMN extras TEXT;
"#,
    // 10: canary rollouts (the engine's `registry::canary`): one record per
    // endpoint (the running canary, or how the last ended) with the
    // candidate's bytes, and each process's counts of the running one.
    r#"
CREATE TABLE canaries (
    endpoint_id TEXT PRIMARY KEY NOT NULL,
    canary_id   TEXT NOT NULL,
    running     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    bytes       BLOB NOT NULL
) STRICT;
CREATE TABLE canary_counts (
    canary_id     TEXT NOT NULL,
    replica       TEXT NOT NULL,
    counts        TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (canary_id, replica)
) STRICT;
CREATE TABLE recordings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL,
    handover_id TEXT NOT NULL,
    entry       TEXT NOT NULL
) STRICT;
CREATE INDEX recordings_endpoint ON recordings (endpoint_id, handover_id, id);
"#,
    // 11: the open count's update trigger (5) ran on every step of an open
    // handover (its WHEN held whenever the row was open before or after),
    // taking one off the tenant's count and adding it back: two writes and
    // a trigger program per step for nothing. It now runs only when a
    // handover opens, closes or changes tenant (the PostgreSQL store's
    // migration 9 made the same change). Also: the retention pruner
    // deletes an ended handover's replay recordings by handover id, which
    // `recordings_endpoint` does not lead with (a scan of the table per
    // pruned batch); now an index.
    r#"
CREATE INDEX recordings_handover ON recordings (handover_id);
DROP TRIGGER handovers_open_update;
CREATE TRIGGER handovers_open_update AFTER UPDATE OF status, tenant ON handovers
WHEN OLD.tenant IS NOT NEW.tenant
  OR (OLD.status IN ('requested','queued','active'))
     IS NOT (NEW.status IN ('requested','queued','active')) BEGIN
    UPDATE tenant_open SET open = open - 1
        WHERE tenant = OLD.tenant AND OLD.status IN ('requested','queued','active');
    INSERT INTO tenant_open (tenant, open)
        SELECT NEW.tenant, 1 WHERE NEW.status IN ('requested','queued','active')
        ON CONFLICT (tenant) DO UPDATE SET open = open + 1;
END;
"#,
];

/// The schema version this build writes and understands.
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Per-connection settings for the writer (and the file's journal mode).
///
/// WAL with `synchronous=FULL` syncs the log on every commit, so an
/// acknowledged transaction survives a killed process and a power loss.
pub(super) fn configure_writer(conn: &Connection, file_backed: bool) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if file_backed {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::backend(format!(
                "could not switch the database to WAL mode (journal_mode is {mode})"
            )));
        }
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    tune(conn)?;
    if file_backed {
        // The checkpointer thread checkpoints instead (see `checkpoint`).
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    }
    Ok(())
}

/// Settings that cost no durability: savepoint journals in memory (every
/// group-committed write runs in a savepoint), a 32 MiB page cache per
/// connection (16× the default: 8 MiB cost ~20 % of ingest throughput;
/// filled only by pages actually read, so idle handovers stay cheap), and
/// the query planner's stability guarantee. Without the last, a statement
/// whose plan looked at a bound value (`LIMIT ?`, with this build's STAT4)
/// is re-prepared every time that parameter is bound again: ~4% of the
/// reader threads' CPU under webhook load.
fn tune(conn: &Connection) -> Result<()> {
    conn.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Per-connection settings for a read-only connection to a WAL database.
pub(super) fn configure_reader(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")?;
    tune(conn)?;
    Ok(())
}

/// Bring the schema to [`current_version`] in one immediate transaction.
/// A database written by a newer build is refused, never modified.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app_id: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(StoreError::backend(format!(
            "not a handover-host database (application_id is {app_id:#x})"
        )));
    }
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = current_version();
    check_schema_version(found, known)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)
            .map_err(|e| migration_failed(i as i64 + 1, e))?;
    }
    if found < known {
        // PRAGMA arguments cannot be bound; both values are integers we own.
        tx.execute_batch(&format!(
            "PRAGMA user_version = {known}; PRAGMA application_id = {APPLICATION_ID};"
        ))?;
    }
    tx.commit()?;
    Ok(())
}
