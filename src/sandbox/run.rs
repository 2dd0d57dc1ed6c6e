//! What every runtime does around a guest call: arm the store with the run's
//! limits, race the call against the deadline, and turn however the guest
//! ended into a `RunResult`.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;

use super::limits::{Limits, MemoryLimiter};
use super::outcome::{Display, GuestError, RunResult, Status, Truncated};
use super::output::{CappedOutput, OutputSink, StreamName};
use crate::host::HostCalls;

/// Raised from the epoch callback when the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline reached")]
struct DeadlineReached;

/// Per-run state every runtime's store data embeds.
pub struct RunContext {
    pub limiter: MemoryLimiter,
    pub host: HostCalls,
    pub stdout: CappedOutput,
    pub stderr: CappedOutput,
    fuel_budget: u64,
}

impl RunContext {
    pub fn new(limits: &Limits, host: HostCalls) -> Self {
        Self::with_stderr(limits, host, Self::stderr_for(limits))
    }

    /// For runtimes that filter stderr before capturing it.
    pub fn with_stderr(limits: &Limits, host: HostCalls, stderr: CappedOutput) -> Self {
        Self {
            limiter: MemoryLimiter::new(limits.memory_bytes),
            host,
            stdout: CappedOutput::new(limits.max_output_bytes, StreamName::Stdout),
            stderr,
            fuel_budget: limits.fuel.unwrap_or(u64::MAX),
        }
    }

    pub fn stderr_for(limits: &Limits) -> CappedOutput {
        CappedOutput::new(limits.max_output_bytes, StreamName::Stderr)
    }

    /// Gives a pre-instantiated sandbox the host functions of its run (or of
    /// its session, for every cell).
    pub fn grant(&mut self, host: HostCalls) {
        self.host = host;
    }

    /// Starts a call into the guest: its limits and where its output goes,
    /// nothing left from preparation or from the previous cell.
    pub fn begin(&mut self, limits: &Limits, sink: Option<OutputSink>) {
        self.limiter.set_max(limits.memory_bytes);
        self.stdout.begin(limits.max_output_bytes, sink.clone());
        self.stderr.begin(limits.max_output_bytes, sink);
        self.fuel_budget = limits.fuel.unwrap_or(u64::MAX);
    }
}

/// Store data that carries a [`RunContext`].
pub trait HasRunContext: Send + 'static {
    fn run_context(&mut self) -> &mut RunContext;
}

/// Installs the memory limiter, the fuel budget and the deadline check.
pub fn arm<T: HasRunContext>(store: &mut Store<T>, deadline: Instant) -> wasmtime::Result<()> {
    store.limiter(|data| &mut data.run_context().limiter);
    rearm(store, deadline)
}

/// Arms a store for instantiation, which runs no user code: the limiter is
/// installed, [`PREPARE_TIMEOUT`] bounds a broken snapshot, and fuel is not
/// counted until a run's [`rearm`] sets its budget (a budget of 1 would
/// otherwise fail instantiation itself, for a reason that is not the run's).
pub fn arm_for_preparation<T: HasRunContext>(store: &mut Store<T>) -> wasmtime::Result<()> {
    arm(store, Instant::now() + PREPARE_TIMEOUT)?;
    store.set_fuel(u64::MAX)
}

/// Resets fuel and deadline when a run starts in an already-armed store.
pub fn rearm<T: HasRunContext>(store: &mut Store<T>, deadline: Instant) -> wasmtime::Result<()> {
    let fuel = store.data_mut().run_context().fuel_budget;
    store.set_fuel(fuel)?;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineReached))
        } else {
            // Yield at every tick so a CPU-bound guest never starves the
            // async runtime's other tasks.
            Ok(UpdateDeadline::Yield(1))
        }
    });
    Ok(())
}

/// How the guest call ended, before classification.
pub enum GuestEnd {
    /// The guest returned (possibly after an uncaught exception it reported).
    Returned {
        exit_code: i32,
        error: Option<GuestError>,
        /// The last expression's value, where the runtime reports one.
        result: Option<Display>,
    },
    /// The guest trapped or a host function failed fatally.
    Trapped(wasmtime::Error),
    /// The wall-clock deadline passed while the guest was blocked in a host call.
    Elapsed,
}

impl GuestEnd {
    /// The guest left through `proc_exit(code)` (Python's `os._exit`): the
    /// same as `sys.exit(code)`, whichever runtime it happened in.
    pub fn exited(code: i32) -> Self {
        Self::Returned {
            exit_code: code,
            error: (code != 0).then(|| GuestError::exited(code)),
            result: None,
        }
    }

    /// How a failed guest call ended: `proc_exit`, or a trap.
    pub fn from_error(err: wasmtime::Error) -> Self {
        match err.downcast_ref::<I32Exit>() {
            Some(&I32Exit(code)) => Self::exited(code),
            None => Self::Trapped(err),
        }
    }
}

/// Instantiation runs no user code; this only bounds a broken snapshot.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long instantiation waits for a pool slot before failing the run.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Waiting for a free pool slot when every slot is taken: released
/// instances are reset in the background, so a burst can momentarily
/// outrun them. Instantiation retries while [`SlotWait::retry`] says so.
pub struct SlotWait {
    give_up: Instant,
    pause: Duration,
}

impl SlotWait {
    pub fn new() -> Self {
        Self {
            give_up: Instant::now() + SLOT_WAIT,
            pause: Duration::from_micros(200),
        }
    }

    /// After a failed instantiation: waits and answers `true` when the pool
    /// was full and the wait has time left; `false` to give up on `error`.
    pub async fn retry(&mut self, error: &wasmtime::Error) -> bool {
        let full = error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some();
        if !full || Instant::now() >= self.give_up {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(20));
        true
    }
}

/// Drops a used instance (its store) off the async workers: releasing its
/// pool slot resets the pages it dirtied, real work nobody waits for.
pub fn release<T: Send + 'static>(used: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn_blocking(move || drop(used))),
        Err(_) => drop(used),
    }
}

/// Grace period past the deadline before the call is cancelled from outside;
/// the epoch check normally fires first, within one tick.
const OUTSIDE_GRACE: Duration = Duration::from_millis(50);

/// Races `call` against the deadline. Dropping the call's future cancels the
/// guest even when it is blocked inside a host call.
pub async fn race_deadline<F>(deadline: Instant, call: F) -> GuestEnd
where
    F: Future<Output = GuestEnd>,
{
    let outside = tokio::time::Instant::from_std(deadline + OUTSIDE_GRACE);
    tokio::time::timeout_at(outside, call)
        .await
        .unwrap_or(GuestEnd::Elapsed)
}

/// Turns the end of a run into its result. `started` is when the run began.
pub fn classify<T: HasRunContext>(
    store: &mut Store<T>,
    end: GuestEnd,
    started: Instant,
    deadline: Instant,
) -> RunResult {
    let fuel_left = store.get_fuel().unwrap_or(0);
    let ctx = store.data_mut().run_context();
    let memory_hit = ctx.limiter.limit_hit();
    let cap = usize::try_from(ctx.stdout.cap()).unwrap_or(usize::MAX);
    let mut result = None;
    let (status, exit_code, error) = match end {
        GuestEnd::Elapsed => (Status::Timeout, 124, None),
        GuestEnd::Returned {
            exit_code,
            error,
            result: display,
        } => {
            // The guest caps these itself; a hostile guest may not, so the
            // host cuts them again.
            result = display.map(|d| d.capped(cap));
            let error = error.map(|e| e.capped(cap));
            let memory_error = error.as_ref().is_some_and(|e| e.type_name == "MemoryError");
            let status = if memory_error && memory_hit {
                Status::MemoryLimit
            } else if exit_code == 0 {
                Status::Ok
            } else {
                Status::Error
            };
            (status, exit_code, error)
        }
        GuestEnd::Trapped(err) => classify_trap(&err, memory_hit, deadline),
    };
    let (stdout, out_cut) = ctx.stdout.take();
    let (stderr, err_cut) = ctx.stderr.take();
    let error_cut = error.as_ref().is_some_and(|e| e.truncated);
    RunResult {
        status,
        stdout,
        stderr,
        error,
        exit_code,
        reason: None,
        duration: started.elapsed(),
        fuel_used: Some(ctx.fuel_budget.saturating_sub(fuel_left)),
        peak_memory_bytes: ctx.limiter.peak_bytes(),
        truncated: Truncated {
            stdout: out_cut,
            stderr: err_cut,
            result: result.as_ref().is_some_and(|d| d.truncated),
            error: error_cut,
        },
        result,
        files: Vec::new(),
        images: Vec::new(),
    }
}

fn classify_trap(
    err: &wasmtime::Error,
    memory_hit: bool,
    deadline: Instant,
) -> (Status, i32, Option<GuestError>) {
    if err.downcast_ref::<DeadlineReached>().is_some() || Instant::now() >= deadline {
        return (Status::Timeout, 124, None);
    }
    if let Some(Trap::OutOfFuel) = err.downcast_ref::<Trap>() {
        return (Status::FuelExhausted, 152, None);
    }
    if memory_hit {
        // CPython aborts on some allocation failures instead of raising MemoryError.
        return (Status::MemoryLimit, 137, None);
    }
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => "the guest runtime failed".to_owned(),
    };
    tracing::debug!(error = ?err, "guest trapped");
    let error = GuestError::new("Trap", message, "");
    (Status::Crashed, 134, Some(error))
}
