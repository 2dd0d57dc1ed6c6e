//! An interpreter that keeps its state between cells: the pipeline's side of a
//! session. Limits and grants are fixed when it opens; each cell brings code,
//! input and an output sink. Cells run one at a time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use super::{RunError, Runner, apply_tenant, files, preopens, prepare_code};
use crate::host::{Grants, GrantsUsed};
use crate::sandbox::{
    Cell, InputFile, LimitRequest, Limits, OutputSink, RunResult, SessionInstance, SessionSetup,
    Status,
};
use crate::tenant::Tenant;

/// What a session is opened with.
#[derive(Default)]
pub struct SessionSpec {
    pub language: Option<String>,
    pub limits: LimitRequest,
    pub grants: Grants,
    /// Who opens it (see [`super::RunSpec::tenant`]).
    pub tenant: Option<Arc<Tenant>>,
}

/// One cell of a session.
#[derive(Default)]
pub struct CellSpec {
    pub code: String,
    pub stdin: Vec<u8>,
    /// Placed in the session's working directory before the cell runs.
    pub files: Vec<InputFile>,
    pub sink: Option<OutputSink>,
}

/// A live interpreter. Cheap to clone; clones share the instance.
#[derive(Clone)]
pub struct Interpreter(Arc<Shared>);

struct Shared {
    runner: Runner,
    language: String,
    limits: Limits,
    grants_used: GrantsUsed,
    /// Held for the whole of a cell, across its awaits: that is what makes
    /// cells of one session run one at a time.
    instance: Arc<AsyncMutex<Option<Box<dyn SessionInstance>>>>,
    /// Why the interpreter ended, once it has.
    ended: Mutex<Option<String>>,
    cells_run: Mutex<u64>,
}

impl Runner {
    /// Everything [`Runner::open_session`] refuses without opening anything:
    /// the language, limits against the ceilings, the grants against the
    /// tenant's. Callers check this before waiting for a slot.
    pub fn check_session(&self, spec: &mut SessionSpec) -> Result<(), RunError> {
        let language = self.language(spec.language.clone())?;
        self.resolve(&language, spec.tenant.as_deref(), &spec.limits, 0)?;
        apply_tenant(spec.tenant.as_deref(), &mut spec.grants)
    }

    /// Opens an interpreter. Its grants live as long as it does; `until`
    /// bounds time-limited grants (HTTP calls) to its lifetime.
    pub async fn open_session(
        &self,
        mut spec: SessionSpec,
        until: Instant,
    ) -> Result<Interpreter, RunError> {
        let language = self.language(spec.language)?;
        let limits = self.resolve(&language, spec.tenant.as_deref(), &spec.limits, 0)?;
        apply_tenant(spec.tenant.as_deref(), &mut spec.grants)?;
        let grants_used = spec.grants.used();
        let granted = self.capabilities().grant(spec.grants, until)?;
        let setup = SessionSetup {
            limits,
            host: granted.host,
            mounts: preopens(&granted.mounts),
        };
        let instance = self.sandbox().open_session(&language, setup).await?;
        Ok(Interpreter(Arc::new(Shared {
            runner: self.clone(),
            language,
            limits,
            grants_used,
            instance: Arc::new(AsyncMutex::new(Some(instance))),
            ended: Mutex::new(None),
            cells_run: Mutex::new(0),
        })))
    }
}

/// Marks the interpreter ended if a cell is dropped before it finishes (the
/// client hung up): the instance stopped mid-cell and cannot be trusted.
struct CellGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for CellGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared
                .end("a cell was cancelled before it finished".to_owned());
        }
    }
}

impl Shared {
    fn end(&self, reason: String) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.get_or_insert(reason);
    }
}

impl Interpreter {
    pub fn language(&self) -> &str {
        &self.0.language
    }

    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// What it was granted when it opened, for each cell's audit line.
    pub fn grants_used(&self) -> &GrantsUsed {
        &self.0.grants_used
    }

    /// Why the interpreter ended, or `None` while it is alive.
    pub fn ended(&self) -> Option<String> {
        self.0
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn cells_run(&self) -> u64 {
        *self
            .0
            .cells_run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a cell is running now.
    pub fn is_running(&self) -> bool {
        self.0.instance.try_lock().is_err()
    }

    /// Memory the instance holds, or 0 while a cell runs or once ended.
    pub fn memory_bytes(&self) -> u64 {
        match self.0.instance.try_lock() {
            Ok(instance) => instance.as_ref().map_or(0, |i| i.memory_bytes()),
            Err(_) => 0,
        }
    }

    /// Frees the instance now; later cells get `SessionEnded` with `reason`.
    pub fn close(&self, reason: &str) {
        self.0.end(reason.to_owned());
        let instance = self.0.instance.clone();
        // A running cell holds the lock; it drops the instance when it sees
        // the session ended. Otherwise drop it here, off the caller's thread.
        if let Ok(mut guard) = instance.try_lock_owned()
            && let Some(dropped) = guard.take()
        {
            drop(guard);
            tokio::task::spawn_blocking(move || drop(dropped));
        }
    }

    /// Runs one cell, waiting up to `wait` for the previous one to finish.
    /// A cell that ends the instance (timeout, fuel, memory, crash) ends the
    /// session: the result says so and later cells get `SessionEnded`.
    pub async fn run_cell(&self, cell: CellSpec, wait: Duration) -> Result<RunResult, RunError> {
        if let Some(reason) = self.ended() {
            return Err(RunError::SessionEnded { reason });
        }
        let limits = self.0.limits;
        let stdin_len = cell.stdin.len() as u64;
        if stdin_len > limits.max_stdin_bytes {
            return Err(crate::error::LimitError::TooLarge {
                field: "stdin",
                size: stdin_len,
                max: limits.max_stdin_bytes,
            }
            .into());
        }
        files::check(&cell.files, &self.0.runner.0.files)?;
        let mut instance = tokio::time::timeout(wait, self.0.instance.clone().lock_owned())
            .await
            .map_err(|_| RunError::CellBusy)?;
        if let Some(reason) = self.ended() {
            return Err(RunError::SessionEnded { reason });
        }
        let mut guard = CellGuard {
            shared: self.0.clone(),
            finished: false,
        };
        let cell = Cell {
            code: prepare_code(cell.code),
            stdin: cell.stdin,
            files: cell.files,
            limits,
            sink: cell.sink,
        };
        let result = self
            .0
            .runner
            .sandbox()
            .execute(async move {
                let Some(live) = instance.as_mut() else {
                    return Err(crate::error::SandboxError::SessionEnded);
                };
                let result = live.run_cell(cell).await;
                // A cell that could not start (its files refused) leaves the
                // interpreter as it was; one that ran and broke it, or left
                // it (an exit), does not.
                let kept = live.alive()
                    && !result
                        .as_ref()
                        .is_ok_and(|r| !matches!(r.status, Status::Ok | Status::Error));
                if !kept {
                    instance.take();
                }
                result.map(|r| (r, kept))
            })
            .await;
        guard.finished = true;
        let result = match result {
            Err(crate::error::SandboxError::SessionEnded) => {
                let reason = "the interpreter was ended by an earlier cell".to_owned();
                self.0.end(reason.clone());
                return Err(RunError::SessionEnded { reason });
            }
            other => other?,
        };
        let (mut result, kept) = result;
        crate::sandbox::explain(&mut result, &limits, &self.0.language);
        *self
            .0
            .cells_run
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        if !matches!(result.status, Status::Ok | Status::Error) {
            self.0.end(format!(
                "a cell ended with status {} and the interpreter could not be kept",
                result.status.as_str()
            ));
        } else if !kept {
            self.0.end(
                "a cell left the interpreter (it exited, or stopped answering goru's driver)"
                    .to_owned(),
            );
        }
        Ok(result)
    }
}
