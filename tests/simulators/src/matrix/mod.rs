//! Simulator of the `matrix` provider (not written yet).

use crate::driver::ProviderDriver;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    anyhow::bail!("the `matrix` simulator is not implemented yet")
}
