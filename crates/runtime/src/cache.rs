//! Compiled-component cache on disk.
//!
//! Key: the component's sha256 plus a hash of the engine's compatibility
//! settings (wasmtime version, target, tunables, fuel/epoch), so a changed
//! engine configuration never loads a stale artifact. Each artifact has a
//! sidecar checksum verified before `Component::deserialize_file` (which is
//! `unsafe`: it trusts its input); a corrupt or unreadable entry is deleted
//! and recompiled. This module must never hand wasmtime bytes it did not
//! write itself.

use super::LoadError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A short hex hash of everything that makes a `.cwasm` incompatible.
pub fn engine_key(engine: &Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{:016x}", h.finish())
}

pub fn entry_path(engine: &Engine, dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

/// Covers the entry's name (component sha256 + engine key) and its bytes, so
/// a valid artifact copied under another key is refused too.
pub fn checksum(path: &Path, data: &[u8]) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(data);
    hex::encode(h.finalize())
}

fn checksum_path(p: &Path) -> PathBuf {
    p.with_extension("cwasm.sha256")
}

/// Load from the cache if a verified entry exists; otherwise compile and store.
pub fn load_or_compile(
    engine: &Engine,
    dir: &Path,
    sha256: &str,
    bytes: &[u8],
) -> Result<Component, LoadError> {
    let path = entry_path(engine, dir, sha256);
    if path.exists() {
        match load_verified(engine, &path) {
            Ok(c) => return Ok(c),
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "compiled-component cache entry unusable; recompiling");
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(checksum_path(&path));
            }
        }
    }
    let component =
        Component::new(engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    if let Err(e) = store(&component, dir, &path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write compiled-component cache entry");
    }
    Ok(component)
}

fn load_verified(engine: &Engine, path: &Path) -> Result<Component, String> {
    let expected =
        std::fs::read_to_string(checksum_path(path)).map_err(|e| format!("no checksum: {e}"))?;
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let actual = checksum(path, &data);
    if actual != expected.trim() {
        return Err("checksum mismatch (corrupt entry)".into());
    }
    // SAFETY: the file was written by `store` below from `Component::serialize`
    // of this same engine configuration (the key says so) and its checksum
    // matches what was written then.
    unsafe { Component::deserialize_file(engine, path) }.map_err(|e| format!("{e:#}"))
}

fn store(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let data = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    // Unique per writer (process and call), so hosts and runtimes sharing a
    // cache directory never write into each other's temporary file; the
    // rename is atomic and every writer's bytes are the same.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, &data)?;
    std::fs::write(checksum_path(path), checksum(path, &data))?;
    std::fs::rename(&tmp, path)
}
