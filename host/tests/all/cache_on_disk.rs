//! The compiled-component cache of the real `handover-host` binary: a
//! forged entry never runs as a pinned endpoint's adapter, and the cache
//! holds only what the registry keeps (collected at start-up and after
//! swaps and rollbacks). In-process cache tests: `cache.rs`.

use crate::cache::plant_garbage;
use crate::harness::*;
use std::path::{Path, PathBuf};

const OP_KEY: &str = "operator-key-Ca55kX";

/// File names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The entry of component `bytes` in `dir` (exactly one).
fn entry_of(dir: &Path, bytes: &[u8]) -> PathBuf {
    let sha = handover_host::runtime::sha256_hex(bytes);
    let found: Vec<String> = listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(&sha) && n.ends_with(".cwasm"))
        .collect();
    assert_eq!(found.len(), 1, "entries of {sha}: {:?}", listing(dir));
    dir.join(&found[0])
}

async fn version_of(host: &HostProcess, endpoint: &str) -> (String, String) {
    let r = host
        .send(
            reqwest::Method::GET,
            &format!("/admin/endpoints/{endpoint}"),
            Some(OP_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let current = &r.body["current"];
    let s = |k: &str| current[k].as_str().unwrap_or_default().to_string();
    (s("version"), s("sha256"))
}

/// Someone who can write the cache directory (not the key file) plants a
/// genuine artifact of `echo-v2` under the name of `echo`'s entry, with
/// every sidecar file of the genuine entry copied along and the previous
/// format's unkeyed checksum recomputed for the new name. The host with
/// `echo` pinned by sha256 still runs `echo`: the forgery is refused,
/// deleted and `echo` recompiled from its bytes (before: the checksum was
/// anyone's to compute, and `echo-v2` ran as the pinned `echo`).
#[tokio::test]
pub(crate) async fn a_forged_cache_entry_never_runs_as_a_pinned_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let runtime = Runtime {
        cache_dir: Some(dir.clone()),
        ..Runtime::default()
    };
    let (x, y) = (guest_bytes("echo-v2"), guest_bytes("echo"));
    let host = HostProcess::start(
        Config::new()
            .admin_key_hashed(OP_KEY)
            .runtime(runtime.clone())
            .endpoint(Endpoint::new("ep", guest("echo-v2"))),
    )
    .await;
    drop(host);

    let genuine = entry_of(&dir, &x);
    let genuine_name = genuine.file_name().unwrap().to_string_lossy().into_owned();
    let engine = genuine_name.split_once('-').unwrap().1;
    let sha_y = handover_host::runtime::sha256_hex(&y);
    let forged_name = format!("{sha_y}-{engine}");
    let forged = dir.join(&forged_name);
    std::fs::copy(&genuine, &forged).unwrap();
    for name in listing(&dir) {
        if let Some(suffix) = name.strip_prefix(&format!("{genuine_name}.")) {
            std::fs::copy(dir.join(&name), dir.join(format!("{forged_name}.{suffix}"))).unwrap();
        }
    }
    let data = std::fs::read(&forged).unwrap();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, forged_name.as_bytes());
    sha2::Digest::update(&mut h, [0]);
    sha2::Digest::update(&mut h, &data);
    std::fs::write(
        dir.join(format!("{forged_name}.sha256")),
        hex::encode(sha2::Digest::finalize(h)),
    )
    .unwrap();

    let host = HostProcess::start(
        Config::new()
            .admin_key_hashed(OP_KEY)
            .runtime(runtime)
            .endpoint(Endpoint::new("ep", guest("echo")).sha256(&sha_y)),
    )
    .await;
    assert_eq!(
        version_of(&host, "ep").await,
        ("1.0.0".to_string(), sha_y.clone()),
        "the planted artifact runs as the pinned component:\n{}",
        host.log()
    );
    assert_ne!(
        std::fs::read(&forged).unwrap(),
        data,
        "the forgery was kept"
    );
    assert!(
        host.log().contains("unusable; recompiling"),
        "{}",
        host.log()
    );
}

/// The host's own cache (`<data_dir>/cache`) holds the entries of the
/// versions its endpoints serve or may roll back to, nothing else: at
/// start-up, after a rollback and after a swap, entries of other
/// components or engine configurations, the previous format's sidecars and
/// stale temporary files are deleted; files not named like the cache's
/// and fresh temporary files stay (before: nothing was ever deleted).
#[tokio::test]
pub(crate) async fn the_cache_holds_only_what_the_registry_keeps() {
    let mut host = HostProcess::start(
        Config::new()
            .admin_key_hashed(OP_KEY)
            .runtime(Runtime::default())
            .server(|s| s.watch_adapters = Some(false))
            .endpoint(Endpoint::new("ep", guest("echo"))),
    )
    .await;
    let dir = host.dir.join("data/cache");
    let echo = entry_of(&dir, &guest_bytes("echo"));
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let expect = |entries: &[&PathBuf], kept: &[String]| {
        let mut v: Vec<String> = entries.iter().map(|p| name(p)).collect();
        v.extend(kept.iter().cloned());
        v.sort();
        v
    };

    // Start-up: echo (the configured version) is kept.
    let planted = plant_garbage(&dir, &echo);
    host.restart().await;
    assert_eq!(listing(&dir), expect(&[&echo], &planted.kept));

    // A swap to echo-v2: both kept (echo may be rolled back to).
    plant_garbage(&dir, &echo);
    let r = host
        .send(
            reqwest::Method::PUT,
            "/admin/endpoints/ep/adapter",
            Some(OP_KEY),
            Some(guest_bytes("echo-v2")),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let v2 = entry_of(&dir, &guest_bytes("echo-v2"));
    assert_eq!(listing(&dir), expect(&[&echo, &v2], &planted.kept));

    // A rollback to echo drops echo-v2 (a rollback keeps no way forward).
    plant_garbage(&dir, &echo);
    let r = host
        .send(
            reqwest::Method::POST,
            "/admin/endpoints/ep/rollback",
            Some(OP_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(version_of(&host, "ep").await.0, "1.0.0");
    assert_eq!(listing(&dir), expect(&[&echo], &planted.kept));
}
