//! Simulator of the `genesys` provider (not written yet).

use crate::driver::ProviderDriver;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    anyhow::bail!("the `genesys` simulator is not implemented yet")
}
