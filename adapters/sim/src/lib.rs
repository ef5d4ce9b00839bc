//! `sim`: the adapter for the sim reference provider, which pushes events as
//! webhooks. This is the walkthrough example for adapter authors: the calls
//! are in `sim-adapter` (one function per WIT call, shared with `sim-poll`),
//! the provider's documents, event ordering and mapping in the pure
//! `sim-logic` crate. The provider protocol is in `PROTOCOL.md`.
//!
//! This crate holds only what differs between the two builds: its
//! [`Flavor`](sim_adapter::Flavor).

use handover_adapter_sdk::Polling;
use sim_adapter::{Flavor, Mode, Sim};

/// The webhook build.
pub struct Webhook;

impl Flavor for Webhook {
    const NAME: &'static str = "sim";
    /// The provider pushes webhooks, so the host never calls `poll`.
    const POLLING: Polling = Polling::NONE;
    const DEFAULT_MODE: Mode = Mode::Webhook;
}

/// The exported adapter.
type Adapter = Sim<Webhook>;

handover_adapter_sdk::export!(Adapter);
