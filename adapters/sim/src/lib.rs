//! `sim`: the adapter for the sim reference provider, which pushes events as
//! webhooks. This is the walkthrough example for adapter authors: read this
//! file, then `provider.rs` (one function per WIT call) and `wire.rs` (the
//! provider's JSON). The provider protocol is in `PROTOCOL.md`.
//!
//! `sim-poll` compiles the same two modules with the three constants below
//! changed, so this file holds only what differs between the two builds.

mod provider;
mod wire;

#[cfg(test)]
mod tests;

use handover_adapter_sdk::Polling;
use provider::{Mode, Sim};

/// The adapter name reported by `describe`.
const NAME: &str = "sim";
/// The provider pushes webhooks, so the host never calls `poll`.
const POLLING: Polling = Polling::NONE;
/// The settings' `mode` when they omit it.
const DEFAULT_MODE: Mode = Mode::Webhook;

handover_adapter_sdk::export!(Sim);
