//! Compiled-component cache on disk.
//!
//! An entry is one file, `<component sha256>-<engine key>.cwasm` (the
//! engine key hashes everything that makes an artifact incompatible:
//! wasmtime version, target, tunables, fuel/epoch), holding a seal —
//! HMAC-SHA256 under the host's [`CacheKey`] over the entry's name and the
//! artifact — and the artifact. wasmtime deserializes exactly the bytes
//! whose seal was verified (never the file read again), so a cache
//! directory others can write yields nothing the host did not write
//! itself: a forged, swapped, copied or corrupt entry is deleted and the
//! component recompiled from its own bytes, whose sha256 is what a pin
//! checks. [`Cache::collect_garbage`] deletes what nothing keeps.
//!
//! This module must never hand wasmtime bytes whose seal it has not
//! verified (`Component::deserialize` is `unsafe`: it trusts its input).

mod gc;
mod key;

pub use gc::STALE_TMP;
pub use key::{CacheKey, KEY_LEN, KeyError, TAG_LEN};

use super::LoadError;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry (the format: magic, seal, artifact).
const MAGIC: &[u8; 8] = b"HOCACHE1";

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

/// Where the key lives unless configured: beside the cache directory
/// (`<dir>.key`), never inside it, so hosts sharing a cache share its key.
pub fn default_key_file(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(".key");
    PathBuf::from(s)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The bytes of the entry at `path` holding `artifact`, sealed with `key`.
pub fn seal_entry(key: &CacheKey, path: &Path, artifact: &[u8]) -> Vec<u8> {
    let tag = key.seal(&name_of(path), artifact);
    let mut out = Vec::with_capacity(MAGIC.len() + TAG_LEN + artifact.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&tag);
    out.extend_from_slice(artifact);
    out
}

/// The artifact of the entry at `path` if its seal verifies under `key`.
pub fn open_entry<'a>(key: &CacheKey, path: &Path, data: &'a [u8]) -> Result<&'a [u8], String> {
    let body = data
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a sealed entry (no header)")?;
    if body.len() < TAG_LEN {
        return Err("truncated entry".into());
    }
    let (tag, artifact) = body.split_at(TAG_LEN);
    if !key.verify(&name_of(path), artifact, tag) {
        return Err("the seal does not match (forged, copied or corrupt entry)".into());
    }
    Ok(artifact)
}

/// The largest entry read for a component of `component_len` bytes: far
/// more than cranelift makes of it, so a file planted in the cache cannot
/// make the host read gigabytes.
fn max_entry_bytes(component_len: usize) -> u64 {
    16 * component_len as u64 + (64 << 20)
}

/// The bytes of the entry at `path` if it is a regular file (not a link,
/// FIFO or device: opened without following links and without blocking)
/// of at most `max` bytes.
fn read_entry(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the {max} an entry of this component may have",
            meta.len()
        )));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(std::io::Error::other("grew while read"));
    }
    Ok(data)
}

/// A temporary file beside `path`, unique per writer (process and call), so
/// hosts and runtimes sharing a directory never write into each other's.
fn unique_tmp(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("tmp{}-{n}", std::process::id()))
}

/// One cache directory and the key its entries are sealed with.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    key: CacheKey,
    engine_key: String,
}

impl Cache {
    /// The cache in `dir`, its entries sealed with the key in `key_file`
    /// (created on first use).
    pub fn open(engine: &Engine, dir: &Path, key_file: &Path) -> Result<Cache, KeyError> {
        Ok(Cache {
            dir: dir.to_path_buf(),
            key: CacheKey::load_or_create(key_file)?,
            engine_key: engine_key(engine),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entry_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Load from a verified entry, or compile and store one. The flag says
    /// whether this call wrote the entry (a refused candidate's entry is
    /// then removed again: [`Cache::evict`]).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool), LoadError> {
        let path = self.entry_path(sha256);
        match read_entry(&path, max_entry_bytes(bytes.len())) {
            Ok(data) => match self.load_verified(engine, &path, &data) {
                Ok(c) => return Ok((c, false)),
                Err(why) => {
                    tracing::warn!(path = %path.display(), %why, "compiled-component cache entry unusable; recompiling");
                    let _ = std::fs::remove_file(&path);
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "compiled-component cache entry unusable; recompiling");
                let _ = std::fs::remove_file(&path);
            }
        }
        let component =
            Component::new(engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let stored = self.store(&component, &path);
        if let Err(e) = &stored {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compiled-component cache entry");
        }
        Ok((component, stored.is_ok()))
    }

    fn load_verified(
        &self,
        engine: &Engine,
        path: &Path,
        data: &[u8],
    ) -> Result<Component, String> {
        let artifact = open_entry(&self.key, path, data)?;
        // SAFETY: these are the very bytes whose seal verified under the
        // host's key for this entry's name (component sha256 + this engine
        // configuration): `store` below wrote them from
        // `Component::serialize` of a compiled component with that sha256.
        // They are not read from the file again, so the file cannot change
        // between the check and the use.
        unsafe { Component::deserialize(engine, artifact) }.map_err(|e| format!("{e:#}"))
    }

    fn store(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let artifact = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let tmp = unique_tmp(path);
        let written = std::fs::write(&tmp, seal_entry(&self.key, path, &artifact))
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Delete the entry of `sha256` for this engine configuration.
    pub fn evict(&self, sha256: &str) {
        let path = self.entry_path(sha256);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed a refused candidate's compiled-component cache entry")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove compiled-component cache entry")
            }
        }
    }
}
