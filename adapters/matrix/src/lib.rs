//! `matrix`: a Matrix room as the agent desk, over the client-server API
//! (any homeserver; tested against a real Synapse).
//!
//! `start` creates a private room, invites the configured agents and posts
//! a summary with the routing information and the transcript. User input is
//! sent as room messages. Agent traffic arrives through `/sync`, consumed by
//! the host's long polling (`poll`). Agents close with a command (`!close`)
//! or by all leaving the room. The bot's access token is an operator secret
//! the host adds as an `Authorization: Bearer` header; the adapter sends none.
//!
//! Modules: `provider` (settings, state, one function per WIT call),
//! `sync` (turning `/sync` responses into normalized events — the logic the
//! unit tests cover) and `wire` (the Matrix JSON documents).

mod provider;
mod sync;
mod wire;

#[cfg(test)]
mod tests;

use provider::Matrix;

handover_adapter_sdk::export!(Matrix);
