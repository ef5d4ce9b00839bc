//! The compiled-component cache (`RuntimeConfig::cache_dir`): entries keyed
//! by the component's sha256 and the engine configuration and sealed with
//! the host's key (HMAC-SHA256, key file beside the cache, mode 0600),
//! reused across runtimes; corrupt, forged or copied entries detected and
//! recompiled; a changed engine configuration never loading another
//! configuration's artifact; garbage collected. (The real binary:
//! `cache_on_disk.rs`.)

use crate::harness::wasm::*;
use handover_host::model::{ProviderEvent, UserInput};
use handover_host::runtime::{
    Call, CallOutput, Limits, LoadedAdapter, Runtime, RuntimeConfig, cache, sha256_hex,
};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fresh temporary directory (kept alive by the returned guard), the cache
/// directory inside it (not created yet) and guest `name`'s bytes.
fn cache_dir_and(name: &str) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    (tmp, dir, guest_bytes(name))
}

fn runtime_in(dir: &Path, fuel: bool) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        fuel,
        cache_dir: Some(dir.to_path_buf()),
        max_instances: 8,
        ..Default::default()
    })
    .unwrap()
}

/// Files in the cache directory, sorted by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

fn cwasm_files(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| n.ends_with(".cwasm"))
        .collect()
}

/// (inode, mtime) — a rewrite (temp file + rename) changes the inode.
fn identity(p: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

/// The adapter really works: echo answers a user message.
async fn assert_echo_works(rt: &Arc<Runtime>, a: &LoadedAdapter, version: &str) {
    assert_eq!(a.info.name, "echo");
    assert_eq!(a.info.version, version);
    let out = rt
        .invoke(
            a,
            &env(Limits::default(), &[], &[]),
            Call::UserMessage(
                ctx("{}"),
                b"s".to_vec(),
                UserInput {
                    id: String::new(),
                    kind: Default::default(),
                    text: "hi".into(),
                    attachments: vec![],
                },
            ),
        )
        .await
        .unwrap_or_else(|f| panic!("echo call failed: {f}"));
    let CallOutput::Step(step) = out else {
        panic!("{out:?}")
    };
    assert!(
        matches!(step.events.as_slice(), [ProviderEvent::AgentMessage { text, .. }] if *text == format!("{version}:hi")),
        "{:?}",
        step.events
    );
}

/// The key the runtimes of `dir` seal entries with (beside it).
fn host_key(dir: &Path) -> cache::CacheKey {
    cache::CacheKey::load_or_create(&cache::default_key_file(dir)).unwrap()
}

fn entry(rt: &Runtime, dir: &Path, bytes: &[u8]) -> PathBuf {
    cache::entry_path(rt.engine(), dir, &sha256_hex(bytes))
}

#[tokio::test]
pub(crate) async fn the_second_load_is_served_from_the_cache() {
    let (_tmp, dir, bytes) = cache_dir_and("echo");
    let sha = sha256_hex(&bytes);

    let rt = runtime_in(&dir, false);
    let a = rt.load(&bytes).await.unwrap();
    assert_echo_works(&rt, &a, "1.0.0").await;
    let path = entry(&rt, &dir, &bytes);
    assert!(path.exists(), "no cache entry; dir has {:?}", entries(&dir));
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(&sha) && name.ends_with(".cwasm"),
        "entry {name} is not keyed by the sha256 {sha}"
    );
    // Exactly the entry (seal and artifact in one file); no temporary files
    // left over, and the key is not in the cache directory.
    assert_eq!(entries(&dir), [name.to_string()], "cache dir contents");
    let first = identity(&path);
    let artifact = std::fs::read(&path).unwrap();
    assert!(!artifact.is_empty());

    // Same bytes again, in the same runtime and in a fresh one (a restart):
    // the entry is used as is, not rewritten.
    let again = rt.load(&bytes).await.unwrap();
    assert_echo_works(&rt, &again, "1.0.0").await;
    let rt2 = runtime_in(&dir, false);
    assert_eq!(entry(&rt2, &dir, &bytes), path, "same config, same key");
    let b = rt2.load(&bytes).await.unwrap();
    assert_echo_works(&rt2, &b, "1.0.0").await;
    assert_eq!(identity(&path), first, "the entry was rewritten");
    assert_eq!(std::fs::read(&path).unwrap(), artifact);
    assert_eq!(cwasm_files(&dir).len(), 1, "{:?}", entries(&dir));

    // Another component gets its own entry.
    let v2 = guest_bytes("echo-v2");
    let c = rt2.load(&v2).await.unwrap();
    assert_echo_works(&rt2, &c, "2.0.0").await;
    assert!(entry(&rt2, &dir, &v2).exists());
    assert_eq!(cwasm_files(&dir).len(), 2, "{:?}", entries(&dir));
    assert_eq!(identity(&path), first);
}

#[tokio::test]
pub(crate) async fn a_cache_hit_is_faster_than_compiling() {
    // Compiling `sim` takes a noticeable time; loading its artifact must not.
    let (_tmp, dir, bytes) = cache_dir_and("sim");
    let t = std::time::Instant::now();
    runtime_in(&dir, false).load(&bytes).await.unwrap();
    let cold = t.elapsed();
    let rt = runtime_in(&dir, false);
    let t = std::time::Instant::now();
    let a = rt.load(&bytes).await.unwrap();
    let warm = t.elapsed();
    assert_eq!(a.info.name, "sim");
    assert!(
        warm < cold,
        "warm load {warm:?} is not faster than the cold one {cold:?}"
    );
}

/// Load `echo` in a fresh runtime after `damage` was done to its entry:
/// it must work, and the entry must be valid again (rewritten).
async fn survives(damage: impl FnOnce(&Path)) {
    let (tmp, dir, bytes) = cache_dir_and("echo");
    let rt = runtime_in(&dir, false);
    rt.load(&bytes).await.unwrap();
    let path = entry(&rt, &dir, &bytes);
    let good = std::fs::read(&path).unwrap();
    let before = identity(&path);

    damage(&path);
    // Keep the damaged file's inode alive so a rewrite cannot reuse it.
    std::fs::hard_link(&path, tmp.path().join("damaged")).unwrap();

    let rt2 = runtime_in(&dir, false);
    let a = rt2
        .load(&bytes)
        .await
        .expect("a damaged entry is recompiled");
    assert_echo_works(&rt2, &a, "1.0.0").await;
    // Recompiled and stored afresh: a new file with a valid seal.
    assert!(path.exists(), "{:?}", entries(&dir));
    assert_ne!(identity(&path).0, before.0, "the entry was not rewritten");
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), good.len());
    cache::open_entry(&host_key(&dir), &path, &data).expect("a sealed entry");
    assert_eq!(cwasm_files(&dir).len(), 1, "{:?}", entries(&dir));
    // And the rewritten entry is usable by the next start.
    let rt3 = runtime_in(&dir, false);
    let a = rt3.load(&bytes).await.unwrap();
    assert_echo_works(&rt3, &a, "1.0.0").await;
}

#[tokio::test]
async fn a_corrupted_entry_is_detected_and_recompiled() {
    survives(|p| {
        let mut data = std::fs::read(p).unwrap();
        let mid = data.len() / 2;
        for b in &mut data[mid..mid + 64] {
            *b ^= 0xa5;
        }
        // In place, as a disk error would.
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &data))
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_truncated_entry_is_recompiled() {
    survives(|p| {
        let data = std::fs::read(p).unwrap();
        std::fs::write(p, &data[..data.len() / 3]).unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_entry_overwritten_with_garbage_is_recompiled() {
    survives(|p| {
        let len = std::fs::metadata(p).unwrap().len() as usize;
        std::fs::write(p, vec![0x42u8; len]).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_fifo_or_huge_file_under_the_key_is_not_read() {
    // Someone who can write the cache directory cannot make the host block
    // on a FIFO nor read a (sparse) 64 GiB file: neither is read; both are
    // replaced by a fresh entry.
    survives(|p| {
        std::fs::remove_file(p).unwrap();
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success());
    })
    .await;
    survives(|p| {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(64 << 30)
            .unwrap();
    })
    .await;
}

/// Bytes before the artifact in an entry: magic and seal.
const HEADER: usize = 8 + cache::TAG_LEN;

#[tokio::test]
async fn an_entry_without_its_seal_is_recompiled() {
    survives(|p| {
        let data = std::fs::read(p).unwrap();
        std::fs::write(p, &data[HEADER..]).unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_entry_with_a_wrong_seal_is_recompiled() {
    survives(|p| {
        let mut data = std::fs::read(p).unwrap();
        data[8..HEADER].fill(0);
        std::fs::write(p, &data).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_changed_engine_config_uses_another_key() {
    let (_tmp, dir, bytes) = cache_dir_and("echo");
    let plain = runtime_in(&dir, false);
    let fueled = runtime_in(&dir, true);
    let (p_plain, p_fuel) = (entry(&plain, &dir, &bytes), entry(&fueled, &dir, &bytes));
    assert_ne!(
        cache::engine_key(plain.engine()),
        cache::engine_key(fueled.engine())
    );
    assert_ne!(p_plain, p_fuel);

    let a = plain.load(&bytes).await.unwrap();
    assert_echo_works(&plain, &a, "1.0.0").await;
    assert_eq!(cwasm_files(&dir).len(), 1);
    let plain_id = identity(&p_plain);

    // The fuel engine neither loads nor replaces the other configuration's
    // artifact: it compiles its own, under its own key.
    let b = fueled.load(&bytes).await.unwrap();
    assert_echo_works(&fueled, &b, "1.0.0").await;
    assert!(p_fuel.exists(), "{:?}", entries(&dir));
    assert_eq!(cwasm_files(&dir).len(), 2, "{:?}", entries(&dir));
    assert_eq!(identity(&p_plain), plain_id);
    assert_ne!(
        std::fs::read(&p_plain).unwrap(),
        std::fs::read(&p_fuel).unwrap()
    );

    // Fuel is really counted by the artifact the fuel engine uses.
    let out = fueled
        .invoke(
            &b,
            &env(
                Limits {
                    fuel: Some(10),
                    ..Default::default()
                },
                &[],
                &[],
            ),
            Call::Start(ctx("{}"), conversation()),
        )
        .await;
    let f = out.expect_err("10 units of fuel cannot run a call");
    assert!(f.message.contains("fuel"), "{f}");

    // Both keep working from their own entries after a restart.
    let plain2 = runtime_in(&dir, false);
    let fueled2 = runtime_in(&dir, true);
    let a = plain2.load(&bytes).await.unwrap();
    let b = fueled2.load(&bytes).await.unwrap();
    assert_echo_works(&plain2, &a, "1.0.0").await;
    assert_echo_works(&fueled2, &b, "1.0.0").await;
    assert_eq!(identity(&p_plain), plain_id);
    assert_eq!(cwasm_files(&dir).len(), 2);
}

#[tokio::test]
async fn an_incompatible_artifact_under_the_key_is_recompiled() {
    // Simulate a stale artifact from another engine configuration sitting
    // under this configuration's key (with a checksum that matches it):
    // wasmtime's own compatibility check must refuse it, and the cache must
    // recompile instead of failing or crashing.
    let (_tmp, dir, bytes) = cache_dir_and("echo");
    let fueled = runtime_in(&dir, true);
    fueled.load(&bytes).await.unwrap();
    let p_fuel = entry(&fueled, &dir, &bytes);
    let plain = runtime_in(&dir, false);
    let p_plain = entry(&plain, &dir, &bytes);
    // Sealed with the host's key for this name, so only wasmtime's check
    // can refuse it.
    let key = host_key(&dir);
    let data = std::fs::read(&p_fuel).unwrap();
    let artifact = cache::open_entry(&key, &p_fuel, &data).unwrap();
    std::fs::write(&p_plain, cache::seal_entry(&key, &p_plain, artifact)).unwrap();
    let a = plain.load(&bytes).await.expect("recompiled");
    assert_echo_works(&plain, &a, "1.0.0").await;
    assert_ne!(
        std::fs::read(&p_plain).unwrap(),
        std::fs::read(&p_fuel).unwrap(),
        "the foreign artifact was kept"
    );
}

#[tokio::test]
pub(crate) async fn a_valid_entry_copied_under_another_key_is_refused() {
    // The checksum covers the entry's name: a genuine artifact of another
    // component, with its own valid checksum, planted under this key, is
    // refused and this component recompiled.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let rt = runtime_in(&dir, false);
    let echo = guest_bytes("echo");
    let panic = guest_bytes("panic");
    rt.load(&panic).await.unwrap();
    let p_panic = entry(&rt, &dir, &panic);
    let p_echo = entry(&rt, &dir, &echo);
    std::fs::copy(&p_panic, &p_echo).unwrap();
    let rt2 = runtime_in(&dir, false);
    let a = rt2.load(&echo).await.unwrap();
    assert_echo_works(&rt2, &a, "1.0.0").await;
}

#[tokio::test]
async fn an_unwritable_cache_dir_does_not_prevent_loading() {
    let tmp = tempfile::tempdir().unwrap();
    // A file where the directory should be: the cache cannot be written.
    let dir = tmp.path().join("cache");
    std::fs::write(&dir, b"not a directory").unwrap();
    let rt = runtime_in(&dir, false);
    let a = rt.load(&guest_bytes("echo")).await.unwrap();
    assert_echo_works(&rt, &a, "1.0.0").await;
    let a = rt.load(&guest_bytes("echo")).await.unwrap();
    assert_echo_works(&rt, &a, "1.0.0").await;
}

/// An attacker who can write the cache directory but not the key file:
/// another component's genuine artifact planted under echo's name, with
/// the previous format's unkeyed checksum recomputed for the new name and
/// with a seal made under a key of their own. Neither loads: echo is
/// recompiled from its bytes and runs (before: the unkeyed checksum was
/// accepted and the planted artifact ran as echo).
#[tokio::test]
async fn an_entry_not_sealed_with_the_hosts_key_never_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let rt = runtime_in(&dir, false);
    let (echo, panic) = (guest_bytes("echo"), guest_bytes("panic"));
    rt.load(&panic).await.unwrap();
    let (p_panic, p_echo) = (entry(&rt, &dir, &panic), entry(&rt, &dir, &echo));
    let data = std::fs::read(&p_panic).unwrap();
    let artifact = cache::open_entry(&host_key(&dir), &p_panic, &data)
        .unwrap()
        .to_vec();
    let attackers = tmp.path().join("attacker.key");
    let forgeries = [
        ("a seal under another key", {
            cache::seal_entry(
                &cache::CacheKey::load_or_create(&attackers).unwrap(),
                &p_echo,
                &artifact,
            )
        }),
        ("the artifact alone", artifact.clone()),
    ];
    for (what, forged) in forgeries {
        std::fs::write(&p_echo, &forged).unwrap();
        // The previous format's sidecar: sha256(name, 0, bytes), anyone can
        // compute it.
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, p_echo.file_name().unwrap().as_encoded_bytes());
        sha2::Digest::update(&mut h, [0]);
        sha2::Digest::update(&mut h, &forged);
        std::fs::write(
            p_echo.with_extension("cwasm.sha256"),
            hex::encode(sha2::Digest::finalize(h)),
        )
        .unwrap();
        let fresh = runtime_in(&dir, false);
        let a = fresh.load(&echo).await.unwrap();
        assert_echo_works(&fresh, &a, "1.0.0").await;
        assert_ne!(std::fs::read(&p_echo).unwrap(), forged, "{what}: kept");
    }
}

/// The key is created on first use beside the cache directory, not in it:
/// 32 bytes, mode 0600; a second runtime uses the same key (the entry is
/// not rewritten).
#[tokio::test]
async fn the_cache_key_is_private_and_outside_the_cache_directory() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, dir, bytes) = cache_dir_and("echo");
    let rt = runtime_in(&dir, false);
    rt.load(&bytes).await.unwrap();
    let key = tmp.path().join("cache.key");
    assert_eq!(cache::default_key_file(&dir), key);
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), cache::KEY_LEN as u64);
    assert_eq!(
        entries(&dir),
        cwasm_files(&dir),
        "only entries in the cache"
    );
    let path = entry(&rt, &dir, &bytes);
    let first = identity(&path);
    let again = runtime_in(&dir, false);
    let a = again.load(&bytes).await.unwrap();
    assert_echo_works(&again, &a, "1.0.0").await;
    assert_eq!(identity(&path), first, "the entry was rewritten");
    assert_eq!(std::fs::read(&key).unwrap().len(), cache::KEY_LEN);
}

/// A key file other users may read (or that is not this user's regular
/// file) turns the cache off: adapters still load, compiled each time, and
/// no entry is read or written.
#[tokio::test]
async fn an_unsafe_key_file_turns_the_cache_off() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, dir, bytes) = cache_dir_and("echo");
    runtime_in(&dir, false)
        .load(&guest_bytes("panic"))
        .await
        .unwrap();
    let key = tmp.path().join("cache.key");
    // A validly sealed entry of `panic` under echo's name: used only if the
    // cache were read.
    let rt = runtime_in(&dir, false);
    let (p_panic, p_echo) = (
        entry(&rt, &dir, &guest_bytes("panic")),
        entry(&rt, &dir, &bytes),
    );
    let data = std::fs::read(&p_panic).unwrap();
    let k = host_key(&dir);
    let artifact = cache::open_entry(&k, &p_panic, &data).unwrap();
    std::fs::write(&p_echo, cache::seal_entry(&k, &p_echo, artifact)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = entries(&dir);
    let rt = runtime_in(&dir, false);
    assert!(rt.cache().is_none());
    let a = rt.load(&bytes).await.unwrap();
    assert_echo_works(&rt, &a, "1.0.0").await;
    rt.load(&guest_bytes("echo-v2")).await.unwrap();
    assert_eq!(entries(&dir), before, "the cache was written");
    // A symlink to a private key is refused as well.
    let link = tmp.path().join("link.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&key, &link).unwrap();
    let err = cache::CacheKey::load_or_create(&link).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// Garbage collection keeps the entries asked for and deletes entries of
/// other components and of other engine configurations, the previous
/// format's sidecars and stale temporary files; it leaves files not named
/// like the cache's and fresh temporary files alone.
#[tokio::test]
async fn garbage_collection_keeps_only_what_is_kept() {
    let (_tmp, dir, echo) = cache_dir_and("echo");
    let rt = runtime_in(&dir, false);
    let v2 = guest_bytes("echo-v2");
    rt.load(&echo).await.unwrap();
    rt.load(&v2).await.unwrap();
    let (keep, drop) = (entry(&rt, &dir, &echo), entry(&rt, &dir, &v2));
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let sha = sha256_hex(&echo);
    let planted = plant_garbage(&dir, &keep);
    let removed = rt.collect_cache_garbage([sha].into_iter().collect()).await;
    let mut expected = planted.garbage.clone();
    expected.push(name(&drop));
    expected.sort();
    assert_eq!(removed, expected);
    let mut left = planted.kept.clone();
    left.push(name(&keep));
    left.sort();
    assert_eq!(entries(&dir), left);
}

/// What [`plant_garbage`] put into a cache directory, by file name.
pub(crate) struct Planted {
    pub garbage: Vec<String>,
    pub kept: Vec<String>,
}

/// Beside the entry `entry`: a copy under an unknown component, one under
/// another engine key, a previous-format sidecar, a stale (an hour old)
/// and a fresh temporary file, and a file of someone else's.
pub(crate) fn plant_garbage(dir: &Path, entry: &Path) -> Planted {
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let (sha, rest) = name.split_once('-').unwrap();
    let engine = rest.trim_end_matches(".cwasm");
    let mut garbage = vec![
        format!("{}-{engine}.cwasm", "0".repeat(64)),
        format!("{sha}-0123456789abcdef.cwasm"),
        format!("{name}.sha256"),
        format!("{sha}-{engine}.tmp999999-1"),
    ];
    let kept = vec![
        format!("{sha}-{engine}.tmp999999-2"),
        "notes.txt".to_string(),
    ];
    for f in garbage.iter().chain(&kept) {
        std::fs::copy(entry, dir.join(f)).unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(dir.join(&garbage[3]))
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    garbage.sort();
    Planted { garbage, kept }
}

/// A load that fails after compiling (here `describe`, under a memory
/// limit the component cannot start in) removes the entry it wrote, and
/// leaves alone an entry it found (another load's).
#[tokio::test]
async fn a_refused_load_removes_only_the_entry_it_wrote() {
    let (_tmp, dir, bytes) = cache_dir_and("echo");
    let rt = runtime_in(&dir, false);
    let starved = env(
        Limits {
            memory_bytes: 4096,
            ..Default::default()
        },
        &[],
        &[],
    );
    let e = rt.load_with(&bytes, &starved).await.unwrap_err();
    assert!(e.to_string().contains("`describe` failed"), "{e}");
    assert_eq!(cwasm_files(&dir), Vec::<String>::new());

    let a = rt.load(&bytes).await.unwrap();
    assert!(a.wrote_cache_entry);
    let path = entry(&rt, &dir, &bytes);
    let kept = identity(&path);
    rt.load_with(&bytes, &starved).await.unwrap_err();
    assert_eq!(identity(&path), kept, "another load's entry was removed");
    assert!(!rt.load(&bytes).await.unwrap().wrote_cache_entry);
}
