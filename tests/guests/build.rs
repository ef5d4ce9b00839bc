//! Builds every guest component of the adapters workspace (`adapters/`) for
//! `wasm32-wasip2`, installs them as `target/adapters/<name>.wasm` and writes
//! `$OUT_DIR/guests.rs` (one path constant per guest, `ALL`,
//! `for_each_guest!`). See `src/lib.rs` for the generated API.
//!
//! - Guests are discovered, not listed: every member package of the adapters
//!   workspace with a `cdylib` lib target (`cargo metadata --no-deps`); plain
//!   libs (the SDK, `fixtures/common`, shared logic) are skipped. The output
//!   name is the package name without its `adapter-` / `fixture-` prefix.
//! - Two nested `cargo build --release` runs build them into
//!   `target/adapters-build`: the contract 0.1.0 guests, then the 0.2.0 ones
//!   (those enabling a dependency's `contract-0-2` feature; one run would
//!   unify the feature into every guest). `echo-v2` is a package of its
//!   own, the echo source at version 2.0.0, so it shares the first build and
//!   its dependencies; `sim-v2` is the sim source for contract 0.2.0.
//!   The outer cargo's per-build environment is removed first so it cannot
//!   leak into the nested build (see `leaks_into_nested_build`).
//! - A `.wasm` is copied into `target/adapters/` only when its content
//!   changed, so its mtime stays put when nothing did.
//! - Reruns when anything under `adapters/` (except its own `target/`) or
//!   `wit/` changes, or an installed `.wasm` is deleted or replaced; the
//!   nested build writes only under the root `target/`, which no watched
//!   directory contains, and installed copies are stamped with the build's
//!   start time (see `install`), so a no-op build stays a no-op.

use serde_json::Value;
use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

const TARGET: &str = "wasm32-wasip2";

struct Guest {
    /// Output name: `target/adapters/<name>.wasm`.
    name: String,
    /// Cargo package that builds it.
    package: String,
    /// Where the nested build leaves it.
    artifact: PathBuf,
    /// The bundled simulator its own `Cargo.toml` names under
    /// `[package.metadata.handover] conformance = "…"`: the host's tests run
    /// the whole conformance kit for it against that simulator, so the
    /// adapter needs no test written outside its own folder.
    conformance: Option<String>,
    /// It enables a dependency's `contract-0-2` feature: built in a cargo
    /// run of its own (see [`CONTRACT_FEATURE`]).
    contract_0_2: bool,
}

/// The SDK feature (and the same-named feature of shared adapter crates)
/// that builds a component for contract 0.2.0. Cargo unifies features
/// across the packages of one build, so the guests that enable it and the
/// ones that do not are built by separate cargo runs (else every 0.1.0
/// adapter would be built, and break, against 0.2.0).
const CONTRACT_FEATURE: &str = "contract-0-2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the repository root (two levels above tests/guests)");
    let adapters = root.join("adapters");
    let manifest = adapters.join("Cargo.toml");
    let build_dir = root.join("target/adapters-build");
    let install_dir = root.join("target/adapters");

    watch_sources(&root);
    ensure_target_installed();

    let release = build_dir.join(TARGET).join("release");
    let mut guests = discover(&manifest, &release);

    // The version baked into each guest is its crate's own; a stray
    // ADAPTER_VERSION in the caller's environment must not leak into it.
    // One run per contract version (see `CONTRACT_FEATURE`).
    for newer in [false, true] {
        let group: Vec<&Guest> = guests.iter().filter(|g| g.contract_0_2 == newer).collect();
        cargo_build(&manifest, &build_dir, &group);
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));

    fs::create_dir_all(&install_dir).unwrap();
    let started = build_started();
    let mut installed = Vec::new();
    for guest in &guests {
        let dest = install_dir.join(format!("{}.wasm", guest.name));
        install(&guest.artifact, &dest, started);
        // A deleted (or replaced) installed component reruns this script.
        println!("cargo:rerun-if-changed={}", dest.display());
        installed.push((guest, dest));
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("guests.rs");
    fs::write(&out, generate(&installed)).unwrap();
}

/// Everything the guests are built from: `adapters/` and `wit/`.
///
/// `adapters/target/` (where a native `cargo test --manifest-path
/// adapters/Cargo.toml` builds) is not a source; when it exists, the entries
/// of `adapters/` beside it are watched instead of `adapters/` itself. (Its
/// creation changes `adapters/`'s own mtime, which triggers the one rerun
/// that switches over.) In that mode a new top-level directory of
/// `adapters/` is noticed once `adapters/Cargo.toml` or any watched entry
/// changes, e.g. when the new crate is added to the members.
fn watch_sources(root: &Path) {
    let adapters = root.join("adapters");
    if adapters.join("target").exists() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&adapters)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name() != "target")
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    } else {
        println!("cargo:rerun-if-changed={}", adapters.display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
}

/// Makes sure the rustc cargo uses has the `wasm32-wasip2` standard library,
/// installing it with rustup if it can.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = |sysroot: &Path| {
        sysroot
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
    };
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    match Command::new("rustup")
        .args(["target", "add", TARGET])
        .stdout(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => fail(format!(
            "`rustup target add {TARGET}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => fail(format!(
            "the `{TARGET}` target is not installed for {} and rustup is not available: \
             install the Rust standard library for {TARGET} (with rustup: \
             `rustup target add {TARGET}`; otherwise your distribution's rust-std \
             package for {TARGET})",
            Path::new(&rustc).display()
        )),
        Err(e) => fail(format!("could not run `rustup target add {TARGET}`: {e}")),
    }
}

/// The guests: member packages of the adapters workspace with a `cdylib`
/// lib target, named without their `adapter-` / `fixture-` prefix.
fn discover(manifest: &Path, release: &Path) -> Vec<Guest> {
    let out = nested_cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .unwrap_or_else(|e| fail(format!("could not run cargo metadata: {e}")));
    if !out.status.success() {
        fail(format!(
            "`cargo metadata --manifest-path {}` failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let mut by_name: BTreeMap<String, Guest> = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        if !members.contains(&package["id"].as_str().unwrap()) {
            continue;
        }
        let package_name = package["name"].as_str().unwrap();
        let cdylib = package["targets"].as_array().unwrap().iter().find(|t| {
            t["crate_types"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "cdylib")
        });
        let Some(cdylib) = cdylib else { continue };
        let name = package_name
            .strip_prefix("adapter-")
            .or_else(|| package_name.strip_prefix("fixture-"))
            .unwrap_or(package_name)
            .to_string();
        let lib_name = cdylib["name"].as_str().unwrap().replace('-', "_");
        let guest = Guest {
            name: name.clone(),
            package: package_name.to_string(),
            artifact: release.join(format!("{lib_name}.wasm")),
            conformance: package["metadata"]["handover"]["conformance"]
                .as_str()
                .map(str::to_string),
            contract_0_2: package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| {
                    d["features"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f == CONTRACT_FEATURE))
                }),
        };
        if let Some(other) = by_name.insert(name.clone(), guest) {
            fail(format!(
                "packages `{}` and `{package_name}` would both be installed as `{name}.wasm`",
                other.package
            ));
        }
    }
    if by_name.is_empty() {
        fail(format!(
            "no component (package with a cdylib lib target) in {}",
            manifest.display()
        ));
    }
    by_name.into_values().collect()
}

/// Cargo for a nested build, without the outer build's environment.
fn nested_cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(leaks_into_nested_build) {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Variables the outer cargo sets for this build script (or a caller set for
/// the host build) that would change what the nested guest build does:
/// its target dir and target, flags and wrappers meant for host code (clippy
/// runs as `RUSTC_WORKSPACE_WRAPPER`), profile overrides, this package's
/// cfg/feature/package variables, and `ADAPTER_VERSION` (each guest reports
/// its own crate's version). Kept: `CARGO`, `RUSTC` (same toolchain), `CARGO_HOME`, registry,
/// network and `CARGO_TARGET_<triple>_*` settings, and `CARGO_MAKEFLAGS` (the
/// nested build shares the outer jobserver instead of starting as many jobs
/// again).
fn leaks_into_nested_build(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CARGO_INCREMENTAL",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "RUSTDOC",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "ADAPTER_VERSION",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "DEP_",
        "__CARGO",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// One nested `cargo build` of the `expect` packages of the adapters
/// workspace into `target_dir`; fails the build naming the crates that did
/// not compile.
fn cargo_build(manifest: &Path, target_dir: &Path, expect: &[&Guest]) {
    if expect.is_empty() {
        return;
    }
    let mut cmd = nested_cargo();
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(manifest.parent().unwrap());
    for guest in expect {
        cmd.args(["-p", &guest.package]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| fail(format!("could not run cargo: {e}")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let failed: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.split_once("could not compile `"))
            .filter_map(|(_, rest)| rest.split('`').next())
            .collect();
        let what = if failed.is_empty() {
            "the guest components".to_string()
        } else {
            failed
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        fail(format!(
            "{what} failed to build for {TARGET} (cargo build --release \
             --target {TARGET} --manifest-path {} --target-dir {}); cargo said \
             (paths relative to adapters/):\n\n{}",
            manifest.display(),
            target_dir.display(),
            stderr
                .lines()
                .filter(|l| !is_progress(l))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    // Visible with `cargo build -vv`.
    eprint!("{stderr}");
    for guest in expect {
        if !guest.artifact.is_file() {
            fail(format!(
                "cargo built `{}` but {} is missing",
                guest.package,
                guest.artifact.display()
            ));
        }
    }
}

fn is_progress(line: &str) -> bool {
    let line = line.trim_start();
    [
        "Compiling ",
        "Fresh ",
        "Finished ",
        "Blocking ",
        "Locking ",
        "Updating ",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// When cargo started this run of the build script: the mtime of the
/// `invoked.timestamp` it writes beside `OUT_DIR` and compares the
/// `rerun-if-changed` paths against (a path newer than it reruns the script).
fn build_started() -> Option<SystemTime> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR")?);
    fs::metadata(out_dir.parent()?.join("invoked.timestamp"))
        .ok()?
        .modified()
        .ok()
}

/// Copies `from` to `to` only when the content changed (or `to` is missing),
/// so `to`'s mtime moves only when the component did. A new copy gets the
/// time this build started (`started`), not the time of the copy: the
/// installed files are `rerun-if-changed` paths, and a copy stamped after
/// the start would rerun the script on the next, otherwise no-op, build.
fn install(from: &Path, to: &Path, started: Option<SystemTime>) {
    let new = fs::read(from).unwrap_or_else(|e| fail(format!("read {}: {e}", from.display())));
    if fs::read(to).is_ok_and(|old| old == new) {
        return;
    }
    let tmp = to.with_extension("wasm.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&new)?;
        if let Some(started) = started {
            file.set_modified(started)?;
        }
        Ok(())
    };
    write().unwrap_or_else(|e| fail(format!("write {}: {e}", tmp.display())));
    fs::rename(&tmp, to).unwrap_or_else(|e| fail(format!("rename to {}: {e}", to.display())));
}

fn generate(installed: &[(&Guest, PathBuf)]) -> String {
    let mut code = String::from(
        "// @generated by tests/guests/build.rs from the adapters workspace; do not edit.\n\n",
    );
    let mut all = String::new();
    let mut each = String::new();
    let mut kit = String::new();
    let mut hand = String::new();
    for (guest, path) in installed {
        let path = path
            .to_str()
            .unwrap_or_else(|| fail(format!("{} is not UTF-8", path.display())));
        let constant = guest.name.replace('-', "_").to_uppercase();
        writeln!(
            code,
            "/// `target/adapters/{}.wasm`: the `{}` component.\n\
             pub const {constant}: &str = {path:?};",
            guest.name, guest.package
        )
        .unwrap();
        writeln!(all, "    ({:?}, {constant}),", guest.name).unwrap();
        writeln!(each, "        $mac!({});", ident(&guest.name)).unwrap();
        match &guest.conformance {
            Some(sim) => writeln!(kit, "    ({:?}, {constant}, {sim:?}),", guest.name).unwrap(),
            None => writeln!(hand, "        $mac!({});", ident(&guest.name)).unwrap(),
        }
    }
    write!(
        code,
        "\n/// Every guest as `(name, absolute path)`, sorted by name.\n\
         pub const ALL: &[(&str, &str)] = &[\n{all}];\n\n\
         /// Invokes `$mac!(guest)` once per guest, with the guest's snake_case\n\
         /// name as an identifier (`r#loop` for `loop`); see the crate docs.\n\
         #[macro_export]\n\
         macro_rules! for_each_guest {{\n    ($mac:ident) => {{\n{each}    }};\n}}\n\n\
         /// Guests that declare a conformance simulator in their own `Cargo.toml`\n\
         /// (`[package.metadata.handover] conformance = \"sim\"`), as\n\
         /// `(name, absolute path, simulator)`: a test runs the kit on each.\n\
         pub const CONFORMANCE: &[(&str, &str, &str)] = &[\n{kit}];\n\n\
         /// [`for_each_guest!`] restricted to the guests that declare no\n\
         /// conformance simulator: each needs a test of its own.\n\
         #[macro_export]\n\
         macro_rules! for_each_guest_without_conformance {{\n    ($mac:ident) => {{\n{hand}    }};\n}}\n"
    )
    .unwrap();
    code
}

/// The guest's snake_case identifier; raw when it is a keyword.
fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe",
        "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
        "priv", "try", "typeof", "unsized", "virtual", "yield",
    ];
    let ident = name.replace('-', "_");
    let valid = ident.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["crate", "self", "super", "_"].contains(&ident.as_str());
    if !valid {
        fail(format!(
            "guest name `{name}` does not make a Rust identifier; rename its package"
        ));
    }
    if KEYWORDS.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else {
        ident
    }
}

/// Stops the build with `message` (shown under cargo's `--- stderr`).
fn fail(message: String) -> ! {
    eprintln!("error: handover-guests: {message}");
    std::process::exit(1);
}
