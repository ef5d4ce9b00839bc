//! `handover-host dev DIR`: the adapter author's loop, as an author runs
//! it: a project made by `handover-host new`, the real binary watching it.
//! The first build is served (its events printed as a bot uses the local
//! host) and passes the kit; an edit is rebuilt, swapped in and tested
//! again; a broken edit is reported and waited out.

use crate::harness::create_body;
use crate::template::{generate, root};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The dev process and its stdout, line by line.
struct Dev {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    /// Waits (generously: builds on a busy machine) for a line containing
    /// `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "`dev` never printed {needle:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
pub(crate) fn the_dev_loop_serves_rebuilds_and_reruns_the_kit_on_change() {
    let root = root();
    let project = generate("rust");
    std::fs::copy(root.join("adapters/Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .arg("dev")
        .arg(&project)
        .args([
            "--simulator",
            "sim",
            "--scenario",
            "happy path",
            "--interval-ms",
            "200",
        ])
        .env("CARGO_TARGET_DIR", root.join("target/adapters-build"))
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut dev = Dev {
        child,
        lines,
        seen: Vec::new(),
    };
    let host = dev.wait_for("dev: host on http://");
    let addr = host["dev: host on ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let first = dev.wait_for(" passed, ");
    assert!(first.starts_with("1 passed, 0 failed"), "{first}");
    dev.wait_for("dev: watching");

    // A bot uses the local host: its events are printed as they happen.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{addr}/v1/endpoints/dev/handovers"))
            .json(&create_body("dev-loop-1"))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    });
    assert_eq!(status, 201, "{body}");
    let id = body["handover_id"].as_str().unwrap().to_string();
    let event = dev.wait_for(&format!("event: {id} "));
    assert!(event.contains("queued"), "{event}");

    // An edit: rebuilt, swapped in, the kit again.
    let provider = project.join("src/provider.rs");
    let source = std::fs::read_to_string(&provider).unwrap();
    let edited = source.replace(
        "pub const CHANNELS: &[&str] = &[\"webchat\", \"sms\"];",
        "pub const CHANNELS: &[&str] = &[\"webchat\", \"sms\", \"messenger\"];",
    );
    assert_ne!(edited, source, "the provider's CHANNELS line changed shape");
    std::fs::write(&provider, edited).unwrap();
    dev.wait_for("dev: rebuilt in");
    let second = dev.wait_for(" passed, ");
    assert!(second.starts_with("1 passed, 0 failed"), "{second}");

    // A broken edit: the compiler's message, and the loop goes on waiting.
    std::fs::write(&provider, format!("{source}\nthis is not rust\n")).unwrap();
    dev.wait_for("dev: the build failed");
    dev.wait_for("error");
    drop(dev);
    // Nothing of it is left running (the kit it runs included).
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(pid) = process_mentioning(&project.display().to_string()) {
        assert!(
            Instant::now() < deadline,
            "process {pid} outlived the killed `dev`"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}

/// A running process whose command line mentions `text`, if any.
fn process_mentioning(text: &str) -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().into_owned();
        pid.parse::<u32>().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // A zombie (state Z) is gone already, waiting to be reaped.
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        (!zombie && String::from_utf8_lossy(&cmdline).contains(text)).then_some(pid)
    })
}
