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
        /// sunshine-conversations, twilio-flex, matrix).
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
        /// Keep instances for this many calls (the endpoint's
        /// `instance_reuse`); default a fresh instance per call.
        #[arg(long)]
        instance_reuse: Option<u32>,
    },
    /// The adapter author's loop: build DIR, serve it in a local host bound
    /// to a simulator, run the kit, show the events; again on every change.
    Dev {
        /// The adapter project (as `handover-host new` writes it).
        dir: PathBuf,
        /// Bundled simulator name.
        #[arg(
            long,
            required_unless_present = "provider",
            conflicts_with = "provider"
        )]
        simulator: Option<String>,
        /// A provider description (TOML, docs/conformance.md).
        #[arg(long)]
        provider: Option<PathBuf>,
        /// Build, run the kit once and stop.
        #[arg(long)]
        once: bool,
        /// Run only the scenarios whose names contain this text (repeatable).
        #[arg(long = "scenario")]
        only: Vec<String>,
        /// Seconds each scenario waits for each step it expects.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// Milliseconds between checks of the sources for changes.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// The handover-host source tree with the SDKs' build scripts.
        #[arg(long)]
        sdk_root: Option<PathBuf>,
        /// Where the logs go (`-`: stderr); default a file in the
        /// temporary directory.
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
            instance_reuse,
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
                instance_reuse,
            };
            let note = log
                .as_ref()
                .map(|p| format!("\nlogs: {}\n", p.display()))
                .unwrap_or_default();
            handover_host::cli::run_command_logging_to(log.as_deref(), async move {
                let target = target(simulator, provider)?;
                handover_kit::conformance::run(&adapter, &target, &opts)
                    .await
                    .map(|table| table + &note)
                    .map_err(|table| table + &note)
            })
        }
        Cmd::Dev {
            dir,
            simulator,
            provider,
            once,
            only,
            timeout,
            interval_ms,
            sdk_root,
            log,
        } => {
            let log = log_file(log, "dev");
            handover_host::cli::run_command_logging_to(log.as_deref(), async move {
                let opts = handover_kit::dev::Options {
                    dir,
                    target: target(simulator, provider)?,
                    once,
                    interval: std::time::Duration::from_millis(interval_ms),
                    sdk_root: sdk_root.unwrap_or_else(handover_kit::dev::default_sdk_root),
                    kit: handover_kit::conformance::Options {
                        timeout: std::time::Duration::from_secs(timeout),
                        jobs: handover_kit::conformance::Options::default_jobs(),
                        only,
                        instance_reuse: None,
                    },
                };
                handover_kit::dev::run(&opts).await
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

/// `--log`: `-` is stderr (`None`); absent, a file in the temporary directory.
fn log_file(log: Option<PathBuf>, command: &str) -> Option<PathBuf> {
    match log {
        Some(path) if path.as_os_str() == "-" => None,
        Some(path) => Some(path),
        None => Some(
            std::env::temp_dir().join(format!("handover-{command}-{}.log", std::process::id())),
        ),
    }
}

/// The provider of `--simulator NAME` or `--provider FILE` (clap requires one).
fn target(simulator: Option<String>, provider: Option<PathBuf>) -> Result<Target, String> {
    match (simulator, provider) {
        (Some(name), _) => Target::bundled(&name).map_err(|e| e.to_string()),
        (None, Some(path)) => Target::described(&path),
        (None, None) => Err("give --simulator NAME or --provider FILE".into()),
    }
}
