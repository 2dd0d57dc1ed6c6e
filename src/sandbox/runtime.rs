//! The shape every language runtime has: run a job in a fresh instance, open
//! an instance that keeps its state across cells (a session), report what it
//! is. The sandbox dispatches to a runtime by language and nothing else calls
//! a runtime directly.

use super::dirs::Preopen;
use super::limits::Limits;
use super::outcome::RunResult;
use super::output::OutputSink;
use super::workdir::InputFile;
use crate::error::SandboxError;
use crate::host::HostCalls;

/// A validated run, handed to a runtime: limits resolved, grants built.
pub struct Job {
    pub code: String,
    pub stdin: Vec<u8>,
    pub limits: Limits,
    pub host: HostCalls,
    /// Placed in the working directory before the code runs.
    pub files: Vec<InputFile>,
    /// Granted mounts, reachable with `open()` as well as `fs_*`.
    pub mounts: Vec<Preopen>,
    /// Where output goes as it is written, for streamed runs.
    pub sink: Option<OutputSink>,
}

/// One cell of a session: the session's limits and grants are fixed when it
/// opens, so a cell only brings its code, input and output sink.
pub struct Cell {
    pub code: String,
    pub stdin: Vec<u8>,
    pub files: Vec<InputFile>,
    pub limits: Limits,
    pub sink: Option<OutputSink>,
}

/// What a session instance needs when it opens.
pub struct SessionSetup {
    pub limits: Limits,
    pub host: HostCalls,
    pub mounts: Vec<Preopen>,
}

/// A language runtime, loaded once and shared by every run.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// The `language` name requests use.
    fn language(&self) -> &'static str;
    /// The interpreter behind it, for `/runtimes`.
    fn version(&self) -> &'static str;
    /// Whether runs get a working directory (`/work`) for files in and out.
    fn has_workdir(&self) -> bool;
    /// Runs `job` in a fresh, never-used instance. `Err` only when the run
    /// could not be attempted; every guest failure is a `RunResult`.
    async fn run(&self, job: Job) -> Result<RunResult, SandboxError>;
    /// An instance that keeps its globals from one cell to the next.
    async fn open_session(
        &self,
        setup: SessionSetup,
    ) -> Result<Box<dyn SessionInstance>, SandboxError>;
}

/// A live interpreter kept for a session.
#[async_trait::async_trait]
pub trait SessionInstance: Send {
    /// Runs one cell in the instance. After a status other than `ok` or
    /// `error` the instance is no longer trustworthy and must be dropped.
    async fn run_cell(&mut self, cell: Cell) -> Result<RunResult, SandboxError>;
    /// Whether the instance can run another cell; `false` once a cell left
    /// it unusable, whatever that cell's status.
    fn alive(&self) -> bool;
    /// Linear memory the instance holds now.
    fn memory_bytes(&self) -> u64;
}
