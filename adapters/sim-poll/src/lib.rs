//! `sim-poll`: the sim adapter built to be polled. It compiles the very same
//! modules as `sim` (no copy) and changes only the three constants below:
//! the host calls `poll` every 200 ms, which fetches
//! `GET {base}/conversations/{id}/events?after={last_event_seq}`.

#[path = "../../sim/src/provider.rs"]
mod provider;
#[path = "../../sim/src/wire.rs"]
mod wire;

use handover_adapter_sdk::Polling;
use provider::{Mode, Sim};

/// The adapter name reported by `describe`.
const NAME: &str = "sim-poll";
/// The host polls every 200 ms.
const POLLING: Polling = Polling::periodic(200);
/// The settings' `mode` when they omit it.
const DEFAULT_MODE: Mode = Mode::Poll;

handover_adapter_sdk::export!(Sim);
