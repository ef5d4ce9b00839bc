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
    },
    /// Run one complete handover against the built-in simulated provider.
    Demo {
        /// The `sim` adapter component (default: target/adapters/sim.wasm).
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Conformance { adapter, simulator } => {
                handover_kit::conformance::run(&adapter, &simulator).await
            }
            // The conversation is printed as it happens; the last line is the final object.
            Cmd::Demo { adapter } => handover_kit::demo::run(adapter.as_deref())
                .await
                .map_err(|e| format!("{e:#}")),
        }
    });
    match result {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(diagnosis) => {
            eprintln!("error: {}", diagnosis.trim_end());
            ExitCode::FAILURE
        }
    }
}
