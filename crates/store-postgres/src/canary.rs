//! Recorded calls for replay (`Store::*recording*`, kept for the newest
//! handovers only) and canary records and counts (`Store::*canary*`) on
//! PostgreSQL: one canary record
//! per endpoint, replaced only when no canary runs there, ended only by the
//! caller naming the running one; each statement decides atomically, so
//! of two replicas deciding at once exactly one wins. Never touches
//! handovers or events.

use deadpool_postgres::{ClientWrapper as Conn, Transaction};
use handover_core::store::{CanaryRecord, Result, StoreError};

pub(super) async fn record(c: &Conn, endpoint_id: &str) -> Result<Option<CanaryRecord>> {
    let stmt = c
        .prepare_cached("SELECT canary_id, running, doc FROM canaries WHERE endpoint_id = $1")
        .await?;
    c.query_opt(&stmt, &[&endpoint_id])
        .await?
        .map(|r| {
            Ok(CanaryRecord {
                endpoint_id: endpoint_id.to_string(),
                canary_id: r.get(0),
                running: r.get(1),
                doc: json(r.get(2))?,
            })
        })
        .transpose()
}

pub(super) async fn begin(tx: &Transaction<'_>, rec: &CanaryRecord, bytes: &[u8]) -> Result<bool> {
    let stmt = tx
        .prepare_cached(
            "DELETE FROM canary_counts WHERE canary_id IN \
             (SELECT canary_id FROM canaries WHERE endpoint_id = $1 AND NOT running)",
        )
        .await?;
    tx.execute(&stmt, &[&rec.endpoint_id]).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO canaries (endpoint_id, canary_id, running, doc, bytes) \
             VALUES ($1, $2, TRUE, $3, $4) \
             ON CONFLICT (endpoint_id) DO UPDATE SET canary_id = excluded.canary_id, \
             running = TRUE, doc = excluded.doc, bytes = excluded.bytes \
             WHERE NOT canaries.running",
        )
        .await?;
    let doc = rec.doc.to_string();
    let n = tx
        .execute(&stmt, &[&rec.endpoint_id, &rec.canary_id, &doc, &bytes])
        .await?;
    Ok(n == 1)
}

pub(super) async fn finish(
    c: &Conn,
    endpoint_id: &str,
    canary_id: &str,
    doc: &str,
) -> Result<bool> {
    let stmt = c
        .prepare_cached(
            "UPDATE canaries SET running = FALSE, doc = $3 \
             WHERE endpoint_id = $1 AND canary_id = $2 AND running",
        )
        .await?;
    Ok(c.execute(&stmt, &[&endpoint_id, &canary_id, &doc]).await? == 1)
}

pub(super) async fn bytes(c: &Conn, endpoint_id: &str, canary_id: &str) -> Result<Option<Vec<u8>>> {
    let stmt = c
        .prepare_cached("SELECT bytes FROM canaries WHERE endpoint_id = $1 AND canary_id = $2")
        .await?;
    Ok(c.query_opt(&stmt, &[&endpoint_id, &canary_id])
        .await?
        .map(|r| r.get(0)))
}

pub(super) async fn share_counts(
    tx: &Transaction<'_>,
    canary_id: &str,
    replica: &str,
    counts: &str,
    now_ms: i64,
) -> Result<Vec<(String, serde_json::Value)>> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO canary_counts (canary_id, replica, counts, updated_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (canary_id, replica) DO UPDATE SET \
             counts = excluded.counts, updated_at_ms = excluded.updated_at_ms",
        )
        .await?;
    tx.execute(&stmt, &[&canary_id, &replica, &counts, &now_ms])
        .await?;
    let stmt = tx
        .prepare_cached(
            "SELECT replica, counts FROM canary_counts WHERE canary_id = $1 ORDER BY replica",
        )
        .await?;
    tx.query(&stmt, &[&canary_id])
        .await?
        .iter()
        .map(|r| Ok((r.get(0), json(r.get(1))?)))
        .collect()
}

fn json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::backend(format!("a canary row is not JSON: {e}")))
}

/// The endpoint's newest `$2` handovers by their first recorded call.
const NEWEST: &str = "SELECT handover_id FROM recordings WHERE endpoint_id = $1 \
     GROUP BY handover_id ORDER BY MIN(id) DESC LIMIT $2";

pub(super) async fn append_recording(
    c: &Conn,
    endpoint_id: &str,
    handover_id: &str,
    entry: &str,
    keep: Option<u32>,
) -> Result<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO recordings (endpoint_id, handover_id, entry) VALUES ($1, $2, $3)",
        )
        .await?;
    c.execute(&stmt, &[&endpoint_id, &handover_id, &entry])
        .await?;
    if let Some(keep) = keep {
        let stmt = c
            .prepare_cached(&format!(
                "DELETE FROM recordings WHERE endpoint_id = $1 AND handover_id NOT IN ({NEWEST})"
            ))
            .await?;
        c.execute(&stmt, &[&endpoint_id, &i64::from(keep)]).await?;
    }
    Ok(())
}

pub(super) async fn recordings(
    c: &Conn,
    endpoint_id: &str,
    last: u32,
) -> Result<Vec<(String, Vec<serde_json::Value>)>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT handover_id, entry FROM recordings WHERE endpoint_id = $1 \
             AND handover_id IN ({NEWEST}) ORDER BY id"
        ))
        .await?;
    let mut out: Vec<(String, Vec<serde_json::Value>)> = vec![];
    let mut at = std::collections::HashMap::new();
    for r in c.query(&stmt, &[&endpoint_id, &i64::from(last)]).await? {
        let h: String = r.get(0);
        let i = *at.entry(h.clone()).or_insert_with(|| {
            out.push((h, vec![]));
            out.len() - 1
        });
        out[i].1.push(json(r.get(1))?);
    }
    Ok(out)
}
