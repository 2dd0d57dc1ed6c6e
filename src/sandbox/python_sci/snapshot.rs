//! python-sci's own pre-initialized snapshot, with numpy, pandas, matplotlib
//! and goru's driver already imported (the package's snapshot imports none of
//! them: `import pandas` cost 0.9 s per run; from ours, a lab measured 6 ms).
//!
//! Made from the package's plain reactor (`python-reactor.wasm`) the way the
//! package made its own (its MANIFEST's `x-wizer` line): wasmtime's wizer
//! instruments the module, `_initialize` and `wizer.initialize` run, and the
//! memory and globals are written out as a new module. `wizer.initialize`
//! runs one hard-coded line of Python (the package's pre-imports); goru
//! replaces that line, in place and once, with one that runs
//! `guest/python-sci/goru_sci_init.py`.
//!
//! It is a derived artifact, like a compiled module: made on first load
//! (a minute or two: wizer's instrumented module must be compiled to run the
//! initialization) and kept in the disk cache under a key of everything it is
//! made from, so a changed driver or init script makes a new one.

use std::path::{Path, PathBuf};

use wasmtime::{Engine, Instance, Linker, Module, Store, UpdateDeadline, Val};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// The package's pre-import line, as its module holds it (NUL-terminated).
const PREIMPORT: &[u8] = b"import encodings, io, os, sys, json, csv, re, _colorize\0";
/// What goru runs instead; at most as long, padded with NULs.
const INIT: &[u8] = b"exec(open('/goru/goru_sci_init.py').read())";

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "the reactor holds its pre-import line {found} times, not once: not the pinned module?"
    )]
    Patch { found: usize },
    #[error("building the python-sci snapshot: {0:#}")]
    Wasm(#[from] wasmtime::Error),
}

/// The directories the initialization reads (and `/tmp`, which matplotlib
/// writes its font cache to; the cache is in memory afterwards).
pub struct InitDirs<'a> {
    pub lib: &'a Path,
    pub mpl_data: &'a Path,
    pub goru: &'a Path,
    pub scratch: &'a Path,
}

/// The package's reactor with goru's init line in place of its pre-imports.
pub fn patch(reactor: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    let found = reactor
        .windows(PREIMPORT.len())
        .filter(|w| *w == PREIMPORT)
        .count();
    if found != 1 {
        return Err(SnapshotError::Patch { found });
    }
    let at = reactor
        .windows(PREIMPORT.len())
        .position(|w| w == PREIMPORT)
        .unwrap_or_default();
    let mut patched = reactor.to_vec();
    let line = &mut patched[at..at + PREIMPORT.len()];
    line.fill(0);
    line[..INIT.len()].copy_from_slice(INIT);
    Ok(patched)
}

struct Init {
    wasi: WasiP1Ctx,
}

/// Builds the snapshot with `engine` (the python-sci engine: exceptions,
/// fuel and epochs, which the initialization gets without limit).
pub async fn build(
    engine: &Engine,
    reactor: &[u8],
    dirs: &InitDirs<'_>,
) -> Result<Vec<u8>, SnapshotError> {
    let patched = patch(reactor)?;
    let mut wizer = Wizer::new();
    wizer.init_func("wizer.initialize");
    let (cx, instrumented) = wizer.instrument(&patched)?;
    let module = Module::new(engine, &instrumented)?;
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&["/usr/local/bin/python.wasm"])
        .env("PYTHONTZPATH", "")
        .env("MPLBACKEND", "Agg")
        .env("HOME", "/tmp")
        .env("TMPDIR", "/tmp")
        .env("MPLCONFIGDIR", "/tmp/.matplotlib")
        .inherit_stderr();
    for (host, guest, perms) in [
        (dirs.lib, super::LIB_GUEST, FsPerms::ReadOnly),
        (dirs.mpl_data, super::MPL_DATA_GUEST, FsPerms::ReadOnly),
        (dirs.goru, "/goru", FsPerms::ReadOnly),
        (dirs.scratch, "/tmp", FsPerms::ReadWrite),
    ] {
        wasi.preopened_dir(host, guest, perms)?;
    }
    let mut linker = Linker::<Init>::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s| &mut s.wasi)?;
    // No host during the build: the door answers "no host" (-1).
    linker.func_wrap("host", "call", |_: i32, _: i32, _: i32, _: i32| -> i32 {
        -1
    })?;
    let mut store = Store::new(
        engine,
        Init {
            wasi: wasi.build_p1(),
        },
    );
    store.set_fuel(u64::MAX)?;
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    let instance = linker.instantiate_async(&mut store, &module).await?;
    for export in ["_initialize", "wizer.initialize"] {
        instance
            .get_typed_func::<(), ()>(&mut store, export)?
            .call_async(&mut store, ())
            .await?;
    }
    let mut state = State {
        store: &mut store,
        instance,
    };
    Ok(wizer.snapshot(&cx, &mut state).await?)
}

struct State<'a> {
    store: &'a mut Store<Init>,
    instance: Instance,
}

impl InstanceState for State<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        let value = self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store));
        match value {
            Some(Val::I32(v)) => SnapshotVal::I32(v),
            Some(Val::I64(v)) => SnapshotVal::I64(v),
            Some(Val::F32(v)) => SnapshotVal::F32(v),
            Some(Val::F64(v)) => SnapshotVal::F64(v),
            Some(Val::V128(v)) => SnapshotVal::V128(v.as_u128()),
            // The trait has no error path; wizer only asks for the globals it
            // exported itself, which are numbers.
            other => panic!("global {name} cannot be snapshotted: {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        if let Some(memory) = self.instance.get_memory(&mut *self.store, name) {
            contents(memory.data(&*self.store));
        }
    }
}

/// Bumped when the way the snapshot is made changes.
const RECIPE: &str = "goru python-sci snapshot 1 (wasmtime-wizer 48.0.8)";

/// The snapshot for the runtime in `dir`, made now unless `cache_dir` (or
/// the system's temporary directory, without one) already holds it.
pub fn ensure(
    engine: &Engine,
    dir: &Path,
    cache_dir: Option<&Path>,
) -> Result<PathBuf, SnapshotError> {
    let reactor = std::fs::read(dir.join("python-reactor.wasm"))
        .map_err(|e| wasmtime::Error::msg(format!("reading python-reactor.wasm: {e}")))?;
    let goru = dir.join("goru");
    let mut key = blake3::Hasher::new();
    key.update(RECIPE.as_bytes()).update(&reactor);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&goru)
        .map_err(|e| wasmtime::Error::msg(format!("reading {}: {e}", goru.display())))?
        .flatten()
        .map(|entry| entry.path())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file)
            .map_err(|e| wasmtime::Error::msg(format!("reading {}: {e}", file.display())))?;
        key.update(file.as_os_str().as_encoded_bytes())
            .update(&bytes);
    }
    let name = format!("python-sci-{}.wasm", &key.finalize().to_hex()[..32]);
    let home = cache_dir.map_or_else(std::env::temp_dir, Path::to_owned);
    let path = home.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let scratch = tempfile::tempdir()
        .map_err(|e| wasmtime::Error::msg(format!("a scratch directory: {e}")))?;
    let dirs = InitDirs {
        lib: &dir.join("lib"),
        mpl_data: &dir.join("mpl-data"),
        goru: &goru,
        scratch: scratch.path(),
    };
    let snapshot = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| wasmtime::Error::msg(format!("a runtime for the build: {e}")))?
        .block_on(build(engine, &reactor, &dirs))?;
    std::fs::create_dir_all(&home)
        .map_err(|e| wasmtime::Error::msg(format!("creating {}: {e}", home.display())))?;
    // Written aside and renamed: a reader never sees half a module.
    let partial = home.join(format!(".{}.partial", std::process::id()));
    std::fs::write(&partial, &snapshot)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| wasmtime::Error::msg(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pre_import_line_is_replaced_in_place_once() {
        let module = [b"head".as_slice(), PREIMPORT, b"tail"].concat();
        let patched = patch(&module).unwrap();
        assert_eq!(patched.len(), module.len());
        assert!(patched.windows(INIT.len()).any(|w| w == INIT));
        assert!(matches!(
            patch(&[PREIMPORT, PREIMPORT].concat()),
            Err(SnapshotError::Patch { found: 2 })
        ));
    }
}
