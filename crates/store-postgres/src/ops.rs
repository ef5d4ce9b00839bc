//! The SQL behind each [`Store`](handover_core::store::Store) method but
//! `apply` (a step's write, pipelined: see `step`), as async functions that
//! run inside a transaction the caller opened and commits.
//!
//! Owns: the statements and their semantics, the same as SQLite's (webhook
//! dedupe, the inbox, the exact open count, retention), plus what replicas
//! need on top: claim leases on due work (new events are notified after
//! commit: `notify`). The checks both stores make alike are core's, as for
//! SQLite (see its `ops`). Must never: open or commit transactions, sleep,
//! call adapters, or decide handover semantics beyond what the store
//! contract says.

use deadpool_postgres::{ClientWrapper as Conn, Transaction};
use tokio_postgres::types::ToSql;

use super::rows::{self, ByName, handover_columns, json_text, select_handovers};
use handover_core::store::{
    AdapterVersion, HandoverRow, InboxItem, Insert, OutboxItem, Pruned, Result, Retention, Share,
    StoreError, StoredEvent, Unclaimed, columns, outbox_item_found,
};

/// SQL for a notification channel's name: `$base` plus a digest of the
/// connection's schema. Channels are database-wide, so hosts sharing a
/// database under different schemas must not wake (or mislead) each other.
macro_rules! schema_channel {
    ($base:literal) => {
        concat!("'", $base, "_' || left(md5(current_schema()), 16)")
    };
}

/// SQL for the channel `apply` notifies with the newest event id it wrote
/// and the handover it wrote them for.
pub(super) const EVENTS_CHANNEL: &str = schema_channel!("handover_events");
/// The notifications sent after `apply`s commit, in one statement (`$1`:
/// their payloads, `listen::payload`; see `notify`).
pub(super) const NOTIFY_EVENTS: &str = concat!(
    "SELECT pg_notify(",
    schema_channel!("handover_events"),
    ", p) FROM unnest($1::text[]) AS p"
);
/// `record_adapter_version`'s notification (`$1`: the endpoint id).
const NOTIFY_ADAPTERS: &str = concat!(
    "SELECT pg_notify(",
    schema_channel!("adapter_versions"),
    ", $1)"
);

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A handover's values that are bound converted: the status by name, JSON
/// as text, `u32`s as BIGINT. (Not the create request, which only the
/// insert writes.)
pub(super) struct Encoded {
    pub(super) status: &'static str,
    pub(super) agent: Option<String>,
    pub(super) extras: Option<String>,
    pub(super) queue_position: Option<i64>,
    pub(super) wait: Option<i64>,
    pub(super) poll_failures: i64,
}

impl Encoded {
    pub(super) fn new(h: &HandoverRow) -> Self {
        Encoded {
            status: h.status.as_str(),
            agent: h.agent.as_ref().map(json_text),
            extras: h.extras.as_ref().map(json_text),
            queue_position: h.queue_position.map(i64::from),
            wait: h.estimated_wait_seconds.map(i64::from),
            poll_failures: i64::from(h.poll_failures),
        }
    }

    /// The values of every column a step may write (all but the identity
    /// columns, the version and the request, which is written once, by the
    /// insert, to its own table), `$1` to `$19` of the insert and the update.
    pub(super) fn step_params<'a>(&'a self, h: &'a HandoverRow) -> [&'a (dyn ToSql + Sync); 19] {
        [
            &self.status,
            &h.error_reason,
            &h.error_message,
            &h.end_reason,
            &h.provider_state,
            &self.queue_position,
            &self.wait,
            &self.agent,
            &h.callback_url,
            &h.updated_at_ms,
            &h.agent_joined_at_ms,
            &h.ended_at_ms,
            &h.last_user_activity_ms,
            &h.no_agent_deadline_ms,
            &h.inactivity_warn_at_ms,
            &h.inactivity_end_at_ms,
            &h.next_poll_at_ms,
            &self.poll_failures,
            &self.extras,
        ]
    }
}

// ---------------------------------------------------------------- handovers

pub(super) async fn insert_handover(
    tx: &Transaction<'_>,
    row: HandoverRow,
    open_limit: Option<u64>,
) -> Result<Insert> {
    if let Some(existing) = existing_for(tx, &row).await? {
        return Ok(existing);
    }
    let Some(limit) = open_limit else {
        return insert_or_resolve(tx, row).await;
    };
    // Insert first, then read the tenant's counter, which the insert's
    // trigger has just raised and holds locked until commit: every
    // replica's creates of this tenant are serialized on that row, so the
    // count is exact, and one over the quota is undone. The counter is
    // locked only after the insert, as every status change locks it only
    // after its handover row (the trigger). Locking it first (as before)
    // deadlocked with a step on the same session's open handover: the
    // create held the counter and its insert waited for the step's row,
    // whose trigger waited for the counter.
    tx.batch_execute("SAVEPOINT open_quota").await?;
    let tenant = row.tenant.clone();
    let inserted = insert_or_resolve(tx, row).await?;
    if matches!(inserted, Insert::Inserted(_)) {
        let stmt = tx
            .prepare_cached("SELECT open FROM tenant_open WHERE tenant = $1")
            .await?;
        let open: i64 = tx.query_one(&stmt, &[&tenant]).await?.get(0);
        let open = open.max(0) as u64;
        if open > limit {
            tx.batch_execute("ROLLBACK TO SAVEPOINT open_quota").await?;
            return Ok(Insert::OverQuota { open: open - 1 });
        }
    }
    tx.batch_execute("RELEASE SAVEPOINT open_quota").await?;
    Ok(inserted)
}

/// The tenant's open handovers, from the counter the schema's trigger
/// keeps (migration 3).
pub(super) async fn count_open_handovers(c: &Conn, tenant: &str) -> Result<u64> {
    let stmt = c
        .prepare_cached("SELECT open FROM tenant_open WHERE tenant = $1")
        .await?;
    let open: i64 = c
        .query_opt(&stmt, &[&tenant])
        .await?
        .map_or(0, |r| r.get(0));
    Ok(open.max(0) as u64)
}

/// The idempotent replay or open handover that `row` collides with, if any.
/// The idempotency key takes precedence.
async fn existing_for(tx: &Transaction<'_>, row: &HandoverRow) -> Result<Option<Insert>> {
    if let Some(key) = &row.idempotency_key {
        let stmt = tx
            .prepare_cached(select_handovers!(
                "WHERE endpoint_id = $1 AND idempotency_key = $2"
            ))
            .await?;
        if let Some(found) = tx.query_opt(&stmt, &[&row.endpoint_id, key]).await? {
            return Ok(Some(Insert::IdempotentReplay(columns::handover(&ByName(
                &found,
            ))?)));
        }
    }
    let stmt = tx
        .prepare_cached(select_handovers!(
            "WHERE endpoint_id = $1 AND session_id = $2 ",
            "AND status IN ('requested','queued','active')"
        ))
        .await?;
    match tx
        .query_opt(&stmt, &[&row.endpoint_id, &row.session_id])
        .await?
    {
        Some(found) => Ok(Some(Insert::OpenExists(columns::handover(&ByName(
            &found,
        ))?))),
        None => Ok(None),
    }
}

/// Insert, and if a unique index refuses the row (a concurrent writer got
/// there first; `ON CONFLICT DO NOTHING` waited for it to commit), report
/// what it collided with. A duplicate id that is neither is an error.
pub(super) async fn insert_or_resolve(tx: &Transaction<'_>, row: HandoverRow) -> Result<Insert> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO handovers (status, error_reason, error_message, end_reason, \
             provider_state, queue_position, estimated_wait_seconds, agent, callback_url, \
             updated_at_ms, agent_joined_at_ms, ended_at_ms, last_user_activity_ms, \
             no_agent_deadline_ms, inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, \
             poll_failures, extras, id, endpoint_id, tenant, session_id, idempotency_key, \
             created_at_ms, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let h = &row;
    let encoded = Encoded::new(h);
    let mut params = encoded.step_params(h).to_vec();
    params.extend::<[&(dyn ToSql + Sync); 7]>([
        &h.id,
        &h.endpoint_id,
        &h.tenant,
        &h.session_id,
        &h.idempotency_key,
        &h.created_at_ms,
        &h.version,
    ]);
    let params = &params[..];
    if tx.execute(&stmt, params).await? == 1 {
        let stmt = tx
            .prepare_cached("INSERT INTO handover_requests (handover_id, request) VALUES ($1, $2)")
            .await?;
        tx.execute(&stmt, &[&h.id, &json_text(&h.request)]).await?;
        return Ok(Insert::Inserted(row));
    }
    match existing_for(tx, &row).await? {
        Some(existing) => Ok(existing),
        None => Err(StoreError::backend(format!(
            "cannot insert handover {}: a handover with this id exists",
            row.id
        ))),
    }
}

pub(super) async fn get_handover(tx: &Conn, id: &str) -> Result<Option<HandoverRow>> {
    one_handover(tx, select_handovers!("WHERE id = $1"), &[&id]).await
}

/// The handover row `sql` selects, if any.
async fn one_handover(c: &Conn, sql: &str, params: &Params<'_>) -> Result<Option<HandoverRow>> {
    let stmt = c.prepare_cached(sql).await?;
    c.query_opt(&stmt, params)
        .await?
        .map(|r| columns::handover(&ByName(&r)))
        .transpose()
}

pub(super) async fn list_handovers(
    tx: &Conn,
    endpoint_id: Option<&str>,
    open_only: bool,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    // Four fixed statements rather than `$1 IS NULL OR ...`, so each can use an index.
    let sql = match (endpoint_id.is_some(), open_only) {
        (true, false) => select_handovers!(
            "WHERE endpoint_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        ),
        (true, true) => select_handovers!(
            "WHERE endpoint_id = $1 AND status IN ('requested','queued','active') ",
            "ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        ),
        (false, false) => select_handovers!("ORDER BY created_at_ms DESC, id DESC LIMIT $1"),
        (false, true) => select_handovers!(
            "WHERE status IN ('requested','queued','active') ",
            "ORDER BY created_at_ms DESC, id DESC LIMIT $1"
        ),
    };
    let limit = i64::from(limit);
    match endpoint_id {
        Some(endpoint) => handovers(tx, sql, &[&endpoint, &limit]).await,
        None => handovers(tx, sql, &[&limit]).await,
    }
}

pub(super) async fn list_tenant_handovers(
    tx: &Conn,
    tenant: &str,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    let sql = select_handovers!("WHERE tenant = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2");
    handovers(tx, sql, &[&tenant, &i64::from(limit)]).await
}

pub(super) async fn abandoned_starts(
    tx: &Conn,
    created_before_ms: i64,
    limit: u32,
) -> Result<Vec<HandoverRow>> {
    let sql = select_handovers!(
        "WHERE status = 'requested' AND created_at_ms < $1 ORDER BY created_at_ms LIMIT $2"
    );
    handovers(tx, sql, &[&created_before_ms, &i64::from(limit)]).await
}

/// The handover rows `sql` (a statement returning [`handover_columns!`])
/// yields with `params`, in its order.
async fn handovers(tx: &Conn, sql: &str, params: &Params<'_>) -> Result<Vec<HandoverRow>> {
    let stmt = tx.prepare_cached(sql).await?;
    rows::handovers(&tx.query(&stmt, params).await?)
}

/// Claim the open handovers whose `$due` column is at or before `$1` and
/// whose `$claim` lease is free at `$3` (wall-clock ms), shared between
/// tenants (see [`Share`]: each tenant's earliest `$6`, tenants in `$5`
/// not at all, at most `$2` cut round-robin), each until `$4`, skipping
/// (not waiting for) rows locked by a concurrent claim or write; returns
/// their rows.
macro_rules! claim_due {
    ($due:literal, $claim:literal) => {
        concat!(
            "WITH ranked AS (SELECT id, ",
            $due,
            " AS due_at, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY ",
            $due,
            ", id) AS rn FROM handovers ",
            "WHERE status IN ('requested','queued','active') AND ",
            $due,
            " <= $1 AND (",
            $claim,
            " IS NULL OR ",
            $claim,
            " <= $3) AND tenant <> ALL($5)), ",
            // The claim is checked again on `h`: a row locked here is
            // re-read at its newest version, and a claim committed since the
            // snapshot `ranked` saw must exclude it.
            "due AS (SELECT h.id FROM handovers AS h JOIN ranked AS r ON r.id = h.id ",
            "WHERE r.rn <= $6 AND (h.",
            $claim,
            " IS NULL OR h.",
            $claim,
            " <= $3) ORDER BY r.rn, r.due_at, h.id LIMIT $2 ",
            "FOR UPDATE OF h SKIP LOCKED) UPDATE handovers SET ",
            $claim,
            " = $4 FROM handover_requests WHERE id IN (SELECT id FROM due) ",
            "AND handover_id = id RETURNING ",
            handover_columns!()
        )
    };
}

/// What a claim of due handovers is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Due {
    /// Their timers (no-agent, inactivity): `timer_due_ms`.
    Timers,
    /// Their polls: `next_poll_at_ms`.
    Polls,
}

impl Due {
    fn sql(self) -> &'static str {
        match self {
            Due::Timers => claim_due!("timer_due_ms", "timer_claimed_until_ms"),
            Due::Polls => claim_due!("next_poll_at_ms", "poll_claimed_until_ms"),
        }
    }

    /// When `r` is due (what the statement orders by). Claimed rows are
    /// always armed; `i64::MAX` only keeps the key total.
    fn at(self, r: &HandoverRow) -> i64 {
        match self {
            Due::Timers => r.timer_due_ms(),
            Due::Polls => r.next_poll_at_ms,
        }
        .unwrap_or(i64::MAX)
    }
}

/// What every `due_*` claim binds, in this order: `$1` now, `$2` the
/// scan's limit, `$3` the wall clock (leases), `$4` the new lease's end,
/// `$5` the tenants skipped, `$6` each tenant's share (see [`Share`]).
struct ClaimParams<'a> {
    now_ms: i64,
    limit: i64,
    wall_ms: i64,
    lease_until: i64,
    skip: &'a [String],
    per_tenant: i64,
}

impl<'a> ClaimParams<'a> {
    fn new(now_ms: i64, limit: u32, share: &Share<'a>, wall_ms: i64, lease_until: i64) -> Self {
        ClaimParams {
            now_ms,
            limit: i64::from(limit),
            wall_ms,
            lease_until,
            skip: share.skip,
            per_tenant: i64::from(share.per_tenant),
        }
    }

    fn bind(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.now_ms,
            &self.limit,
            &self.wall_ms,
            &self.lease_until,
            &self.skip,
            &self.per_tenant,
        ]
    }
}

/// Open handovers with a due timer (or poll) that no other caller holds a
/// live claim on, earliest first; each returned row is claimed until
/// `lease_until` (wall-clock ms). Rows locked by a concurrent claim or
/// write are skipped, not waited for.
pub(super) async fn claim_due(
    tx: &Conn,
    due: Due,
    now_ms: i64,
    limit: u32,
    share: &Share<'_>,
    wall_ms: i64,
    lease_until: i64,
) -> Result<Vec<HandoverRow>> {
    let claim = ClaimParams::new(now_ms, limit, share, wall_ms, lease_until);
    let mut out = handovers(tx, due.sql(), &claim.bind()).await?;
    out.sort_by(|a, b| (due.at(a), &a.id).cmp(&(due.at(b), &b.id)));
    Ok(out)
}

/// Drop the claim leases of due work its claimer will not run.
pub(super) async fn release_claims(c: &Conn, unclaimed: Unclaimed<'_>) -> Result<()> {
    let sql = match unclaimed {
        Unclaimed::Timers(_) => {
            "UPDATE handovers SET timer_claimed_until_ms = NULL WHERE id = ANY($1)"
        }
        Unclaimed::Polls(_) => {
            "UPDATE handovers SET poll_claimed_until_ms = NULL WHERE id = ANY($1)"
        }
        Unclaimed::Outbox(_) => "UPDATE outbox SET claimed_until_ms = NULL WHERE id = ANY($1)",
    };
    let stmt = c.prepare_cached(sql).await?;
    match unclaimed {
        Unclaimed::Timers(ids) | Unclaimed::Polls(ids) => c.execute(&stmt, &[&ids]).await?,
        Unclaimed::Outbox(ids) => c.execute(&stmt, &[&ids]).await?,
    };
    Ok(())
}

// ---------------------------------------------------------------- correlation, inbox

pub(super) async fn find_by_correlation(
    tx: &Conn,
    endpoint_id: &str,
    key: &str,
) -> Result<Option<String>> {
    let stmt = tx
        .prepare_cached(
            "SELECT handover_id FROM correlation_keys WHERE endpoint_id = $1 AND key = $2",
        )
        .await?;
    Ok(tx
        .query_opt(&stmt, &[&endpoint_id, &key])
        .await?
        .map(|r| r.get(0)))
}

/// Record the delivery ids (`$2`, an array) of endpoint `$1` in one
/// statement; answers the ids it recorded, so a missing one was recorded
/// before (a duplicate; see [`first_duplicate`]). A concurrent insert of
/// the same delivery waits for the first to commit, then does nothing.
pub(super) const RECORD_DELIVERIES: &str = "INSERT INTO webhook_deliveries \
     (endpoint_id, delivery_id, received_at_ms) \
     SELECT $1, d, $3 FROM unnest($2::text[]) AS d \
     ON CONFLICT (endpoint_id, delivery_id) DO NOTHING RETURNING delivery_id";

/// The first of `sent` that [`RECORD_DELIVERIES`] did not record (its
/// answer `rows`), if any: [`StoreError::Duplicate`].
pub(super) fn first_duplicate(sent: &[String], rows: &[tokio_postgres::Row]) -> Result<()> {
    let mut recorded = rows
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // An id sent twice is recorded once: its second place is the duplicate.
    for id in sent {
        match recorded.iter().position(|r| r == id) {
            Some(i) => {
                recorded.swap_remove(i);
            }
            None => return Err(StoreError::Duplicate(id.clone())),
        }
    }
    Ok(())
}

/// Record a webhook's delivery ids; [`StoreError::Duplicate`] if any was
/// recorded before.
async fn record_deliveries(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    delivery_ids: &[String],
    now_ms: i64,
) -> Result<()> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare_cached(RECORD_DELIVERIES).await?;
    let rows = tx
        .query(&stmt, &[&endpoint_id, &delivery_ids, &now_ms])
        .await?;
    first_duplicate(delivery_ids, &rows)
}

pub(super) async fn accept_webhook(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    delivery_ids: &[String],
    handover_ids: &[String],
    request: &serde_json::Value,
    now_ms: i64,
) -> Result<Vec<i64>> {
    record_deliveries(tx, endpoint_id, delivery_ids, now_ms).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO inbox (endpoint_id, handover_id, request, received_at_ms, done) \
             VALUES ($1, $2, $3, $4, FALSE) RETURNING id",
        )
        .await?;
    let request = json_text(request);
    let mut ids = Vec::with_capacity(handover_ids.len());
    for handover_id in handover_ids {
        let row = tx
            .query_one(&stmt, &[&endpoint_id, handover_id, &request, &now_ms])
            .await?;
        ids.push(row.get(0));
    }
    Ok(ids)
}

/// No unprocessed inbox item of the handover `$col` names.
macro_rules! inbox_empty {
    ($col:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM inbox i WHERE i.handover_id = ",
            $col,
            " AND NOT i.done)"
        )
    };
}

pub(super) use inbox_empty;

/// The handover's row if its inbox is empty: one read.
pub(super) async fn handover_if_inbox_empty(c: &Conn, id: &str) -> Result<Option<HandoverRow>> {
    let sql = select_handovers!("WHERE id = $1 AND ", inbox_empty!("$1"));
    one_handover(c, sql, &[&id]).await
}

/// `target` (the handover a correlation key `k` names) and `t.*` (its row,
/// when its inbox is empty), after `FROM correlation_keys k` and whatever
/// selects the keys: see [`webhook_target`] and the batched lookup.
macro_rules! key_targets {
    ($from:literal) => {
        concat!(
            "k.handover_id AS target, t.* FROM ",
            $from,
            " LEFT JOIN LATERAL (",
            $crate::rows::select_handovers!(
                "WHERE id = k.handover_id AND ",
                $crate::ops::inbox_empty!("k.handover_id")
            ),
            ") t ON TRUE"
        )
    };
}
pub(super) use key_targets;

/// A webhook's handover and, if its inbox is empty, its row.
pub(super) type Target = (String, Option<HandoverRow>);

/// One row of a [`key_targets`] query.
pub(super) fn key_target(r: &tokio_postgres::Row) -> Result<Target> {
    let row = match r.try_get::<_, Option<String>>("id")? {
        Some(_) => Some(columns::handover(&ByName(r))?),
        None => None,
    };
    Ok((r.try_get("target")?, row))
}

/// The handover a webhook's key names, with its row if its inbox is
/// empty: one read instead of three.
pub(super) async fn webhook_target(
    c: &Conn,
    endpoint_id: &str,
    key: &str,
) -> Result<Option<Target>> {
    let stmt = c
        .prepare_cached(concat!(
            "SELECT ",
            key_targets!("correlation_keys k"),
            " WHERE k.endpoint_id = $1 AND k.key = $2"
        ))
        .await?;
    c.query_opt(&stmt, &[&endpoint_id, &key])
        .await?
        .map(|r| key_target(&r))
        .transpose()
}

pub(super) async fn pending_inbox(tx: &Conn, handover_id: &str) -> Result<Vec<InboxItem>> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, endpoint_id, handover_id, request, received_at_ms FROM inbox \
             WHERE handover_id = $1 AND NOT done ORDER BY id",
        )
        .await?;
    tx.query(&stmt, &[&handover_id])
        .await?
        .iter()
        .map(|r| columns::inbox_item(&ByName(r)))
        .collect()
}

pub(super) async fn handovers_with_pending_inbox(tx: &Conn) -> Result<Vec<String>> {
    let stmt = tx
        .prepare_cached(
            "SELECT handover_id FROM inbox WHERE NOT done GROUP BY handover_id ORDER BY MIN(id)",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

// ---------------------------------------------------------------- events

/// A handover's events after `after_id`, in id order. No watermark is
/// needed: the handover's steps commit one at a time, in id order (see
/// `watermark`); endpoint reads are `watermark::endpoint_page`.
pub(super) async fn handover_events(
    tx: &Conn,
    handover_id: &str,
    after_id: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, handover_id, endpoint_id, seq, kind, payload, created_at_ms FROM events \
             WHERE handover_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .await?;
    tx.query(&stmt, &[&handover_id, &after_id, &i64::from(limit)])
        .await?
        .iter()
        .map(|r| columns::event(&ByName(r)))
        .collect()
}

// ---------------------------------------------------------------- outbox

/// Due deliveries, only the oldest pending row of each handover (a newer
/// event is never delivered while an older one is still pending, even if
/// the older one is backing off), and only rows without a live claim; the
/// returned rows are claimed until `lease_until`.
pub(super) async fn due_outbox(
    tx: &Conn,
    now_ms: i64,
    limit: u32,
    share: &Share<'_>,
    wall_ms: i64,
    lease_until: i64,
) -> Result<Vec<OutboxItem>> {
    let stmt = tx
        .prepare_cached(
            "WITH heads AS (SELECT MIN(id) AS id FROM outbox WHERE status = 'pending' \
             GROUP BY handover_id), \
             ranked AS (SELECT o.id, o.next_attempt_at_ms AS due_at, ROW_NUMBER() OVER \
             (PARTITION BY h.tenant ORDER BY o.next_attempt_at_ms, o.id) AS rn \
             FROM outbox AS o JOIN heads ON o.id = heads.id \
             JOIN handovers AS h ON h.id = o.handover_id \
             WHERE o.next_attempt_at_ms <= $1 \
             AND (o.claimed_until_ms IS NULL OR o.claimed_until_ms <= $3) \
             AND h.tenant <> ALL($5)), \
             due AS (SELECT o.id FROM outbox AS o JOIN ranked AS r ON r.id = o.id \
             WHERE r.rn <= $6 AND o.status = 'pending' \
             AND (o.claimed_until_ms IS NULL OR o.claimed_until_ms <= $3) \
             ORDER BY r.rn, r.due_at, o.id LIMIT $2 \
             FOR UPDATE OF o SKIP LOCKED) \
             UPDATE outbox AS o SET claimed_until_ms = $4 FROM handovers AS h \
             WHERE o.id IN (SELECT id FROM due) AND o.status = 'pending' \
             AND h.id = o.handover_id \
             RETURNING o.id, o.handover_id, h.tenant, o.event_id, o.url, o.attempts, \
             o.next_attempt_at_ms",
        )
        .await?;
    let claim = ClaimParams::new(now_ms, limit, share, wall_ms, lease_until);
    let found = tx.query(&stmt, &claim.bind()).await?;
    let mut out: Vec<OutboxItem> = found
        .iter()
        .map(|r| columns::outbox_item(&ByName(r)))
        .collect::<Result<_>>()?;
    out.sort_by_key(|o| (o.next_attempt_at_ms, o.id));
    Ok(out)
}

pub(super) async fn outbox_delivered(tx: &Conn, id: i64, now_ms: i64) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'delivered', updated_at_ms = $2, claimed_until_ms = NULL \
             WHERE id = $1",
        )
        .await?;
    outbox_item_found(tx.execute(&stmt, &[&id, &now_ms]).await? > 0, id)
}

pub(super) async fn outbox_retry(
    tx: &Conn,
    id: i64,
    attempts: u32,
    next_attempt_at_ms: i64,
    error: &str,
    now_ms: i64,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox SET attempts = $2, next_attempt_at_ms = $3, last_error = $4, \
             updated_at_ms = $5, claimed_until_ms = NULL WHERE id = $1",
        )
        .await?;
    let n = tx
        .execute(
            &stmt,
            &[
                &id,
                &i64::from(attempts),
                &next_attempt_at_ms,
                &error,
                &now_ms,
            ],
        )
        .await?;
    outbox_item_found(n > 0, id)
}

pub(super) async fn outbox_dead(tx: &Conn, id: i64, error: &str, now_ms: i64) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'dead', last_error = $2, updated_at_ms = $3, \
             claimed_until_ms = NULL WHERE id = $1",
        )
        .await?;
    outbox_item_found(tx.execute(&stmt, &[&id, &error, &now_ms]).await? > 0, id)
}

// ---------------------------------------------------------------- adapter versions

pub(super) async fn record_adapter_version(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    sha256: &str,
    bytes: Option<&[u8]>,
    source: &str,
    now_ms: i64,
) -> Result<AdapterVersion> {
    if let Some(b) = bytes {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO adapter_blobs (sha256, bytes) VALUES ($1, $2) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .await?;
        tx.execute(&stmt, &[&sha256, &b]).await?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO adapter_versions (endpoint_id, sha256, source, recorded_at_ms) \
             VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .await?;
    let seq: i64 = tx
        .query_one(&stmt, &[&endpoint_id, &sha256, &source, &now_ms])
        .await?
        .get(0);
    let stmt = tx.prepare_cached(NOTIFY_ADAPTERS).await?;
    tx.execute(&stmt, &[&endpoint_id]).await?;
    Ok(AdapterVersion {
        seq,
        endpoint_id: endpoint_id.to_owned(),
        sha256: sha256.to_owned(),
        source: source.to_owned(),
        recorded_at_ms: now_ms,
    })
}

pub(super) async fn current_adapter_version(
    tx: &Conn,
    endpoint_id: &str,
) -> Result<Option<AdapterVersion>> {
    let stmt = tx
        .prepare_cached(
            "SELECT seq, endpoint_id, sha256, source, recorded_at_ms FROM adapter_versions \
             WHERE endpoint_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .await?;
    tx.query_opt(&stmt, &[&endpoint_id])
        .await?
        .map(|r| columns::adapter_version(&ByName(&r)))
        .transpose()
}

pub(super) async fn adapter_bytes(tx: &Conn, sha256: &str) -> Result<Option<Vec<u8>>> {
    let stmt = tx
        .prepare_cached("SELECT bytes FROM adapter_blobs WHERE sha256 = $1")
        .await?;
    Ok(tx.query_opt(&stmt, &[&sha256]).await?.map(|r| r.get(0)))
}

// ---------------------------------------------------------------- retention

/// Delete what `r` says is old enough, at most `r.batch` rows of each kind
/// (ended handovers go with everything that names them, children first),
/// in the caller's transaction.
pub(super) async fn prune(tx: &Transaction<'_>, r: &Retention) -> Result<Pruned> {
    let batch = i64::from(r.batch);
    let mut p = Pruned::default();
    let delete = async |sql: &str, before: i64| -> Result<u64> {
        let stmt = tx.prepare_cached(sql).await?;
        Ok(tx.execute(&stmt, &[&before, &batch]).await?)
    };
    if let Some(before) = r.callbacks_before_ms {
        p.callbacks = delete(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE status <> 'pending' AND updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2)",
            before,
        )
        .await?;
    }
    if let Some(before) = r.inbox_before_ms {
        p.inbox = delete(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox \
             WHERE done AND received_at_ms < $1 ORDER BY id LIMIT $2)",
            before,
        )
        .await?;
    }
    if let Some(before) = r.deliveries_before_ms {
        p.deliveries = delete(
            "DELETE FROM webhook_deliveries WHERE (endpoint_id, delivery_id) IN \
             (SELECT endpoint_id, delivery_id FROM webhook_deliveries \
             WHERE received_at_ms < $1 ORDER BY received_at_ms LIMIT $2)",
            before,
        )
        .await?;
    }
    if let Some(before) = r.handovers_ended_before_ms {
        let stmt = tx
            .prepare_cached(
                "SELECT id FROM handovers WHERE status NOT IN ('requested','queued','active') \
                 AND ended_at_ms < $1 ORDER BY ended_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let ids: Vec<String> = tx
            .query(&stmt, &[&before, &batch])
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        for table in [
            "outbox",
            "inbox",
            "correlation_keys",
            "events",
            "handover_requests",
            "recordings",
            "handovers",
        ] {
            let key = if table == "handovers" {
                "id"
            } else {
                "handover_id"
            };
            let stmt = tx
                .prepare_cached(&format!("DELETE FROM {table} WHERE {key} = ANY($1)"))
                .await?;
            let n = tx.execute(&stmt, &[&ids]).await?;
            match table {
                "events" => p.events = n,
                "handovers" => p.handovers = n,
                _ => {}
            }
        }
    }
    if let Some(keep) = r.versions_kept {
        let stmt = tx
            .prepare_cached(
                "DELETE FROM adapter_versions WHERE seq IN (SELECT seq FROM (SELECT seq, \
                 ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY seq DESC) AS rn \
                 FROM adapter_versions) AS v WHERE rn > $1)",
            )
            .await?;
        p.adapter_versions = tx.execute(&stmt, &[&i64::from(keep)]).await?;
        let stmt = tx
            .prepare_cached(
                "DELETE FROM adapter_blobs WHERE sha256 NOT IN (SELECT sha256 FROM adapter_versions)",
            )
            .await?;
        p.adapter_blobs = tx.execute(&stmt, &[]).await?;
    }
    Ok(p)
}
