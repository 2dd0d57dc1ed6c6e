//! On-disk cache of compiled guests (the original's `WithDiskCache`).
//!
//! Compiling a 26 MB guest takes seconds; loading a compiled one takes
//! milliseconds. Entries are keyed by wasmtime's version, the engine's
//! compilation settings and the guest's own hash, so a changed guest or engine
//! never picks up a stale artifact. Each entry (`KEY.cwasm`) has a BLAKE3
//! checksum beside it (`KEY.blake3`) that is verified BEFORE deserializing
//! (deserializing is `unsafe`: wasmtime trusts the bytes as machine code), so a
//! corrupt or truncated entry is rebuilt, not run.
//!
//! A verified entry is mapped from its file, not read into memory: its code
//! and its memory images are then file-backed pages, resident only where
//! touched and shared with the page cache. Read into memory, python-sci's
//! 300 MB artifact alone took ~400 MiB of anonymous memory in every server.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

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

    /// The cache key: wasmtime version + engine compatibility hash + guest
    /// hash, all through BLAKE3. (std's `DefaultHasher` is not promised to
    /// hash alike across Rust releases: a rebuilt goru would miss every entry.)
    fn key(engine: &Engine, kind: ArtifactKind, guest: &[u8]) -> String {
        let mut h = Blake3Hasher(blake3::Hasher::new());
        h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.0.update(wasmtime_version().as_bytes());
        engine.precompile_compatibility_hash().hash(&mut h);
        h.0.update(&[kind as u8]);
        h.0.update(guest);
        h.0.finalize().to_hex()[..32].to_owned()
    }

    /// Loads `guest` with `load`, from a verified cache entry when there is
    /// one; otherwise (or when wasmtime refuses the entry as stale) compiles
    /// it, stores the entry and loads that.
    pub fn load<T>(
        &self,
        engine: &Engine,
        kind: ArtifactKind,
        guest_path: &Path,
        load: impl Fn(Compiled<'_>) -> Result<T, SandboxError>,
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
                load(Compiled::Bytes(&precompile(engine, kind, &guest)?))?,
                CacheOutcome::Disabled,
            ));
        };
        check_dir(dir)?;
        let key = Self::key(engine, kind, &guest);
        let entry = dir.join(format!("{key}.cwasm"));
        let sum = dir.join(format!("{key}.blake3"));
        let had_entry = entry.exists();
        if had_entry {
            match verified(&entry, &sum).then(|| load(Compiled::File(&entry))) {
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
        let outcome = if had_entry {
            CacheOutcome::Rebuilt
        } else {
            CacheOutcome::Miss
        };
        match write_verified(dir, &entry, &sum, &bytes) {
            // Mapped from the file, as every later start does.
            Ok(()) if verified(&entry, &sum) => {
                drop(bytes);
                Ok((load(Compiled::File(&entry))?, outcome))
            }
            Ok(()) => Ok((load(Compiled::Bytes(&bytes))?, outcome)),
            // A read-only or full cache directory costs the next start a
            // compile, not this one its guest.
            Err(e) => {
                tracing::warn!(error = %e, "could not store a compiled guest in the cache");
                Ok((load(Compiled::Bytes(&bytes))?, outcome))
            }
        }
    }
}

/// Feeds a `Hash` value into BLAKE3: a hash that is the same on every build.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0.finalize().as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

/// Refuses a cache directory that anyone but this user (or root) can write
/// to, and makes a missing one readable by this user only.
fn check_dir(dir: &Path) -> Result<(), SandboxError> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(SandboxError::io(dir));
        }
        Err(e) => return Err(SandboxError::io(dir)(e)),
    };
    let unsafe_dir = |why: String| SandboxError::CacheUnsafe {
        path: dir.to_owned(),
        why,
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "is writable by group or others (mode {mode:o})"
        )));
    }
    // The process's own directory in /proc belongs to its effective user.
    let me = std::fs::metadata("/proc/self").map_or(meta.uid(), |m| m.uid());
    if meta.uid() != me && meta.uid() != 0 {
        return Err(unsafe_dir(format!(
            "belongs to user id {}, not to this user ({me})",
            meta.uid()
        )));
    }
    Ok(())
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
/// A compiled guest, ready to deserialize.
#[derive(Debug, Clone, Copy)]
pub enum Compiled<'a> {
    /// A cache entry whose checksum was just verified: mapped, not read.
    File(&'a Path),
    /// Compiled in this process (no cache, or the cache could not store it).
    Bytes(&'a [u8]),
}

impl Compiled<'_> {
    pub fn module(self, engine: &Engine) -> wasmtime::Result<Module> {
        // SAFETY: either bytes this engine just compiled, or a cache entry
        // written by `write_verified` (an atomic rename into our own cache
        // directory) whose checksum `verified` checked; a rename replacing it
        // later does not change the file already mapped.
        #[allow(unsafe_code)]
        unsafe {
            match self {
                Self::File(path) => Module::deserialize_file(engine, path),
                Self::Bytes(bytes) => Module::deserialize(engine, bytes),
            }
        }
    }

    pub fn component(self, engine: &Engine) -> wasmtime::Result<Component> {
        // SAFETY: as for `module`.
        #[allow(unsafe_code)]
        unsafe {
            match self {
                Self::File(path) => Component::deserialize_file(engine, path),
                Self::Bytes(bytes) => Component::deserialize(engine, bytes),
            }
        }
    }
}

/// Whether `entry`'s BLAKE3 hash is the one stored in `sum`. The entry is
/// streamed through the hasher, never held in memory whole.
fn verified(entry: &Path, sum: &Path) -> bool {
    let Ok(expected) = std::fs::read(sum) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(entry) else {
        return false;
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).is_ok() && hasher.finalize().as_bytes()[..] == expected[..]
}

/// Writes the entry, then its checksum, each by an atomic rename: a reader
/// sees a whole entry and a whole checksum, or no match.
fn write_verified(
    dir: &Path,
    entry: &Path,
    sum: &Path,
    payload: &[u8],
) -> Result<(), SandboxError> {
    std::fs::create_dir_all(dir).map_err(SandboxError::io(dir))?;
    let put = |path: &Path, bytes: &[u8]| {
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(SandboxError::io(dir))?;
        tmp.write_all(bytes).map_err(SandboxError::io(tmp.path()))?;
        tmp.persist(path).map_err(|e| SandboxError::Io {
            path: path.to_owned(),
            source: e.error,
        })?;
        Ok::<_, SandboxError>(())
    };
    put(entry, payload)?;
    put(sum, blake3::hash(payload).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_directory_others_can_write_to_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_dir(&cache).unwrap_err();
        assert!(
            err.to_string()
                .contains("writable by group or others (mode 777)"),
            "{err}"
        );
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_dir(&cache).unwrap();
        // A missing one is made for this user only.
        let fresh = dir.path().join("a/b");
        check_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn the_key_is_the_same_for_the_same_inputs_and_differs_by_guest() {
        let engine = Engine::default();
        let a = DiskCache::key(&engine, ArtifactKind::Module, b"guest");
        assert_eq!(a, DiskCache::key(&engine, ArtifactKind::Module, b"guest"));
        assert_ne!(a, DiskCache::key(&engine, ArtifactKind::Module, b"other"));
        assert_ne!(
            a,
            DiskCache::key(&engine, ArtifactKind::Component, b"guest")
        );
    }

    /// A module whose `answer` returns `value`: enough machine code to damage.
    fn tiny_guest(dir: &Path, value: i32) -> PathBuf {
        use wasm_encoder as we;
        let mut types = we::TypeSection::new();
        types.ty().function([], [we::ValType::I32]);
        let mut functions = we::FunctionSection::new();
        functions.function(0);
        let mut exports = we::ExportSection::new();
        exports.export("answer", we::ExportKind::Func, 0);
        let mut body = we::Function::new([]);
        body.instructions().i32_const(value).end();
        let mut code = we::CodeSection::new();
        code.function(&body);
        let mut module = we::Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&exports)
            .section(&code);
        let path = dir.join(format!("guest-{value}.wasm"));
        std::fs::write(&path, module.finish()).unwrap();
        path
    }

    /// Loads the tiny guest through the cache and calls it.
    fn answer(cache: &DiskCache, engine: &Engine, guest: &Path) -> (i32, CacheOutcome) {
        let (module, outcome) = cache
            .load(engine, ArtifactKind::Module, guest, |compiled| {
                compiled
                    .module(engine)
                    .map_err(SandboxError::wasmtime("loading"))
            })
            .unwrap();
        let mut store = wasmtime::Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .unwrap();
        (f.call(&mut store, ()).unwrap(), outcome)
    }

    /// The only entry in `dir` and its checksum.
    fn only_entry(dir: &Path) -> (PathBuf, PathBuf) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        assert_eq!(entries.len(), 2, "{entries:?}");
        let (sum, entry) = (entries[0].clone(), entries[1].clone());
        assert_eq!(sum.extension().unwrap(), "blake3", "{entries:?}");
        assert_eq!(entry.extension().unwrap(), "cwasm", "{entries:?}");
        (entry, sum)
    }

    /// Every kind of damage is rebuilt, never run; the real guests' cold,
    /// warm and flipped-byte cases are in tests/cache.rs.
    #[test]
    fn every_damaged_entry_is_rebuilt_and_the_guest_still_answers() {
        let engine = Engine::default();
        let guests = tempfile::tempdir().unwrap();
        let guest = tiny_guest(guests.path(), 42);
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(Some(dir.path().join("cache")));
        let run = || answer(&cache, &engine, &guest);

        assert_eq!(run(), (42, CacheOutcome::Miss));
        let (entry, sum) = only_entry(&dir.path().join("cache"));
        let pristine = std::fs::read(&entry).unwrap();
        assert_eq!(run(), (42, CacheOutcome::Hit));

        let mut flipped = pristine.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        std::fs::write(&entry, &flipped).unwrap();
        assert_eq!(run(), (42, CacheOutcome::Rebuilt), "flipped byte");
        assert_eq!(std::fs::read(&entry).unwrap(), pristine, "same bytes");

        std::fs::write(&entry, &pristine[..pristine.len() / 3]).unwrap();
        assert_eq!(run(), (42, CacheOutcome::Rebuilt), "truncated");

        // Stale: a well-formed checksum over bytes wasmtime will not accept.
        let junk = b"not a compiled module".to_vec();
        std::fs::write(&entry, &junk).unwrap();
        std::fs::write(&sum, blake3::hash(&junk).as_bytes()).unwrap();
        assert_eq!(run(), (42, CacheOutcome::Rebuilt), "stale");
        assert_eq!(run(), (42, CacheOutcome::Hit));

        std::fs::remove_file(&sum).unwrap();
        assert_eq!(run(), (42, CacheOutcome::Rebuilt), "no checksum");
        assert_eq!(std::fs::read(&entry).unwrap(), pristine);

        // Another guest is another entry, never this one's code.
        let other = tiny_guest(guests.path(), 7);
        assert_eq!(answer(&cache, &engine, &other), (7, CacheOutcome::Miss));
    }

    #[test]
    fn without_a_directory_nothing_is_written() {
        let engine = Engine::default();
        let guests = tempfile::tempdir().unwrap();
        let guest = tiny_guest(guests.path(), 42);
        let cache = DiskCache::new(None);
        assert_eq!(
            answer(&cache, &engine, &guest),
            (42, CacheOutcome::Disabled)
        );
        assert_eq!(std::fs::read_dir(guests.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_flipped_byte_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let (entry, sum) = (dir.path().join("x.cwasm"), dir.path().join("x.blake3"));
        write_verified(dir.path(), &entry, &sum, b"payload").unwrap();
        assert!(verified(&entry, &sum));
        let mut raw = std::fs::read(&entry).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        std::fs::write(&entry, raw).unwrap();
        assert!(!verified(&entry, &sum));
    }

    #[test]
    fn a_truncated_entry_or_a_missing_checksum_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let (entry, sum) = (dir.path().join("x.cwasm"), dir.path().join("x.blake3"));
        write_verified(dir.path(), &entry, &sum, b"payload").unwrap();
        std::fs::write(&entry, b"pay").unwrap();
        assert!(!verified(&entry, &sum));
        std::fs::remove_file(&sum).unwrap();
        assert!(!verified(&entry, &sum));
    }
}
