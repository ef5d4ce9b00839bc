//! Mapping between SQLite rows and the store's row types: the handover
//! column list, JSON parameters, typed column reads for the shared decoders
//! ([`handover_core::store::columns`]) and which SQLite errors are
//! constraint violations.
//!
//! Owns: how each Rust field is encoded in its column. Must never: run
//! queries of its own or decide anything about handovers.

use rusqlite::types::{ToSqlOutput, Type};
use rusqlite::{Row, ToSql};

use handover_core::store::columns::Columns;

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
             inactivity_warn_at_ms, inactivity_end_at_ms, next_poll_at_ms, poll_failures, extras, version \
             FROM handovers JOIN handover_requests ON handover_id = id ",
            $($rest),*
        )
    };
}
pub(super) use select_handovers;

/// The columns of [`select_handovers`], in its order (a test holds the two
/// together): a handover row's columns are found by position in this list,
/// not by asking SQLite each column's name (26 name searches through the
/// C API per row were 2.4 % of the host's CPU under webhook load).
pub(super) const HANDOVER_COLUMNS: [&str; 27] = [
    "id",
    "endpoint_id",
    "tenant",
    "session_id",
    "idempotency_key",
    "status",
    "error_reason",
    "error_message",
    "end_reason",
    "request",
    "provider_state",
    "queue_position",
    "estimated_wait_seconds",
    "agent",
    "callback_url",
    "created_at_ms",
    "updated_at_ms",
    "agent_joined_at_ms",
    "ended_at_ms",
    "last_user_activity_ms",
    "no_agent_deadline_ms",
    "inactivity_warn_at_ms",
    "inactivity_end_at_ms",
    "next_poll_at_ms",
    "poll_failures",
    "extras",
    "version",
];

/// Borrowed JSON for binding as a parameter.
pub(super) struct JsonRef<'a>(pub &'a serde_json::Value);

impl ToSql for JsonRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        serde_json::to_string(self.0)
            .map(ToSqlOutput::from)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

/// A result row, read by column name for the shared decoders of
/// [`handover_core::store::columns`].
pub(super) struct ByName<'a, 'stmt> {
    row: &'a Row<'stmt>,
    /// The statement's columns in order, when known (else SQLite is asked).
    order: &'static [&'static str],
}

impl<'a, 'stmt> ByName<'a, 'stmt> {
    pub(super) fn new(row: &'a Row<'stmt>) -> Self {
        ByName { row, order: &[] }
    }

    /// A row of a [`select_handovers`] statement.
    pub(super) fn handover(row: &'a Row<'stmt>) -> Self {
        ByName {
            row,
            order: &HANDOVER_COLUMNS,
        }
    }

    fn index(&self, column: &str) -> rusqlite::Result<usize> {
        match self.order.iter().position(|c| *c == column) {
            Some(i) => {
                debug_assert_eq!(self.row.as_ref().column_name(i).ok(), Some(column));
                Ok(i)
            }
            None => self.row.as_ref().column_index(column),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> rusqlite::Result<T> {
        self.row.get(self.index(column)?)
    }
}

impl Columns for ByName<'_, '_> {
    type Error = rusqlite::Error;

    fn text(&self, column: &str) -> rusqlite::Result<String> {
        self.get(column)
    }

    fn opt_text(&self, column: &str) -> rusqlite::Result<Option<String>> {
        self.get(column)
    }

    fn int(&self, column: &str) -> rusqlite::Result<i64> {
        self.get(column)
    }

    fn opt_int(&self, column: &str) -> rusqlite::Result<Option<i64>> {
        self.get(column)
    }

    fn bytes(&self, column: &str) -> rusqlite::Result<Vec<u8>> {
        self.get(column)
    }

    /// A conversion failure of the column, as `Row::get` reports one.
    fn invalid(&self, column: &str, why: String) -> rusqlite::Error {
        let index = self.index(column).unwrap_or(0);
        let kind = self
            .row
            .get_ref(index)
            .map_or(Type::Null, |v| v.data_type());
        rusqlite::Error::FromSqlConversionFailure(index, kind, why.into())
    }
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
