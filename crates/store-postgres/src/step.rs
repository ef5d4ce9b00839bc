//! One step's write ([`Store::apply`](handover_core::store::Store::apply))
//! in two round trips: every statement of the step is sent at once,
//! pipelined behind its `BEGIN`, then `COMMIT` once their answers are
//! checked.
//!
//! Owns: the step's statements and their order. PostgreSQL runs pipelined
//! statements one after another in the order sent, so the semantics are
//! those of issuing them one at a time: the row update takes the handover's
//! row lock before the event insert reads the highest `seq`, so one writer
//! numbers a handover's events at a time; event ids come from the writing
//! transaction's id (see `watermark`). A statement that fails aborts the
//! transaction, so the ones after it fail too and nothing is written; the
//! first failure in sending order is the one reported.
//! Must never: commit before every answer was checked (a stale version or a
//! duplicate delivery means the events sent after it must not land), or let
//! a connection whose transaction is still open go back to the pool (a
//! dropped or failed step closes it instead).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use deadpool_postgres::{ClientWrapper, Object};
use futures::future::{MaybeDone, maybe_done};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::lock::{Discard, may_write_unlocked};
use super::ops::{Encoded, RECORD_DELIVERIES, first_duplicate};
use super::rows::{self, is_unique_violation, json_text};
use super::watermark;
use handover_core::store::{Change, HandoverRow, Result, StoreError, StoredEvent};

/// The version-checked row update (see [`apply`]).
const UPDATE_ROW: &str = concat!(
    "UPDATE handovers SET status = $1, error_reason = $2, \
     error_message = $3, end_reason = $4, provider_state = $5, queue_position = $6, \
     estimated_wait_seconds = $7, agent = $8, callback_url = $9, updated_at_ms = $10, \
     agent_joined_at_ms = $11, ended_at_ms = $12, last_user_activity_ms = $13, \
     no_agent_deadline_ms = $14, inactivity_warn_at_ms = $15, \
     inactivity_end_at_ms = $16, next_poll_at_ms = $17, poll_failures = $18, \
     extras = $19, version = version + 1, timer_claimed_until_ms = NULL, \
     poll_claimed_until_ms = NULL \
     WHERE id = $20 AND version = $21 AND ",
    may_write_unlocked!("$22::bool", "id"),
    " RETURNING endpoint_id, tenant, session_id, idempotency_key, created_at_ms"
);

const MARK_DONE: &str = "UPDATE inbox SET done = TRUE WHERE id = ANY($1)";

/// A key bound to another handover of the endpoint moves to this one.
const BIND_KEY: &str = "INSERT INTO correlation_keys (endpoint_id, key, handover_id) \
     VALUES ($1, $2, $3) ON CONFLICT (endpoint_id, key) DO UPDATE SET \
     handover_id = excluded.handover_id WHERE correlation_keys.handover_id <> excluded.handover_id";

/// The step's events (`$3` kinds, `$4` JSON payloads, in order) numbered
/// after the handover's highest `seq`, with ids from this transaction's id
/// (`xid * 2^ID_SHIFT + index`, as `watermark::event_ids`), and an outbox row
/// each when the handover has a callback URL (`$6`). Answers each event's id
/// and seq, and the transaction id, in `seq` order.
const INSERT_EVENTS: &str = "WITH base AS ( \
       SELECT COALESCE(MAX(seq), 0)::BIGINT AS seq, \
              pg_current_xact_id()::text::bigint AS xid \
       FROM events WHERE handover_id = $1), \
     ins AS ( \
       INSERT INTO events (id, handover_id, endpoint_id, seq, kind, payload, created_at_ms) \
       SELECT base.xid * 65536 + e.o - 1, $1, $2, base.seq + e.o, e.kind, e.payload, $5 \
       FROM base, unnest($3::text[], $4::text[]) WITH ORDINALITY AS e(kind, payload, o) \
       RETURNING id, seq), \
     ob AS ( \
       INSERT INTO outbox (handover_id, event_id, url, attempts, next_attempt_at_ms, \
                           status, updated_at_ms) \
       SELECT $1, id, $6::text, 0, $5, 'pending', $5 FROM ins WHERE $6::text IS NOT NULL) \
     SELECT ins.id, ins.seq, base.xid FROM ins, base ORDER BY ins.seq";

// `INSERT_EVENTS` spells `2^ID_SHIFT` as 65536.
const _: () = assert!(watermark::ID_SHIFT == 16);

/// One pipelined statement's answer.
enum Answer {
    /// Done; what it changed is not checked.
    Done,
    Row(Option<Row>),
    Rows(Vec<Row>),
}

type Sent<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<Answer, tokio_postgres::Error>> + Send + 'a>>;

/// Apply `change` on `client`, all or nothing. A missing handover is
/// `NotFound`, a moved version `Conflict`, a delivery id seen before
/// `Duplicate`; in each case nothing of the change is written.
pub(super) async fn apply(client: Object, change: Change, now_ms: i64) -> Result<Vec<StoredEvent>> {
    change.check_rowless()?;
    if change.row.is_none() {
        // Only inbox items to mark done: one statement, a transaction of
        // its own.
        if !change.inbox_done.is_empty() {
            let mark = client.prepare_cached(MARK_DONE).await?;
            client.execute(&mark, &[&change.inbox_done]).await?;
        }
        return Ok(Vec::new());
    }
    // From here until COMMIT or ROLLBACK the connection may be in a
    // transaction: if this future is dropped, the guard closes it.
    let mut open = Discard(Some(client));
    let c: &ClientWrapper = open.0.as_deref().expect("just set");
    let written = write(c, change, now_ms, true).await;
    let verb = if written.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = c.batch_execute(verb).await;
    let written = match written {
        // Stale or missing: told apart now that the transaction (which an
        // event of a missing handover aborts) is over.
        Err(StoreError::Conflict(id)) if ended.is_ok() => {
            let exists = c
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM handovers WHERE id = $1)",
                    &[&id],
                )
                .await?;
            Err(StoreError::stale_or_missing(&id, exists.get(0)))
        }
        other => other,
    };
    if ended.is_ok() {
        open.release();
    }
    let stored = written?;
    ended?;
    Ok(stored)
}

/// Send the statements of `change` (which has a row) on `c` at once and
/// check their answers: in a transaction the first of them opens when
/// `begin`, or in one already open on `c` (tests that hold a transaction
/// id). Neither commits nor rolls back.
pub(super) async fn write(
    c: &ClientWrapper,
    change: Change,
    now_ms: i64,
    begin: bool,
) -> Result<Vec<StoredEvent>> {
    let Change {
        row,
        events,
        correlation_keys,
        inbox_done,
        deliveries,
        without_shared_lock,
        // Its webhook's route was read from the database, not a cache.
        route_key: _,
    } = change;
    let row = row.ok_or_else(|| StoreError::backend("postgres: a step without a row"))?;
    watermark::check_count(events.len())?;
    let update = c.prepare_cached(UPDATE_ROW).await?;
    let record = c.prepare_cached(RECORD_DELIVERIES).await?;
    let bind = c.prepare_cached(BIND_KEY).await?;
    let insert = c.prepare_cached(INSERT_EVENTS).await?;
    let mark = c.prepare_cached(MARK_DONE).await?;

    let (handover_id, endpoint_id) = (row.id.as_str(), row.endpoint_id.as_str());
    let encoded = Encoded::new(&row);
    let mut update_params = encoded.step_params(&row).to_vec();
    update_params.extend::<[&(dyn ToSql + Sync); 3]>([&row.id, &row.version, &without_shared_lock]);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let payloads: Vec<String> = events.iter().map(|e| json_text(&e.payload)).collect();
    let callback = row.callback_url.as_deref();

    let (record, bind) = (&record, &bind);
    let mut sent: Vec<Sent<'_>> = vec![];
    if begin {
        sent.push(Box::pin(async {
            c.batch_execute("BEGIN").await.map(|()| Answer::Done)
        }));
    }
    if !deliveries.is_empty() {
        let p: [&(dyn ToSql + Sync); 3] = [&endpoint_id, &deliveries, &now_ms];
        sent.push(Box::pin(async move {
            c.query(record, &p).await.map(Answer::Rows)
        }));
    }
    sent.push(Box::pin(async {
        c.query_opt(&update, &update_params).await.map(Answer::Row)
    }));
    for key in &correlation_keys {
        let p: [&(dyn ToSql + Sync); 3] = [&endpoint_id, key, &handover_id];
        sent.push(Box::pin(async move {
            c.execute(bind, &p).await.map(|_| Answer::Done)
        }));
    }
    if !inbox_done.is_empty() {
        sent.push(Box::pin(async {
            c.execute(&mark, &[&inbox_done]).await.map(|_| Answer::Done)
        }));
    }
    if !events.is_empty() {
        let p: [&(dyn ToSql + Sync); 6] = [
            &handover_id,
            &endpoint_id,
            &kinds,
            &payloads,
            &now_ms,
            &callback,
        ];
        sent.push(Box::pin(async move {
            c.query(&insert, &p).await.map(Answer::Rows)
        }));
    }
    let mut answers = in_order(sent).await;
    if begin {
        answers.remove(0)?;
    }
    let ids = check(&row, &deliveries, answers)?;
    if ids.len() != events.len() {
        return Err(StoreError::backend(format!(
            "postgres: {} events written for {} sent",
            ids.len(),
            events.len()
        )));
    }
    Ok(events
        .into_iter()
        .zip(ids)
        .map(|(e, (id, seq))| e.stored(id, handover_id, endpoint_id, seq, now_ms))
        .collect())
}

/// The pipelined answers, in sending order, checked: the first failure is
/// the error; otherwise each event's `(id, seq)`.
fn check(
    row: &HandoverRow,
    deliveries: &[String],
    answers: Vec<std::result::Result<Answer, tokio_postgres::Error>>,
) -> Result<Vec<(i64, i64)>> {
    let mut answers = answers.into_iter();
    let mut next = |what: &str| -> Result<Answer> {
        match answers.next() {
            Some(Ok(a)) => Ok(a),
            Some(Err(e)) if what == "update" && is_unique_violation(&e) => {
                Err(StoreError::backend(format!(
                    "handover {} cannot be reopened: another handover is open for its session ({})",
                    row.id,
                    StoreError::from(e)
                )))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(StoreError::backend(format!(
                "postgres: no answer to the {what}"
            ))),
        }
    };
    if !deliveries.is_empty() {
        let Answer::Rows(recorded) = next("delivery ids")? else {
            return Err(StoreError::backend(
                "postgres: the delivery ids answered no row set",
            ));
        };
        first_duplicate(deliveries, &recorded)?;
    }
    let Answer::Row(identity) = next("update")? else {
        return Err(StoreError::backend(
            "postgres: the row update answered no row set",
        ));
    };
    let Some(identity) = identity else {
        // Or missing: `apply` tells which once the transaction is over.
        return Err(StoreError::Conflict(row.id.clone()));
    };
    row.check_identity(rows::identity(&identity, 0)?)?;
    let mut ids = vec![];
    for answer in answers {
        if let Answer::Rows(rows) = answer? {
            for r in rows {
                ids.push((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, i64>(1)?,
                    r.try_get::<_, i64>(2)?,
                ));
            }
        }
    }
    // The same bound and ids as `watermark::event_ids` would give.
    if let Some(&(_, _, xid)) = ids.first() {
        let got: Vec<i64> = ids.iter().map(|&(id, _, _)| id).collect();
        if !watermark::are_ids_of(xid, &got)? {
            return Err(StoreError::backend(format!(
                "postgres: event ids {got:?} are not those of transaction {xid}"
            )));
        }
    }
    Ok(ids.into_iter().map(|(id, seq, _)| (id, seq)).collect())
}

/// Await every future, polling them in the order given (so each sends its
/// statement in that order), and answer their outputs in the same order.
/// `futures::future::join_all` keeps the order of its outputs, not of its
/// first polls, beyond a small count.
async fn in_order<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut all: Vec<Pin<Box<MaybeDone<_>>>> = futures
        .into_iter()
        .map(|f| Box::pin(maybe_done(f)))
        .collect();
    poll_fn(|cx| {
        let mut done = true;
        for f in &mut all {
            done &= f.as_mut().poll(cx).is_ready();
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    all.iter_mut()
        .map(|f| f.as_mut().take_output().expect("polled to completion"))
        .collect()
}
