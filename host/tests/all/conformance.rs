//! The conformance kit as a third party runs it: the real binary, a real
//! adapter component, a bundled simulator. A conforming adapter passes every
//! scenario; a non-conforming one fails with a non-zero exit.

use crate::harness::{guest, run_conformance};

fn run(adapter_name: &str, simulator: &str) -> (bool, String) {
    run_conformance(&guest(adapter_name), simulator)
}

#[test]
pub(crate) fn sim_adapters_pass_every_scenario() {
    for name in ["sim", "sim-poll"] {
        let (ok, text) = run(name, "sim");
        assert!(ok, "{name}:\n{text}");
        assert!(
            text.contains("10 passed, 0 failed, 0 skipped"),
            "{name}:\n{text}"
        );
    }
}

/// Every provider adapter against its own simulator (Matrix: a real Synapse).
/// Polled providers skip the two webhook scenarios; nothing may fail.
#[test]
pub(crate) fn provider_adapters_pass_against_their_simulators() {
    let providers = [
        ("chatwoot", "chatwoot"),
        ("sunshine-conversations", "sunshine-conversations"),
        ("genesys-open-messaging", "genesys-open-messaging"),
        ("liveperson", "liveperson"),
        ("salesforce-miaw", "salesforce-miaw"),
        ("salesforce-live-agent", "salesforce-live-agent"),
        ("matrix", "matrix"),
    ];
    let mut failures = vec![];
    for (adapter_name, simulator) in providers {
        let (ok, text) = run(adapter_name, simulator);
        let summary = text
            .lines()
            .rev()
            .find(|l| l.contains(" passed, "))
            .unwrap_or("")
            .to_string();
        if !ok || !summary.contains(" 0 failed") {
            failures.push(format!("{adapter_name}:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_non_conforming_adapter_fails() {
    // `echo` talks to no provider at all: most scenarios must fail.
    let (ok, text) = run("echo", "sim");
    assert!(!ok, "{text}");
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        text.contains("settings invalid") && text.contains("were accepted"),
        "{text}"
    );
}

#[test]
fn unknown_simulator_is_a_clear_error() {
    let (ok, text) = run("sim", "no-such-provider");
    assert!(!ok);
    assert!(
        text.contains("unknown simulator `no-such-provider`"),
        "{text}"
    );
}
