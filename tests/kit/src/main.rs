//! The `handover-kit` binary: `conformance` and `demo`, the commands that
//! need the provider simulators. `handover-host conformance …` and
//! `handover-host demo …` forward here with the same arguments. Argument
//! parsing and exit codes only.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "handover-kit",
    version,
    about = "Conformance kit and demo of handover-host (provider simulators included)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the conformance scenarios for an adapter against a provider simulator.
    Conformance {
        adapter: PathBuf,
        /// Simulator name (sim, chatwoot, genesys-open-messaging, salesforce-miaw,
        /// salesforce-live-agent, liveperson, sunshine-conversations, matrix).
        #[arg(long)]
        simulator: String,
        /// Seconds each scenario waits for each step it expects.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// Scenarios run at the same time (each with its own host and
        /// simulator); default: one per core.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Run one complete handover against the built-in simulated provider.
    Demo {
        /// The `sim` adapter component (default: target/adapters/sim.wasm).
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    handover_host::cli::run_command(async {
        match Cli::parse().cmd {
            Cmd::Conformance {
                adapter,
                simulator,
                timeout,
                jobs,
            } => {
                let opts = handover_kit::conformance::Options {
                    timeout: std::time::Duration::from_secs(timeout),
                    jobs: jobs.unwrap_or_else(handover_kit::conformance::Options::default_jobs),
                };
                handover_kit::conformance::run(&adapter, &simulator, &opts).await
            }
            // The conversation is printed as it happens; the last line is the final object.
            Cmd::Demo { adapter } => handover_kit::demo::run(adapter.as_deref())
                .await
                .map_err(|e| format!("{e:#}")),
        }
    })
}
