//! The runtimes built as pre-initialized components of one WIT world
//! (`guest/wit`): `python` (CPython 3.14 by componentize-py) and `javascript`
//! (SpiderMonkey by componentize-js).
//!
//! A run instantiates the snapshot copy-on-write (no interpreter boot), mounts
//! what the flavor needs (python's bytecode-compiled stdlib, read-only at
//! `/python`), and calls the guest's `run` export, which executes the code in
//! a fresh global namespace (or, for a session cell, the one the previous cell
//! left) and reports any exception and the last expression's value as data.
//! Both languages reach the host through the same door, `host.call`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::cache::Compiled;
use super::dirs::{Dirs, Preopen};
use super::limits::Limits;
use super::outcome::{GuestError, RunResult, Status};
use super::output::OutputSink;
use super::pool::Pool;
use super::quota_fs::{self, FsPolicy, HasFsPolicy};
use super::run::{self, GuestEnd, HasRunContext, RunContext};
use super::runtime::{Cell, Job, Runtime, SessionInstance, SessionSetup};
use super::stdin::RunStdin;
use super::workdir::{FilesConfig, InputFile, RunDir};
use crate::error::SandboxError;
use crate::host::HostCalls;

mod report;

mod bindings {
    wasmtime::component::bindgen!({
        path: "guest/wit",
        world: "sandbox",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::goru::sandbox::host;

struct State {
    wasi: WasiCtx,
    /// The run's stdin, also readable whole through the door (javascript has
    /// no file API to read it with).
    stdin: RunStdin,
    table: ResourceTable,
    run: RunContext,
    fs: FsPolicy,
    /// What the guest reported through `report.outcome` in the current call.
    reported: Option<report::Reported>,
}

impl HasFsPolicy for State {
    fn fs_parts(&mut self) -> (WasiCtxView<'_>, &mut FsPolicy) {
        (
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            },
            &mut self.fs,
        )
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HasRunContext for State {
    fn run_context(&mut self) -> &mut RunContext {
        &mut self.run
    }
}

impl host::Host for State {
    async fn call(&mut self, name: String, args: String) -> Result<String, String> {
        if name == READ_STDIN {
            let text = String::from_utf8_lossy(&self.stdin.take_all()).into_owned();
            return Ok(serde_json::Value::String(text).to_string());
        }
        let host = self.run.host.clone();
        host.dispatch(&name, &args).await
    }
}

/// A sandbox instantiated ahead of its run. Serves exactly one run, or one
/// session.
pub struct Prepared {
    store: Store<State>,
    instance: bindings::Sandbox,
    stdin: RunStdin,
    /// The run's own `/work` and `/tmp`, made ahead like the instance.
    rundir: Option<RunDir>,
    files: Option<FilesConfig>,
    /// The guest trapped or left through `proc_exit`: the instance cannot be
    /// entered again.
    ended: bool,
}

/// How one call into the guest is made.
struct Call<'a> {
    code: &'a str,
    stdin: Vec<u8>,
    files: &'a [InputFile],
    limits: &'a Limits,
    sink: Option<OutputSink>,
    keep_globals: bool,
    /// Change into `/work` first (a run, or a session's first cell).
    enter_workdir: bool,
}

impl Prepared {
    /// Adds granted mounts to the directories the instance sees.
    /// Preparation never touches the filesystem, so the guest reads its
    /// preopens from this context on its first file access (see RUNTIMES.md).
    fn mount(&mut self, stdlib: Option<&Path>, mounts: &[Preopen]) -> Result<(), SandboxError> {
        if mounts.is_empty() {
            return Ok(());
        }
        let dirs = match &self.rundir {
            Some(rundir) => rundir.dirs(mounts),
            None => Dirs {
                preopens: mounts.to_vec(),
                ..Dirs::default()
            },
        };
        let run = &self.store.data().run;
        let wasi = wasi_ctx(stdlib, &self.stdin, run, &dirs)?;
        let state = self.store.data_mut();
        state.wasi = wasi;
        state.fs = dirs.policy();
        Ok(())
    }

    fn options(&self, call: &Call<'_>) -> bindings::RunOptions {
        let own_dirs = self.rundir.is_some() && call.enter_workdir;
        bindings::RunOptions {
            keep_globals: call.keep_globals,
            workdir: own_dirs.then(|| super::workdir::WORK.to_owned()),
            tmpdir: own_dirs.then(|| super::workdir::TMP.to_owned()),
            line_buffered: call.sink.is_some(),
            max_text_bytes: u32::try_from(call.limits.max_output_bytes).unwrap_or(u32::MAX),
        }
    }

    /// Calls the guest once: places the call's files, runs, classifies how
    /// it ended, and lists the files it wrote.
    async fn call(&mut self, call: Call<'_>) -> Result<RunResult, SandboxError> {
        let options = self.options(&call);
        let before = match (&self.rundir, &self.files) {
            (Some(rundir), Some(config)) => {
                rundir
                    .place(call.files)
                    .map_err(|source| SandboxError::FilesRefused { source })?;
                // Nothing to tell apart in a directory nobody wrote to.
                Some(if rundir.touched() {
                    rundir.snapshot(config.quota_files)
                } else {
                    Default::default()
                })
            }
            _ => None,
        };
        let started = Instant::now();
        let deadline = started + call.limits.timeout;
        self.store.data_mut().run.begin(call.limits, call.sink);
        self.store.data_mut().reported = None;
        self.stdin.set(call.stdin);
        run::rearm(&mut self.store, deadline)
            .map_err(SandboxError::wasmtime("arming the store"))?;
        let (store, instance) = (&mut self.store, &self.instance);
        let mut returned = false;
        let end = run::race_deadline(deadline, async {
            match instance.call_run(&mut *store, call.code, &options).await {
                Ok(()) => {
                    returned = true;
                    reported_end(store.data_mut().reported.take())
                }
                Err(e) => match store.data_mut().reported.take() {
                    // `os._exit(code)`: WASI's exit carries only success or
                    // failure, so the guest reported its code just before.
                    Some(reported) if e.downcast_ref::<I32Exit>().is_some() => {
                        reported_end(Some(reported))
                    }
                    _ => GuestEnd::from_error(e),
                },
            }
        })
        .await;
        // A trap, `os._exit` or the deadline leaves an instance that must
        // not be entered again.
        self.ended = !returned;
        let mut result = run::classify(&mut self.store, end, started, deadline);
        if let (Some(rundir), Some(config), Some(before)) = (&self.rundir, &self.files, before)
            && rundir.touched()
        {
            result.files = rundir.collect(&before, config.quota_files, config.max_returned_bytes);
        }
        Ok(result)
    }
}

/// How a call that returned normally ended: what the guest reported.
fn reported_end(reported: Option<report::Reported>) -> GuestEnd {
    match reported {
        Some(reported) => GuestEnd::Returned {
            exit_code: reported.exit_code,
            error: reported.error,
            result: reported.result,
        },
        None => GuestEnd::Returned {
            exit_code: 1,
            error: Some(GuestError::new(
                "RuntimeError",
                "the guest returned without reporting an outcome",
                "",
            )),
            result: None,
        },
    }
}

/// The WASI context of a run: its stdio, the stdlib, and `dirs`.
fn wasi_ctx(
    stdlib: Option<&Path>,
    stdin: &RunStdin,
    run: &RunContext,
    dirs: &Dirs,
) -> Result<WasiCtx, SandboxError> {
    let mut wasi = WasiCtxBuilder::new();
    // File operations on small local directories take microseconds; handing
    // each to a blocking thread (wasmtime-wasi's default) cost milliseconds
    // per run under load (measured: `pass` 0.47 -> 1.6 ms once runs had a
    // working directory). Guests run on their own executor, so blocking it
    // for that long is fine.
    wasi.allow_blocking_current_thread(true);
    wasi.stdin(stdin.clone())
        .stdout(run.stdout.clone())
        .stderr(run.stderr.clone());
    if let Some(stdlib) = stdlib {
        wasi.preopened_dir(stdlib, "/python", FsPerms::ReadOnly)
            .map_err(SandboxError::wasmtime("mounting the stdlib"))?;
    }
    for dir in &dirs.preopens {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        wasi.preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(SandboxError::wasmtime("mounting a run directory"))?;
    }
    Ok(wasi.build())
}

/// The door call that reads the run's whole stdin (not a host function: no
/// policy grants or refuses it).
const READ_STDIN: &str = "_read_stdin";

/// What tells one component runtime from another.
pub struct Flavor {
    pub language: &'static str,
    pub version: &'static str,
    /// Mounted read-only at `/python`: python's compiled stdlib.
    pub stdlib: Option<PathBuf>,
}

/// `python`: CPython 3.14, pre-initialized by componentize-py.
pub mod python {
    pub const LANGUAGE: &str = "python";
    pub const VERSION: &str = "3.14 (componentize-py 0.25.1)";
}

/// `javascript`: SpiderMonkey (StarlingMonkey), pre-initialized by
/// componentize-js.
pub mod javascript {
    pub const LANGUAGE: &str = "javascript";
    pub const VERSION: &str = "SpiderMonkey (StarlingMonkey, componentize-js 0.23.0)";
}

/// The loaded runtime: linked once, instantiated per run.
pub struct Component {
    pre: bindings::SandboxPre<State>,
    flavor: Flavor,
    /// Run directories' settings; `None` runs without `/work` and `/tmp`.
    files: Option<FilesConfig>,
    pool: OnceLock<Pool>,
    /// Run directories no run wrote to, given to the next prepared instance
    /// instead of being removed and made again: on a machine where every
    /// file system call is costly, that was most of a short run's extra host
    /// work.
    spare_dirs: std::sync::Mutex<Vec<RunDir>>,
}

/// Spare run directories kept at most.
const MAX_SPARE_DIRS: usize = 64;

impl Component {
    /// `compiled` is the component from the disk cache; `files` is `None`
    /// for a flavor whose runs get no working directory.
    pub fn load(
        engine: &Engine,
        compiled: Compiled<'_>,
        flavor: Flavor,
        files: Option<FilesConfig>,
    ) -> Result<Self, SandboxError> {
        if let Some(stdlib) = flavor.stdlib.as_ref().filter(|dir| !dir.is_dir()) {
            return Err(SandboxError::RuntimeMissing {
                path: stdlib.clone(),
            });
        }
        let component = compiled
            .component(engine)
            .map_err(SandboxError::wasmtime("loading the component"))?;
        let mut linker = Linker::<State>::new(engine);
        quota_fs::add_to_linker(&mut linker).map_err(SandboxError::wasmtime("linking WASI"))?;
        host::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)
            .map_err(SandboxError::wasmtime("linking the host door"))?;
        report::add_to_linker(&mut linker)
            .map_err(SandboxError::wasmtime("linking the outcome report"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(SandboxError::wasmtime("pre-instantiating the component"))?;
        let pre = bindings::SandboxPre::new(pre)
            .map_err(SandboxError::wasmtime("binding the component's exports"))?;
        Ok(Self {
            pre,
            flavor,
            files,
            pool: OnceLock::new(),
            spare_dirs: std::sync::Mutex::default(),
        })
    }

    /// The pool of prepared instances, started once.
    pub(super) fn pool(&self, start: impl FnOnce() -> Pool) -> &Pool {
        self.pool.get_or_init(start)
    }

    pub(super) fn pool_status(&self) -> Option<(usize, usize)> {
        self.pool.get().map(|p| (p.ready_now(), p.size()))
    }

    /// Creates and instantiates a sandbox ahead of its run: store, WASI
    /// context, stdlib mount, snapshot instance. No user code runs here, and
    /// the result serves exactly one run.
    pub async fn prepare(&self, limits: &Limits) -> Result<Prepared, SandboxError> {
        let run_ctx = RunContext::new(limits, HostCalls::none());
        let stdin = RunStdin::default();
        let rundir = match &self.files {
            Some(config) => Some(match self.spare_dir() {
                Some(spare) => spare,
                None => RunDir::create(config).map_err(|source| SandboxError::Files { source })?,
            }),
            None => None,
        };
        let dirs = rundir.as_ref().map(|r| r.dirs(&[])).unwrap_or_default();
        let wasi = wasi_ctx(self.stdlib(), &stdin, &run_ctx, &dirs)?;
        let state = State {
            wasi,
            stdin: stdin.clone(),
            table: ResourceTable::new(),
            run: run_ctx,
            fs: dirs.policy(),
            reported: None,
        };
        let mut store = Store::new(self.pre.engine(), state);
        run::arm_for_preparation(&mut store).map_err(SandboxError::wasmtime("arming the store"))?;
        let instance = self.instantiate(&mut store).await?;
        Ok(Prepared {
            store,
            instance,
            stdin,
            rundir,
            files: self.files.clone(),
            ended: false,
        })
    }

    fn stdlib(&self) -> Option<&Path> {
        self.flavor.stdlib.as_deref()
    }

    fn spare_dir(&self) -> Option<RunDir> {
        self.spare_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    /// Keeps a run directory for reuse when nothing was ever written to it
    /// (every mutation goes through `quota_fs`, which marks it); otherwise it
    /// is removed when dropped.
    fn recycle(&self, rundir: Option<RunDir>) {
        let Some(rundir) = rundir.filter(|r| !r.touched()) else {
            return;
        };
        let mut spare = self
            .spare_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spare.len() < MAX_SPARE_DIRS {
            spare.push(rundir);
        }
    }

    /// A prepared instance from the pool, or a new one when none is waiting.
    async fn take(&self, limits: &Limits) -> Result<Prepared, SandboxError> {
        match self.pool.get().and_then(Pool::take) {
            Some(prepared) => Ok(prepared),
            None => self.prepare(limits).await,
        }
    }

    async fn instantiate(
        &self,
        store: &mut Store<State>,
    ) -> Result<bindings::Sandbox, SandboxError> {
        let mut wait = run::SlotWait::new();
        loop {
            match self.pre.instantiate_async(&mut *store).await {
                Err(e) if wait.retry(&e).await => continue,
                done => {
                    return done.map_err(SandboxError::wasmtime("instantiating the snapshot"));
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Runtime for Component {
    fn language(&self) -> &'static str {
        self.flavor.language
    }

    fn version(&self) -> &'static str {
        self.flavor.version
    }

    fn has_workdir(&self) -> bool {
        self.files.is_some()
    }

    async fn run(&self, job: Job) -> Result<RunResult, SandboxError> {
        let started = Instant::now();
        let pooled = self.pool.get().is_some();
        let mut prepared = self.take(&job.limits).await?;
        prepared.mount(self.stdlib(), &job.mounts)?;
        prepared.store.data_mut().run.grant(job.host);
        let call = Call {
            code: &job.code,
            stdin: job.stdin,
            files: &job.files,
            limits: &job.limits,
            sink: job.sink,
            keep_globals: false,
            enter_workdir: true,
        };
        let mut result = prepared.call(call).await?;
        if !pooled {
            // Instantiated on demand: the caller waited for it, so it counts.
            result.duration = started.elapsed();
        }
        self.recycle(prepared.rundir.take());
        // Releasing the instance resets the pages it dirtied (see
        // KEEP_RESIDENT_MEMORY): real work, but nobody waits for it.
        run::release(prepared);
        Ok(result)
    }

    async fn open_session(
        &self,
        setup: SessionSetup,
    ) -> Result<Box<dyn SessionInstance>, SandboxError> {
        let mut prepared = self.take(&setup.limits).await?;
        prepared.mount(self.stdlib(), &setup.mounts)?;
        prepared.store.data_mut().run.grant(setup.host);
        Ok(Box::new(ComponentSession {
            prepared: Some(prepared),
            entered: false,
        }))
    }
}

/// A session: one instance, its globals kept from cell to cell.
struct ComponentSession {
    /// `None` once a cell left it untrustworthy.
    prepared: Option<Prepared>,
    /// The first cell changes into the working directory; later cells keep
    /// whatever directory the code chose.
    entered: bool,
}

#[async_trait::async_trait]
impl SessionInstance for ComponentSession {
    async fn run_cell(&mut self, cell: Cell) -> Result<RunResult, SandboxError> {
        let Some(prepared) = self.prepared.as_mut() else {
            return Err(SandboxError::SessionEnded);
        };
        let call = Call {
            code: &cell.code,
            stdin: cell.stdin,
            files: &cell.files,
            limits: &cell.limits,
            sink: cell.sink,
            keep_globals: true,
            enter_workdir: !self.entered,
        };
        self.entered = true;
        let result = prepared.call(call).await?;
        if (prepared.ended || !matches!(result.status, Status::Ok | Status::Error))
            && let Some(broken) = self.prepared.take()
        {
            run::release(broken);
        }
        Ok(result)
    }

    fn alive(&self) -> bool {
        self.prepared.is_some()
    }

    fn memory_bytes(&self) -> u64 {
        self.prepared
            .as_ref()
            .map_or(0, |p| p.store.data().run.limiter.in_use_bytes())
    }
}

impl Drop for ComponentSession {
    fn drop(&mut self) {
        // Resetting a used instance's pages is real work; keep it off
        // whatever thread dropped the session.
        if let Some(prepared) = self.prepared.take() {
            run::release(prepared);
        }
    }
}
