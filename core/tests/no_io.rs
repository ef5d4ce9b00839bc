//! handover-core does no I/O: no source file under `src/` may name the
//! standard library's or tokio's file, environment, socket or process
//! APIs. (This test itself reads files; it lives outside `src/`.)

use std::path::Path;

/// Forbidden paths, and the one allowed extension of each (if any).
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("std::fs", &[]),
    ("std::env", &["std::env::consts"]),
    ("std::net::TcpStream", &[]),
    ("std::net::TcpListener", &[]),
    ("std::net::UdpSocket", &[]),
    ("std::process", &[]),
    ("tokio::fs", &[]),
    ("tokio::net", &[]),
    ("tokio::process", &[]),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_do_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found the sources: {files:?}");
    let mut found = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue; // prose may name what the code must not use
            }
            for (needle, allowed) in FORBIDDEN {
                let hits = line.matches(needle).count();
                let ok = allowed.iter().map(|a| line.matches(a).count()).sum();
                if hits > ok {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "core must do no I/O:\n{}",
        found.join("\n")
    );
}
