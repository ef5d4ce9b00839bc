//! Mapping between SQLite rows and the store's row types: column lists,
//! JSON and status columns, and SQLite errors as [`StoreError`].
//!
//! Owns: how each Rust field is encoded in its column. Must never: run
//! queries of its own or decide anything about handovers.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

use handover_core::store::{HandoverRow, InboxItem, OutboxItem, Status, StoredEvent};

// `From<rusqlite::Error> for StoreError` lives in handover-core (feature
// `sqlite`): the orphan rule keeps it next to the type.

/// `SELECT <every handover column> FROM handovers <rest...>` as a `&'static str`.
macro_rules! select_handovers {
    ($($rest:literal),* $(,)?) => {
        concat!(
            "SELECT id, endpoint_id, tenant, session_id, idempotency_key, status, error_reason, \
             error_message, end_reason, request, provider_state, queue_position, \
             estimated_wait_seconds, agent, callback_url, created_at_ms, updated_at_ms, \
             agent_joined_at_ms, ended_at_ms, last_user_activity_ms, no_agent_deadline_ms, \
             inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, poll_failures, version \
             FROM handovers ",
            $($rest),*
        )
    };
}
pub(super) use select_handovers;

/// A JSON value stored as TEXT.
pub(super) struct Json(pub serde_json::Value);

impl FromSql for Json {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        serde_json::from_str(text)
            .map(Json)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Borrowed JSON for binding as a parameter.
pub(super) struct JsonRef<'a>(pub &'a serde_json::Value);

impl ToSql for JsonRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        serde_json::to_string(self.0)
            .map(ToSqlOutput::from)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

/// A [`Status`] stored as its snake_case name.
pub(super) struct StatusCol(pub Status);

impl FromSql for StatusCol {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Status::parse(text)
            .map(StatusCol)
            .ok_or_else(|| FromSqlError::Other(format!("unknown handover status {text:?}").into()))
    }
}

pub(super) fn handover(r: &Row<'_>) -> rusqlite::Result<HandoverRow> {
    Ok(HandoverRow {
        id: r.get("id")?,
        endpoint_id: r.get("endpoint_id")?,
        tenant: r.get("tenant")?,
        session_id: r.get("session_id")?,
        idempotency_key: r.get("idempotency_key")?,
        status: r.get::<_, StatusCol>("status")?.0,
        error_reason: r.get("error_reason")?,
        error_message: r.get("error_message")?,
        end_reason: r.get("end_reason")?,
        request: r.get::<_, Json>("request")?.0,
        provider_state: r.get("provider_state")?,
        queue_position: r.get("queue_position")?,
        estimated_wait_seconds: r.get("estimated_wait_seconds")?,
        agent: r.get::<_, Option<Json>>("agent")?.map(|j| j.0),
        callback_url: r.get("callback_url")?,
        created_at_ms: r.get("created_at_ms")?,
        updated_at_ms: r.get("updated_at_ms")?,
        agent_joined_at_ms: r.get("agent_joined_at_ms")?,
        ended_at_ms: r.get("ended_at_ms")?,
        last_user_activity_ms: r.get("last_user_activity_ms")?,
        no_agent_deadline_ms: r.get("no_agent_deadline_ms")?,
        inactivity_warn_at_ms: r.get("inactivity_warn_at_ms")?,
        inactivity_end_at_ms: r.get("inactivity_end_at_ms")?,
        next_poll_at_ms: r.get("next_poll_at_ms")?,
        poll_failures: r.get("poll_failures")?,
        version: r.get("version")?,
    })
}

/// A row of `events`, selected by column name.
pub(super) fn event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get("id")?,
        handover_id: r.get("handover_id")?,
        endpoint_id: r.get("endpoint_id")?,
        seq: r.get("seq")?,
        kind: r.get("kind")?,
        payload: r.get::<_, Json>("payload")?.0,
        created_at_ms: r.get("created_at_ms")?,
    })
}

pub(super) fn inbox_item(r: &Row<'_>) -> rusqlite::Result<InboxItem> {
    Ok(InboxItem {
        id: r.get("id")?,
        endpoint_id: r.get("endpoint_id")?,
        handover_id: r.get("handover_id")?,
        request: r.get::<_, Json>("request")?.0,
        received_at_ms: r.get("received_at_ms")?,
    })
}

pub(super) fn outbox_item(r: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.get("id")?,
        handover_id: r.get("handover_id")?,
        event_id: r.get("event_id")?,
        url: r.get("url")?,
        attempts: r.get("attempts")?,
        next_attempt_at_ms: r.get("next_attempt_at_ms")?,
    })
}

/// A UNIQUE or PRIMARY KEY constraint failed.
pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
