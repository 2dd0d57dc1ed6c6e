//! The `python` runtime: CPython 3.14 pre-initialized by componentize-py.
//!
//! A run instantiates the snapshot copy-on-write (no CPython boot), mounts the
//! bytecode-compiled stdlib read-only at `/python`, and calls the guest's `run`
//! export, which executes the code in a fresh `__main__` and reports any
//! exception as data.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::Limits;
use super::run::{self, GuestEnd, HasRunContext, RunContext};
use super::stdin::RunStdin;
use super::{Job, RunResult};
use crate::error::SandboxError;
use crate::host::HostCalls;

mod bindings {
    wasmtime::component::bindgen!({
        path: "guest/python/wit",
        world: "sandbox",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::goru::sandbox::host;

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    run: RunContext,
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
        let host = self.run.host.clone();
        host.dispatch(&name, &args).await
    }
}

/// Instantiation runs no user code; this only bounds a broken snapshot.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long instantiation waits for a pool slot before failing the run.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// A sandbox instantiated ahead of its run. Serves exactly one run.
pub struct Prepared {
    store: Store<State>,
    instance: bindings::Sandbox,
    stdin: RunStdin,
}

/// The loaded runtime: linked once, instantiated per run.
pub struct Python {
    pre: bindings::SandboxPre<State>,
    stdlib: PathBuf,
}

impl Python {
    pub const LANGUAGE: &'static str = "python";
    pub const VERSION: &'static str = "3.14 (componentize-py 0.25.1)";

    /// `compiled` is the serialized component from the disk cache; `stdlib` the
    /// bytecode-compiled standard library produced by the guest build.
    pub fn load(engine: &Engine, compiled: &[u8], stdlib: PathBuf) -> Result<Self, SandboxError> {
        if !stdlib.is_dir() {
            return Err(SandboxError::RuntimeMissing { path: stdlib });
        }
        // SAFETY: `compiled` comes from `DiskCache::compiled`, which either
        // produced it with this engine just now or verified its checksum and
        // wasmtime's own compatibility header before handing it out.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, compiled) }
            .map_err(SandboxError::wasmtime("loading the python component"))?;
        let mut linker = Linker::<State>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(SandboxError::wasmtime("linking WASI"))?;
        host::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)
            .map_err(SandboxError::wasmtime("linking the host door"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(SandboxError::wasmtime(
                "pre-instantiating the python component",
            ))?;
        let pre = bindings::SandboxPre::new(pre)
            .map_err(SandboxError::wasmtime("binding the python exports"))?;
        Ok(Self { pre, stdlib })
    }

    /// Creates and instantiates a sandbox ahead of its run: store, WASI
    /// context, stdlib mount, snapshot instance. No user code runs here, and
    /// the result serves exactly one run.
    pub async fn prepare(&self, limits: &Limits) -> Result<Prepared, SandboxError> {
        let run_ctx = RunContext::new(limits, HostCalls::none());
        let stdin = RunStdin::default();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(stdin.clone())
            .stdout(run_ctx.stdout.clone())
            .stderr(run_ctx.stderr.clone())
            .preopened_dir(&self.stdlib, "/python", FsPerms::ReadOnly)
            .map_err(SandboxError::wasmtime("mounting the stdlib"))?;
        let state = State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            run: run_ctx,
        };
        let mut store = Store::new(self.pre.engine(), state);
        run::arm(&mut store, Instant::now() + PREPARE_TIMEOUT)
            .map_err(SandboxError::wasmtime("arming the store"))?;
        let instance = self.instantiate(&mut store).await?;
        Ok(Prepared {
            store,
            instance,
            stdin,
        })
    }

    /// Instantiates, waiting briefly for a free slot when every pool slot is
    /// taken: released instances are reset in the background, so a burst can
    /// momentarily outrun them.
    async fn instantiate(
        &self,
        store: &mut Store<State>,
    ) -> Result<bindings::Sandbox, SandboxError> {
        let give_up = Instant::now() + SLOT_WAIT;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.pre.instantiate_async(&mut *store).await {
                Ok(instance) => return Ok(instance),
                Err(e)
                    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                        .is_some()
                        && Instant::now() < give_up =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(SandboxError::wasmtime("instantiating the python snapshot")(
                        e,
                    ));
                }
            }
        }
    }

    /// Runs `job` in a prepared sandbox, consuming it.
    pub async fn run_prepared(
        &self,
        prepared: Prepared,
        job: Job,
    ) -> Result<RunResult, SandboxError> {
        let Prepared {
            mut store,
            instance,
            stdin,
        } = prepared;
        let started = Instant::now();
        let deadline = started + job.limits.timeout;
        store.data_mut().run.configure(&job.limits, job.host);
        stdin.set(job.stdin);
        run::rearm(&mut store, deadline).map_err(SandboxError::wasmtime("arming the store"))?;
        let code = job.code;
        let end = run::race_deadline(deadline, async {
            match instance.call_run(&mut store, &code).await {
                Ok(outcome) => GuestEnd::Returned {
                    exit_code: outcome.exit_code,
                    error: outcome.error.map(|e| super::GuestError {
                        type_name: e.type_name,
                        message: e.message,
                        traceback: e.traceback,
                    }),
                },
                Err(e) => GuestEnd::Trapped(e),
            }
        })
        .await;
        let result = run::classify(&mut store, end, started, deadline);
        // Releasing the instance resets the pages it dirtied (see
        // KEEP_RESIDENT_MEMORY): real work, but nobody waits for it.
        tokio::task::spawn_blocking(move || drop(store));
        Ok(result)
    }

    /// Instantiates on demand and runs; the duration includes instantiation.
    pub async fn run(&self, job: Job) -> Result<RunResult, SandboxError> {
        let started = Instant::now();
        let prepared = self.prepare(&job.limits).await?;
        let mut result = self.run_prepared(prepared, job).await?;
        result.duration = started.elapsed();
        Ok(result)
    }
}
