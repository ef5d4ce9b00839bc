//! The `handover-host` binary: argument parsing and exit codes only.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
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
    /// Run the conformance scenarios for an adapter against a provider
    /// simulator (`handover-host conformance --help` for its arguments).
    #[command(disable_help_flag = true)]
    Conformance {
        /// Passed to `handover-kit conformance` unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Write a new adapter project (provider logic filled in for the sim
    /// reference provider: it builds, passes its unit tests and the kit).
    New {
        /// The adapter's name (lower-case letters, digits, `-`).
        name: String,
        #[arg(long, value_enum)]
        lang: handover_host::cli::new::Lang,
        /// Where the project directory is created (default: here).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The handover-host source tree holding the SDKs (default: the
        /// one this binary was built from).
        #[arg(long)]
        sdk_root: Option<PathBuf>,
    },
    /// The adapter author's loop: rebuild on change, hot-swap into a local
    /// host bound to a simulator, rerun the kit, show the events
    /// (`handover-host dev --help` for its arguments).
    #[command(disable_help_flag = true)]
    Dev {
        /// Passed to `handover-kit dev` unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Canary rollouts on a running host: start one, show both versions'
    /// figures, promote or abort it (the key from HANDOVER_ADMIN_KEY).
    Canary {
        #[command(subcommand)]
        action: CanaryCmd,
        /// The host's base URL.
        #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The endpoint id.
        #[arg(long, global = true)]
        endpoint: Option<String>,
    },
    /// Replay a candidate against an endpoint's recorded handovers on a
    /// running host (`record_handovers`); exits 1 on any difference not
    /// allowed (the key from HANDOVER_ADMIN_KEY).
    Replay {
        /// The candidate component.
        #[arg(long)]
        candidate: PathBuf,
        /// The endpoint id.
        #[arg(long)]
        endpoint: String,
        /// How many of the newest recorded handovers.
        #[arg(long, default_value_t = 100)]
        last: u32,
        /// Allow differences in events of this type (repeatable).
        #[arg(long)]
        allow: Vec<String>,
        /// The host's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Print the sha256 to put in the config for an API or operator key.
    HashKey { key: String },
    /// Run the service.
    Serve {
        /// Config file (TOML). Without it: no endpoints, SQLite in ./data, 127.0.0.1:8080.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run one complete handover against the built-in simulated provider
    /// (`handover-host demo --help` for its arguments).
    #[command(disable_help_flag = true)]
    Demo {
        /// Passed to `handover-kit demo` unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(Subcommand)]
enum CanaryCmd {
    /// Upload FILE as the candidate and start the canary.
    Start {
        file: PathBuf,
        /// Percent of new handovers on the candidate (default 10).
        #[arg(long)]
        share: Option<f64>,
        /// Ended candidate handovers (or calls) before rates are compared (default 20).
        #[arg(long)]
        min_sample: Option<u32>,
        /// Percentage points of regression tolerated (default 5).
        #[arg(long)]
        margin: Option<f64>,
        /// Promote after this many ended candidate handovers (default 100).
        #[arg(long)]
        promote_after: Option<u32>,
        /// Or after this many seconds (default: only by count).
        #[arg(long)]
        promote_after_seconds: Option<u64>,
    },
    /// Both versions' figures side by side, and how the last canary ended.
    Status,
    /// Promote the candidate now.
    Promote,
    /// Abort: every handover back on the stable version.
    Abort,
}

fn main() -> ExitCode {
    let cmd = match Cli::parse().cmd {
        Cmd::Conformance { args } => return kit("conformance", args),
        Cmd::Demo { args } => return kit("demo", args),
        Cmd::Dev { args } => return kit("dev", args),
        other => other,
    };
    handover_host::cli::run_command(async {
        match cmd {
            Cmd::Inspect { file, json } => handover_host::cli::inspect::run(&file, json).await,
            Cmd::Check { config } => handover_host::cli::check::run(&config).await,
            Cmd::Serve { config } => serve(config).await,
            Cmd::New {
                name,
                lang,
                dir,
                sdk_root,
            } => handover_host::cli::new::run(&handover_host::cli::new::Options {
                name,
                lang,
                parent: dir,
                sdk_root: sdk_root.unwrap_or_else(handover_host::cli::new::default_sdk_root),
            }),
            Cmd::HashKey { key } => Ok(handover_host::tenancy::hash_key(&key)),
            Cmd::Canary {
                action,
                url,
                endpoint,
            } => canary(action, url, endpoint).await,
            Cmd::Replay {
                candidate,
                endpoint,
                last,
                allow,
                url,
            } => {
                use handover_host::cli::canary as c;
                let t = c::Target {
                    url,
                    endpoint,
                    key: c::key_from_env()?,
                };
                c::replay(&t, &candidate, last, &allow).await
            }
            Cmd::Conformance { .. } | Cmd::Demo { .. } | Cmd::Dev { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

/// `conformance` and `demo` need the provider simulators, which the
/// production binary does not link: they run the `handover-kit` binary next
/// to this one, with the same arguments, and exit with its status. The kit
/// parses (and documents, under `--help`) those arguments: one definition.
fn kit(command: &str, args: Vec<OsString>) -> ExitCode {
    let me = std::env::current_exe().unwrap_or_default();
    let path = me.with_file_name(format!("handover-kit{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        eprintln!(
            "error: `{}` needs the conformance kit, the `handover-kit` binary, which is not \
             installed next to this one (looked for {}). Build it with \
             `cargo build -p handover-kit` (scripts/run and scripts/test do).",
            command,
            path.display()
        );
        return ExitCode::FAILURE;
    }
    let mut kit = std::process::Command::new(&path);
    kit.arg(command).args(&args);
    // On Unix this process becomes the kit (exec): signals and a kill reach
    // it directly, and nothing is left running when the caller stops
    // `handover-host dev` (a child would outlive a killed parent).
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = kit.exec();
        eprintln!("error: cannot run {}: {e}", path.display());
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match kit.status() {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("error: cannot run {}: {e}", path.display());
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
    let mut server = handover_host::server::start(&cfg)
        .await
        .map_err(|e| format!("{e:#}"))?;
    eprintln!("handover-host listening on http://{}", server.addr);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    // SIGTERM (rolling restarts) and Ctrl-C drain; a second signal during
    // the drain exits at once.
    tokio::select! {
        r = server.wait() => return r.map(|_| String::new()).map_err(|e| format!("{e:#}")),
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drain(server, &mut term).await;
    Ok(String::new())
}

async fn drain(server: handover_host::server::Server, term: &mut tokio::signal::unix::Signal) {
    eprintln!("handover-host: draining (a second signal exits at once)");
    tokio::select! {
        left = server.drain() => {
            eprintln!("handover-host: drained, exiting ({left:?})");
        }
        _ = term.recv() => eprintln!("handover-host: second signal, exiting"),
        _ = tokio::signal::ctrl_c() => eprintln!("handover-host: second signal, exiting"),
    }
}

async fn canary(
    action: CanaryCmd,
    url: String,
    endpoint: Option<String>,
) -> Result<String, String> {
    use handover_host::cli::canary as c;
    let endpoint = endpoint.ok_or("--endpoint <id> is required")?;
    let t = c::Target {
        url,
        endpoint,
        key: c::key_from_env()?,
    };
    match action {
        CanaryCmd::Start {
            file,
            share,
            min_sample,
            margin,
            promote_after,
            promote_after_seconds,
        } => {
            let policy = c::Policy {
                share_percent: share,
                min_sample,
                margin_percent: margin,
                promote_after_handovers: promote_after,
                promote_after_seconds,
            };
            c::start(&t, &policy, &file).await
        }
        CanaryCmd::Status => c::status(&t).await,
        CanaryCmd::Promote => c::act(&t, "promote").await,
        CanaryCmd::Abort => c::act(&t, "abort").await,
    }
}
