//! The TypeScript Twilio Flex adapter (adapters/js/adapters/twilio-flex),
//! built with the JavaScript SDK's build script, against the bundled Twilio
//! Flex Conversations simulator (`--simulator twilio-flex`): it passes every
//! scenario, every form body it sends validated against Twilio's Flex and
//! Conversations OpenAPI documents and every webhook it takes signed with
//! `X-Twilio-Signature`.

use crate::harness::{build_sdk_adapter, run_kit};

#[test]
fn the_typescript_twilio_flex_adapter_passes_every_scenario() {
    let wasm = build_sdk_adapter("js", "twilio-flex");
    let (ok, table) = run_kit(&[
        wasm.as_os_str(),
        "--simulator".as_ref(),
        "twilio-flex".as_ref(),
    ]);
    assert!(ok, "{table}");
    assert!(table.contains("10 passed, 0 failed, 0 skipped"), "{table}");
}
