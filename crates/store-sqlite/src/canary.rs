//! Canary records and counts (`Store::*canary*`) and recorded calls for
//! replay (`Store::*recording*`) in SQLite: one canary record per endpoint,
//! replaced only when no canary runs there, ended only by the caller naming
//! the running one; recordings kept for the newest handovers only. Never
//! touches handovers or events.

use handover_core::store::{CanaryRecord, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn record(conn: &Connection, endpoint_id: &str) -> Result<Option<CanaryRecord>> {
    let row = conn
        .prepare_cached("SELECT canary_id, running, doc FROM canaries WHERE endpoint_id = ?1")?
        .query_row([endpoint_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    row.map(|(canary_id, running, doc)| {
        Ok(CanaryRecord {
            endpoint_id: endpoint_id.to_string(),
            canary_id,
            running: running != 0,
            doc: json(&doc)?,
        })
    })
    .transpose()
}

pub(super) fn begin(conn: &Connection, rec: &CanaryRecord, bytes: &[u8]) -> Result<bool> {
    conn.prepare_cached(
        "DELETE FROM canary_counts WHERE canary_id IN \
         (SELECT canary_id FROM canaries WHERE endpoint_id = ?1 AND running = 0)",
    )?
    .execute([&rec.endpoint_id])?;
    let n = conn
        .prepare_cached(
            "INSERT INTO canaries (endpoint_id, canary_id, running, doc, bytes) \
             VALUES (?1, ?2, 1, ?3, ?4) \
             ON CONFLICT (endpoint_id) DO UPDATE SET canary_id = excluded.canary_id, \
             running = 1, doc = excluded.doc, bytes = excluded.bytes \
             WHERE canaries.running = 0",
        )?
        .execute(params![
            rec.endpoint_id,
            rec.canary_id,
            rec.doc.to_string(),
            bytes
        ])?;
    Ok(n == 1)
}

pub(super) fn finish(
    conn: &Connection,
    endpoint_id: &str,
    canary_id: &str,
    doc: &str,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE canaries SET running = 0, doc = ?3 \
             WHERE endpoint_id = ?1 AND canary_id = ?2 AND running = 1",
        )?
        .execute(params![endpoint_id, canary_id, doc])?;
    Ok(n == 1)
}

pub(super) fn bytes(
    conn: &Connection,
    endpoint_id: &str,
    canary_id: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM canaries WHERE endpoint_id = ?1 AND canary_id = ?2")?
        .query_row([endpoint_id, canary_id], |r| r.get(0))
        .optional()?)
}

pub(super) fn share_counts(
    conn: &Connection,
    canary_id: &str,
    replica: &str,
    counts: &str,
    now_ms: i64,
) -> Result<Vec<(String, serde_json::Value)>> {
    conn.prepare_cached(
        "INSERT INTO canary_counts (canary_id, replica, counts, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (canary_id, replica) DO UPDATE SET \
         counts = excluded.counts, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![canary_id, replica, counts, now_ms])?;
    let mut stmt = conn.prepare_cached(
        "SELECT replica, counts FROM canary_counts WHERE canary_id = ?1 ORDER BY replica",
    )?;
    let rows = stmt.query_map([canary_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = vec![];
    for r in rows {
        let (replica, counts) = r?;
        out.push((replica, json(&counts)?));
    }
    Ok(out)
}

fn json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::backend(format!("a canary row is not JSON: {e}")))
}

/// The endpoint's newest `?2` handovers by their first recorded call.
const NEWEST: &str = "SELECT handover_id FROM recordings WHERE endpoint_id = ?1 \
     GROUP BY handover_id ORDER BY MIN(id) DESC LIMIT ?2";

pub(super) fn append_recording(
    conn: &Connection,
    endpoint_id: &str,
    handover_id: &str,
    entry: &str,
    keep: Option<u32>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO recordings (endpoint_id, handover_id, entry) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![endpoint_id, handover_id, entry])?;
    if let Some(keep) = keep {
        conn.prepare_cached(&format!(
            "DELETE FROM recordings WHERE endpoint_id = ?1 AND handover_id NOT IN ({NEWEST})"
        ))?
        .execute(params![endpoint_id, keep])?;
    }
    Ok(())
}

pub(super) fn recordings(
    conn: &Connection,
    endpoint_id: &str,
    last: u32,
) -> Result<Vec<(String, Vec<serde_json::Value>)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT handover_id, entry FROM recordings WHERE endpoint_id = ?1 \
         AND handover_id IN ({NEWEST}) ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![endpoint_id, last], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out: Vec<(String, Vec<serde_json::Value>)> = vec![];
    let mut at = std::collections::HashMap::new();
    for r in rows {
        let (h, e) = r?;
        let i = *at.entry(h.clone()).or_insert_with(|| {
            out.push((h, vec![]));
            out.len() - 1
        });
        out[i].1.push(json(&e)?);
    }
    Ok(out)
}
