//! One python-sci instance and the calls into it: a run is one call of the
//! `run` export in a fresh instance; a session is one instance whose cells
//! are calls of the `turn` export, which keeps `__main__` between them.

use std::time::Instant;

use wasmtime::{Instance, Store, TypedFunc};
use wasmtime_wasi::I32Exit;

use super::super::RunResult;
use super::super::limits::Limits;
use super::super::outcome::Status;
use super::super::output::OutputSink;
use super::super::run::{self, GuestEnd};
use super::super::runtime::{Cell, SessionInstance};
use super::super::stdin::RunStdin;
use super::super::workdir::{FilesConfig, InputFile, RunDir};
use super::door::{self, DoorState};
use super::{MAX_IMAGE_BYTES, MAX_IMAGES, State};
use crate::error::SandboxError;
use crate::sandbox::workdir::{TMP, WORK};

/// What a session's `turn` runs: the driver takes the cell from the door.
/// `__import__` binds no name in the user's namespace, and `None` is not
/// echoed by the interactive mode `turn` compiles in.
const TURN_DRIVER: &str = "__import__('goru_sci').cell()";

/// How a call enters the guest.
#[derive(Clone, Copy)]
pub enum Entry {
    /// `run`: the program given as argv, once per instance.
    Run,
    /// `turn`: one interactive input, any number of times.
    Turn,
}

/// One call: the code and what comes with it.
pub struct Call<'a> {
    pub code: String,
    pub stdin: Vec<u8>,
    pub files: &'a [InputFile],
    pub limits: &'a Limits,
    pub sink: Option<OutputSink>,
}

/// An instance with its store, ready for its calls. Serves one run, or the
/// cells of one session.
pub struct Prepared {
    pub store: Store<State>,
    pub instance: Instance,
    pub stdin: RunStdin,
    pub rundir: Option<RunDir>,
    pub files: Option<FilesConfig>,
}

impl Prepared {
    pub fn new(
        store: Store<State>,
        instance: Instance,
        stdin: RunStdin,
        rundir: Option<RunDir>,
        files: Option<FilesConfig>,
    ) -> Self {
        Self {
            store,
            instance,
            stdin,
            rundir,
            files,
        }
    }

    /// Calls the guest once. Returns the result and whether the instance is
    /// still sound for another call (it is not after an exit or a trap).
    pub async fn call(
        &mut self,
        entry: Entry,
        call: Call<'_>,
    ) -> Result<(RunResult, bool), SandboxError> {
        let before = match (&self.rundir, &self.files) {
            (Some(rundir), Some(config)) => {
                rundir
                    .place(call.files)
                    .map_err(|source| SandboxError::FilesRefused { source })?;
                // Nothing to tell apart in a directory nobody wrote to: a
                // run without files skips walking it.
                Some(if rundir.touched() {
                    rundir.snapshot(config.quota_files)
                } else {
                    Default::default()
                })
            }
            _ => None,
        };
        // The guest applies them once, when its first call starts.
        let own_dirs = self.rundir.is_some();
        let options = door::StartOptions {
            max_text_bytes: call.limits.max_output_bytes,
            line_buffered: call.sink.is_some(),
            workdir: own_dirs.then(|| WORK.to_owned()),
            tmpdir: own_dirs.then(|| TMP.to_owned()),
            max_images: MAX_IMAGES,
            max_image_bytes: MAX_IMAGE_BYTES,
        };
        let started = Instant::now();
        let deadline = started + call.limits.timeout;
        let data = self.store.data_mut();
        data.door = DoorState::new(call.code, options);
        data.run.begin(call.limits, call.sink);
        self.stdin.set(call.stdin);
        run::rearm(&mut self.store, deadline)
            .map_err(SandboxError::wasmtime("arming the store"))?;
        let (store, instance) = (&mut self.store, self.instance);
        let mut sound = true;
        let end = run::race_deadline(deadline, async {
            let exit_code = match enter(store, instance, entry).await {
                // A turn's 0..=255 is the exit status; past it the
                // interpreter asked to quit, which the driver never does.
                Ok(code) if matches!(entry, Entry::Turn) && !(0..=255).contains(&code) => {
                    sound = false;
                    code & 0xFF
                }
                Ok(code) => code,
                Err(e) => match e.downcast_ref::<I32Exit>() {
                    Some(&I32Exit(code)) => {
                        // The guest left through `proc_exit`: nothing runs
                        // after it. (The user's `os._exit` reports first.)
                        sound = false;
                        code
                    }
                    None => return GuestEnd::Trapped(e),
                },
            };
            let door = &mut store.data_mut().door;
            // The driver did not report: something in the interpreter it
            // relies on is broken, and later cells would fail alike.
            if !door.finished() {
                sound = false;
            }
            door.end(exit_code)
        })
        .await;
        let images = self.store.data_mut().door.take_images();
        let mut result = run::classify(&mut self.store, end, started, deadline);
        result.images = images;
        if let (Some(rundir), Some(config), Some(before)) = (&self.rundir, &self.files, before)
            && rundir.touched()
        {
            result.files = rundir.collect(&before, config.quota_files, config.max_returned_bytes);
        }
        let sound = sound && matches!(result.status, Status::Ok | Status::Error);
        Ok((result, sound))
    }
}

/// Calls the export `entry` names; what it returned.
async fn enter(
    store: &mut Store<State>,
    instance: Instance,
    entry: Entry,
) -> wasmtime::Result<i32> {
    match entry {
        Entry::Run => {
            let run: TypedFunc<(), i32> = instance.get_typed_func(&mut *store, "run")?;
            run.call_async(&mut *store, ()).await
        }
        Entry::Turn => {
            let alloc: TypedFunc<i32, i32> = instance.get_typed_func(&mut *store, "host_alloc")?;
            let turn: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&mut *store, "turn")?;
            let memory = instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| wasmtime::Error::msg("python-sci exports no memory"))?;
            let len = TURN_DRIVER.len() as i32;
            let at = alloc.call_async(&mut *store, len).await?;
            if at <= 0 {
                return Err(wasmtime::Error::msg(
                    "python-sci could not allocate the driver line",
                ));
            }
            memory.write(&mut *store, at as u32 as usize, TURN_DRIVER.as_bytes())?;
            Ok(turn.call_async(&mut *store, (at, len)).await?)
        }
    }
}

/// A session: one instance, its namespace kept from cell to cell.
pub struct Session {
    /// `None` once a cell left it unsound.
    prepared: Option<Prepared>,
}

impl Session {
    pub fn new(prepared: Prepared) -> Self {
        Self {
            prepared: Some(prepared),
        }
    }
}

#[async_trait::async_trait]
impl SessionInstance for Session {
    async fn run_cell(&mut self, cell: Cell) -> Result<RunResult, SandboxError> {
        let Some(prepared) = self.prepared.as_mut() else {
            return Err(SandboxError::SessionEnded);
        };
        let call = Call {
            code: cell.code,
            stdin: cell.stdin,
            files: &cell.files,
            limits: &cell.limits,
            sink: cell.sink,
        };
        let (result, sound) = prepared.call(Entry::Turn, call).await?;
        if !sound && let Some(broken) = self.prepared.take() {
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

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(prepared) = self.prepared.take() {
            run::release(prepared);
        }
    }
}
