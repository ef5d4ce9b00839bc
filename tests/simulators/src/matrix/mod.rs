//! The `matrix` provider: not a simulator but a REAL Synapse homeserver
//! (PyPI `matrix-synapse`, installed by `scripts/install-synapse.sh` into
//! `target/synapse-venv`; `$SYNAPSE_PYTHON` overrides), started per driver
//! as a child process on loopback with SQLite in a temp dir.
//!
//! - `synapse`: config generation (`--generate-config`, then an override
//!   file: client listener only, open registration, no federation, rate
//!   limits raised), start, readiness, kill on stop/drop;
//! - `proxy`: the adapter's way in, a pass-through that records requests and
//!   can fail the next `createRoom` (the kit's "5xx on start");
//! - `client`: the client-server calls of the driver's accounts;
//! - `driver`: [`MatrixDriver`], the bot account (its token is the endpoint
//!   secret `matrix_token`) and one agent account the driver plays.
//!
//! Synapse checks the bot's access token itself: without the host's
//! `Authorization: Bearer` header every call is a 401 `M_MISSING_TOKEN`.

mod client;
mod driver;
mod proxy;
mod synapse;

#[cfg(test)]
mod tests;

pub use client::{Account, enc};
pub use driver::MatrixDriver;
pub use proxy::Seen;
pub use synapse::{Synapse, python};

use crate::driver::ProviderDriver;

/// Start Synapse and the driver (fails with a clear message when Synapse
/// is not installed).
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    Ok(Box::new(MatrixDriver::start().await?))
}
