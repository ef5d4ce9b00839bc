//! The host's cache key: 32 random bytes in a file only the host's user
//! may read or write (a regular file of this process's user, mode 0600),
//! kept outside the cache directory. Every cache entry is sealed with
//! HMAC-SHA256 under it, so whoever can write the cache directory but not
//! this file cannot make the host load an artifact.
//!
//! Must never use a key file other users could read or replace, and never
//! show the key (not even in `Debug`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Bytes of key material.
pub const KEY_LEN: usize = 32;
/// Bytes of one seal (an HMAC-SHA256 tag).
pub const TAG_LEN: usize = 32;

/// Why the cache key cannot be used (the cache is then off).
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot use the cache key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the cache key file {path} is {problem}")]
    Unsafe { path: PathBuf, problem: String },
}

/// The secret the host seals cache entries with.
pub struct CacheKey([u8; KEY_LEN]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(…)")
    }
}

impl CacheKey {
    /// Reads the key at `path`, creating it (32 random bytes, mode 0600)
    /// if there is no file there yet. Hosts racing to create it agree on
    /// one key: each writes its own temporary file and links it into place
    /// only if nothing is there (no replace).
    pub fn load_or_create(path: &Path) -> Result<CacheKey, KeyError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
            Err(e) => return Err(io(path, e)),
            Ok(_) => {}
        }
        load(path)
    }

    /// The seal of an entry named `name` holding `data`.
    pub fn seal(&self, name: &str, data: &[u8]) -> [u8; TAG_LEN] {
        self.mac(name, data).finalize().into_bytes().into()
    }

    /// Whether `tag` is the seal of `name` + `data` (constant time).
    pub fn verify(&self, name: &str, data: &[u8], tag: &[u8]) -> bool {
        self.mac(name, data).verify_slice(tag).is_ok()
    }

    /// Covers the entry's name (component sha256 + engine key), a 0 byte
    /// and the bytes: an artifact sealed for one name fails under another.
    fn mac(&self, name: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(name.as_bytes());
        m.update(&[0]);
        m.update(data);
        m
    }
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unsafe_key(path: &Path, problem: String) -> KeyError {
    KeyError::Unsafe {
        path: path.to_path_buf(),
        problem,
    }
}

fn load(path: &Path) -> Result<CacheKey, KeyError> {
    // Checked on the open file itself (never following a link, never
    // blocking on a FIFO), so it cannot be swapped between check and read.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => unsafe_key(path, "not a regular file (a symbolic link)".into()),
            _ => io(path, e),
        })?;
    let meta = f.metadata().map_err(|e| io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(unsafe_key(path, "not a regular file".into()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_key(
            path,
            format!(
                "open to other users (mode {:04o}; it must be 0600)",
                meta.mode() & 0o7777
            ),
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(unsafe_key(
            path,
            format!(
                "owned by uid {}, not by this process's uid {me}",
                meta.uid()
            ),
        ));
    }
    let mut key = [0u8; KEY_LEN];
    let n = f.read(&mut key).map_err(|e| io(path, e))?;
    let mut more = [0u8; 1];
    if n != KEY_LEN || f.read(&mut more).map_err(|e| io(path, e))? != 0 {
        return Err(unsafe_key(path, format!("not {KEY_LEN} bytes long")));
    }
    Ok(CacheKey(key))
}

fn create(path: &Path) -> Result<(), KeyError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(path, e))?;
    }
    let mut key = [0u8; KEY_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut key))
        .map_err(|e| io(Path::new("/dev/urandom"), e))?;
    let tmp = super::unique_tmp(path);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&key)?;
            f.sync_all()
        });
    // A link never replaces an existing file: the first host's key wins.
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    });
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| io(path, e))?;
    tracing::info!(path = %path.display(), "created the compiled-component cache key");
    Ok(())
}
