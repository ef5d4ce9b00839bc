//! The conformance kit as a third party runs it: the real binary, a real
//! adapter component, a bundled simulator. A conforming adapter passes every
//! scenario; a non-conforming one fails with a non-zero exit.

use crate::harness::{guest, run_conformance};

/// The kit on the guest `adapter_name`.
fn run(adapter_name: &str, simulator: &str, options: &[&str]) -> (bool, String) {
    run_conformance(&guest(adapter_name), simulator, options)
}

/// Runs the kit on every guest that declares a conformance simulator in its
/// own `Cargo.toml` (`[package.metadata.handover] conformance = "…"`,
/// collected by `tests/guests`) and whose simulator `pick` selects; returns
/// the failures. A new adapter folder that declares one is tested here with
/// no file outside its folder edited.
fn declared(pick: impl Fn(&str) -> bool, strict: bool) -> Vec<String> {
    let mut failures = vec![];
    let mut ran = 0;
    for (name, path, simulator) in handover_guests::CONFORMANCE {
        if !pick(simulator) {
            continue;
        }
        ran += 1;
        let (ok, text) = run_conformance(std::path::Path::new(path), simulator, &[]);
        let summary = text
            .lines()
            .rev()
            .find(|l| l.contains(" passed, "))
            .unwrap_or("")
            .to_string();
        let clean = if strict {
            summary.contains(" 0 failed, 0 skipped")
        } else {
            summary.contains(" 0 failed")
        };
        if !ok || !clean {
            failures.push(format!("{name} against `{simulator}`:\n{text}"));
        }
    }
    assert!(ran > 0, "no guest declares a conformance simulator");
    failures
}

/// The sim reference adapters (webhooks and polling) pass all ten
/// scenarios, none skipped.
#[test]
pub(crate) fn sim_adapters_pass_every_scenario() {
    let failures = declared(|sim| sim == "sim", true);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every provider adapter against its own simulator (Matrix: a real Synapse).
/// Polled providers skip the two webhook scenarios; nothing may fail.
#[test]
pub(crate) fn provider_adapters_pass_against_their_simulators() {
    let failures = declared(|sim| sim != "sim", false);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_non_conforming_adapter_fails() {
    // `echo` talks to no provider at all: most scenarios must fail. They
    // fail by waiting in vain, so a short wait and all ten at once; neither
    // can turn a failure into a pass.
    let (ok, text) = run("echo", "sim", &["--timeout", "3", "--jobs", "10"]);
    assert!(!ok, "{text}");
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        text.contains("settings invalid") && text.contains("were accepted"),
        "{text}"
    );
}

#[test]
fn unknown_simulator_is_a_clear_error() {
    let (ok, text) = run("sim", "no-such-provider", &[]);
    assert!(!ok);
    assert!(
        text.contains("unknown simulator `no-such-provider`"),
        "{text}"
    );
}

#[test]
fn kit_options_are_checked() {
    let (ok, text) = run("sim", "sim", &["--jobs", "0"]);
    assert!(!ok && text.contains("--jobs must be at least 1"), "{text}");
    let (ok, text) = run("sim", "sim", &["--timeout", "soon"]);
    assert!(!ok && text.contains("--timeout"), "{text}");
}
