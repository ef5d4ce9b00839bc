//! A real Synapse homeserver as a child process: SQLite in a temp dir,
//! client API only on `127.0.0.1:<free port>`, open registration, no
//! federation, rate limits raised. Killed on [`Synapse::stop`] or drop.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long Synapse may take to answer `/_matrix/client/versions`.
const STARTUP: Duration = Duration::from_secs(90);

pub struct Synapse {
    child: Mutex<Option<Child>>,
    dir: PathBuf,
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub base_url: String,
}

/// The Python that has `matrix-synapse`: `$SYNAPSE_PYTHON`, else the venv
/// `scripts/install-synapse.sh` makes in `target/synapse-venv`.
pub fn python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SYNAPSE_PYTHON") {
        let p = PathBuf::from(p);
        if !p.exists() {
            bail!("SYNAPSE_PYTHON={} does not exist", p.display());
        }
        return Ok(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/synapse-venv/bin/python");
    if !venv.exists() {
        bail!(
            "Synapse is not installed: run scripts/install-synapse.sh (it creates \
             target/synapse-venv; scripts/test does it) or set SYNAPSE_PYTHON to a python \
             that has matrix-synapse ({} is missing)",
            venv.display()
        );
    }
    Ok(venv)
}

/// A rate limit nobody reaches in tests.
fn unlimited() -> Value {
    json!({"per_second": 10_000, "burst_count": 10_000})
}

/// Settings layered over the generated `homeserver.yaml` (Synapse merges
/// the top-level keys of later `-c` files over earlier ones; JSON is YAML).
fn overrides(port: u16) -> Value {
    let u = unlimited;
    json!({
        "listeners": [{
            "port": port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": false,
            "x_forwarded": false,
            "resources": [{"names": ["client"], "compress": false}],
        }],
        "enable_registration": true,
        "enable_registration_without_verification": true,
        "federation_domain_whitelist": [],
        "trusted_key_servers": [],
        "suppress_key_server_warning": true,
        "report_stats": false,
        "url_preview_enabled": false,
        "presence": {"enabled": true},
        // Synapse keeps each /sync answer for 2 minutes and gives it again
        // for the same request: the driver's repeated initial syncs (no
        // `since`) must see fresh invites.
        "caches": {"sync_response_cache_duration": 0},
        "rc_message": u(),
        "rc_registration": u(),
        "rc_room_creation": u(),
        "rc_joins": {"local": u(), "remote": u()},
        "rc_joins_per_room": u(),
        "rc_invites": {"per_room": u(), "per_user": u(), "per_issuer": u()},
        "rc_login": {"address": u(), "account": u(), "failed_attempts": u()},
        "rc_presence": {"per_user": u()},
        "rc_admin_redaction": u(),
        "rc_3pid_validation": u(),
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh temp dir name (no `tempfile` dependency in this crate).
fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("synapse-{}-{nanos}", std::process::id()))
}

impl Synapse {
    /// Generates a config, starts Synapse and waits until it answers.
    pub async fn start() -> anyhow::Result<Synapse> {
        let python = python()?;
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("homeserver.yaml");
        let generated = tokio::process::Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--server-name", "localhost"])
            .arg("--config-path")
            .arg(&config)
            .args(["--generate-config", "--report-stats=no"])
            .current_dir(&dir)
            .output()
            .await
            .context("running synapse --generate-config")?;
        if !generated.status.success() {
            bail!(
                "synapse --generate-config failed: {}",
                String::from_utf8_lossy(&generated.stderr)
            );
        }
        let port = free_port()?;
        let extra = dir.join("overrides.yaml");
        std::fs::write(&extra, serde_json::to_vec_pretty(&overrides(port))?)?;
        let out = std::fs::File::create(dir.join("stdout.log"))?;
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .arg("-c")
            .arg(&extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting synapse")?;
        let synapse = Synapse {
            child: Mutex::new(Some(child)),
            dir,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        synapse.wait_ready().await?;
        Ok(synapse)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/_matrix/client/versions", self.base_url);
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.lock().unwrap().as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("synapse exited with {status}:\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "synapse did not answer {url} within {STARTUP:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of Synapse's output and log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        for name in ["stdout.log", "homeserver.log"] {
            let all = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            text += &format!("--- {name} ---\n{tail}\n");
        }
        text
    }

    /// Kills Synapse and removes its data (idempotent).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}
