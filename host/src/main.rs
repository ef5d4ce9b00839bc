//! The `handover-host` binary: argument parsing and exit codes only.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "handover-host", version, about = "Hands chatbot conversations over to human agents through sandboxed WebAssembly provider adapters")]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Inspect { file, json } => handover_host::cli::inspect::run(&file, json).await,
            Cmd::Check { config } => handover_host::cli::check::run(&config).await,
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
