//! `handover-host new NAME --lang rust|python|js`: writes a new adapter
//! project from the language's template, its provider logic filled in for
//! the sim reference provider, so it builds, passes its own unit tests and
//! the conformance kit (`--simulator sim`) as generated; the author then
//! replaces the provider file with their provider's calls.
//!
//! The templates are compiled into the binary (the files under
//! `adapters/`); the SDKs are referred to where this repository has them
//! (`--sdk-root`, default this source tree). Must never overwrite anything:
//! an existing target directory is an error.

use std::path::{Path, PathBuf};

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// What `new` writes where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The adapter's name: lower-case letters, digits and `-`.
    pub name: String,
    pub lang: Lang,
    /// The directory the project directory is created in.
    pub parent: PathBuf,
    /// The repository holding `adapters/` (the SDKs and build scripts).
    pub sdk_root: PathBuf,
}

/// This source tree, where the SDKs are unless `--sdk-root` says otherwise.
pub fn default_sdk_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

const RUST_LIB: &str = include_str!("../../../adapters/template/src/lib.rs");
const RUST_PROVIDER: &str = include_str!("../../../adapters/template/sim/provider.rs");
const PY_APP: &str = include_str!("../../../adapters/python/template/app.py");
const PY_PROVIDER: &str = include_str!("../../../adapters/python/tests/sim_provider.py");
const PY_TESTS_INIT: &str = include_str!("../../../adapters/python/template/tests/__init__.py");
const PY_TEST: &str = include_str!("../../../adapters/python/template/sim/test_provider.py");
const JS_ADAPTER: &str = include_str!("../../../adapters/js/template/src/adapter.ts");
const JS_PROVIDER: &str = include_str!("../../../adapters/js/tests/sim_provider.ts");
const JS_TEST: &str = include_str!("../../../adapters/js/tests/sim_provider.test.ts");

/// Writes the project; returns what was written and the next commands.
pub fn run(opts: &Options) -> Result<String, String> {
    check_name(&opts.name)?;
    let dir = opts.parent.join(&opts.name);
    if dir.exists() {
        return Err(format!(
            "{} already exists; choose another name or --dir (nothing was written)",
            dir.display()
        ));
    }
    let sdk_root = opts
        .sdk_root
        .canonicalize()
        .map_err(|e| format!("--sdk-root {}: {e}", opts.sdk_root.display()))?;
    let files = match opts.lang {
        Lang::Rust => rust(&opts.name, &sdk_root)?,
        Lang::Python => python(&opts.name, &sdk_root)?,
        Lang::Js => js(&opts.name, &sdk_root)?,
    };
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut out = format!(
        "created {} ({:?} adapter `{}`):\n",
        dir.display(),
        opts.lang,
        opts.name
    );
    for (path, _) in &files {
        out += &format!("  {path}\n");
    }
    out += "\nnext: see its README.md (build, unit tests, conformance kit)";
    Ok(out)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "adapter name `{name}`: use lower-case letters, digits and `-`, starting with a letter (e.g. `acme-desk`)"
        ))
    }
}

/// Where the SDK directory `rel` is under the root, checked.
fn sdk(root: &Path, rel: &str) -> Result<String, String> {
    let path = root.join(rel);
    if !path.is_dir() {
        return Err(format!(
            "{} is missing: --sdk-root must be a handover-host source tree (it has adapters/)",
            path.display()
        ));
    }
    Ok(path.display().to_string())
}

type Files = Vec<(&'static str, String)>;

fn rust(name: &str, root: &Path) -> Result<Files, String> {
    let sdk = sdk(root, "adapters/sdk")?;
    let manifest = format!(
        "[package]\nname = \"adapter-{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nhandover-adapter-sdk = {{ path = {sdk:?} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n\
         # A project of its own, not a member of an enclosing workspace.\n[workspace]\n\n\
         # Components are small: optimise for size (as the bundled adapters do).\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\n"
    );
    let readme = format!(
        "# {name}: a handover-host provider adapter (Rust)\n\n\
         Generated by `handover-host new {name} --lang rust`; all provider logic is in\n\
         `src/provider.rs` (as generated: the sim reference provider), `src/lib.rs` is glue.\n\n\
         ```sh\n\
         rustup target add wasm32-wasip2\n\
         cargo test                                                   # unit tests, native\n\
         cargo build --release --target wasm32-wasip2                 # the component:\n\
         #   target/wasm32-wasip2/release/adapter_{us}.wasm\n\
         handover-host conformance target/wasm32-wasip2/release/adapter_{us}.wasm --simulator sim\n\
         ```\n\n\
         Then describe your provider to the kit (`--provider provider.toml`,\n\
         {root}/docs/conformance.md) and change `src/provider.rs` until it passes.\n",
        us = name.replace('-', "_"),
        root = root.display()
    );
    Ok(vec![
        ("Cargo.toml", manifest),
        ("src/lib.rs", RUST_LIB.to_string()),
        ("src/provider.rs", RUST_PROVIDER.to_string()),
        ("README.md", readme),
    ])
}

fn python(name: &str, root: &Path) -> Result<Files, String> {
    let sdk = sdk(root, "adapters/python/sdk")?;
    let build = root.join("adapters/python/build.sh").display().to_string();
    // The tests find the SDK where it was when the project was made.
    let candidates = "_candidates = [os.environ.get(\"HANDOVER_PY_SDK\"), ";
    if !PY_TESTS_INIT.contains(candidates) {
        return Err("internal: the Python template's tests/__init__.py changed shape".into());
    }
    let init = PY_TESTS_INIT.replace(candidates, &format!("{candidates}{sdk:?}, "));
    let readme = format!(
        "# {name}: a handover-host provider adapter (Python)\n\n\
         Generated by `handover-host new {name} --lang python`; all provider logic is in\n\
         `provider.py` (as generated: the sim reference provider), `app.py` is glue.\n\
         Guide: {root}/docs/adapters-python.md\n\n\
         ```sh\n\
         PYTHONDONTWRITEBYTECODE=1 python3 -m unittest               # unit tests, plain CPython\n\
         {build} . {name}.wasm                                          # the component (componentize-py)\n\
         handover-host conformance {name}.wasm --simulator sim\n\
         ```\n\n\
         Then describe your provider to the kit (`--provider provider.toml`,\n\
         {root}/docs/conformance.md) and change `provider.py` until it passes.\n",
        root = root.display()
    );
    Ok(vec![
        ("app.py", PY_APP.to_string()),
        ("provider.py", PY_PROVIDER.to_string()),
        ("tests/__init__.py", init),
        ("tests/test_provider.py", PY_TEST.to_string()),
        ("README.md", readme),
    ])
}

fn js(name: &str, root: &Path) -> Result<Files, String> {
    sdk(root, "adapters/js/sdk")?;
    let js = root.join("adapters/js").display().to_string();
    let package = format!(
        "{{\n  \"name\": \"adapter-{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true,\n  \
         \"description\": \"A handover-host provider adapter (TypeScript); provider logic in src/provider.ts\"\n}}\n"
    );
    let asserted = "assert.equal(info.name, \"my-provider\");";
    if !JS_TEST.contains(asserted) {
        return Err("internal: the JS template's test changed shape".into());
    }
    let test = JS_TEST.replace(asserted, &format!("assert.equal(info.name, {name:?});"));
    let readme = format!(
        "# {name}: a handover-host provider adapter (TypeScript)\n\n\
         Generated by `handover-host new {name} --lang js`; all provider logic is in\n\
         `src/provider.ts` (as generated: the sim reference provider), `src/adapter.ts` is glue;\n\
         `package.json` gives the name and version `describe` reports.\n\
         Guide: {root}/docs/adapters-js.md\n\n\
         ```sh\n\
         {js}/test.sh .                    # unit tests under Node (type-checked)\n\
         {js}/build.sh . {name}.wasm        # the component (componentize-js)\n\
         handover-host conformance {name}.wasm --simulator sim\n\
         ```\n\n\
         Then describe your provider to the kit (`--provider provider.toml`,\n\
         {root}/docs/conformance.md) and change `src/provider.ts` until it passes.\n",
        root = root.display()
    );
    Ok(vec![
        ("package.json", package),
        ("src/adapter.ts", JS_ADAPTER.to_string()),
        ("src/provider.ts", JS_PROVIDER.to_string()),
        ("test/provider.test.ts", test),
        ("README.md", readme),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(name: &str, lang: Lang, parent: &Path) -> Options {
        Options {
            name: name.into(),
            lang,
            parent: parent.to_path_buf(),
            sdk_root: default_sdk_root(),
        }
    }

    #[test]
    fn names_are_checked_and_nothing_is_overwritten() {
        let dir = std::env::temp_dir().join(format!("new-unit-{}", std::process::id()));
        for bad in ["", "Acme", "1desk", "acme_desk", "acme-", "a b"] {
            let err = run(&opts(bad, Lang::Rust, &dir)).unwrap_err();
            assert!(err.contains("lower-case letters"), "{bad}: {err}");
        }
        std::fs::create_dir_all(dir.join("taken")).unwrap();
        let err = run(&opts("taken", Lang::Python, &dir)).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_dir(dir.join("taken")).unwrap().count(), 0);
        let out = run(&opts("acme-desk", Lang::Python, &dir)).unwrap();
        assert!(out.contains("tests/test_provider.py"), "{out}");
        let init = std::fs::read_to_string(dir.join("acme-desk/tests/__init__.py")).unwrap();
        assert!(init.contains("adapters/python/sdk\""), "{init}");
        run(&opts("acme-js", Lang::Js, &dir)).unwrap();
        let test = std::fs::read_to_string(dir.join("acme-js/test/provider.test.ts")).unwrap();
        assert!(
            test.contains("assert.equal(info.name, \"acme-js\");"),
            "{test}"
        );
        let package = std::fs::read_to_string(dir.join("acme-js/package.json")).unwrap();
        assert!(
            package.contains("\"name\": \"adapter-acme-js\""),
            "{package}"
        );
        run(&opts("acme-rs", Lang::Rust, &dir)).unwrap();
        let manifest = std::fs::read_to_string(dir.join("acme-rs/Cargo.toml")).unwrap();
        assert!(
            manifest.contains("name = \"adapter-acme-rs\""),
            "{manifest}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
