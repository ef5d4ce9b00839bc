//! How a stored row becomes one of the store's row types, written once for
//! every backend: each backend reads typed columns by name ([`Columns`]),
//! and the functions here name the columns and decode the values the
//! backends store alike (JSON as text, the status by name, counters as
//! integers that must fit a `u32`).
//!
//! Owns: the column names of each row type and the checks on their values.
//! Must never: run queries, know a SQL dialect or a driver, or do I/O.

use super::{AdapterVersion, HandoverRow, InboxItem, OutboxItem, Status, StoredEvent};

/// Typed reads of one result row by column name, as a backend's driver
/// answers them. `Error` is whatever that backend's decoding returns.
pub trait Columns {
    type Error;
    fn text(&self, column: &str) -> Result<String, Self::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, Self::Error>;
    fn int(&self, column: &str) -> Result<i64, Self::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, Self::Error>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, Self::Error>;
    /// The backend's error for a value of `column` that does not decode;
    /// `why` says what is wrong with it.
    fn invalid(&self, column: &str, why: String) -> Self::Error;

    /// A JSON value stored as text.
    fn json(&self, column: &str) -> Result<serde_json::Value, Self::Error> {
        let text = self.text(column)?;
        parse_json(self, column, &text)
    }

    fn opt_json(&self, column: &str) -> Result<Option<serde_json::Value>, Self::Error> {
        self.opt_text(column)?
            .map(|text| parse_json(self, column, &text))
            .transpose()
    }

    fn u32(&self, column: &str) -> Result<u32, Self::Error> {
        let n = self.int(column)?;
        fit_u32(self, column, n)
    }

    fn opt_u32(&self, column: &str) -> Result<Option<u32>, Self::Error> {
        self.opt_int(column)?
            .map(|n| fit_u32(self, column, n))
            .transpose()
    }

    /// A [`Status`] stored as its snake_case name.
    fn status(&self, column: &str) -> Result<Status, Self::Error> {
        let text = self.text(column)?;
        Status::parse(&text)
            .ok_or_else(|| self.invalid(column, format!("unknown handover status {text:?}")))
    }
}

fn parse_json<C: Columns + ?Sized>(
    r: &C,
    column: &str,
    text: &str,
) -> Result<serde_json::Value, C::Error> {
    serde_json::from_str(text)
        .map_err(|e| r.invalid(column, format!("column {column} is not JSON: {e}")))
}

fn fit_u32<C: Columns + ?Sized>(r: &C, column: &str, n: i64) -> Result<u32, C::Error> {
    u32::try_from(n).map_err(|_| r.invalid(column, format!("column {column} out of range: {n}")))
}

/// A row of `handovers` (every column of [`HandoverRow`], by name).
pub fn handover<C: Columns + ?Sized>(r: &C) -> Result<HandoverRow, C::Error> {
    Ok(HandoverRow {
        id: r.text("id")?,
        endpoint_id: r.text("endpoint_id")?,
        tenant: r.text("tenant")?,
        session_id: r.text("session_id")?,
        idempotency_key: r.opt_text("idempotency_key")?,
        status: r.status("status")?,
        error_reason: r.opt_text("error_reason")?,
        error_message: r.opt_text("error_message")?,
        end_reason: r.opt_text("end_reason")?,
        request: r.json("request")?,
        provider_state: r.bytes("provider_state")?,
        queue_position: r.opt_u32("queue_position")?,
        estimated_wait_seconds: r.opt_u32("estimated_wait_seconds")?,
        agent: r.opt_json("agent")?,
        callback_url: r.opt_text("callback_url")?,
        created_at_ms: r.int("created_at_ms")?,
        updated_at_ms: r.int("updated_at_ms")?,
        agent_joined_at_ms: r.opt_int("agent_joined_at_ms")?,
        ended_at_ms: r.opt_int("ended_at_ms")?,
        last_user_activity_ms: r.int("last_user_activity_ms")?,
        no_agent_deadline_ms: r.opt_int("no_agent_deadline_ms")?,
        inactivity_warn_at_ms: r.opt_int("inactivity_warn_at_ms")?,
        inactivity_end_at_ms: r.opt_int("inactivity_end_at_ms")?,
        next_poll_at_ms: r.opt_int("next_poll_at_ms")?,
        poll_failures: r.u32("poll_failures")?,
        extras: r.opt_json("extras")?,
        version: r.int("version")?,
    })
}

/// A row of `events`.
pub fn event<C: Columns + ?Sized>(r: &C) -> Result<StoredEvent, C::Error> {
    Ok(StoredEvent {
        id: r.int("id")?,
        handover_id: r.text("handover_id")?,
        endpoint_id: r.text("endpoint_id")?,
        seq: r.int("seq")?,
        kind: r.text("kind")?,
        payload: r.json("payload")?,
        created_at_ms: r.int("created_at_ms")?,
    })
}

/// A row of `inbox` (without its `done` flag).
pub fn inbox_item<C: Columns + ?Sized>(r: &C) -> Result<InboxItem, C::Error> {
    Ok(InboxItem {
        id: r.int("id")?,
        endpoint_id: r.text("endpoint_id")?,
        handover_id: r.text("handover_id")?,
        request: r.json("request")?,
        received_at_ms: r.int("received_at_ms")?,
    })
}

/// A row of `outbox` (the columns a delivery needs).
pub fn outbox_item<C: Columns + ?Sized>(r: &C) -> Result<OutboxItem, C::Error> {
    Ok(OutboxItem {
        id: r.int("id")?,
        handover_id: r.text("handover_id")?,
        tenant: r.text("tenant")?,
        event_id: r.int("event_id")?,
        url: r.text("url")?,
        attempts: r.u32("attempts")?,
        next_attempt_at_ms: r.int("next_attempt_at_ms")?,
    })
}

/// A row of `adapter_versions`.
pub fn adapter_version<C: Columns + ?Sized>(r: &C) -> Result<AdapterVersion, C::Error> {
    Ok(AdapterVersion {
        seq: r.int("seq")?,
        endpoint_id: r.text("endpoint_id")?,
        sha256: r.text("sha256")?,
        source: r.text("source")?,
        recorded_at_ms: r.int("recorded_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// A row as a map from column to text (`None`: NULL); integers parsed.
    struct Map(HashMap<&'static str, Option<&'static str>>);

    impl Columns for Map {
        type Error = String;
        fn text(&self, column: &str) -> Result<String, String> {
            self.opt_text(column)?.ok_or(format!("{column} is NULL"))
        }
        fn opt_text(&self, column: &str) -> Result<Option<String>, String> {
            let value = self.0.get(column).ok_or(format!("no column {column}"))?;
            Ok(value.map(str::to_owned))
        }
        fn int(&self, column: &str) -> Result<i64, String> {
            self.opt_int(column)?.ok_or(format!("{column} is NULL"))
        }
        fn opt_int(&self, column: &str) -> Result<Option<i64>, String> {
            self.opt_text(column)?
                .map(|t| t.parse().map_err(|e| format!("{column}: {e}")))
                .transpose()
        }
        fn bytes(&self, column: &str) -> Result<Vec<u8>, String> {
            Ok(self.text(column)?.into_bytes())
        }
        fn invalid(&self, column: &str, why: String) -> String {
            format!("invalid {column}: {why}")
        }
    }

    fn outbox(attempts: &'static str, url: Option<&'static str>) -> Map {
        Map(HashMap::from([
            ("id", Some("7")),
            ("handover_id", Some("h")),
            ("tenant", Some("acme")),
            ("event_id", Some("3")),
            ("url", url),
            ("attempts", Some(attempts)),
            ("next_attempt_at_ms", Some("100")),
        ]))
    }

    #[test]
    fn decodes_by_column_name() {
        let item = outbox_item(&outbox("2", Some("https://bot/cb"))).unwrap();
        assert_eq!(
            item,
            OutboxItem {
                id: 7,
                handover_id: "h".into(),
                tenant: "acme".into(),
                event_id: 3,
                url: "https://bot/cb".into(),
                attempts: 2,
                next_attempt_at_ms: 100,
            }
        );
        let inbox = Map(HashMap::from([
            ("id", Some("1")),
            ("endpoint_id", Some("ep")),
            ("handover_id", Some("h")),
            ("request", Some(r#"{"body":"x"}"#)),
            ("received_at_ms", Some("5")),
        ]));
        assert_eq!(inbox_item(&inbox).unwrap().request, json!({"body": "x"}));
    }

    #[test]
    fn bad_values_are_the_backends_errors() {
        assert_eq!(
            outbox_item(&outbox("-1", Some("u"))).unwrap_err(),
            "invalid attempts: column attempts out of range: -1"
        );
        assert_eq!(outbox_item(&outbox("1", None)).unwrap_err(), "url is NULL");
        let r = Map(HashMap::from([
            ("status", Some("open")),
            ("request", Some("{")),
        ]));
        assert_eq!(
            r.status("status").unwrap_err(),
            "invalid status: unknown handover status \"open\""
        );
        assert!(
            r.json("request")
                .unwrap_err()
                .starts_with("invalid request: column request is not JSON")
        );
    }
}
