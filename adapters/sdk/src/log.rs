//! Logging into the host's log through the `log` import. The host caps lines
//! and bytes per call, so log what helps an operator, not every byte.

use crate::bindings::handover::provider::log::log as host_log;
use crate::types::{KeyValue, Level};

/// Logs `message` with structured `fields` at `level`.
pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<KeyValue> = fields.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
    host_log(level, message, &fields);
}

/// Logs at trace level.
pub fn trace(message: &str) {
    host_log(Level::Trace, message, &[]);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    host_log(Level::Debug, message, &[]);
}

/// Logs at info level.
pub fn info(message: &str) {
    host_log(Level::Info, message, &[]);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    host_log(Level::Warn, message, &[]);
}

/// Logs at error level.
pub fn error(message: &str) {
    host_log(Level::Error, message, &[]);
}
