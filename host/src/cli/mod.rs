//! Command implementations behind the `handover-host` binary, kept in the
//! library so tests can call them. Each returns text or a diagnosis; only
//! `main` prints and chooses exit codes. (`conformance` and `demo` live in
//! the `handover-kit` crate, which links the provider simulators.)

pub mod canary;
pub mod check;
pub mod inspect;
pub mod new;

use std::process::ExitCode;

/// The frame every command-line tool of the project shares (this binary and
/// `handover-kit`): logs to stderr (`RUST_LOG`, default `warn`), runs
/// `command` on a tokio runtime, prints its text on stdout or
/// `error: <diagnosis>` on stderr, and exits 0 or 1 accordingly.
pub fn run_command(command: impl Future<Output = Result<String, String>>) -> ExitCode {
    run_command_logging_to(None, command)
}

/// [`run_command`] with the logs appended to `log` (when given) instead of
/// stderr, so the command's own output stays clean (the conformance kit's
/// table). A log file that cannot be opened is an error before the command
/// runs.
pub fn run_command_logging_to(
    log: Option<&std::path::Path>,
    command: impl Future<Output = Result<String, String>>,
) -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter);
    match log {
        Some(path) => {
            let file = match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: cannot open the log file {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            };
            fmt.with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => fmt.with_writer(std::io::stderr).init(),
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(command) {
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
