//! Provider simulators: in-process fake provider APIs that adapters call
//! over real loopback HTTP, used by the host's tests, the demo and the
//! conformance kit. Each simulator lives in its own module, built from the
//! provider-independent pieces in [`kit`] (and [`openapi`] for the ones
//! that validate bodies against the provider's spec); `sim` is the
//! reference "sim" provider and is re-exported at the crate root.

// Simulator handlers return `axum::response::Response` as their error type
// (an early HTTP answer), which is large by design.
#![allow(clippy::result_large_err)]

pub mod chatwoot;
pub mod described;
pub mod driver;
pub mod genesys;
pub mod kit;
pub mod liveperson;
pub mod matrix;
pub mod openapi;
pub mod salesforce_live_agent;
pub mod salesforce_miaw;
pub mod sim;
pub mod sunshine;
pub mod twilio;

pub use sim::*;
