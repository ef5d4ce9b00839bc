//! Garbage collection of the cache directory: entries of components no
//! one keeps, entries of another engine configuration, sidecars of the
//! older checksum format and temporary files of crashed writers.
//!
//! Must never delete a file not named like a cache file
//! (`<64 hex>-<16 hex>.…`): the directory may hold other things.

use super::Cache;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A temporary file untouched for this long belongs to a writer that
/// crashed (a write takes well under a second); younger ones may be in use.
pub const STALE_TMP: Duration = Duration::from_secs(600);

/// What a file in the cache directory is, by its name.
#[derive(Debug, PartialEq, Eq)]
enum Kind<'a> {
    Entry {
        sha256: &'a str,
        engine: &'a str,
    },
    /// `.cwasm.sha256`: the unkeyed checksum of the previous format.
    Sidecar,
    Tmp,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn classify(name: &str) -> Option<Kind<'_>> {
    let (base, ext) = name.split_once('.')?;
    let (sha256, engine) = base.split_once('-')?;
    if !is_hex(sha256, 64) || !is_hex(engine, 16) {
        return None;
    }
    match ext {
        "cwasm" => Some(Kind::Entry { sha256, engine }),
        "cwasm.sha256" => Some(Kind::Sidecar),
        _ if ext.starts_with("tmp") => Some(Kind::Tmp),
        _ => None,
    }
}

fn stale(path: &Path, now: SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_TMP))
}

impl Cache {
    /// Delete every entry whose component `keep` does not name or that
    /// another engine configuration wrote, the previous format's sidecars
    /// and stale temporary files. Returns the names deleted.
    pub fn collect_garbage(&self, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let now = SystemTime::now();
        let mut removed = vec![];
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let garbage = match classify(&name) {
                None => false,
                Some(Kind::Entry { sha256, engine }) => engine != self.engine_key || !keep(sha256),
                Some(Kind::Sidecar) => true,
                Some(Kind::Tmp) => stale(&path, now),
            };
            if garbage {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed.push(name),
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "cannot remove compiled-component cache garbage")
                    }
                }
            }
        }
        removed.sort();
        if !removed.is_empty() {
            tracing::info!(dir = %self.dir.display(), removed = ?removed, "compiled-component cache garbage collected");
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, classify};

    #[test]
    fn only_files_named_like_the_cache_are_recognized() {
        let sha = "a".repeat(64);
        let entry = format!("{sha}-0123456789abcdef.cwasm");
        assert_eq!(
            classify(&entry),
            Some(Kind::Entry {
                sha256: &sha,
                engine: "0123456789abcdef"
            })
        );
        assert_eq!(classify(&format!("{entry}.sha256")), Some(Kind::Sidecar));
        assert_eq!(
            classify(&format!("{sha}-0123456789abcdef.tmp12-3")),
            Some(Kind::Tmp)
        );
        for other in [
            "notes.txt",
            "x.cwasm",
            &format!("{sha}.cwasm"),
            &format!("{sha}-short.cwasm"),
            &format!("{}-0123456789abcdef.cwasm", "g".repeat(64)),
            &format!("{sha}-0123456789abcdef.json"),
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
    }
}
