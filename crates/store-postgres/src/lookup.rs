//! Webhook target lookups read together: the lookups in flight on a
//! replica (`Store::webhook_target`, one per webhook) share one statement,
//! `unnest` of their endpoint and key pairs, instead of one statement (and
//! one implicit transaction) each (docs/replicas.md, "Lookups read
//! together").
//!
//! Owns: the queue of lookups and the batched statement. A batch forms from
//! the lookups that queued while both readers were busy, so a lookup alone
//! is read at once, by [`ops::webhook_target`], as before. Each lookup of a
//! batch gets what it would have read alone at that moment (one snapshot
//! for the batch); a batch that fails is read again one lookup at a time,
//! so each gets its own error. Must never: answer a lookup with another's
//! row, or drop a lookup without an answer while its caller waits.

use std::collections::HashMap;

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::groups::Grouped;
use super::ops::{self, Target, key_targets};
use super::pool_error;
use handover_core::store::{Result, StoreError};

/// Most lookups in one statement.
const MAX_KEYS: usize = 64;

/// Statements being read at once (each on its own pooled connection).
const READERS: usize = 2;

/// Every lookup's handover (`o`: the lookup's place in the batch; none for
/// an unknown key) with its row where its inbox is empty.
const TARGETS: &str = concat!(
    "SELECT q.o, ",
    key_targets!(
        "unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(endpoint_id, key, o) \
         JOIN correlation_keys k ON k.endpoint_id = q.endpoint_id AND k.key = q.key"
    )
);

pub(super) struct Lookup {
    pub(super) endpoint_id: String,
    pub(super) key: String,
    pub(super) answer: oneshot::Sender<Result<Option<Target>>>,
}

/// The replica's queue of webhook target lookups.
pub(super) struct Lookups(Grouped<Lookup>);

impl Lookups {
    /// Start the dispatcher on the current runtime; it ends when the queue
    /// is dropped.
    pub(super) fn start(pool: Pool) -> Lookups {
        let gone = |l: &Lookup| l.answer.is_closed();
        Lookups(Grouped::start(
            "the lookup reader",
            READERS,
            MAX_KEYS,
            gone,
            move |lookups| {
                let pool = pool.clone();
                async move { read(&pool, lookups).await }
            },
        ))
    }

    /// What [`ops::webhook_target`] reads for `key` of `endpoint_id`, read
    /// with the lookups queued beside it.
    pub(super) async fn webhook_target(
        &self,
        endpoint_id: &str,
        key: &str,
    ) -> Result<Option<Target>> {
        self.0
            .ask(|answer| Lookup {
                endpoint_id: endpoint_id.to_string(),
                key: key.to_string(),
                answer,
            })
            .await
    }
}

/// Answer every lookup: together when there are several, each alone if
/// that failed (or there is one).
pub(super) async fn read(pool: &Pool, lookups: Vec<Lookup>) {
    if lookups.len() > 1
        && let Ok(mut found) = read_together(pool, &lookups).await
    {
        for (o, l) in lookups.into_iter().enumerate() {
            let _ = l.answer.send(Ok(found.remove(&(o as i64 + 1))));
        }
        return;
    }
    let alone = lookups.into_iter().map(|l| async move {
        let target = match pool.get().await {
            Ok(c) => ops::webhook_target(&c, &l.endpoint_id, &l.key).await,
            Err(e) => Err(pool_error(e)),
        };
        let _ = l.answer.send(target);
    });
    futures::future::join_all(alone).await;
}

/// The targets found, by the lookup's place in `lookups` (from 1).
async fn read_together(pool: &Pool, lookups: &[Lookup]) -> Result<HashMap<i64, Target>> {
    let c = pool.get().await.map_err(pool_error)?;
    let endpoints: Vec<&str> = lookups.iter().map(|l| l.endpoint_id.as_str()).collect();
    let keys: Vec<&str> = lookups.iter().map(|l| l.key.as_str()).collect();
    let stmt = c.prepare_cached(TARGETS).await?;
    let mut found = HashMap::new();
    for r in c.query(&stmt, &[&endpoints, &keys]).await? {
        let o: i64 = r.try_get("o")?;
        if found.insert(o, ops::key_target(&r)?).is_some() {
            return Err(StoreError::backend(format!(
                "postgres: lookup {o} found two handovers"
            )));
        }
    }
    Ok(found)
}
