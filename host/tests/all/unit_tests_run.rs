//! Targets built without a unit-test harness (`test = false` in their
//! `Cargo.toml`, to save a wasmtime link each in the test build) must not
//! contain unit tests: they would never run. This test fails when one
//! appears, naming the file and the manifest to change.

use std::path::Path;

/// `(manifest, sources)`: each target with `test = false` and the source
/// files that make it up.
const NO_HARNESS: &[(&str, &str)] = &[
    ("crates/egress/Cargo.toml", "crates/egress/src"),
    ("tests/kit/Cargo.toml", "tests/kit/src"),
    ("host/Cargo.toml", "host/src/main.rs"),
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn targets_without_a_test_harness_have_no_unit_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (manifest, sources) in NO_HARNESS {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        assert!(
            text.contains("test = false"),
            "{manifest} no longer sets `test = false`: remove it from NO_HARNESS"
        );
        let mut files = vec![];
        rust_files(&root.join(sources), &mut files);
        assert!(!files.is_empty(), "no sources under {sources}");
        for f in files {
            let src = std::fs::read_to_string(&f).unwrap();
            for marker in ["#[test]", "#[tokio::test", "#[cfg(test)]"] {
                assert!(
                    !src.contains(marker),
                    "{} has `{marker}`, but {manifest} builds it with `test = false`, \
                     so it would never run: remove `test = false` there",
                    f.display()
                );
            }
        }
    }
}
