//! On-disk cache of compiled guests (the original's `WithDiskCache`).
//!
//! Compiling a 26 MB guest takes seconds; loading a compiled one takes
//! milliseconds. Entries are keyed by wasmtime's version, the engine's
//! compilation settings and the guest's own hash, so a changed guest or engine
//! never picks up a stale artifact. Each entry carries a BLAKE3 checksum that is
//! verified BEFORE deserializing (deserializing is `unsafe`: wasmtime trusts the
//! bytes as machine code), so a corrupt or truncated entry is rebuilt, not run.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;

use crate::error::SandboxError;

/// What kind of artifact a guest compiles to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Component,
    Module,
}

/// How the compiled bytes were obtained; reported at start-up and in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid entry was found.
    Hit,
    /// No entry: compiled and stored.
    Miss,
    /// An entry existed but failed its checksum or wasmtime refused it: rebuilt.
    Rebuilt,
    /// Caching disabled: compiled in memory only.
    Disabled,
}

#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: Option<PathBuf>,
}

impl DiskCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The cache key: wasmtime version + engine compatibility hash + guest hash.
    fn key(engine: &Engine, kind: ArtifactKind, guest: &[u8]) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hasher.finish();
        let mut h = blake3::Hasher::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(wasmtime_version().as_bytes());
        h.update(&engine_hash.to_le_bytes());
        h.update(&[kind as u8]);
        h.update(guest);
        h.finalize().to_hex()[..32].to_owned()
    }

    /// Loads `guest` with `load`, from a verified cache entry when there is
    /// one; otherwise (or when wasmtime refuses the entry as stale) compiles
    /// it, stores the entry and loads that.
    pub fn load<T>(
        &self,
        engine: &Engine,
        kind: ArtifactKind,
        guest_path: &Path,
        load: impl Fn(&[u8]) -> Result<T, SandboxError>,
    ) -> Result<(T, CacheOutcome), SandboxError> {
        let guest = std::fs::read(guest_path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SandboxError::RuntimeMissing {
                    path: guest_path.to_owned(),
                }
            } else {
                SandboxError::Io {
                    path: guest_path.to_owned(),
                    source,
                }
            }
        })?;
        let Some(dir) = &self.dir else {
            return Ok((
                load(&precompile(engine, kind, &guest)?)?,
                CacheOutcome::Disabled,
            ));
        };
        let entry = dir.join(format!("{}.cwasm", Self::key(engine, kind, &guest)));
        let had_entry = entry.exists();
        if had_entry {
            match read_verified(&entry).map(|bytes| load(&bytes)) {
                Some(Ok(loaded)) => return Ok((loaded, CacheOutcome::Hit)),
                Some(Err(e)) => {
                    tracing::warn!(path = %entry.display(), error = %e, "wasmtime refused a cached guest; rebuilding")
                }
                None => {
                    tracing::warn!(path = %entry.display(), "compiled-guest cache entry failed its checksum; rebuilding")
                }
            }
        }
        let bytes = precompile(engine, kind, &guest)?;
        // A read-only or full cache directory costs the next start a
        // compile, not this one its guest.
        if let Err(e) = write_verified(dir, &entry, &bytes) {
            tracing::warn!(error = %e, "could not store a compiled guest in the cache");
        }
        let outcome = if had_entry {
            CacheOutcome::Rebuilt
        } else {
            CacheOutcome::Miss
        };
        Ok((load(&bytes)?, outcome))
    }
}

fn wasmtime_version() -> &'static str {
    // The crate is pinned exactly in Cargo.toml; this string moves with it.
    "wasmtime-48.0.8"
}

fn precompile(engine: &Engine, kind: ArtifactKind, guest: &[u8]) -> Result<Vec<u8>, SandboxError> {
    match kind {
        ArtifactKind::Component => engine.precompile_component(guest),
        ArtifactKind::Module => engine.precompile_module(guest),
    }
    .map_err(SandboxError::wasmtime("compiling a guest"))
}

/// Entry layout: 32-byte BLAKE3 of the payload, then the payload.
fn read_verified(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(path).ok()?;
    if bytes.len() < 32 {
        return None;
    }
    let payload = bytes.split_off(32);
    (blake3::hash(&payload).as_bytes()[..] == bytes[..]).then_some(payload)
}

fn write_verified(dir: &Path, path: &Path, payload: &[u8]) -> Result<(), SandboxError> {
    std::fs::create_dir_all(dir).map_err(SandboxError::io(dir))?;
    // Write to a temporary file and rename: a crash mid-write never leaves a
    // half entry under the real name (and the checksum catches it if it did).
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(SandboxError::io(dir))?;
    tmp.write_all(blake3::hash(payload).as_bytes())
        .and_then(|()| tmp.write_all(payload))
        .map_err(SandboxError::io(tmp.path()))?;
    tmp.persist(path).map_err(|e| SandboxError::Io {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_byte_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        write_verified(dir.path(), &path, b"payload").unwrap();
        assert_eq!(read_verified(&path).as_deref(), Some(&b"payload"[..]));
        let mut raw = std::fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        std::fs::write(&path, raw).unwrap();
        assert_eq!(read_verified(&path), None);
    }

    #[test]
    fn a_truncated_entry_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(read_verified(&path), None);
    }
}
