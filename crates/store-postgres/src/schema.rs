//! PostgreSQL schema: the ordered list of migrations and how they are
//! applied when a store connects.
//!
//! Owns: the `schema_version` table (one row: the schema version). Every
//! migration runs in one transaction that first takes a transaction-level
//! advisory lock keyed by the current schema, so replicas starting together
//! apply each migration exactly once (the others wait, then see the new
//! version). Must never: edit a migration that has shipped (append a new one
//! instead), run handover logic, or touch data outside a migration.

use tokio_postgres::Client;

use handover_core::store::{Result, StoreError, check_schema_version, migration_failed};

/// First key of every advisory lock this store takes (the second key names
/// the object): "HO" in ASCII, so other applications' locks on the same
/// database are unlikely to collide.
pub(super) const LOCK_SPACE: i32 = 0x484F;
/// Second key of the migration lock (per schema: hashed with its name).
pub(super) const MIGRATION_LOCK: &str = "handover-host migrations ";

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to
/// `i + 1`. Append only. Mirrors the SQLite schema (same tables, columns and
/// partial unique indexes), plus the claim leases of the background work
/// that several replicas share (and, until migration 6, an event id counter).
///
/// The text `status IN ('requested','queued','active')` is repeated verbatim
/// in queries (see `ops.rs`) so the planner can use the partial indexes.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: initial schema (SQLite migrations 1 and 2) plus claims and the event counter.
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
    provider_state         BYTEA NOT NULL,
    queue_position         BIGINT,
    estimated_wait_seconds BIGINT,
    agent                  TEXT,               -- JSON
    callback_url           TEXT,
    created_at_ms          BIGINT NOT NULL,
    updated_at_ms          BIGINT NOT NULL,
    agent_joined_at_ms     BIGINT,
    ended_at_ms            BIGINT,
    last_user_activity_ms  BIGINT NOT NULL,
    no_agent_deadline_ms   BIGINT,
    inactivity_warn_at_ms  BIGINT,
    inactivity_end_at_ms   BIGINT,
    next_poll_at_ms        BIGINT,
    poll_failures          BIGINT NOT NULL,
    version                BIGINT NOT NULL,
    -- Earliest armed timer deadline (NULL when none is armed; LEAST skips NULLs).
    timer_due_ms           BIGINT GENERATED ALWAYS AS
                               (LEAST(no_agent_deadline_ms, inactivity_warn_at_ms,
                                      inactivity_end_at_ms)) STORED,
    -- Leases of due_timers / due_polls claims (wall-clock ms); cleared by every write.
    timer_claimed_until_ms BIGINT,
    poll_claimed_until_ms  BIGINT
);

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

-- Event ids come from this single row, updated in the transaction that
-- inserts the events: its row lock makes event-writing transactions commit
-- in id order, so a reader that saw id N has seen every id below N.
CREATE TABLE event_counter (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_id  BIGINT NOT NULL
);
INSERT INTO event_counter (only_row, last_id) VALUES (TRUE, 0);

CREATE TABLE events (
    id            BIGINT PRIMARY KEY,                 -- from event_counter, never reused
    handover_id   TEXT NOT NULL REFERENCES handovers (id),
    endpoint_id   TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,                      -- JSON
    created_at_ms BIGINT NOT NULL,
    UNIQUE (handover_id, seq)
);
CREATE INDEX events_endpoint ON events (endpoint_id, id);
CREATE INDEX events_handover ON events (handover_id, id);

CREATE TABLE correlation_keys (
    endpoint_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    handover_id TEXT NOT NULL REFERENCES handovers (id),
    PRIMARY KEY (endpoint_id, key)
);
CREATE INDEX correlation_keys_handover ON correlation_keys (handover_id);

CREATE TABLE webhook_deliveries (
    endpoint_id    TEXT NOT NULL,
    delivery_id    TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, delivery_id)
);

CREATE TABLE inbox (
    id             BIGSERIAL PRIMARY KEY,
    endpoint_id    TEXT NOT NULL,
    handover_id    TEXT NOT NULL REFERENCES handovers (id),
    request        TEXT NOT NULL,                     -- JSON
    received_at_ms BIGINT NOT NULL,
    done           BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX inbox_pending ON inbox (handover_id, id) WHERE NOT done;

CREATE TABLE outbox (
    id                 BIGSERIAL PRIMARY KEY,
    handover_id        TEXT NOT NULL REFERENCES handovers (id),
    event_id           BIGINT NOT NULL REFERENCES events (id),
    url                TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending','delivered','dead')),
    last_error         TEXT,
    updated_at_ms      BIGINT NOT NULL,
    -- Lease of a due_outbox claim (wall-clock ms).
    claimed_until_ms   BIGINT
);
CREATE INDEX outbox_pending ON outbox (handover_id, id) WHERE status = 'pending';

CREATE TABLE adapter_blobs (
    sha256 TEXT PRIMARY KEY,
    bytes  BYTEA NOT NULL
);
CREATE TABLE adapter_versions (
    seq            BIGSERIAL PRIMARY KEY,
    endpoint_id    TEXT NOT NULL,
    sha256         TEXT NOT NULL REFERENCES adapter_blobs (sha256),
    source         TEXT NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);
CREATE INDEX adapter_versions_endpoint ON adapter_versions (endpoint_id, seq);
"#,
    // 2: the recovery sweep finds abandoned starts from an index of
    // `requested` rows instead of reading every open handover.
    r#"
CREATE INDEX handovers_requested ON handovers (created_at_ms) WHERE status = 'requested';
"#,
    // 3: open handovers per tenant (SQLite migration 5), kept exact by a
    // trigger on every insert, status change and delete. A create reads its
    // tenant's row after its insert raised it (locked until commit), so
    // creates on every replica are serialized per tenant and the quota
    // never overshoots (`ops::insert_handover`).
    r#"
CREATE TABLE tenant_open (
    tenant TEXT PRIMARY KEY,
    open   BIGINT NOT NULL
);
INSERT INTO tenant_open (tenant, open)
    SELECT tenant, COUNT(*) FROM handovers
    WHERE status IN ('requested','queued','active') GROUP BY tenant;
CREATE FUNCTION handovers_count_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status IN ('requested','queued','active') THEN
        UPDATE tenant_open SET open = open - 1 WHERE tenant = OLD.tenant;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('requested','queued','active') THEN
        INSERT INTO tenant_open (tenant, open) VALUES (NEW.tenant, 1)
            ON CONFLICT (tenant) DO UPDATE SET open = tenant_open.open + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER handovers_count_open AFTER INSERT OR DELETE OR UPDATE OF status, tenant
    ON handovers FOR EACH ROW EXECUTE FUNCTION handovers_count_open();
"#,
    // 4: what the pruner reads and deletes by (SQLite migration 6).
    r#"
CREATE INDEX handovers_ended ON handovers (ended_at_ms)
    WHERE status NOT IN ('requested','queued','active');
CREATE INDEX outbox_finished ON outbox (updated_at_ms) WHERE status <> 'pending';
CREATE INDEX outbox_handover ON outbox (handover_id);
CREATE INDEX outbox_event ON outbox (event_id);
CREATE INDEX inbox_handover ON inbox (handover_id);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (received_at_ms);
"#,
    // 5: steps write only what changed: the request (up to 2 MiB, never
    // changed after the create) moves to its own table, so a step's new
    // row version no longer copies it (SQLite migration 7).
    r#"
CREATE TABLE handover_requests (
    handover_id TEXT PRIMARY KEY REFERENCES handovers (id),
    request     TEXT NOT NULL
);
INSERT INTO handover_requests (handover_id, request) SELECT id, request FROM handovers;
ALTER TABLE handovers DROP COLUMN request;
"#,
    // 6: event ids come from the writing transaction's id, with no lock
    // (`watermark`), instead of from the `event_counter` row, whose lock
    // serialized every event-writing commit of every replica. New ids are
    // `xid << 16` and up: above every counter id (a transaction wrote fewer
    // than 65,536 events), which the check below confirms, so streams
    // resumed with an old id still get every new event. Also: the index
    // of a tenant's handovers (SQLite migration 8).
    r#"
DO $$
BEGIN
    IF (SELECT COALESCE(MAX(id), 0) FROM events)
        >= (pg_current_xact_id()::text::bigint << 16) THEN
        RAISE EXCEPTION 'events hold ids above the new id range; refusing to migrate';
    END IF;
END
$$;
DROP TABLE event_counter;
-- A tenant's handovers, newest first (`/admin/handovers` with a tenant key).
CREATE INDEX handovers_tenant_created ON handovers (tenant, created_at_ms, id);
COMMENT ON COLUMN events.id IS
    '(writing transaction id << 16) | index in that transaction; see watermark.rs';
"#,
    // 7: what contract 0.2.0 adapters report beyond the status (hand-back
    // variables, wrap-up, survey, provider references), a JSON object as
    // text (SQLite migration 9).
    r#"
ALTER TABLE handovers ADD COLUMN extras TEXT;
"#,
    // 8: canary rollouts (SQLite migration 10): one record per endpoint
    // (the running canary, or how the last ended) with the candidate's
    // bytes, and each replica's counts of the running one.
    r#"
CREATE TABLE canaries (
    endpoint_id TEXT PRIMARY KEY,
    canary_id   TEXT NOT NULL,
    running     BOOLEAN NOT NULL,
    doc         TEXT NOT NULL,
    bytes       BYTEA NOT NULL
);
CREATE TABLE canary_counts (
    canary_id     TEXT NOT NULL,
    replica       TEXT NOT NULL,
    counts        TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (canary_id, replica)
);
CREATE TABLE recordings (
    id          BIGSERIAL PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    handover_id TEXT NOT NULL,
    entry       TEXT NOT NULL
);
CREATE INDEX recordings_endpoint ON recordings (endpoint_id, handover_id, id);
"#,
    // 9: the open count's trigger (3) fired on every step: a step's UPDATE
    // names `status` whether it changed or not, and `UPDATE OF status`
    // fires on a named column. Its tenant_open row update then held the
    // tenant's row lock until commit, so every step of every handover of a
    // tenant waited for the previous one's commit: a serialization point
    // per tenant. Updates now count only when a handover opens, closes or
    // changes tenant (steps of open handovers touch no shared row).
    r#"
DROP TRIGGER handovers_count_open ON handovers;
CREATE TRIGGER handovers_count_open AFTER INSERT OR DELETE
    ON handovers FOR EACH ROW EXECUTE FUNCTION handovers_count_open();
CREATE TRIGGER handovers_count_open_update AFTER UPDATE OF status, tenant
    ON handovers FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant
          OR (OLD.status IN ('requested','queued','active'))
             <> (NEW.status IN ('requested','queued','active')))
    EXECUTE FUNCTION handovers_count_open();
"#,
    // 10: the retention pruner deletes an ended handover's replay
    // recordings by handover id, which `recordings_endpoint` does not lead
    // with (a scan of the table per pruned batch).
    r#"
CREATE INDEX recordings_handover ON recordings (handover_id);
"#,
];

/// The schema version this build writes and understands.
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring the schema (the first schema of the connection's `search_path`) to
/// [`current_version`]. Each migration is one transaction under an advisory
/// lock, so concurrent replicas never race. A schema written by a newer
/// build is refused, never modified.
pub(super) async fn migrate(client: &mut Client) -> Result<()> {
    let schema: Option<String> = client
        .query_one("SELECT current_schema()::text", &[])
        .await?
        .get(0);
    let Some(schema) = schema else {
        return Err(StoreError::backend(
            "postgres: no schema to create tables in: the first schema of `search_path` \
             does not exist (create it, or fix `options=-csearch_path=...` in the URL)",
        ));
    };
    loop {
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_SPACE, &format!("{MIGRATION_LOCK}{schema}")],
        )
        .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (\
                 only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), \
                 version BIGINT NOT NULL); \
             INSERT INTO schema_version (only_row, version) VALUES (TRUE, 0) \
                 ON CONFLICT DO NOTHING;",
        )
        .await?;
        let found: i64 = tx
            .query_one("SELECT version FROM schema_version", &[])
            .await?
            .get(0);
        let known = current_version();
        check_schema_version(found, known)?;
        if found == known {
            tx.commit().await?;
            return Ok(());
        }
        let sql = MIGRATIONS[found as usize];
        tx.batch_execute(sql)
            .await
            .map_err(|e| migration_failed(found + 1, StoreError::from(e)))?;
        tx.execute("UPDATE schema_version SET version = $1", &[&(found + 1)])
            .await?;
        tx.commit().await?;
    }
}
