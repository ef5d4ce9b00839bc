//! The `handover-host` binary: argument parsing and exit codes only.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the host allocates per request, per adapter call and per
/// SQLite statement from many threads; glibc malloc's arena locking and
/// consolidation were ~6% of the CPU of the ingest benchmark.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "handover-host",
    version,
    about = "Hands chatbot conversations over to human agents through sandboxed WebAssembly provider adapters"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show a component's world, `describe` output and imports.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate a config file and every adapter it binds.
    Check { config: PathBuf },
    /// Run the conformance scenarios for an adapter against a provider simulator.
    Conformance {
        adapter: PathBuf,
        /// Simulator name (sim, chatwoot, genesys-open-messaging, salesforce-miaw,
        /// salesforce-live-agent, liveperson, sunshine-conversations, matrix).
        #[arg(long)]
        simulator: String,
    },
    /// Print the sha256 to put in the config for an API or operator key.
    HashKey { key: String },
    /// Run the service.
    Serve {
        /// Config file (TOML). Without it: no endpoints, SQLite in ./data, 127.0.0.1:8080.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run one complete handover against the built-in simulated provider.
    Demo {
        /// The `sim` adapter component (default: the one built by scripts/build-adapters.sh).
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
            Cmd::Inspect { file, json } => handover_host::cli::inspect::run(&file, json).await,
            Cmd::Check { config } => handover_host::cli::check::run(&config).await,
            Cmd::Serve { config } => serve(config).await,
            Cmd::HashKey { key } => Ok(handover_host::tenancy::hash_key(&key)),
            Cmd::Conformance { adapter, simulator } => {
                handover_host::cli::conformance::run(&adapter, &simulator).await
            }
            Cmd::Demo { adapter } => {
                // The conversation is printed as it happens; the last line is the final object.
                handover_host::cli::demo::run(adapter.as_deref())
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
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

async fn serve(config: Option<PathBuf>) -> Result<String, String> {
    let cfg = match &config {
        Some(p) => handover_host::config::load(p).map_err(|e| e.to_string())?,
        None => {
            let source = String::new();
            let config =
                handover_host::config::parse("(defaults)", &source).map_err(|e| e.to_string())?;
            handover_host::config::LoadedConfig {
                config,
                path: PathBuf::from("./handover.toml"),
                source,
            }
        }
    };
    let server = handover_host::server::start(&cfg)
        .await
        .map_err(|e| format!("{e:#}"))?;
    eprintln!("handover-host listening on http://{}", server.addr);
    tokio::select! {
        r = server.wait() => r.map_err(|e| format!("{e:#}"))?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(String::new())
}
