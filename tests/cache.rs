//! The compiled-guest disk cache with a real guest: cold, warm, corrupted
//! (the other kinds of damage and the cache without a directory are unit
//! tests in src/sandbox/cache.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;

use goru::host::Capabilities;
use goru::runner::{RunSpec, Runner};
use goru::sandbox::{CacheOutcome, Sandbox, SandboxConfig, Status};

fn sandbox(cache: &Path) -> Sandbox {
    Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.to_owned()),
        ..SandboxConfig::default()
    })
    .unwrap()
}

/// The one compiled guest in `cache` and its checksum file.
fn only_entry(cache: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut entries: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (sum, entry) = (entries[0].clone(), entries[1].clone());
    assert_eq!(sum.extension().unwrap(), "blake3", "{entries:?}");
    assert_eq!(entry.extension().unwrap(), "cwasm", "{entries:?}");
    assert_eq!(sum.file_stem(), entry.file_stem());
    (entry, sum)
}

async fn precompile(cache: &Path) -> CacheOutcome {
    sandbox(cache).precompile(&["python3.12"]).await.unwrap()[0].1
}

async fn runs(cache: &Path) {
    let r = Runner::new(sandbox(cache), Capabilities::default())
        .run(RunSpec {
            code: "print(6 * 7)".into(),
            language: Some("python3.12".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r.status, r.stdout.as_str()), (Status::Ok, "42\n"));
}

#[tokio::test]
async fn the_cache_is_filled_cold_reused_warm_and_rebuilt_when_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path();

    assert_eq!(precompile(cache).await, CacheOutcome::Miss, "cold");
    let (entry, _sum) = only_entry(cache);
    let pristine = std::fs::read(&entry).unwrap();
    assert_eq!(precompile(cache).await, CacheOutcome::Hit, "warm");
    runs(cache).await;

    // A flipped byte deep in the machine code.
    let mut corrupt = pristine.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x40;
    std::fs::write(&entry, &corrupt).unwrap();
    assert_eq!(precompile(cache).await, CacheOutcome::Rebuilt, "corrupted");
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        pristine,
        "rebuilt to the same bytes"
    );
    runs(cache).await;

    // Truncated, stale and checksum-less entries: the unit tests in
    // src/sandbox/cache.rs, on a tiny module (each case is a compile; here
    // each took 17 s of CPU).
}

#[tokio::test]
async fn a_missing_runtime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sandbox::new(SandboxConfig {
        runtime_dir: dir.path().to_owned(),
        cache_dir: None,
        ..SandboxConfig::default()
    })
    .unwrap();
    let err = s.precompile(&["python"]).await.unwrap_err();
    assert!(
        err.to_string().contains("python.wasm") && err.to_string().contains("make build"),
        "{err}"
    );
}
