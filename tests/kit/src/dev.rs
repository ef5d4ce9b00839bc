//! `handover-host dev DIR --simulator NAME | --provider FILE`: the adapter
//! author's loop. Builds the project in DIR with its language's tool,
//! serves it in a local host bound to a bundled simulator or to the
//! author's described provider (the host swaps each new build in itself:
//! `watch_adapters`), runs the conformance kit and prints its table, prints
//! the endpoint's events as they happen, and on every change of the
//! sources builds and runs the kit again.
//!
//! A failed build is shown and waited out (the host keeps the last good
//! build). Must never write into DIR except where the language's own tool
//! does (Rust `target/`; Python and JS builds go to `DIR/target/`).

use crate::conformance::{self, Options as KitOptions};
use crate::host::{HostSpec, host_config};
use handover_host::server;
use handover_host::store::EventScope;
use provider_simulators::driver::Target;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// How `dev` runs.
pub struct Options {
    pub dir: PathBuf,
    pub target: Target,
    /// Build, run the kit once, and stop (for scripts and tests).
    pub once: bool,
    /// How often the sources are checked for changes.
    pub interval: Duration,
    /// The handover-host source tree with the Python and JS build scripts.
    pub sdk_root: PathBuf,
    pub kit: KitOptions,
}

/// The source tree this binary was built from.
pub fn default_sdk_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An adapter project: its language, how to build it, where the build goes.
#[derive(Debug)]
pub struct Project {
    pub lang: &'static str,
    pub name: String,
    pub wasm: PathBuf,
    build: Vec<String>,
}

impl Project {
    /// Recognises a project made by `handover-host new` (or by hand in the
    /// same shape): `Cargo.toml` (Rust), `app.py` (Python) or
    /// `package.json` with `src/adapter.ts` (TypeScript).
    pub fn detect(dir: &Path, sdk_root: &Path) -> Result<Project, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let folder = dir
            .file_name()
            .map_or("adapter".into(), |n| n.to_string_lossy().into_owned());
        let out = dir.join("target/handover-dev");
        let script = |rel: &str| sdk_root.join(rel).display().to_string();
        if dir.join("Cargo.toml").is_file() {
            let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml"))
                .map_err(|e| e.to_string())?
                .parse()
                .map_err(|e| format!("{}/Cargo.toml: {e}", dir.display()))?;
            let package = manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .ok_or_else(|| format!("{}/Cargo.toml has no package name", dir.display()))?
                .to_string();
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or(dir.join("target"), PathBuf::from);
            let file = format!("{}.wasm", package.replace('-', "_"));
            return Ok(Project {
                lang: "rust",
                name: package.trim_start_matches("adapter-").to_string(),
                wasm: target.join("wasm32-wasip2/release").join(file),
                build: vec![
                    "cargo".into(),
                    "build".into(),
                    "--release".into(),
                    "--quiet".into(),
                    "--target".into(),
                    "wasm32-wasip2".into(),
                    "--manifest-path".into(),
                    dir.join("Cargo.toml").display().to_string(),
                ],
            });
        }
        let (lang, build) = if dir.join("app.py").is_file() {
            ("python", script("adapters/python/build.sh"))
        } else if dir.join("package.json").is_file() && dir.join("src/adapter.ts").is_file() {
            ("js", script("adapters/js/build.sh"))
        } else {
            return Err(format!(
                "{} is not an adapter project: no Cargo.toml, app.py, or package.json with src/adapter.ts (start one with `handover-host new NAME --lang rust|python|js`)",
                dir.display()
            ));
        };
        let name = folder.trim_start_matches("adapter-").to_string();
        let wasm = out.join(format!("{name}.wasm"));
        Ok(Project {
            lang,
            name,
            build: vec![build, dir.display().to_string(), wasm.display().to_string()],
            wasm,
        })
    }

    /// Runs the build; `Err` holds the tool's output.
    pub fn build(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let out = Command::new(&self.build[0])
            .args(&self.build[1..])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.build[0]))?;
        if out.status.success() && self.wasm.is_file() {
            Ok(started.elapsed())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// The newest modification time and the number of the project's source
/// files (build output, dependencies and caches left out).
fn fingerprint(dir: &Path) -> (Option<SystemTime>, usize) {
    const SKIP: &[&str] = &["target", "node_modules", "__pycache__", ".git"];
    let mut newest = None;
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                if !SKIP.contains(&name.to_string_lossy().as_ref()) {
                    stack.push(e.path());
                }
            } else if !name.to_string_lossy().ends_with(".wasm") {
                count += 1;
                newest = newest.max(meta.modified().ok());
            }
        }
    }
    (newest, count)
}

/// Runs the loop; with `once`, the kit's table (an `Err` when it failed).
pub async fn run(opts: &Options) -> Result<String, String> {
    let project = Project::detect(&opts.dir, &opts.sdk_root)?;
    println!(
        "dev: {} adapter `{}` → {}",
        project.lang,
        project.name,
        project.wasm.display()
    );
    let took = project
        .build()
        .map_err(|out| format!("the build failed:\n{out}"))?;
    println!("dev: built in {:.1}s", took.as_secs_f64());
    let driver = opts
        .target
        .start()
        .await
        .map_err(|e| format!("cannot start {}: {e:#}", opts.target.label()))?;
    let work = std::env::temp_dir().join(format!("handover-dev-{}", std::process::id()));
    let spec = HostSpec {
        adapter: &project.wasm,
        endpoint: "dev",
        data_dir: &work.join("data"),
        cache_dir: &work.join("cache"),
        timers: "",
        watch: true,
        instance_reuse: None,
    };
    let loaded = host_config(&spec, &driver.endpoint_setup(), &work.join("dev.toml"))?;
    let host = server::start(&loaded).await.map_err(|e| format!("{e:#}"))?;
    driver.set_webhook_url(&format!("http://{}/v1/webhooks/dev", host.addr));
    println!(
        "dev: host on http://{} (endpoint `dev`, {}); bot API: POST /v1/endpoints/dev/handovers",
        host.addr,
        opts.target.label()
    );
    let engine = host.engine.clone();
    let events = tokio::spawn(async move {
        let mut last = 0;
        loop {
            let scope = EventScope::Endpoint("dev".into());
            for e in engine
                .events_after(&scope, last, 100)
                .await
                .unwrap_or_default()
            {
                last = e.id;
                println!(
                    "event: {} #{} {} {}",
                    e.handover_id, e.seq, e.kind, e.payload
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let result = watch(&project, opts).await;
    events.abort();
    host.abort();
    driver.shutdown().await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Runs the kit, then (unless `once`) rebuilds and reruns it on every change.
async fn watch(project: &Project, opts: &Options) -> Result<String, String> {
    let mut seen = fingerprint(&opts.dir);
    loop {
        let table = conformance::run(&project.wasm, &opts.target, &opts.kit).await;
        if opts.once {
            return table;
        }
        println!("{}", table.unwrap_or_else(|t| t));
        println!("dev: watching {} (Ctrl-C to stop)", opts.dir.display());
        // Until a change builds: a failed build is shown and waited out.
        loop {
            tokio::time::sleep(opts.interval).await;
            let now = fingerprint(&opts.dir);
            if now == seen {
                continue;
            }
            seen = now;
            match project.build() {
                Ok(took) => {
                    println!(
                        "dev: rebuilt in {:.1}s; the host swaps it in; running the kit",
                        took.as_secs_f64()
                    );
                    break;
                }
                Err(out) => {
                    println!("dev: the build failed (the host keeps the last good build):\n{out}")
                }
            }
        }
    }
}
