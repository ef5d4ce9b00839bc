//! `sim-provider`: runs the sim provider standalone for curl-driven demos.
//!
//! Environment: `SIM_ADDR` (default `127.0.0.1:8090`), `SIM_WEBHOOK_URL`,
//! `SIM_WEBHOOK_SECRET` (default `sim-secret`), `SIM_AUTO_AGENT=1` to
//! answer every conversation with the scripted agent. Stops on Ctrl-C.

use provider_simulators::{AutoAgent, SimConfig, SimProvider};
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let addr: SocketAddr = var("SIM_ADDR")
        .as_deref()
        .unwrap_or("127.0.0.1:8090")
        .parse()?;
    let cfg = SimConfig {
        webhook_url: var("SIM_WEBHOOK_URL"),
        webhook_secret: var("SIM_WEBHOOK_SECRET").unwrap_or_else(|| "sim-secret".into()),
        auto_agent: var("SIM_AUTO_AGENT")
            .filter(|v| v != "0")
            .map(|_| AutoAgent::default()),
    };
    let sim = SimProvider::start_on(cfg, addr).await?;
    println!("sim provider listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
