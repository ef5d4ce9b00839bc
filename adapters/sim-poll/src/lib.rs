//! `sim-poll`: the sim adapter built to be polled. It uses the very same
//! `sim-adapter` and `sim-logic` crates as `sim` (no copy) and changes only
//! its [`Flavor`](sim_adapter::Flavor): the host calls `poll` every 200 ms,
//! which fetches `GET {base}/conversations/{id}/events?after={last_event_seq}`.

use handover_adapter_sdk::Polling;
use sim_adapter::{Flavor, Mode, Sim};

/// The polled build.
pub struct Poll;

impl Flavor for Poll {
    const NAME: &'static str = "sim-poll";
    /// The host polls every 200 ms.
    const POLLING: Polling = Polling::periodic(200);
    const DEFAULT_MODE: Mode = Mode::Poll;
}

/// The exported adapter.
type Adapter = Sim<Poll>;

handover_adapter_sdk::export!(Adapter);
