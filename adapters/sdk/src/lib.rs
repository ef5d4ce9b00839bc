//! `handover-adapter-sdk`: everything a provider adapter needs besides its
//! provider logic.
//!
//! An adapter implements [`TypedAdapter`] for a unit struct (declaring its
//! `Settings` and `State` types, which the SDK parses, loads and saves) and
//! exports it with [`export!`](crate::export); fixtures that need
//! byte-level control implement the raw [`Adapter`] instead. The SDK owns the WIT bindings (see
//! [`bindings`]), friendly type paths ([`types`]) and helpers for HTTP
//! ([`http`]), failures ([`failure`]), events and steps ([`events`],
//! [`step`]), channel checks ([`channels`]), provider state ([`state`]), settings ([`settings`]), logging
//! ([`log`]), transcripts ([`transcript`]) and native unit tests
//! ([`testing`]).
//!
//! The component targets contract `handover:provider@0.1.0` by default, or
//! `0.2.0` with the `contract-0-2` feature, which adds the [`v0_2`] module
//! (the new events, declared permissions and webhook routing) and the
//! `user_typing` call.

// Lets the generated code and the exported macro use the same absolute
// `handover_adapter_sdk::` paths inside this crate and in adapters.
extern crate self as handover_adapter_sdk;

mod adapter;
pub mod bindings;
pub mod channels;
pub mod events;
pub mod failure;
pub mod http;
pub mod log;
pub mod settings;
pub mod state;
pub mod step;
pub mod testing;
pub mod transcript;
mod typed;
pub mod types;
#[cfg(feature = "contract-0-2")]
pub mod v0_2;

pub use adapter::Adapter;
/// `export!(MyAdapter)`: exports a type implementing [`Adapter`] as the
/// component's `handover:provider/adapter` implementation. Call it once, in
/// the adapter's cdylib crate.
pub use bindings::export;
pub use failure::{error, unsupported};
pub use settings::EndpointSettings;
pub use state::HandoverState;
pub use typed::{Cx, Output, Reply, TypedAdapter};
pub use types::*;

/// Runtime support used by the generated `export!` macro. Not public API.
#[doc(hidden)]
pub mod __rt {
    pub use wit_bindgen::rt::*;
}

/// The contract version this build of the SDK exports.
#[cfg(not(feature = "contract-0-2"))]
pub const CONTRACT: &str = "handover:provider@0.1.0";
/// The contract version this build of the SDK exports.
#[cfg(feature = "contract-0-2")]
pub const CONTRACT: &str = "handover:provider@0.2.0";

/// The adapter version reported by `describe`: `ADAPTER_VERSION` from the
/// build environment if set, else the calling crate's `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! adapter_version {
    () => {
        match option_env!("ADAPTER_VERSION") {
            Some(version) => version,
            None => env!("CARGO_PKG_VERSION"),
        }
    };
}
