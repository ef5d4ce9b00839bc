//! "A project made by `handover-host new NAME --lang rust|python|js`
//! builds, passes its own unit tests and the kit's happy path as
//! generated": for each language, the real binary writes the project
//! (provider logic filled in for the sim reference provider), the
//! language's own tools run its unit tests and build the component as a
//! third party would, and the conformance kit runs on it.

use crate::harness::{must, run_conformance};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `handover-host new my-provider --lang LANG` in a fresh directory;
/// returns the project's directory.
pub(crate) fn generate(lang: &str) -> PathBuf {
    generate_in(lang, lang)
}

/// [`generate`] in a directory of its own for `tag` (tests in one process
/// generating the same language at once).
pub(crate) fn generate_in(lang: &str, tag: &str) -> PathBuf {
    let work = std::env::temp_dir().join(format!("new-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .args(["new", "my-provider", "--lang", lang, "--dir"])
        .arg(&work)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("README.md"), "{text}");
    work.join("my-provider")
}

/// The kit's happy path passes on `wasm`.
fn happy_path(wasm: &Path) {
    let (_, text) = run_conformance(wasm, "sim", &["--scenario", "happy path"]);
    let happy = text
        .lines()
        .find(|l| l.starts_with("happy path to completed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(happy.contains(" pass "), "happy path failed:\n{text}");
}

/// `inspect` names the component `my-provider` (run for the Rust one only:
/// a debug host compiles an 18 MB Python component for a minute).
fn inspect_names_it(wasm: &Path) {
    let inspect = Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .arg("inspect")
        .arg(wasm)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(shown.contains("adapter:   my-provider"), "{shown}");
}

#[test]
pub(crate) fn a_new_rust_project_builds_tests_and_passes_the_happy_path() {
    let root = root();
    let project = generate("rust");
    // The guests' lock file (the dependency versions they are tested with),
    // so the builds below reuse what the guests' build compiled
    // (`--target-dir`): seconds instead of a minute on the 2-core machine.
    std::fs::copy(root.join("adapters/Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let target = root.join("target/adapters-build");
    let cargo = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.args(args)
            .arg("--manifest-path")
            .arg(project.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            // The host's clippy wrapper is for this workspace only.
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS");
        c
    };
    must(
        &mut cargo(&["test", "--quiet"]),
        "cargo test (the project's unit tests)",
    );
    must(
        &mut cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]),
        "cargo build of the component",
    );
    let wasm = target.join("wasm32-wasip2/release/adapter_my_provider.wasm");
    happy_path(&wasm);
    inspect_names_it(&wasm);
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}

#[test]
pub(crate) fn a_new_python_project_builds_tests_and_passes_the_happy_path() {
    let root = root();
    let project = generate("python");
    must(
        Command::new("python3")
            .args(["-m", "unittest"])
            .current_dir(&project)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "the project's unit tests (python3 -m unittest)",
    );
    let wasm = project.join("my-provider.wasm");
    must(
        Command::new(root.join("adapters/python/build.sh"))
            .arg(&project)
            .arg(&wasm),
        "adapters/python/build.sh",
    );
    happy_path(&wasm);
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}

#[test]
pub(crate) fn a_new_js_project_builds_tests_and_passes_the_happy_path() {
    let root = root();
    let project = generate("js");
    must(
        Command::new(root.join("adapters/js/test.sh")).arg(&project),
        "the project's unit tests (adapters/js/test.sh)",
    );
    let wasm = project.join("my-provider.wasm");
    must(
        Command::new(root.join("adapters/js/build.sh"))
            .arg(&project)
            .arg(&wasm),
        "adapters/js/build.sh",
    );
    happy_path(&wasm);
    let _ = std::fs::remove_dir_all(project.parent().unwrap());
}
