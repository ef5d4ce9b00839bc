//! The `handover-kit` binary: `conformance` and `demo`, the commands that
//! need the provider simulators. `handover-host conformance …` and
//! `handover-host demo …` forward here with the same arguments. Argument
//! parsing and exit codes only.

use clap::{Parser, Subcommand};
use provider_simulators::driver::Target;
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
    /// Run the conformance scenarios for an adapter against a bundled
    /// provider simulator or a provider described by a file.
    Conformance {
        adapter: PathBuf,
        /// Bundled simulator name (sim, chatwoot, genesys-open-messaging,
        /// salesforce-miaw, salesforce-live-agent, liveperson,
        /// sunshine-conversations, matrix).
        #[arg(
            long,
            required_unless_present = "provider",
            conflicts_with = "provider"
        )]
        simulator: Option<String>,
        /// A provider description (TOML, docs/conformance.md): the kit
        /// simulates the provider it describes.
        #[arg(long)]
        provider: Option<PathBuf>,
        /// Run only the scenarios whose names contain this text (repeatable).
        #[arg(long = "scenario")]
        only: Vec<String>,
        /// Seconds each scenario waits for each step it expects.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// Scenarios run at the same time (each with its own host and
        /// simulator); default: one per core.
        #[arg(long)]
        jobs: Option<usize>,
        /// Where the hosts' and simulators' logs go (`-`: stderr); default
        /// a file in the temporary directory, named under the table.
        #[arg(long)]
        log: Option<PathBuf>,
    },
    /// Run one complete handover against the built-in simulated provider.
    Demo {
        /// The `sim` adapter component (default: target/adapters/sim.wasm).
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Conformance {
            adapter,
            simulator,
            provider,
            only,
            timeout,
            jobs,
            log,
        } => {
            let log = match log {
                Some(path) if path.as_os_str() == "-" => None,
                Some(path) => Some(path),
                None => Some(
                    std::env::temp_dir()
                        .join(format!("handover-conformance-{}.log", std::process::id())),
                ),
            };
            let opts = handover_kit::conformance::Options {
                timeout: std::time::Duration::from_secs(timeout),
                jobs: jobs.unwrap_or_else(handover_kit::conformance::Options::default_jobs),
                only,
            };
            let note = log
                .as_ref()
                .map(|p| format!("\nlogs: {}\n", p.display()))
                .unwrap_or_default();
            handover_host::cli::run_command_logging_to(log.as_deref(), async move {
                let target = match (simulator, provider) {
                    (Some(name), _) => Target::bundled(&name).map_err(|e| e.to_string())?,
                    (None, Some(path)) => Target::described(&path)?,
                    (None, None) => unreachable!("clap requires one"),
                };
                handover_kit::conformance::run(&adapter, &target, &opts)
                    .await
                    .map(|table| table + &note)
                    .map_err(|table| table + &note)
            })
        }
        // The conversation is printed as it happens; the last line is the final object.
        Cmd::Demo { adapter } => handover_host::cli::run_command(async {
            handover_kit::demo::run(adapter.as_deref())
                .await
                .map_err(|e| format!("{e:#}"))
        }),
    }
}
