//! Channel checks: whether an endpoint serves the conversation's channel.
//! Pure: no I/O; the failure is the contract's `unsupported`.

use crate::failure::unsupported;
use crate::types::Failure;

/// Fails with `unsupported` unless `channel` is among `configured` (the
/// endpoint's `channels` setting) or, when that is `None`, `defaults`:
/// ``channel "voice" is not served by this {provider} endpoint (allowed: a, b)``.
pub fn check(
    channel: &str,
    configured: Option<&Vec<String>>,
    defaults: &[&str],
    provider: &str,
) -> Result<(), Failure> {
    let allowed: Vec<&str> = match configured {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => defaults.to_vec(),
    };
    if allowed.contains(&channel) {
        return Ok(());
    }
    Err(unsupported(format!(
        "channel {channel:?} is not served by this {provider} endpoint (allowed: {})",
        allowed.join(", ")
    )))
}

/// Fails with `unsupported` unless `channel` is one of the fixed `served`
/// channels: ``channel "sms" is not served by {what} (served: webchat)``.
pub fn require(channel: &str, served: &[&str], what: &str) -> Result<(), Failure> {
    if served.contains(&channel) {
        return Ok(());
    }
    Err(unsupported(format!(
        "channel {channel:?} is not served by {what} (served: {})",
        served.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::{check, require};
    use crate::types::FailureReason;

    #[test]
    fn configured_list_wins_over_defaults() {
        assert!(check("sms", None, &["webchat", "sms"], "sim").is_ok());
        let only = vec!["webchat".to_string()];
        let failure = check("sms", Some(&only), &["webchat", "sms"], "sim").unwrap_err();
        assert_eq!(failure.reason, FailureReason::Unsupported);
        assert_eq!(
            failure.message,
            "channel \"sms\" is not served by this sim endpoint (allowed: webchat)"
        );
    }

    #[test]
    fn fixed_channels() {
        assert!(require("webchat", &["webchat"], "X chat").is_ok());
        let failure = require("sms", &["webchat", "in-app"], "X chat").unwrap_err();
        assert_eq!(
            failure.message,
            "channel \"sms\" is not served by X chat (served: webchat, in-app)"
        );
    }
}
