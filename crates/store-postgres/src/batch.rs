//! Steps written together: the steps in flight on a replica share one
//! transaction, each kind of statement sent once for all of them with
//! arrays (`unnest`) instead of once per step (docs/replicas.md, "Steps in
//! flight written together"; BENCHMARKS.md has the figures).
//!
//! Owns: the queue of step writes and the batch's statements. A batch
//! forms from the writes that queued while every writer was busy, so a
//! write alone is written at once, by [`step::apply`], as before.
//! All or nothing, then one by one: a batch commits only if every step in
//! it would have been written alone (its delivery ids new, its version
//! current, its identity unchanged, its events numbered as
//! `watermark::event_ids` says); otherwise it rolls back and each of its
//! steps runs alone through [`step::apply`], which gives each its own
//! outcome and error. Must never: answer a step before its batch's
//! `COMMIT` succeeded, commit a batch with an answer left unchecked, or put
//! two steps of one handover in one batch (the process's own handover lock
//! keeps them apart: a handover's next step is written only once its
//! previous one was answered; if they met, the row update's count check
//! sends them one by one).

use deadpool_postgres::{ClientWrapper, Pool};
use tokio::sync::oneshot;
use tokio_postgres::types::ToSql;

use super::groups::Grouped;
use super::lock::{Discard, may_write_unlocked};
use super::ops::Encoded;
use super::rows::{self, json_text};
use super::{pool_error, step, watermark};
use handover_core::store::{Change, HandoverRow, Result, StoredEvent};

/// Most steps in one batch.
const MAX_STEPS: usize = 64;

/// Batches being written at once (each on its own pooled connection).
/// Fewer writers make larger batches (less database CPU per event); more
/// keep writes going while one batch waits on a row lock another session
/// holds. Measured at 64 webhooks in flight (BENCHMARKS.md, "Steps in
/// flight written together"): 1, 2 and 4 within the noise of each other in
/// events/s, 4 with the highest database CPU per event; 2 is kept.
pub(super) const WRITERS: usize = 2;

type Answer = oneshot::Sender<Result<Vec<StoredEvent>>>;

pub(super) struct Job {
    pub(super) change: Change,
    pub(super) now_ms: i64,
    pub(super) answer: Answer,
}

/// The replica's queue of step writes.
pub(super) struct Batcher(Grouped<Job>);

impl Batcher {
    /// Start the dispatcher on the current runtime; it ends when the
    /// batcher is dropped.
    pub(super) fn start(pool: Pool) -> Batcher {
        // A caller that went away does not get written.
        let gone = |j: &Job| j.answer.is_closed();
        Batcher(Grouped::start(
            "the step writer",
            WRITERS,
            MAX_STEPS,
            gone,
            move |jobs| {
                let pool = pool.clone();
                async move { write_jobs(&pool, jobs).await }
            },
        ))
    }

    /// Write `change` (which has a row, no correlation keys and no inbox
    /// items) with the steps queued beside it; its outcome is the one
    /// [`step::apply`] would give it alone.
    pub(super) async fn apply(&self, change: Change, now_ms: i64) -> Result<Vec<StoredEvent>> {
        self.0
            .ask(|answer| Job {
                change,
                now_ms,
                answer,
            })
            .await
    }
}

/// Whether `change` can go in a batch: the common webhook, timer and poll
/// step (a row, its events and delivery ids). Steps that also bind
/// correlation keys or mark inbox items are written alone.
pub(super) fn batchable(change: &Change) -> bool {
    change.row.is_some() && change.correlation_keys.is_empty() && change.inbox_done.is_empty()
}

pub(super) async fn write_jobs(pool: &Pool, jobs: Vec<Job>) {
    let (work, mut answers): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .map(|j| ((j.change, j.now_ms), j.answer))
        .unzip();
    if work.len() > 1 {
        // A caller that goes away before the batch commits is not written:
        // the batch is dropped (its connection closed, so nothing of it
        // commits) and the others run alone.
        let written = {
            let left =
                futures::future::select_all(answers.iter_mut().map(|a| Box::pin(a.closed())));
            tokio::select! {
                written = write_batch(pool, &work) => written.ok().flatten(),
                _ = left => None,
            }
        };
        if let Some(stored) = written {
            for (answer, s) in answers.into_iter().zip(stored) {
                let _ = answer.send(Ok(s));
            }
            return;
        }
        // Rolled back, failed (nothing written) or abandoned: each step alone.
    }
    let alone = work
        .into_iter()
        .zip(answers)
        .map(|((change, now_ms), mut answer)| async move {
            let written = async {
                match pool.get().await {
                    Ok(c) => step::apply(c, change, now_ms).await,
                    Err(e) => Err(pool_error(e)),
                }
            };
            // As for a step written by its caller: if the caller goes
            // away, the step is dropped and nothing of it commits.
            tokio::select! {
                r = written => { let _ = answer.send(r); }
                _ = answer.closed() => {}
            }
        });
    futures::future::join_all(alone).await;
}

/// The batch's row update: every step's row at once, each only at its
/// version. Answers the identity of each row updated.
const UPDATE_ROWS: &str = concat!(
    "UPDATE handovers h SET status = v.status, \
     error_reason = v.error_reason, error_message = v.error_message, end_reason = v.end_reason, \
     provider_state = v.provider_state, queue_position = v.queue_position, \
     estimated_wait_seconds = v.wait, agent = v.agent, callback_url = v.callback_url, \
     updated_at_ms = v.updated_at_ms, agent_joined_at_ms = v.agent_joined_at_ms, \
     ended_at_ms = v.ended_at_ms, last_user_activity_ms = v.last_user_activity_ms, \
     no_agent_deadline_ms = v.no_agent_deadline_ms, \
     inactivity_warn_at_ms = v.inactivity_warn_at_ms, \
     inactivity_end_at_ms = v.inactivity_end_at_ms, next_poll_at_ms = v.next_poll_at_ms, \
     poll_failures = v.poll_failures, extras = v.extras, version = h.version + 1, \
     timer_claimed_until_ms = NULL, poll_claimed_until_ms = NULL \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int8[], \
                 $7::int8[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], \
                 $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[], $18::int8[], \
                 $19::text[], $20::text[], $21::int8[], $22::bool[]) \
       AS v(status, error_reason, error_message, end_reason, provider_state, queue_position, \
            wait, agent, callback_url, updated_at_ms, agent_joined_at_ms, ended_at_ms, \
            last_user_activity_ms, no_agent_deadline_ms, inactivity_warn_at_ms, \
            inactivity_end_at_ms, next_poll_at_ms, poll_failures, extras, id, version, \
            unlocked) \
     WHERE h.id = v.id AND h.version = v.version AND ",
    may_write_unlocked!("v.unlocked", "h.id"),
    " RETURNING h.id, h.endpoint_id, h.tenant, h.session_id, h.idempotency_key, h.created_at_ms"
);

/// Every step's delivery ids; answers the ones recorded (all of them
/// unless one was seen before, or two steps carry the same).
const RECORD_DELIVERIES: &str = "INSERT INTO webhook_deliveries \
     (endpoint_id, delivery_id, received_at_ms) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) \
     ON CONFLICT (endpoint_id, delivery_id) DO NOTHING RETURNING delivery_id";

/// Every step's events, in batch order (`o`), numbered after their
/// handover's highest `seq` (`n`: the event's place in its step), with ids
/// `xid * 2^16 + o - 1` from this transaction's id, and an outbox row each
/// where the step's handover has a callback URL. Answers ids and seqs in
/// id order, with the transaction id.
const INSERT_EVENTS: &str = "WITH e AS ( \
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                            $6::text[], $7::int8[]) WITH ORDINALITY \
         AS e(handover_id, endpoint_id, kind, payload, at_ms, callback, n, o)), \
     base AS (SELECT pg_current_xact_id()::text::bigint AS xid), \
     ins AS ( \
       INSERT INTO events (id, handover_id, endpoint_id, seq, kind, payload, created_at_ms) \
       SELECT base.xid * 65536 + e.o - 1, e.handover_id, e.endpoint_id, \
              (SELECT COALESCE(MAX(x.seq), 0) FROM events x \
               WHERE x.handover_id = e.handover_id) + e.n, \
              e.kind, e.payload, e.at_ms \
       FROM e, base RETURNING id, seq), \
     ob AS ( \
       INSERT INTO outbox (handover_id, event_id, url, attempts, next_attempt_at_ms, \
                           status, updated_at_ms) \
       SELECT e.handover_id, ins.id, e.callback, 0, e.at_ms, 'pending', e.at_ms \
       FROM ins, e, base WHERE ins.id = base.xid * 65536 + e.o - 1 AND e.callback IS NOT NULL) \
     SELECT ins.id, ins.seq, base.xid FROM ins, base ORDER BY ins.id";

// `INSERT_EVENTS` spells `2^ID_SHIFT` as 65536.
const _: () = assert!(watermark::ID_SHIFT == 16);

/// Write every job's change in one transaction: `Some` (each job's events)
/// if it committed, `None` if a step would not have been written alone
/// (rolled back). An error leaves nothing written either.
pub(super) async fn write_batch(
    pool: &Pool,
    jobs: &[(Change, i64)],
) -> Result<Option<Vec<Vec<StoredEvent>>>> {
    let client = pool.get().await.map_err(pool_error)?;
    let total: usize = jobs.iter().map(|(c, _)| c.events.len()).sum();
    watermark::check_count(total)?;
    // From BEGIN to COMMIT or ROLLBACK: a dropped future closes the connection.
    let mut open = Discard(Some(client));
    let c: &ClientWrapper = open.0.as_deref().expect("just set");
    let written = statements(c, jobs, total).await;
    let verb = match written {
        Ok(Some(_)) => "COMMIT",
        _ => "ROLLBACK",
    };
    c.batch_execute(verb).await?;
    open.release();
    written
}

/// The batch's statements, pipelined, and their answers checked.
async fn statements(
    c: &ClientWrapper,
    jobs: &[(Change, i64)],
    total: usize,
) -> Result<Option<Vec<Vec<StoredEvent>>>> {
    let rows: Vec<_> = jobs
        .iter()
        .map(|(c, _)| c.row.as_ref().expect("batchable"))
        .collect();
    let encoded: Vec<Encoded> = rows.iter().map(|r| Encoded::new(r)).collect();
    let unlocked = jobs.iter().map(|(c, _)| c.without_shared_lock).collect();
    let cols = RowArrays::of(&rows, &encoded, unlocked);
    let mut d_endpoints: Vec<&str> = vec![];
    let mut d_ids: Vec<&str> = vec![];
    let mut d_at: Vec<i64> = vec![];
    let (mut e_handover, mut e_endpoint, mut e_kind) = (vec![], vec![], vec![]);
    let (mut e_payload, mut e_at, mut e_callback, mut e_n) = (vec![], vec![], vec![], vec![]);
    for ((change, now_ms), r) in jobs.iter().zip(&rows) {
        for d in &change.deliveries {
            d_endpoints.push(r.endpoint_id.as_str());
            d_ids.push(d.as_str());
            d_at.push(*now_ms);
        }
        for (n, e) in change.events.iter().enumerate() {
            e_handover.push(r.id.as_str());
            e_endpoint.push(r.endpoint_id.as_str());
            e_kind.push(e.kind.as_str());
            e_payload.push(json_text(&e.payload));
            e_at.push(*now_ms);
            e_callback.push(r.callback_url.as_deref());
            e_n.push(n as i64 + 1);
        }
    }

    let update = c.prepare_cached(UPDATE_ROWS).await?;
    let record = c.prepare_cached(RECORD_DELIVERIES).await?;
    let insert = c.prepare_cached(INSERT_EVENTS).await?;
    let update_params = cols.params();
    let record_params: [&(dyn ToSql + Sync); 3] = [&d_endpoints, &d_ids, &d_at];
    let insert_params: [&(dyn ToSql + Sync); 7] = [
        &e_handover,
        &e_endpoint,
        &e_kind,
        &e_payload,
        &e_at,
        &e_callback,
        &e_n,
    ];

    // Pipelined behind BEGIN: sent in this order, run in this order (a
    // failed statement aborts the transaction, so the ones after it fail).
    let begin = c.batch_execute("BEGIN");
    let recorded = async {
        if d_ids.is_empty() {
            Ok(vec![])
        } else {
            c.query(&record, &record_params).await
        }
    };
    let updated = c.query(&update, &update_params);
    let inserted = async {
        if total == 0 {
            Ok(vec![])
        } else {
            c.query(&insert, &insert_params).await
        }
    };
    let (begun, recorded, updated, inserted) = futures::join!(begin, recorded, updated, inserted);
    begun?;
    let (recorded, updated, inserted) = (recorded?, updated?, inserted?);

    if recorded.len() != d_ids.len() || updated.len() != jobs.len() {
        return Ok(None);
    }
    for u in &updated {
        let id: &str = u.try_get(0)?;
        let Some(row) = rows.iter().find(|r| r.id == id) else {
            return Ok(None);
        };
        if row.check_identity(rows::identity(u, 1)?).is_err() {
            return Ok(None);
        }
    }
    let mut numbered = Vec::with_capacity(total);
    for r in &inserted {
        numbered.push((
            r.try_get::<_, i64>(0)?,
            r.try_get::<_, i64>(1)?,
            r.try_get::<_, i64>(2)?,
        ));
    }
    if numbered.len() != total {
        return Ok(None);
    }
    if let Some(&(_, _, xid)) = numbered.first() {
        let ids: Vec<i64> = numbered.iter().map(|&(id, _, _)| id).collect();
        if !watermark::are_ids_of(xid, &ids)? {
            return Ok(None);
        }
    }
    let mut numbered = numbered.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for ((change, now_ms), r) in jobs.iter().zip(&rows) {
        let mut stored = Vec::with_capacity(change.events.len());
        for e in &change.events {
            let (id, seq, _) = numbered.next().expect("counted above");
            stored.push(e.clone().stored(id, &r.id, &r.endpoint_id, seq, *now_ms));
        }
        out.push(stored);
    }
    Ok(Some(out))
}

/// The row update's columns, one array element per step (`$1` to `$21`
/// of [`UPDATE_ROWS`], in its order): each step's values as
/// `Encoded::step_params` gives them to the one-step update.
struct RowArrays<'a> {
    status: Vec<&'a str>,
    error_reason: Vec<Option<&'a str>>,
    error_message: Vec<Option<&'a str>>,
    end_reason: Vec<Option<&'a str>>,
    provider_state: Vec<&'a [u8]>,
    queue_position: Vec<Option<i64>>,
    wait: Vec<Option<i64>>,
    agent: Vec<Option<&'a str>>,
    callback_url: Vec<Option<&'a str>>,
    updated_at_ms: Vec<i64>,
    agent_joined_at_ms: Vec<Option<i64>>,
    ended_at_ms: Vec<Option<i64>>,
    last_user_activity_ms: Vec<i64>,
    no_agent_deadline_ms: Vec<Option<i64>>,
    inactivity_warn_at_ms: Vec<Option<i64>>,
    inactivity_end_at_ms: Vec<Option<i64>>,
    next_poll_at_ms: Vec<Option<i64>>,
    poll_failures: Vec<i64>,
    extras: Vec<Option<&'a str>>,
    id: Vec<&'a str>,
    version: Vec<i64>,
    /// `Change::without_shared_lock` of each step.
    unlocked: Vec<bool>,
}

impl<'a> RowArrays<'a> {
    /// `rows` with their encodings (`encoded[i]` of `rows[i]`) and whether
    /// each step ran without the shared lock.
    fn of(rows: &[&'a HandoverRow], encoded: &'a [Encoded], unlocked: Vec<bool>) -> RowArrays<'a> {
        let row = |f: fn(&'a HandoverRow) -> Option<i64>| rows.iter().map(|r| f(r)).collect();
        let text = |f: fn(&'a HandoverRow) -> &'a Option<String>| {
            rows.iter().map(|r| f(r).as_deref()).collect()
        };
        let enc = |f: fn(&'a Encoded) -> Option<i64>| encoded.iter().map(f).collect();
        let json = |f: fn(&'a Encoded) -> &'a Option<String>| {
            encoded.iter().map(|e| f(e).as_deref()).collect()
        };
        RowArrays {
            status: encoded.iter().map(|e| e.status).collect(),
            error_reason: text(|r| &r.error_reason),
            error_message: text(|r| &r.error_message),
            end_reason: text(|r| &r.end_reason),
            provider_state: rows.iter().map(|r| r.provider_state.as_slice()).collect(),
            queue_position: enc(|e| e.queue_position),
            wait: enc(|e| e.wait),
            agent: json(|e| &e.agent),
            callback_url: text(|r| &r.callback_url),
            updated_at_ms: rows.iter().map(|r| r.updated_at_ms).collect(),
            agent_joined_at_ms: row(|r| r.agent_joined_at_ms),
            ended_at_ms: row(|r| r.ended_at_ms),
            last_user_activity_ms: rows.iter().map(|r| r.last_user_activity_ms).collect(),
            no_agent_deadline_ms: row(|r| r.no_agent_deadline_ms),
            inactivity_warn_at_ms: row(|r| r.inactivity_warn_at_ms),
            inactivity_end_at_ms: row(|r| r.inactivity_end_at_ms),
            next_poll_at_ms: row(|r| r.next_poll_at_ms),
            poll_failures: encoded.iter().map(|e| e.poll_failures).collect(),
            extras: json(|e| &e.extras),
            id: rows.iter().map(|r| r.id.as_str()).collect(),
            version: rows.iter().map(|r| r.version).collect(),
            unlocked,
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.status,
            &self.error_reason,
            &self.error_message,
            &self.end_reason,
            &self.provider_state,
            &self.queue_position,
            &self.wait,
            &self.agent,
            &self.callback_url,
            &self.updated_at_ms,
            &self.agent_joined_at_ms,
            &self.ended_at_ms,
            &self.last_user_activity_ms,
            &self.no_agent_deadline_ms,
            &self.inactivity_warn_at_ms,
            &self.inactivity_end_at_ms,
            &self.next_poll_at_ms,
            &self.poll_failures,
            &self.extras,
            &self.id,
            &self.version,
            &self.unlocked,
        ]
    }
}
