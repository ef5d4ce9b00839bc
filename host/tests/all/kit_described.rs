//! The conformance kit against a provider none of the bundled simulators
//! speak: Relay Desk, known to the kit only by its description
//! (`tests/kit/providers/relay/provider.toml` and its OpenAPI document).
//! A correct adapter (`relay`) passes every scenario; the same adapter with
//! a known bug (`relay-buggy`, the bug chosen by its `bug` setting) fails
//! the scenario written to catch that bug, for each of the ten scenarios.
//! And a Python adapter for a real provider, Intercom, described from its
//! own OpenAPI document.

use crate::harness::{build_sdk_adapter, guest, run_kit};
use std::path::{Path, PathBuf};

fn relay_description() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kit/providers/relay/provider.toml")
}

/// The bug of `relay-buggy` (its `bug` setting) each scenario must catch,
/// and what the scenario's failure must say (so it fails for that bug, not
/// another reason); the two without a setting are built in (see
/// adapters/fixtures/relay-buggy).
const BUGS: &[(&str, &str, &str)] = &[
    (
        "drop_agent_messages",
        "happy path to completed",
        "the bot did not get the agent's message",
    ),
    (
        "cancel_fails",
        "user cancels while queued",
        "the provider never saw the cancel",
    ),
    (
        "swallow_cancel_words",
        "cancel attempt after the agent joined",
        "the cancel words were not forwarded",
    ),
    (
        "fake_join",
        "agent never joins (timeout)",
        "expected status `error`",
    ),
    (
        "ignore_start_errors",
        "provider answers 5xx on start",
        "5xx on start must end as error/error",
    ),
    (
        "",
        "unsupported channel",
        "an unsupported channel must end as error/unsupported",
    ),
    (
        "no_dedupe",
        "duplicate webhook",
        "duplicates reached the bot",
    ),
    (
        "arrival_order",
        "out-of-order webhooks",
        "expected provider order",
    ),
    (
        "close_fails",
        "end event never sent (inactivity)",
        "the provider never saw the close",
    ),
    ("", "settings invalid", "were accepted"),
];

/// The row of `scenario` in the kit's table, after the scenario's name.
fn row<'a>(table: &'a str, scenario: &str) -> Option<&'a str> {
    let line = table.lines().find(|l| l.starts_with(scenario))?;
    Some(&line[scenario.len()..])
}

#[test]
pub(crate) fn a_correct_adapter_passes_every_scenario_against_a_described_provider() {
    let desc = relay_description();
    let wasm = guest("relay");
    let (ok, table) = run_kit(&[wasm.as_os_str(), "--provider".as_ref(), desc.as_os_str()]);
    assert!(ok, "{table}");
    assert!(
        table.contains("against provider `relay-desk` (described)"),
        "{table}"
    );
    assert!(table.contains("10 passed, 0 failed, 0 skipped"), "{table}");
}

#[test]
pub(crate) fn each_scenario_fails_the_adapter_with_its_known_bug() {
    let source = std::fs::read_to_string(relay_description()).unwrap();
    let dir = std::env::temp_dir().join(format!("kit-described-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = guest("relay-buggy");
    let mut missed = Vec::new();
    for (bug, scenario, says) in BUGS {
        // The description with the bug in the adapter's settings and the
        // spec found where it is.
        let mut doc: toml::Table = source.parse().unwrap();
        doc["spec"] = relay_description()
            .with_file_name("openapi.json")
            .display()
            .to_string()
            .into();
        let settings = doc["endpoint"]["settings"].as_table_mut().unwrap();
        settings.insert("bug".into(), (*bug).into());
        let desc = dir.join(format!(
            "{}.toml",
            if bug.is_empty() { "builtin" } else { bug }
        ));
        std::fs::write(&desc, toml::to_string(&doc).unwrap()).unwrap();
        // Each step waits 8 s at most (the default 20 s only slows a failure down).
        let args = [
            wasm.as_os_str(),
            "--provider".as_ref(),
            desc.as_os_str(),
            "--scenario".as_ref(),
            scenario.as_ref(),
            "--timeout".as_ref(),
            "8".as_ref(),
        ];
        let (ok, table) = run_kit(&args);
        let caught = row(&table, scenario)
            .is_some_and(|r| r.trim_start().starts_with("FAIL") && r.contains(says));
        if ok || !caught {
            missed.push(format!(
                "bug `{bug}` was not caught by `{scenario}`:\n{table}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

/// A description with a mistake is refused before any scenario runs, with
/// the file and what to fix.
#[test]
pub(crate) fn a_broken_description_is_refused_with_what_to_fix() {
    let source = std::fs::read_to_string(relay_description()).unwrap();
    let dir = std::env::temp_dir().join(format!("kit-described-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let desc = dir.join("provider.toml");
    std::fs::write(&desc, source.replace("text = \"/text\"", "text = \"text\"")).unwrap();
    let wasm = guest("relay");
    let (ok, out) = run_kit(&[wasm.as_os_str(), "--provider".as_ref(), desc.as_os_str()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("provider description {}", desc.display())),
        "{out}"
    );
    assert!(out.contains("routes[1] (POST /v2/conversations/{conversation_id}/messages): `text` must be a JSON pointer"), "{out}");
    assert!(!out.contains(" passed, "), "no scenario may run: {out}");
}

/// A Python adapter for a real provider the bundled simulators do not
/// speak: Intercom, described to the kit from Intercom's own OpenAPI
/// document (tests/kit/providers/intercom/, SOURCES.md says where it came
/// from). Built with the Python SDK's build script, it passes every
/// scenario, every request it sends validated against that document.
#[test]
pub(crate) fn the_python_intercom_adapter_passes_every_scenario() {
    let root = crate::template::root();
    let wasm = build_sdk_adapter("python", "intercom");
    let desc = root.join("tests/kit/providers/intercom/provider.toml");
    let (ok, table) = run_kit(&[wasm.as_os_str(), "--provider".as_ref(), desc.as_os_str()]);
    assert!(ok, "{table}");
    assert!(table.contains("10 passed, 0 failed, 0 skipped"), "{table}");
}
