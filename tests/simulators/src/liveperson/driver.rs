//! [`ProviderDriver`](crate::driver::ProviderDriver) for the LivePerson
//! simulator (an OAuth provider, see [`OAuthDriven`]). The host gets the AppJWT from the
//! sentinel token URL (client credentials) for every request to the
//! simulator; the end is the CLOSE change notification.

use super::{LivePersonConfig, LivePersonSim, LpConversation, State};
use crate::kit::Driver;
use crate::kit::oauth::OAuthDriven;
use serde_json::{Value, json};

pub type LivePersonDriver = Driver<State>;

impl OAuthDriven for State {
    const DRIVER: &'static str = "liveperson";

    fn settings(sim: &LivePersonSim) -> Value {
        json!({
            "account_id": sim.config().account_id,
            "idp_url": sim.base_url(),
            "messaging_url": sim.base_url(),
        })
    }

    /// The Connector API signs with the client secret.
    fn webhook_secret(cfg: &LivePersonConfig) -> &str {
        &cfg.client_secret
    }

    /// The conversation request (not the ConsumerJWS).
    fn start_path(cfg: &LivePersonConfig) -> String {
        format!(
            "/api/account/{}/messaging/consumer/conversation*",
            cfg.account_id
        )
    }

    fn user_messages(c: LpConversation) -> Vec<String> {
        c.consumer_messages
    }

    fn closed_by_bot(c: &LpConversation) -> Option<bool> {
        Some(c.state == "CLOSE" && c.close_reason.as_deref() == Some("CONSUMER"))
    }
}
