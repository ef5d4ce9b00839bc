//! Mapping between PostgreSQL rows and the store's row types: column lists,
//! JSON (as TEXT, so it round-trips exactly) and status columns, and the
//! integer widths (every number is a BIGINT column).
//!
//! Owns: how each Rust field is encoded in its column. Must never: run
//! queries of its own or decide anything about handovers.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use handover_core::store::{
    HandoverRow, InboxItem, OutboxItem, Result, Status, StoreError, StoredEvent,
};

/// Every handover column, in [`handover`]'s order.
macro_rules! handover_columns {
    () => {
        "id, endpoint_id, tenant, session_id, idempotency_key, status, error_reason, \
         error_message, end_reason, request, provider_state, queue_position, \
         estimated_wait_seconds, agent, callback_url, created_at_ms, updated_at_ms, \
         agent_joined_at_ms, ended_at_ms, last_user_activity_ms, no_agent_deadline_ms, \
         inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, poll_failures, version"
    };
}
pub(super) use handover_columns;

/// `SELECT <every handover column> FROM handovers <rest...>` as a `&'static str`.
macro_rules! select_handovers {
    ($($rest:literal),* $(,)?) => {
        concat!("SELECT ", $crate::rows::handover_columns!(), " FROM handovers ", $($rest),*)
    };
}
pub(super) use select_handovers;

pub(super) fn json_text(v: &serde_json::Value) -> String {
    // A `Value` always serializes.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn json(text: &str, column: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::backend(format!("postgres: column {column} is not JSON: {e}")))
}

fn u32_col(v: Option<i64>, column: &str) -> Result<Option<u32>> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            StoreError::backend(format!("postgres: column {column} out of range: {n}"))
        })
    })
    .transpose()
}

pub(super) fn handover(r: &Row) -> Result<HandoverRow> {
    let status: String = r.try_get("status")?;
    Ok(HandoverRow {
        id: r.try_get("id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        tenant: r.try_get("tenant")?,
        session_id: r.try_get("session_id")?,
        idempotency_key: r.try_get("idempotency_key")?,
        status: Status::parse(&status).ok_or_else(|| {
            StoreError::backend(format!("postgres: unknown handover status {status:?}"))
        })?,
        error_reason: r.try_get("error_reason")?,
        error_message: r.try_get("error_message")?,
        end_reason: r.try_get("end_reason")?,
        request: json(r.try_get("request")?, "request")?,
        provider_state: r.try_get("provider_state")?,
        queue_position: u32_col(r.try_get("queue_position")?, "queue_position")?,
        estimated_wait_seconds: u32_col(
            r.try_get("estimated_wait_seconds")?,
            "estimated_wait_seconds",
        )?,
        agent: r
            .try_get::<_, Option<&str>>("agent")?
            .map(|t| json(t, "agent"))
            .transpose()?,
        callback_url: r.try_get("callback_url")?,
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        agent_joined_at_ms: r.try_get("agent_joined_at_ms")?,
        ended_at_ms: r.try_get("ended_at_ms")?,
        last_user_activity_ms: r.try_get("last_user_activity_ms")?,
        no_agent_deadline_ms: r.try_get("no_agent_deadline_ms")?,
        inactivity_warn_at_ms: r.try_get("inactivity_warn_at_ms")?,
        inactivity_end_at_ms: r.try_get("inactivity_end_at_ms")?,
        next_poll_at_ms: r.try_get("next_poll_at_ms")?,
        poll_failures: u32_col(Some(r.try_get("poll_failures")?), "poll_failures")?.unwrap_or(0),
        version: r.try_get("version")?,
    })
}

pub(super) fn handovers(rows: &[Row]) -> Result<Vec<HandoverRow>> {
    rows.iter().map(handover).collect()
}

pub(super) fn event(r: &Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.try_get("id")?,
        handover_id: r.try_get("handover_id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        payload: json(r.try_get("payload")?, "payload")?,
        created_at_ms: r.try_get("created_at_ms")?,
    })
}

pub(super) fn inbox_item(r: &Row) -> Result<InboxItem> {
    Ok(InboxItem {
        id: r.try_get("id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        handover_id: r.try_get("handover_id")?,
        request: json(r.try_get("request")?, "request")?,
        received_at_ms: r.try_get("received_at_ms")?,
    })
}

pub(super) fn outbox_item(r: &Row) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        handover_id: r.try_get("handover_id")?,
        event_id: r.try_get("event_id")?,
        url: r.try_get("url")?,
        attempts: u32_col(Some(r.try_get("attempts")?), "attempts")?.unwrap_or(0),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
    })
}

/// A UNIQUE or PRIMARY KEY constraint failed.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}
