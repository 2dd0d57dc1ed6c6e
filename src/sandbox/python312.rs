//! The `python3.12` runtime: VMware's CPython 3.12.0 WASI command module, run
//! exactly as the original Go project ran it (`python -c CODE`, booting CPython
//! on every run). Slow but faithful; also the benchmarks' baseline.
//!
//! The module is a WASI preview-1 command with no custom imports, so a small
//! prelude (`guest/python312/prelude.py`, passed with `-c`, the user's code as
//! its argument) gives it the same `_goru_call` door over framed stdio (see
//! `stdio_door`) and reports uncaught exceptions as data.

use std::time::Instant;

use wasmtime::{Engine, InstancePre, Linker, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::cache::Compiled;
use super::run::{self, GuestEnd, HasRunContext, RunContext};
use super::runtime::{Job, Runtime, SessionInstance, SessionSetup};
use super::stdio_door::Door;
use super::{GuestError, RunResult};
use crate::error::SandboxError;

/// Installs `_goru_call` and runs the user's code (`sys.argv[1]`) as `__main__`.
const PRELUDE: &str = include_str!("../../guest/python312/prelude.py");
/// The kv_*/http_*/fs_* wrappers both runtimes share, passed as `sys.argv[2]`.
const FUNCTIONS: &str = include_str!("../../guest/python/src/goru_functions.py");

struct State {
    wasi: WasiP1Ctx,
    run: RunContext,
}

impl HasRunContext for State {
    fn run_context(&mut self) -> &mut RunContext {
        &mut self.run
    }
}

pub struct Python312 {
    pre: InstancePre<State>,
}

impl Python312 {
    pub const LANGUAGE: &'static str = "python3.12";
    pub const VERSION: &'static str = "3.12.0 (VMware Wasm Labs WASI build)";

    pub fn load(engine: &Engine, compiled: Compiled<'_>) -> Result<Self, SandboxError> {
        let module = compiled
            .module(engine)
            .map_err(SandboxError::wasmtime("loading the python3.12 module"))?;
        let mut linker = Linker::<State>::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s| &mut s.wasi)
            .map_err(SandboxError::wasmtime("linking WASI preview 1"))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(SandboxError::wasmtime("pre-instantiating python3.12"))?;
        Ok(Self { pre })
    }
}

#[async_trait::async_trait]
impl Runtime for Python312 {
    fn language(&self) -> &'static str {
        Self::LANGUAGE
    }

    fn version(&self) -> &'static str {
        Self::VERSION
    }

    /// Files reach python3.12 through mounts and `fs_*` only.
    fn has_workdir(&self) -> bool {
        false
    }

    /// Each run boots CPython from `_start`: a command module cannot be
    /// called twice, so it has no sessions.
    async fn open_session(
        &self,
        _setup: SessionSetup,
    ) -> Result<Box<dyn SessionInstance>, SandboxError> {
        Err(SandboxError::SessionsUnsupported {
            language: Self::LANGUAGE,
        })
    }

    async fn run(&self, job: Job) -> Result<RunResult, SandboxError> {
        let started = Instant::now();
        let deadline = started + job.limits.timeout;
        let door = Door::new(
            job.host.clone(),
            job.stdin,
            RunContext::stderr_for(&job.limits),
        );
        let mut run_ctx = RunContext::with_stderr(&job.limits, job.host, door.stderr_capture());
        // A streamed run needs output as it is printed: `-u` unbuffers it.
        let unbuffered = if job.sink.is_some() { "-u" } else { "-B" };
        run_ctx.begin(&job.limits, job.sink);
        let wasi = WasiCtxBuilder::new()
            .stdin(door.stdin())
            .stdout(run_ctx.stdout.clone())
            .stderr(door.stderr())
            .args(&[
                "python",
                unbuffered,
                "-c",
                PRELUDE,
                &job.code,
                FUNCTIONS,
                &job.limits.max_output_bytes.to_string(),
            ])
            .build_p1();
        let mut store = Store::new(self.pre.module().engine(), State { wasi, run: run_ctx });
        run::arm(&mut store, deadline).map_err(SandboxError::wasmtime("arming the store"))?;
        let end = run::race_deadline(deadline, async {
            let instance = match self.pre.instantiate_async(&mut store).await {
                Ok(instance) => instance,
                Err(e) => return GuestEnd::Trapped(e),
            };
            let start = match instance.get_typed_func::<(), ()>(&mut store, "_start") {
                Ok(f) => f,
                Err(e) => return GuestEnd::Trapped(e),
            };
            match start.call_async(&mut store, ()).await {
                Ok(()) => GuestEnd::Returned {
                    exit_code: 0,
                    error: None,
                    result: None,
                },
                Err(e) => match e.downcast_ref::<I32Exit>() {
                    Some(I32Exit(code)) => GuestEnd::Returned {
                        exit_code: *code,
                        error: None,
                        result: None,
                    },
                    None => GuestEnd::Trapped(e),
                },
            }
        })
        .await;
        let end = match end {
            GuestEnd::Returned {
                exit_code,
                error: None,
                result,
            } if exit_code != 0 => GuestEnd::Returned {
                exit_code: door.reported_exit_code().unwrap_or(exit_code),
                result,
                // The prelude's report; CPython's own traceback if the
                // prelude could not report (e.g. it ran out of memory).
                error: Some(door.reported_error().unwrap_or_else(|| {
                    error_from_traceback(&store.data().run.stderr.tail(), exit_code)
                })),
            },
            other => other,
        };
        Ok(run::classify(&mut store, end, started, deadline))
    }
}

/// Recovers `{type, message, traceback}` from what CPython printed for an
/// uncaught exception; a bare non-zero exit is a `SystemExit`.
fn error_from_traceback(stderr: &str, exit_code: i32) -> GuestError {
    let Some(start) = stderr.rfind("Traceback (most recent call last):") else {
        return GuestError::exited(exit_code);
    };
    let traceback = stderr[start..].to_owned();
    let last = traceback.trim_end().lines().last().unwrap_or_default();
    let (type_name, message) = match last.split_once(": ") {
        Some((t, m)) => (t, m),
        None => (last, ""),
    };
    let (type_name, message) = (type_name.to_owned(), message.to_owned());
    GuestError::new(type_name, message, traceback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_traceback_line_gives_type_and_message() {
        let err = error_from_traceback(
            "noise\nTraceback (most recent call last):\n  File \"<string>\", line 1\nValueError: bad: value\n",
            1,
        );
        assert_eq!(err.type_name, "ValueError");
        assert_eq!(err.message, "bad: value");
        assert!(err.traceback.starts_with("Traceback"));
    }

    #[test]
    fn a_bare_exit_is_a_system_exit() {
        assert_eq!(error_from_traceback("", 3).type_name, "SystemExit");
    }
}
