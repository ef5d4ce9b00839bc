//! The SQL behind each [`Store`](handover_core::store::Store) method, as blocking
//! functions that run inside a transaction the caller opened and commits.
//!
//! Owns: the statements and the write semantics (version check, event
//! sequence numbers, outbox rows, correlation rebinding, webhook dedupe);
//! the checks both stores make alike are core's (`Change::check_rowless`,
//! `HandoverRow::check_identity`, `StoreError::stale_or_missing`), and rows
//! decode through `handover_core::store::columns`.
//! Must never: open or commit transactions, sleep, call adapters, or decide
//! handover semantics beyond what the store contract says.

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::rows::{ByName, JsonRef, is_unique_violation, select_handovers};
use handover_core::store::{
    AdapterVersion, Change, EventScope, HandoverRow, Identity, InboxItem, Insert, OutboxItem,
    Pruned, Result, Retention, Share, StoreError, StoredEvent, columns, outbox_item_found,
};

// ---------------------------------------------------------------- handovers

/// `None`: `row` was inserted as given (the caller answers
/// [`Insert::Inserted`] with it); otherwise what refused it.
pub(super) fn insert_handover(
    conn: &Connection,
    row: &HandoverRow,
    open_limit: Option<u64>,
) -> Result<Option<Insert>> {
    if let Some(existing) = existing_for(conn, row)? {
        return Ok(Some(existing));
    }
    // The one writer connection runs this count and the insert in one
    // transaction: no other create can come between them.
    if let Some(limit) = open_limit {
        let open = count_open_handovers(conn, &row.tenant)?;
        if open >= limit {
            return Ok(Some(Insert::OverQuota { open }));
        }
    }
    insert_or_resolve(conn, row)
}

/// The tenant's open handovers, from the counter the schema's triggers
/// keep (migration 5).
pub(super) fn count_open_handovers(conn: &Connection, tenant: &str) -> Result<u64> {
    let open: Option<i64> = conn
        .prepare_cached("SELECT open FROM tenant_open WHERE tenant = ?1")?
        .query_row([tenant], |r| r.get(0))
        .optional()?;
    Ok(open.unwrap_or(0).max(0) as u64)
}

/// The idempotent replay or open handover that `row` collides with, if any.
/// The idempotency key takes precedence.
fn existing_for(conn: &Connection, row: &HandoverRow) -> Result<Option<Insert>> {
    if let Some(key) = &row.idempotency_key {
        let found = conn
            .prepare_cached(select_handovers!(
                "WHERE endpoint_id = ?1 AND idempotency_key = ?2"
            ))?
            .query_row(params![row.endpoint_id, key], |r| {
                columns::handover(&ByName::handover(r))
            })
            .optional()?;
        if let Some(found) = found {
            return Ok(Some(Insert::IdempotentReplay(found)));
        }
    }
    let found = conn
        .prepare_cached(select_handovers!(
            "WHERE endpoint_id = ?1 AND session_id = ?2 ",
            "AND status IN ('requested','queued','active')"
        ))?
        .query_row(params![row.endpoint_id, row.session_id], |r| {
            columns::handover(&ByName::handover(r))
        })
        .optional()?;
    Ok(found.map(Insert::OpenExists))
}

/// Insert (`None`), and if a unique index refuses the row (a concurrent
/// writer got there first), report what it collided with.
pub(super) fn insert_or_resolve(conn: &Connection, row: &HandoverRow) -> Result<Option<Insert>> {
    match insert_row(conn, row) {
        Ok(()) => Ok(None),
        Err(e) if is_unique_violation(&e) => match existing_for(conn, row)? {
            Some(existing) => Ok(Some(existing)),
            None => Err(StoreError::backend(format!(
                "cannot insert handover {}: {e}",
                row.id
            ))),
        },
        Err(e) => Err(e.into()),
    }
}

/// How many of [`Encoded::step_params`] no index covers.
const UNINDEXED: usize = 14;

/// A handover's values that are bound converted: the status by name, JSON
/// as text.
struct Encoded<'a> {
    status: &'static str,
    request: JsonRef<'a>,
    agent: Option<JsonRef<'a>>,
    extras: Option<JsonRef<'a>>,
}

impl<'a> Encoded<'a> {
    fn new(h: &'a HandoverRow) -> Self {
        Encoded {
            status: h.status.as_str(),
            request: JsonRef(&h.request),
            agent: h.agent.as_ref().map(JsonRef),
            extras: h.extras.as_ref().map(JsonRef),
        }
    }

    /// The named values of every column a step may write: first the
    /// [`UNINDEXED`] ones no index covers (what [`update_row`] always
    /// writes), then the indexed ones (written only when one changes).
    fn step_params(&'a self, h: &'a HandoverRow) -> [(&'static str, &'a dyn ToSql); 19] {
        [
            (":error_reason", &h.error_reason),
            (":error_message", &h.error_message),
            (":end_reason", &h.end_reason),
            (":provider_state", &h.provider_state),
            (":queue_position", &h.queue_position),
            (":estimated_wait_seconds", &h.estimated_wait_seconds),
            (":agent", &self.agent),
            (":callback_url", &h.callback_url),
            (":updated_at_ms", &h.updated_at_ms),
            (":agent_joined_at_ms", &h.agent_joined_at_ms),
            (":ended_at_ms", &h.ended_at_ms),
            (":last_user_activity_ms", &h.last_user_activity_ms),
            (":poll_failures", &h.poll_failures),
            (":extras", &self.extras),
            (":status", &self.status),
            (":no_agent_deadline_ms", &h.no_agent_deadline_ms),
            (":inactivity_warn_at_ms", &h.inactivity_warn_at_ms),
            (":inactivity_end_at_ms", &h.inactivity_end_at_ms),
            (":next_poll_at_ms", &h.next_poll_at_ms),
        ]
    }
}

fn insert_row(conn: &Connection, h: &HandoverRow) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO handovers (id, endpoint_id, tenant, session_id, idempotency_key, status, \
         error_reason, error_message, end_reason, provider_state, queue_position, \
         estimated_wait_seconds, agent, callback_url, created_at_ms, updated_at_ms, \
         agent_joined_at_ms, ended_at_ms, last_user_activity_ms, no_agent_deadline_ms, \
         inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, poll_failures, extras, version) \
         VALUES (:id, :endpoint_id, :tenant, :session_id, :idempotency_key, :status, \
         :error_reason, :error_message, :end_reason, :provider_state, :queue_position, \
         :estimated_wait_seconds, :agent, :callback_url, :created_at_ms, :updated_at_ms, \
         :agent_joined_at_ms, :ended_at_ms, :last_user_activity_ms, :no_agent_deadline_ms, \
         :inactivity_warn_at_ms, :inactivity_end_at_ms, :next_poll_at_ms, :poll_failures, :extras, :version)",
    )?;
    let encoded = Encoded::new(h);
    let mut params: Vec<(&str, &dyn ToSql)> = vec![
        (":id", &h.id),
        (":endpoint_id", &h.endpoint_id),
        (":tenant", &h.tenant),
        (":session_id", &h.session_id),
        (":idempotency_key", &h.idempotency_key),
        (":created_at_ms", &h.created_at_ms),
        (":version", &h.version),
    ];
    params.extend(encoded.step_params(h));
    stmt.execute(&*params)?;
    // Written once: steps never rewrite the request (see `update_row`).
    conn.prepare_cached("INSERT INTO handover_requests (handover_id, request) VALUES (?1, ?2)")?
        .execute(params![h.id, encoded.request])?;
    Ok(())
}

pub(super) fn get_handover(conn: &Connection, id: &str) -> Result<Option<HandoverRow>> {
    Ok(conn
        .prepare_cached(select_handovers!("WHERE id = ?1"))?
        .query_row([id], |r| columns::handover(&ByName::handover(r)))
        .optional()?)
}

pub(super) fn list_handovers(
    conn: &Connection,
    endpoint_id: Option<&str>,
    open_only: bool,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    // Four fixed statements rather than `?1 IS NULL OR ...`, so each can use an index.
    let sql = match (endpoint_id.is_some(), open_only) {
        (true, false) => select_handovers!(
            "WHERE endpoint_id = ?1 ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
        ),
        (true, true) => select_handovers!(
            "WHERE endpoint_id = ?1 AND status IN ('requested','queued','active') ",
            "ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
        ),
        (false, false) => select_handovers!("ORDER BY created_at_ms DESC, id DESC LIMIT ?1"),
        (false, true) => select_handovers!(
            "WHERE status IN ('requested','queued','active') ",
            "ORDER BY created_at_ms DESC, id DESC LIMIT ?1"
        ),
    };
    let limit = i64::from(limit);
    match endpoint_id {
        Some(endpoint) => handovers(conn, sql, params![endpoint, limit]),
        None => handovers(conn, sql, params![limit]),
    }
}

pub(super) fn list_tenant_handovers(
    conn: &Connection,
    tenant: &str,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    let sql = select_handovers!("WHERE tenant = ?1 ORDER BY created_at_ms DESC, id DESC LIMIT ?2");
    handovers(conn, sql, params![tenant, i64::from(limit)])
}

pub(super) fn abandoned_starts(
    conn: &Connection,
    created_before_ms: i64,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    let sql = select_handovers!(
        "WHERE status = 'requested' AND created_at_ms < ?1 ORDER BY created_at_ms LIMIT ?2"
    );
    handovers(conn, sql, params![created_before_ms, i64::from(limit)])
}

/// A [`Share`] as bound parameters: the per-tenant cap and the skipped
/// tenants as a JSON array (read with `json_each`).
pub(super) struct Sharing {
    per_tenant: i64,
    skip: String,
}

impl Sharing {
    pub(super) fn of(share: &Share<'_>) -> Sharing {
        Sharing {
            per_tenant: i64::from(share.per_tenant),
            skip: serde_json::to_string(share.skip).unwrap_or_else(|_| "[]".into()),
        }
    }
}

/// `SELECT` the open handovers whose `$column` is at or before `?1`,
/// shared between tenants (see [`Share`]): each tenant's earliest `?4`
/// (tenants in the JSON array `?3` not at all), at most `?2` cut
/// round-robin, earliest first.
macro_rules! select_due {
    ($column:literal) => {
        select_handovers!(
            "WHERE id IN (SELECT id FROM (SELECT id, ",
            $column,
            " AS due_at, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY ",
            $column,
            ", id) AS rn FROM handovers WHERE status IN ('requested','queued','active') AND ",
            $column,
            " <= ?1 AND tenant NOT IN (SELECT value FROM json_each(?3))) ",
            "WHERE rn <= ?4 ORDER BY rn, due_at, id LIMIT ?2) ORDER BY ",
            $column,
            ", id"
        )
    };
}

pub(super) fn due_timers(
    conn: &Connection,
    now_ms: i64,
    limit: u32,
    share: &Sharing,
) -> Result<Vec<HandoverRow>> {
    let sql = select_due!("timer_due_ms");
    handovers(
        conn,
        sql,
        params![now_ms, i64::from(limit), share.skip, share.per_tenant],
    )
}

pub(super) fn due_polls(
    conn: &Connection,
    now_ms: i64,
    limit: u32,
    share: &Sharing,
) -> Result<Vec<HandoverRow>> {
    let sql = select_due!("next_poll_at_ms");
    handovers(
        conn,
        sql,
        params![now_ms, i64::from(limit), share.skip, share.per_tenant],
    )
}

/// The handover rows `sql` (a [`select_handovers!`] statement) selects
/// with `params`, in its order.
fn handovers(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<HandoverRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| columns::handover(&ByName::handover(r)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------- apply

/// What [`apply`] wrote: each event's id and `seq`, and the time stamped
/// on them.
pub(super) struct Applied {
    ids: Vec<(i64, i64)>,
    now_ms: i64,
}

impl Applied {
    /// The change's events as stored (taking them from the change).
    pub(super) fn events(change: &mut Change, applied: Applied) -> Vec<StoredEvent> {
        let Some(row) = &change.row else {
            return Vec::new();
        };
        let Applied { ids, now_ms } = applied;
        std::mem::take(&mut change.events)
            .into_iter()
            .zip(ids)
            .map(|(event, (id, seq))| event.stored(id, &row.id, &row.endpoint_id, seq, now_ms))
            .collect()
    }
}

/// One step, all or nothing. A change without a row may only mark inbox
/// items done (see [`Change::check_rowless`]). Reads the change only, so
/// it can run again after a rolled-back batch (see [`Applied::events`]).
pub(super) fn apply(conn: &Connection, change: &Change, now_ms: i64) -> Result<Applied> {
    change.check_rowless()?;
    let Change {
        row,
        events,
        correlation_keys,
        inbox_done,
        deliveries,
        // One process writes the file: no other process's lock to respect,
        // but the inline step's read may have come from the row cache.
        without_shared_lock: inline,
        route_key,
    } = change;
    let mut applied = Applied {
        ids: Vec::with_capacity(events.len()),
        now_ms,
    };
    let Some(row) = row else {
        mark_inbox_done(conn, inbox_done)?;
        return Ok(applied);
    };
    record_deliveries(conn, &row.endpoint_id, deliveries, now_ms)?;
    // An inline webhook step is applied only while its handover's inbox is
    // empty (else it would overtake the webhooks waiting there); checked
    // here too, not only at its read (which may be the row cache's).
    if *inline && inbox_pending(conn, &row.id)? {
        return Err(StoreError::Conflict(row.id.clone()));
    }
    // The key that routed the webhook here (perhaps by the cache) still
    // names this handover.
    if let Some(key) = route_key
        && find_by_correlation(conn, &row.endpoint_id, key)?.as_deref() != Some(row.id.as_str())
    {
        return Err(StoreError::Conflict(row.id.clone()));
    }

    let callback_url = update_row(conn, row)?;
    let handover_id = row.id.as_str();
    let endpoint_id = row.endpoint_id.as_str();

    if !events.is_empty() {
        let mut seq: i64 = conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events WHERE handover_id = ?1")?
            .query_row([handover_id], |r| r.get(0))?;
        let mut insert_event = conn.prepare_cached(
            "INSERT INTO events (handover_id, endpoint_id, seq, kind, payload, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut insert_outbox = conn.prepare_cached(
            "INSERT INTO outbox (handover_id, event_id, url, attempts, next_attempt_at_ms, status, \
             updated_at_ms) VALUES (?1, ?2, ?3, 0, ?4, 'pending', ?4)",
        )?;
        for event in events {
            seq += 1;
            insert_event.execute(params![
                handover_id,
                endpoint_id,
                seq,
                event.kind,
                JsonRef(&event.payload),
                now_ms
            ])?;
            let id = conn.last_insert_rowid();
            if let Some(url) = &callback_url {
                insert_outbox.execute(params![handover_id, id, url, now_ms])?;
            }
            applied.ids.push((id, seq));
        }
    }

    if !correlation_keys.is_empty() {
        // A key bound to another handover of the endpoint moves to this one.
        let mut bind = conn.prepare_cached(
            "INSERT INTO correlation_keys (endpoint_id, key, handover_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (endpoint_id, key) DO UPDATE SET handover_id = excluded.handover_id \
             WHERE handover_id <> excluded.handover_id",
        )?;
        for key in correlation_keys {
            bind.execute(params![endpoint_id, key, handover_id])?;
        }
    }

    mark_inbox_done(conn, inbox_done)?;
    Ok(applied)
}

/// Write the row's mutable columns if its version is unchanged and bump the
/// version. Returns the stored callback URL. The identity columns (id,
/// endpoint, tenant, session, idempotency key, created_at) are never
/// rewritten; a row that tries to change them is refused.
fn update_row(conn: &Connection, h: &HandoverRow) -> Result<Option<String>> {
    // Two statements: most steps change none of the indexed columns
    // (status, timer deadlines, next poll), and SQLite rewrites the entries
    // of every index whose columns a statement assigns, changed or not. So
    // the first assigns only unindexed columns (and checks the version);
    // the second runs only when an indexed column really changes.
    let mut stmt = conn.prepare_cached(
        "UPDATE handovers SET error_reason = :error_reason, \
         error_message = :error_message, end_reason = :end_reason, \
         provider_state = :provider_state, queue_position = :queue_position, \
         estimated_wait_seconds = :estimated_wait_seconds, agent = :agent, \
         callback_url = :callback_url, updated_at_ms = :updated_at_ms, \
         agent_joined_at_ms = :agent_joined_at_ms, ended_at_ms = :ended_at_ms, \
         last_user_activity_ms = :last_user_activity_ms, \
         poll_failures = :poll_failures, extras = :extras, version = version + 1 \
         WHERE id = :id AND version = :version \
         RETURNING endpoint_id, tenant, session_id, idempotency_key, created_at_ms, \
         status, no_agent_deadline_ms, inactivity_warn_at_ms, inactivity_end_at_ms, \
         next_poll_at_ms",
    )?;
    let encoded = Encoded::new(h);
    let step_params = encoded.step_params(h);
    let (unindexed_params, indexed_params) = step_params.split_at(UNINDEXED);
    let mut update_params = unindexed_params.to_vec();
    update_params.extend::<[(&str, &dyn ToSql); 2]>([(":id", &h.id), (":version", &h.version)]);
    type Indexed = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let found = stmt
        .query_row(&*update_params, |r| {
            let identity = (
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            );
            let indexed: Indexed = (r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
            Ok((identity, indexed))
        })
        .optional()?;
    let Some(((endpoint_id, tenant, session_id, idempotency_key, created_at_ms), indexed)) = found
    else {
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM handovers WHERE id = ?1)")?
            .query_row([&h.id], |r| r.get(0))?;
        return Err(StoreError::stale_or_missing(&h.id, exists));
    };
    h.check_identity(Identity {
        endpoint_id: &endpoint_id,
        tenant: &tenant,
        session_id: &session_id,
        idempotency_key: idempotency_key.as_deref(),
        created_at_ms,
    })?;
    let wanted: Indexed = (
        h.status.as_str().to_string(),
        h.no_agent_deadline_ms,
        h.inactivity_warn_at_ms,
        h.inactivity_end_at_ms,
        h.next_poll_at_ms,
    );
    if indexed != wanted {
        let mut indexed_params = indexed_params.to_vec();
        indexed_params.push((":id", &h.id));
        conn.prepare_cached(
            "UPDATE handovers SET status = :status, no_agent_deadline_ms = :no_agent_deadline_ms, \
             inactivity_warn_at_ms = :inactivity_warn_at_ms, \
             inactivity_end_at_ms = :inactivity_end_at_ms, next_poll_at_ms = :next_poll_at_ms \
             WHERE id = :id",
        )?
        .execute(&*indexed_params)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::backend(format!(
                    "handover {} cannot be reopened: another handover is open for its session ({e})",
                    h.id
                ))
            } else {
                e.into()
            }
        })?;
    }
    Ok(h.callback_url.clone())
}

fn mark_inbox_done(conn: &Connection, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached("UPDATE inbox SET done = 1 WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

// ---------------------------------------------------------------- correlation, inbox

pub(super) fn find_by_correlation(
    conn: &Connection,
    endpoint_id: &str,
    key: &str,
) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT handover_id FROM correlation_keys WHERE endpoint_id = ?1 AND key = ?2",
        )?
        .query_row([endpoint_id, key], |r| r.get(0))
        .optional()?)
}

pub(super) fn accept_webhook(
    conn: &Connection,
    endpoint_id: &str,
    delivery_ids: &[String],
    handover_ids: &[String],
    request: &serde_json::Value,
    now_ms: i64,
) -> Result<Vec<i64>> {
    record_deliveries(conn, endpoint_id, delivery_ids, now_ms)?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO inbox (endpoint_id, handover_id, request, received_at_ms, done) \
         VALUES (?1, ?2, ?3, ?4, 0)",
    )?;
    let mut ids = Vec::with_capacity(handover_ids.len());
    for handover_id in handover_ids {
        stmt.execute(params![endpoint_id, handover_id, JsonRef(request), now_ms])?;
        ids.push(conn.last_insert_rowid());
    }
    Ok(ids)
}

/// Record a webhook's delivery ids; [`StoreError::Duplicate`] (the caller's
/// transaction rolls back) if any was recorded before.
fn record_deliveries(
    conn: &Connection,
    endpoint_id: &str,
    delivery_ids: &[String],
    now_ms: i64,
) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (endpoint_id, delivery_id, received_at_ms) \
         VALUES (?1, ?2, ?3) ON CONFLICT (endpoint_id, delivery_id) DO NOTHING",
    )?;
    for id in delivery_ids {
        if insert.execute(params![endpoint_id, id, now_ms])? == 0 {
            return Err(StoreError::Duplicate(id.clone()));
        }
    }
    Ok(())
}

pub(super) fn pending_inbox(conn: &Connection, handover_id: &str) -> Result<Vec<InboxItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, endpoint_id, handover_id, request, received_at_ms FROM inbox \
         WHERE handover_id = ?1 AND done = 0 ORDER BY id",
    )?;
    let rows = stmt.query_map([handover_id], |r| columns::inbox_item(&ByName::new(r)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The handover's row if it has no unprocessed inbox items.
pub(super) fn handover_if_inbox_empty(conn: &Connection, id: &str) -> Result<Option<HandoverRow>> {
    if inbox_pending(conn, id)? {
        return Ok(None);
    }
    get_handover(conn, id)
}

/// Whether the handover has unprocessed inbox items.
fn inbox_pending(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM inbox WHERE handover_id = ?1 AND done = 0)")?
        .query_row([id], |r| r.get(0))?)
}

pub(super) fn handovers_with_pending_inbox(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT handover_id FROM inbox WHERE done = 0 GROUP BY handover_id ORDER BY MIN(id)",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------- events

pub(super) fn events_after(
    conn: &Connection,
    scope: &EventScope,
    after_id: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let (sql, key) = match scope {
        EventScope::Handover(id) => (
            "SELECT id, handover_id, endpoint_id, seq, kind, payload, created_at_ms FROM events \
             WHERE handover_id = ?1 AND id > ?2 ORDER BY seq LIMIT ?3",
            id,
        ),
        EventScope::Endpoint(id) => (
            "SELECT id, handover_id, endpoint_id, seq, kind, payload, created_at_ms FROM events \
             WHERE endpoint_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            id,
        ),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![key, after_id, i64::from(limit)], |r| {
        columns::event(&ByName::new(r))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The highest event id ever assigned (AUTOINCREMENT's high-water mark, so
/// it never goes back even if events are deleted), or 0.
pub(super) fn last_event_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), \
             COALESCE((SELECT MAX(id) FROM events), 0))",
        )?
        .query_row([], |r| r.get(0))?)
}

// ---------------------------------------------------------------- outbox

/// Due deliveries, only the oldest pending row of each handover (a newer
/// event is never delivered while an older one is still pending, even if
/// the older one is backing off), shared between the handovers' tenants
/// as [`Share`] says.
pub(super) fn due_outbox(
    conn: &Connection,
    now_ms: i64,
    limit: u32,
    share: &Sharing,
) -> Result<Vec<OutboxItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, handover_id, tenant, event_id, url, attempts, next_attempt_at_ms FROM \
         (SELECT o.id, o.handover_id, h.tenant, o.event_id, o.url, o.attempts, \
         o.next_attempt_at_ms, ROW_NUMBER() OVER (PARTITION BY h.tenant \
         ORDER BY o.next_attempt_at_ms, o.id) AS rn \
         FROM (SELECT MIN(id) AS id FROM outbox WHERE status = 'pending' GROUP BY handover_id) AS heads \
         JOIN outbox AS o ON o.id = heads.id JOIN handovers AS h ON h.id = o.handover_id \
         WHERE o.next_attempt_at_ms <= ?1 AND h.tenant NOT IN (SELECT value FROM json_each(?3))) \
         WHERE rn <= ?4 ORDER BY rn, next_attempt_at_ms, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![now_ms, i64::from(limit), share.skip, share.per_tenant],
        |r| columns::outbox_item(&ByName::new(r)),
    )?;
    let mut out: Vec<OutboxItem> = rows.collect::<rusqlite::Result<_>>()?;
    out.sort_by_key(|o| (o.next_attempt_at_ms, o.id));
    Ok(out)
}

pub(super) fn outbox_delivered(conn: &Connection, id: i64, now_ms: i64) -> Result<()> {
    let n = conn
        .prepare_cached("UPDATE outbox SET status = 'delivered', updated_at_ms = ?2 WHERE id = ?1")?
        .execute(params![id, now_ms])?;
    outbox_item_found(n > 0, id)
}

pub(super) fn outbox_retry(
    conn: &Connection,
    id: i64,
    attempts: u32,
    next_attempt_at_ms: i64,
    error: &str,
    now_ms: i64,
) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = ?2, next_attempt_at_ms = ?3, last_error = ?4, \
             updated_at_ms = ?5 WHERE id = ?1",
        )?
        .execute(params![id, attempts, next_attempt_at_ms, error, now_ms])?;
    outbox_item_found(n > 0, id)
}

pub(super) fn outbox_dead(conn: &Connection, id: i64, error: &str, now_ms: i64) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = ?2, updated_at_ms = ?3 WHERE id = ?1",
        )?
        .execute(params![id, error, now_ms])?;
    outbox_item_found(n > 0, id)
}

// ---------------------------------------------------------------- adapter versions

pub(super) fn record_adapter_version(
    conn: &Connection,
    endpoint_id: String,
    sha256: String,
    bytes: Option<&[u8]>,
    source: String,
    now_ms: i64,
) -> Result<AdapterVersion> {
    if let Some(b) = bytes {
        conn.prepare_cached("INSERT OR IGNORE INTO adapter_blobs (sha256, bytes) VALUES (?1, ?2)")?
            .execute(params![sha256, b])?;
    }
    conn.prepare_cached(
        "INSERT INTO adapter_versions (endpoint_id, sha256, source, recorded_at_ms) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![endpoint_id, sha256, source, now_ms])?;
    Ok(AdapterVersion {
        seq: conn.last_insert_rowid(),
        endpoint_id,
        sha256,
        source,
        recorded_at_ms: now_ms,
    })
}

pub(super) fn current_adapter_version(
    conn: &Connection,
    endpoint_id: &str,
) -> Result<Option<AdapterVersion>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, endpoint_id, sha256, source, recorded_at_ms FROM adapter_versions \
             WHERE endpoint_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([endpoint_id], |r| columns::adapter_version(&ByName::new(r)))
        .optional()?)
}

pub(super) fn adapter_bytes(conn: &Connection, sha256: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM adapter_blobs WHERE sha256 = ?1")?
        .query_row([sha256], |r| r.get(0))
        .optional()?)
}

// ---------------------------------------------------------------- retention

/// Delete what `r` says is old enough, at most `r.batch` rows of each kind
/// (ended handovers go with everything that names them, children first).
pub(super) fn prune(conn: &Connection, r: &Retention) -> Result<Pruned> {
    let batch = i64::from(r.batch);
    let mut p = Pruned::default();
    let delete = |sql: &str, before: i64| -> Result<u64> {
        Ok(conn.prepare_cached(sql)?.execute(params![before, batch])? as u64)
    };
    if let Some(before) = r.callbacks_before_ms {
        p.callbacks = delete(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE status <> 'pending' AND updated_at_ms < ?1 ORDER BY updated_at_ms LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = r.inbox_before_ms {
        p.inbox = delete(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox \
             WHERE done = 1 AND received_at_ms < ?1 ORDER BY id LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = r.deliveries_before_ms {
        p.deliveries = delete(
            "DELETE FROM webhook_deliveries WHERE (endpoint_id, delivery_id) IN \
             (SELECT endpoint_id, delivery_id FROM webhook_deliveries \
             WHERE received_at_ms < ?1 ORDER BY received_at_ms LIMIT ?2)",
            before,
        )?;
    }
    if let Some(before) = r.handovers_ended_before_ms {
        let ids: Vec<String> = conn
            .prepare_cached(
                "SELECT id FROM handovers WHERE status NOT IN ('requested','queued','active') \
                 AND ended_at_ms < ?1 ORDER BY ended_at_ms LIMIT ?2",
            )?
            .query_map(params![before, batch], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let of_these = |table: &str| -> Result<u64> {
            let sql = format!(
                "DELETE FROM {table} WHERE handover_id IN (SELECT value FROM json_each(?1))"
            );
            Ok(conn.prepare_cached(&sql)?.execute([&ids])? as u64)
        };
        for table in [
            "outbox",
            "inbox",
            "correlation_keys",
            "handover_requests",
            "recordings",
        ] {
            of_these(table)?;
        }
        p.events = of_these("events")?;
        p.handovers = conn
            .prepare_cached("DELETE FROM handovers WHERE id IN (SELECT value FROM json_each(?1))")?
            .execute([&ids])? as u64;
    }
    if let Some(keep) = r.versions_kept {
        p.adapter_versions = conn
            .prepare_cached(
                "DELETE FROM adapter_versions WHERE seq IN (SELECT seq FROM (SELECT seq, \
                 ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY seq DESC) AS rn \
                 FROM adapter_versions) WHERE rn > ?1)",
            )?
            .execute([i64::from(keep)])? as u64;
        p.adapter_blobs = conn
            .prepare_cached(
                "DELETE FROM adapter_blobs WHERE sha256 NOT IN (SELECT sha256 FROM adapter_versions)",
            )?
            .execute([])? as u64;
    }
    Ok(p)
}
