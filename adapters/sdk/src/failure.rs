//! Failure builders: the product's error model has exactly two reasons,
//! `unsupported` (channel or capability) and `error` (talking to the provider).

use crate::types::{Failure, FailureReason};

/// The channel or a capability is not supported by the provider or adapter.
pub fn unsupported(message: impl Into<String>) -> Failure {
    Failure {
        reason: FailureReason::Unsupported,
        message: message.into(),
    }
}

/// Something went wrong talking to the provider (or with its data).
pub fn error(message: impl Into<String>) -> Failure {
    Failure {
        reason: FailureReason::Error,
        message: message.into(),
    }
}
