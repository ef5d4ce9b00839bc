//! `salesforce-live-agent`: Salesforce Live Agent, the legacy chat REST API
//! (`/chat/rest/…`) a custom chat window speaks.
//!
//! - `start`: a session (`System/SessionId` gives the session key and
//!   affinity token, per-conversation values the state keeps), then
//!   `Chasitor/ChasitorInit` with the routing and the bot transcript as
//!   pre-chat details shown to the agent.
//! - agent → user: the host long-polls; each `poll` is one
//!   `System/Messages` request (200 with messages, 204 when none came).
//! - Every `Chasitor/*` POST carries `X-LIVEAGENT-SEQUENCE`, counted in the
//!   state; a failed call keeps the old count so its retry reuses the number.
//! - `check-availability`: `Visitor/Availability` for the button.
//!
//! Modules: `provider` (the WIT calls and the state), `settings`, `wire`
//! (Live Agent's JSON).

mod provider;
mod settings;
mod wire;

#[cfg(test)]
mod tests;

use provider::LiveAgent;

handover_adapter_sdk::export!(LiveAgent);
