//! [`ProviderDriver`](crate::driver::ProviderDriver) for the Genesys Open
//! Messaging simulator (an OAuth provider, see [`OAuthDriven`]).
//!
//! The endpoint it describes enables `poll_conversation`, so the agent's
//! join (with name), transfers and the end are seen through the
//! conversation's participants; `end` sends no webhook because Open
//! Messaging has none. Without `poll_conversation` (or with
//! `set_never_end`) a handover ends by the host's inactivity timeout.

use super::{Conversation, GenesysConfig, GenesysSim, State};
use crate::kit::Driver;
use crate::kit::oauth::OAuthDriven;
use serde_json::{Value, json};

pub type GenesysDriver = Driver<State>;

impl OAuthDriven for State {
    const DRIVER: &'static str = "genesys-open-messaging";

    fn settings(sim: &GenesysSim) -> Value {
        json!({
            "api_url": sim.base_url(),
            "integration_id": sim.config().integration_id,
            "poll_conversation": true,
        })
    }

    fn webhook_secret(cfg: &GenesysConfig) -> &str {
        &cfg.webhook_secret
    }

    fn start_path(_: &GenesysConfig) -> String {
        "/api/v2/conversations/messages/*".into()
    }

    fn user_messages(c: Conversation) -> Vec<String> {
        c.inbound.into_iter().map(|m| m.text).collect()
    }

    /// Open Messaging has no customer-side disconnect.
    fn closed_by_bot(_: &Conversation) -> Option<bool> {
        None
    }
}
