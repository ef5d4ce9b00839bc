//! Simulator of the `salesforce_live_agent` provider (not written yet).

use crate::driver::ProviderDriver;

/// Start this simulator with its driver.
pub async fn start_driver() -> anyhow::Result<Box<dyn ProviderDriver>> {
    anyhow::bail!("the `salesforce_live_agent` simulator is not implemented yet")
}
