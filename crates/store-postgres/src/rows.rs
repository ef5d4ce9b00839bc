//! Mapping between PostgreSQL rows and the store's row types: the handover
//! column list, JSON parameters (as TEXT, so they round-trip exactly), typed
//! column reads for the shared decoders ([`handover_core::store::columns`];
//! every number is a BIGINT column) and which errors are constraint
//! violations.
//!
//! Owns: how each Rust field is encoded in its column. Must never: run
//! queries of its own or decide anything about handovers.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use handover_core::store::columns::{self, Columns};
use handover_core::store::{HandoverRow, Identity, Result, StoreError};

/// Every handover column, in [`HandoverRow`]'s order.
macro_rules! handover_columns {
    () => {
        "id, endpoint_id, tenant, session_id, idempotency_key, status, error_reason, \
         error_message, end_reason, request, provider_state, queue_position, \
         estimated_wait_seconds, agent, callback_url, created_at_ms, updated_at_ms, \
         agent_joined_at_ms, ended_at_ms, last_user_activity_ms, no_agent_deadline_ms, \
         inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, poll_failures, extras, \
         version"
    };
}
pub(super) use handover_columns;

/// `SELECT <every handover column> FROM handovers <rest...>` as a
/// `&'static str` (the request joined from its own table).
macro_rules! select_handovers {
    ($($rest:tt)*) => {
        concat!(
            "SELECT ",
            $crate::rows::handover_columns!(),
            " FROM handovers JOIN handover_requests ON handover_id = id ",
            $($rest)*
        )
    };
}
pub(super) use select_handovers;

pub(super) fn json_text(v: &serde_json::Value) -> String {
    // A `Value` always serializes.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A result row, read by column name for the shared decoders of
/// [`handover_core::store::columns`]. Every integer column is a BIGINT.
pub(super) struct ByName<'a>(pub &'a Row);

impl Columns for ByName<'_> {
    type Error = StoreError;

    fn text(&self, column: &str) -> Result<String> {
        Ok(self.0.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.0.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.0.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.0.try_get(column)?)
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        Ok(self.0.try_get(column)?)
    }

    fn invalid(&self, _column: &str, why: String) -> StoreError {
        StoreError::backend(format!("postgres: {why}"))
    }
}

pub(super) fn handovers(rows: &[Row]) -> Result<Vec<HandoverRow>> {
    rows.iter().map(|r| columns::handover(&ByName(r))).collect()
}

/// A UNIQUE or PRIMARY KEY constraint failed.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The identity columns (endpoint, tenant, session, idempotency key,
/// creation time) a row update answers, from column `from` of `r` on.
pub(super) fn identity(r: &Row, from: usize) -> Result<Identity<'_>> {
    Ok(Identity {
        endpoint_id: r.try_get(from)?,
        tenant: r.try_get(from + 1)?,
        session_id: r.try_get(from + 2)?,
        idempotency_key: r.try_get(from + 3)?,
        created_at_ms: r.try_get(from + 4)?,
    })
}
