//! The real `handover-host` binary's `inspect` and `check` commands: exit
//! codes, what they print for every built adapter, and the one-paragraph
//! diagnosis (with file, line and field for configs) for everything wrong.

use crate::harness::{guest, leb128};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(args: &[&std::ffi::OsStr]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run handover-host");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn inspect(file: &Path) -> Out {
    run(&["inspect".as_ref(), file.as_os_str()])
}

fn check(config: &Path) -> Out {
    run(&["check".as_ref(), config.as_os_str()])
}

/// Every component `scripts/build-adapters.sh` produced.
fn all_adapters() -> Vec<PathBuf> {
    let dir = guest("sim").parent().unwrap().to_path_buf();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    v.sort();
    v
}

/// Whether guest `stem`'s crate enables the SDK's `contract-0-2` feature.
fn declares_contract_0_2(stem: &str) -> bool {
    let adapters = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    let manifest = [adapters.join(stem), adapters.join("fixtures").join(stem)]
        .into_iter()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
        .unwrap_or_else(|| panic!("no crate for guest `{stem}`"));
    std::fs::read_to_string(manifest)
        .unwrap()
        .contains("\"contract-0-2\"")
}

/// The `describe` name and version each built component must report.
fn expected_describe(stem: &str) -> (&str, &str) {
    match stem {
        "echo" => ("echo", "1.0.0"),
        "echo-v2" => ("echo", "2.0.0"),
        // The sim source built for contract 0.2.0 describes itself as sim.
        "sim-v2" => ("sim", "0.1.0"),
        other => (other, "0.1.0"),
    }
}

/// The component's imports, decoded independently of the host's inspector.
fn decoded_imports(bytes: &[u8]) -> Vec<String> {
    let wit_component::DecodedWasm::Component(resolve, world) =
        wit_component::decode(bytes).unwrap()
    else {
        panic!("not a component")
    };
    resolve.worlds[world]
        .imports
        .keys()
        .map(|k| match k {
            wit_parser::WorldKey::Interface(id) => resolve.id_of(*id).unwrap(),
            wit_parser::WorldKey::Name(n) => n.clone(),
        })
        .collect()
}

/// A diagnosis is one paragraph on stderr: `error: <path> ...`, no blank
/// lines, no panic, nothing on stdout.
fn assert_diagnosis(out: &Out, file: &Path, phrases: &[&str]) {
    assert!(
        out.code.is_some_and(|c| c != 0),
        "expected a non-zero exit\n{out}"
    );
    assert!(out.stdout.trim().is_empty(), "{out}");
    let text = out.stderr.trim();
    assert!(!text.contains("panicked"), "{out}");
    assert!(!text.contains("\n\n"), "not one paragraph\n{out}");
    assert_eq!(
        text.lines().count(),
        1,
        "the diagnosis should be one paragraph\n{out}"
    );
    assert!(
        text.starts_with("error: ") && text.contains(&file.display().to_string()),
        "the diagnosis should name the file\n{out}"
    );
    for p in phrases {
        assert!(text.contains(p), "missing {p:?}\n{out}");
    }
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_every_built_adapter() {
    let files = all_adapters();
    // The build script produces 14 components; all must be here.
    assert!(files.len() >= 14, "only {files:?}");
    for file in files {
        let stem = file.file_stem().unwrap().to_str().unwrap().to_string();
        let out = inspect(&file);
        assert_eq!(out.code, Some(0), "{stem}: {out}");
        let (name, version) = expected_describe(&stem);
        let lines: Vec<&str> = out.stdout.lines().collect();
        // The contract its crate builds for (the SDK feature), as `inspect`
        // must find it in the component.
        let (contract, status) = if declares_contract_0_2(&stem) {
            ("0.2.0", "current")
        } else {
            ("0.1.0", "deprecated, served until")
        };
        let world = format!("handover:provider@{contract}");
        assert!(
            lines.iter().any(|l| l.starts_with("world:")
                && l.contains(&world)
                && l.contains(&format!("contract {contract}: {status}"))),
            "{stem}: no world line\n{out}"
        );
        let adapter_line = lines
            .iter()
            .find(|l| l.starts_with("adapter:"))
            .unwrap_or_else(|| panic!("{stem}: no adapter line\n{out}"));
        assert_eq!(
            adapter_line.split_whitespace().collect::<Vec<_>>(),
            ["adapter:", name, version],
            "{stem}\n{out}"
        );
        // Every import the component really has is listed under `imports:`.
        let bytes = std::fs::read(&file).unwrap();
        let sha = handover_host::runtime::sha256_hex(&bytes);
        assert!(out.stdout.contains(&sha), "{stem}: no sha256\n{out}");
        let imports = decoded_imports(&bytes);
        assert!(!imports.is_empty(), "{stem}: a Rust component imports WASI");
        let start = lines
            .iter()
            .position(|l| l.trim_end() == "imports:")
            .unwrap_or_else(|| panic!("{stem}: no imports section\n{out}"));
        let listed: Vec<&str> = lines[start + 1..]
            .iter()
            .take_while(|l| l.starts_with("  "))
            .map(|l| l.trim())
            .collect();
        let mut want: Vec<&str> = imports.iter().map(String::as_str).collect();
        let mut got = listed.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{stem}: imports\n{out}");
        assert!(
            out.stdout
                .contains(&format!("handover:provider/adapter@{contract}")),
            "{stem}: exports\n{out}"
        );
        // What 0.2.0 adds is printed for 0.2.0 components only.
        assert_eq!(
            out.stdout.contains("needs:     egress"),
            contract == "0.2.0",
            "{stem}\n{out}"
        );
        if stem == "sim-v2" {
            assert!(
                out.stdout.contains("needs:     egress {base_url}; secrets none")
                    && out.stdout.contains(
                        "routing:   declared: key at body `/conversation_id`, delivery id at body `/event_id`, answered 200"
                    )
                    && out.stdout.contains("hand-back=yes wrap-up=yes receipts=yes user-typing=yes rich-messages=yes"),
                "{stem}\n{out}"
            );
        }
        // WIT spellings, never the host's Rust names; the settings schema.
        for rust in [
            "HmacSha",
            "SharedSecret",
            "Hex",
            "Base64",
            "LongPoll",
            "Periodic",
        ] {
            assert!(
                !out.stdout.contains(rust),
                "{stem}: `{rust}` printed\n{out}"
            );
        }
        assert!(lines.contains(&"settings schema:"), "{stem}\n{out}");
        if stem == "sim" {
            assert!(
                out.stdout.contains("webhooks:  hmac-sha256 in header")
                    && out.stdout.contains("(hex"),
                "{stem}\n{out}"
            );
            assert!(
                out.stdout.contains("  \"base_url\""),
                "{stem}: schema\n{out}"
            );
        }
        if stem == "salesforce-miaw" {
            assert!(out.stdout.contains("polling:   long-poll"), "{stem}\n{out}");
        }
    }
}

#[test]
fn inspect_json_is_machine_readable() {
    let file = guest("echo-v2");
    let out = run(&["inspect".as_ref(), file.as_os_str(), "--json".as_ref()]);
    assert_eq!(out.code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["world"], "handover:provider@0.1.0");
    assert_eq!(v["describe"]["name"], "echo");
    assert_eq!(v["describe"]["version"], "2.0.0");
    assert_eq!(v["contract"]["version"], "0.1.0");
    assert_eq!(
        v["contract"]["status"]["deprecated"]["served_until"],
        "2027-12-04"
    );
    assert_eq!(
        v["contract"]["served"],
        serde_json::json!(["0.2.0", "0.1.0"])
    );
    assert_eq!(v["describe"]["permissions"], serde_json::Value::Null);
    let imports: Vec<String> = serde_json::from_value(v["imports"].clone()).unwrap();
    let mut want = decoded_imports(&std::fs::read(&file).unwrap());
    let mut got = imports;
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// Writes `bytes` (none: no file at all) as `name` in a fresh directory,
/// runs `inspect` on it and asserts a one-paragraph diagnosis naming the file
/// and every phrase; returns the output for further checks.
fn inspect_diagnoses(name: &str, bytes: Option<&[u8]>, phrases: &[&str]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(name);
    if let Some(bytes) = bytes {
        std::fs::write(&f, bytes).unwrap();
    }
    let out = inspect(&f);
    assert_diagnosis(&out, &f, phrases);
    out
}

#[test]
fn inspect_random_bytes() {
    // Deterministic "random" bytes that do not start with the wasm magic.
    let bytes: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80)
        .collect();
    let phrases = ["not a WebAssembly binary", "00 61 73 6d", "1000 bytes"];
    inspect_diagnoses("random.wasm", Some(&bytes[..]), &phrases);
}

#[test]
fn inspect_text_file() {
    let phrases = ["not a WebAssembly binary"];
    inspect_diagnoses("adapter.wasm", Some(b"(component)\n".as_slice()), &phrases);
}

#[test]
fn inspect_empty_file() {
    inspect_diagnoses("empty.wasm", Some(b"".as_slice()), &["empty", "component"]);
}

#[test]
fn inspect_missing_file() {
    inspect_diagnoses("nope.wasm", None, &["cannot read"]);
}

#[test]
fn inspect_empty_core_module() {
    let phrases = ["core WebAssembly module", "not a component"];
    inspect_diagnoses("core.wasm", Some(b"\0asm\x01\0\0\0".as_slice()), &phrases);
}

#[test]
fn inspect_core_module_with_a_function() {
    let module = core_module(&["run"]);
    wasmparser::Validator::new()
        .validate_all(&module)
        .expect("the test's module is valid");
    let phrases = [
        "core WebAssembly module",
        "not a component",
        "wasm32-wasip2",
    ];
    inspect_diagnoses("core.wasm", Some(&module[..]), &phrases);
}

#[test]
fn inspect_truncated_component() {
    let bytes = std::fs::read(guest("sim")).unwrap();
    let half = &bytes[..bytes.len() / 2];
    let out = inspect_diagnoses("half.wasm", Some(half), &["truncated", "byte offset"]);
    // The offset is a number inside the file, followed by its length.
    let text = out.stderr.trim();
    let after = text.split("byte offset ").nth(1).unwrap();
    let offset: usize = after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no offset number\n{out}"));
    assert!(
        offset <= half.len(),
        "offset {offset} beyond the file\n{out}"
    );
    assert!(text.contains(&format!("of {}", half.len())), "{out}");
}

/// What `inspect` says of a component that is not an adapter of a served
/// contract version.
const NOT_AN_ADAPTER: &str = "does not implement a contract version this host serves";
const SERVED_INTERFACE: &str = "handover:provider/adapter@0.1.0";

#[test]
fn inspect_component_exporting_nothing() {
    // `(component)` in binary form.
    let bytes = b"\0asm\x0d\0\x01\0";
    let phrases = [NOT_AN_ADAPTER, "exports nothing", SERVED_INTERFACE];
    inspect_diagnoses("empty-component.wasm", Some(bytes.as_slice()), &phrases);
}

#[test]
fn inspect_component_of_another_world() {
    let component = component_of(
        "package test:other;\nworld greeter { export greet: func() -> u32; }\n",
        "greeter",
        &["greet"],
    );
    let phrases = [NOT_AN_ADAPTER, "[greet]", SERVED_INTERFACE];
    inspect_diagnoses("greeter.wasm", Some(&component[..]), &phrases);
}

#[test]
fn inspect_component_of_another_contract_version() {
    let component = component_of(
        "package handover:provider@0.9.0;\n\
         interface adapter { describe: func() -> u32; }\n\
         world handover-adapter { export adapter; }\n",
        "handover-adapter",
        &["handover:provider/adapter@0.9.0#describe"],
    );
    let phrases = [
        "`handover:provider/adapter@0.9.0`",
        "contract 0.9.0, newer than any this host serves",
        "Upgrade handover-host",
        SERVED_INTERFACE,
        "`handover:provider/adapter@0.2.0` (0.2.0, current)",
    ];
    inspect_diagnoses("future.wasm", Some(&component[..]), &phrases);
}

/// An adapter component of contract `version` that this host does not
/// serve (its one export is enough for the diagnosis).
pub(crate) fn adapter_of_version(version: &str) -> Vec<u8> {
    component_of(
        &format!(
            "package handover:provider@{version};\n\
             interface adapter {{ describe: func() -> u32; }}\n\
             world handover-adapter {{ export adapter; }}\n"
        ),
        "handover-adapter",
        &[&format!("handover:provider/adapter@{version}#describe")],
    )
}

#[test]
fn check_names_the_served_versions_for_a_future_component() {
    let c = Cfg::new();
    std::fs::write(
        c.dir.path().join("future.wasm"),
        adapter_of_version("0.3.0"),
    )
    .unwrap();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"future.wasm\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n",
        3,
        &[
            "contract 0.3.0, newer than any this host serves",
            "`handover:provider/adapter@0.2.0` (0.2.0, current)",
            "`handover:provider/adapter@0.1.0` (0.1.0, deprecated",
        ],
    );
}

fn leb(n: u32, out: &mut Vec<u8>) {
    leb128(n as usize, out)
}

fn section(id: u8, content: Vec<u8>, out: &mut Vec<u8>) {
    out.push(id);
    leb(content.len() as u32, out);
    out.extend(content);
}

/// A valid core module exporting one `() -> i32` function (returning 0) per name.
fn core_module(exports: &[&str]) -> Vec<u8> {
    let n = exports.len() as u32;
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, vec![1, 0x60, 0, 1, 0x7f], &mut m);
    let mut funcs = vec![];
    leb(n, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, exports.len()));
    section(3, funcs, &mut m);
    let mut ex = vec![];
    leb(n, &mut ex);
    for (i, name) in exports.iter().enumerate() {
        leb(name.len() as u32, &mut ex);
        ex.extend(name.as_bytes());
        ex.push(0x00);
        leb(i as u32, &mut ex);
    }
    section(7, ex, &mut m);
    let mut code = vec![];
    leb(n, &mut code);
    for _ in exports {
        code.extend([4, 0x00, 0x41, 0x00, 0x0b]);
    }
    section(10, code, &mut m);
    m
}

/// A real component of `world` in `wit`, its core module exporting `exports`.
pub(crate) fn component_of(wit: &str, world: &str, exports: &[&str]) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_source("other.wit", wit).unwrap();
    let world = resolve.select_world(&[pkg], Some(world)).unwrap();
    let mut module = core_module(exports);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

// ------------------------------------------------------------------ check

/// A config directory with `sim.wasm` next to `handover.toml`.
struct Cfg {
    dir: tempfile::TempDir,
}

impl Cfg {
    fn new() -> Cfg {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(guest("sim"), dir.path().join("sim.wasm")).unwrap();
        Cfg { dir }
    }

    fn write(&self, toml: &str) -> PathBuf {
        let p = self.dir.path().join("handover.toml");
        std::fs::write(&p, toml).unwrap();
        p
    }

    /// Writes `toml`, runs `check` on it and asserts it fails at `line`
    /// naming every phrase.
    fn check_fails(&self, toml: &str, line: usize, phrases: &[&str]) -> Out {
        let f = self.write(toml);
        let out = check(&f);
        assert_check_fails(&out, &f, line, phrases);
        out
    }
}

fn sim_sha() -> String {
    handover_host::runtime::sha256_hex(&std::fs::read(guest("sim")).unwrap())
}

/// `check` failed with a report that names `file:line` and every phrase.
fn assert_check_fails(out: &Out, file: &Path, line: usize, phrases: &[&str]) {
    assert!(out.code.is_some_and(|c| c != 0), "expected failure\n{out}");
    let text = out.stderr.trim();
    assert!(!text.contains("panicked"), "{out}");
    let at = format!("{}:{line}:", file.display());
    assert!(text.contains(&at), "expected {at:?}\n{out}");
    for p in phrases {
        assert!(text.contains(p), "missing {p:?}\n{out}");
    }
}

const OK: &str = "[[endpoints]]\n\
    id = \"support\"\n\
    adapter = \"sim.wasm\"\n\
    egress = [\"http://127.0.0.1:9\"]\n\
    settings = { base_url = \"http://127.0.0.1:9\" }\n";

#[test]
fn check_valid_config() {
    let c = Cfg::new();
    let f = c.write(OK);
    let out = check(&f);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("ok (1 endpoints)"), "{out}");
}

#[test]
fn check_valid_config_with_pin_and_settings_table() {
    let c = Cfg::new();
    let f = c.write(&format!(
        "[server]\nadmin_key = \"k\"\n\n\
         [[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\nsha256 = \"{}\"\n\
         [endpoints.settings]\nbase_url = \"http://127.0.0.1:9\"\nmode = \"poll\"\n",
        sim_sha().to_uppercase()
    ));
    let out = check(&f);
    assert_eq!(out.code, Some(0), "{out}");
}

#[test]
fn check_unknown_field() {
    let c = Cfg::new();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\
         setings = { base_url = \"http://127.0.0.1:9\" }\n",
        4,
        &["unknown field", "`setings`"],
    );
}

#[test]
fn check_bad_egress_entry() {
    let c = Cfg::new();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n\
         egress = [\"http://ok.example.com\", \"ftp://files.example.com\"]\n",
        5,
        &["endpoints[0].egress", "ftp://files.example.com", "scheme"],
    );
}

#[test]
fn check_malformed_sha256_pin() {
    let c = Cfg::new();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\
         sha256 = \"abc123\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n",
        4,
        &["endpoints[0].sha256", "abc123", "64 hex"],
    );
}

#[test]
fn check_wrong_sha256_pin() {
    let c = Cfg::new();
    let wrong = "0123456789abcdef".repeat(4);
    assert_ne!(wrong, sim_sha());
    // Line 4: the `sha256` field that is wrong.
    c.check_fails(
        &format!(
            "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\
         sha256 = \"{wrong}\"\n\
         settings = {{ base_url = \"http://127.0.0.1:9\" }}\n"
        ),
        4,
        &["sha256", "pinned", &wrong, &sim_sha(), "`support`"],
    );
}

#[test]
fn check_settings_missing_base_url() {
    let c = Cfg::new();
    // Line 5: the `settings` the adapter refused.
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\
         egress = [\"http://127.0.0.1:9\"]\n\
         settings = { mode = \"poll\" }\n",
        5,
        &["settings", "validate-settings", "base_url", "`support`"],
    );
}

#[test]
fn check_settings_absent() {
    let c = Cfg::new();
    // No `settings` written: the endpoint's `adapter` line is the place.
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n",
        3,
        &["settings", "validate-settings", "base_url"],
    );
}

#[test]
fn check_settings_bogus_mode() {
    let c = Cfg::new();
    // Line 5: the `[endpoints.settings]` table the adapter refused.
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"sim.wasm\"\n\n\
         [endpoints.settings]\nbase_url = \"http://127.0.0.1:9\"\nmode = \"bogus\"\n",
        5,
        &["settings", "validate-settings", "`mode`", "bogus"],
    );
}

#[test]
fn check_missing_adapter_file() {
    let c = Cfg::new();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"missing.wasm\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n",
        3,
        &["adapter", "cannot read", "missing.wasm", "`support`"],
    );
}

#[test]
fn check_adapter_that_is_not_a_component() {
    let c = Cfg::new();
    std::fs::write(c.dir.path().join("core.wasm"), core_module(&["run"])).unwrap();
    c.check_fails(
        "[[endpoints]]\nid = \"support\"\nadapter = \"core.wasm\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n",
        3,
        &["adapter", "core WebAssembly module"],
    );
}

#[test]
fn check_reports_every_endpoint_problem() {
    let c = Cfg::new();
    let f = c.write(
        "[[endpoints]]\nid = \"good\"\nadapter = \"sim.wasm\"\n\
         settings = { base_url = \"http://127.0.0.1:9\" }\n\n\
         [[endpoints]]\nid = \"gone\"\nadapter = \"missing.wasm\"\n\n\
         [[endpoints]]\nid = \"bad\"\nadapter = \"sim.wasm\"\n\
         settings = { base_url = \"nope\" }\n",
    );
    let out = check(&f);
    assert_check_fails(&out, &f, 8, &["`gone`", "missing.wasm"]);
    assert_check_fails(&out, &f, 13, &["`bad`", "base_url"]);
    assert!(!out.stderr.contains("`good`"), "{out}");
}
