//! The one run pipeline. The API, the CLI, sessions (and later MCP) describe a
//! run as a [`RunSpec`] and hand it here; nothing else resolves limits, builds
//! grants or calls the sandbox.
//!
//! A run goes through two steps so that a server can wait for a slot in
//! between: [`Runner::check`] rejects everything that can be rejected without
//! running (limits above a ceiling, an unknown language, oversized input), and
//! [`Checked::run`] builds the run's grants, counted from its real start, and
//! runs it.

mod error;
mod fence;
mod files;
mod session;

use std::sync::Arc;
use std::time::Instant;

pub use error::RunError;
pub use files::FileError;
pub use session::{CellSpec, Interpreter, SessionSpec};

use crate::error::LimitError;
use crate::host::fs::Mode;
use crate::host::{Capabilities, GrantedMount, Grants, GrantsUsed};
use crate::sandbox::{
    FilesConfig, InputFile, Job, LANGUAGES, LimitRequest, Limits, Origin, OutputSink, Preopen,
    RunResult, Sandbox,
};
use crate::tenant::Tenant;

/// Everything one run needs, from whichever front end.
#[derive(Default)]
pub struct RunSpec {
    pub code: String,
    /// `None` = the default language, `python`.
    pub language: Option<String>,
    pub stdin: Vec<u8>,
    pub limits: LimitRequest,
    /// What the run may reach; nothing but a private KV namespace by default.
    pub grants: Grants,
    /// Placed in the working directory (`/work`) before the code runs.
    pub files: Vec<InputFile>,
    /// Where output goes as the guest writes it (streamed runs).
    pub sink: Option<OutputSink>,
    /// Who asks: its ceilings and what it may grant apply. `None` = the
    /// operator (the CLI): the sandbox's limits, every grant on offer.
    pub tenant: Option<Arc<Tenant>>,
}

/// The sandbox and the capabilities runs draw their grants from. Cheap to clone.
#[derive(Clone)]
pub struct Runner(Arc<Inner>);

struct Inner {
    sandbox: Sandbox,
    capabilities: Capabilities,
    files: FilesConfig,
}

impl Runner {
    pub fn new(sandbox: Sandbox, capabilities: Capabilities) -> Self {
        let files = sandbox.files().cloned().unwrap_or_default();
        Self(Arc::new(Inner {
            sandbox,
            capabilities,
            files,
        }))
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.0.sandbox
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.0.capabilities
    }

    /// Checks `spec` without running it.
    pub fn check(&self, mut spec: RunSpec) -> Result<Checked, RunError> {
        let language = self.language(spec.language)?;
        let limits = self.resolve(
            &language,
            spec.tenant.as_deref(),
            &spec.limits,
            spec.stdin.len(),
        )?;
        apply_tenant(spec.tenant.as_deref(), &mut spec.grants)?;
        files::check(&spec.files, &self.0.files)?;
        Ok(Checked {
            grants_used: spec.grants.used(),
            files: spec.files,
            runner: self.clone(),
            language,
            code: prepare_code(spec.code),
            stdin: spec.stdin,
            limits,
            grants: spec.grants,
            sink: spec.sink,
        })
    }

    /// Checks and runs `spec`.
    pub async fn run(&self, spec: RunSpec) -> Result<RunResult, RunError> {
        self.check(spec)?.run().await
    }

    fn language(&self, requested: Option<String>) -> Result<String, RunError> {
        let language = requested.unwrap_or_else(|| LANGUAGES[0].to_owned());
        if !LANGUAGES.contains(&language.as_str()) {
            return Err(crate::error::SandboxError::UnknownLanguage {
                requested: language,
                known: LANGUAGES.join(", "),
            }
            .into());
        }
        Ok(language)
    }

    /// Defaults filled, ceilings (the tenant's, else the sandbox's) and the
    /// runtime's least memory checked, stdin measured against its limit.
    fn resolve(
        &self,
        language: &str,
        tenant: Option<&Tenant>,
        limits: &LimitRequest,
        stdin_len: usize,
    ) -> Result<Limits, RunError> {
        let policy = tenant.map_or(self.sandbox().limits(), Tenant::limits);
        let limits = policy.resolve(limits)?;
        if let Some((language, min)) = crate::sandbox::min_memory(language)
            && limits.memory_bytes < min
        {
            const MIB: u64 = 1024 * 1024;
            return Err(LimitError::BelowRuntime {
                field: "memory_mb",
                value: limits.memory_bytes / MIB,
                min: min / MIB,
                language,
            }
            .into());
        }
        let stdin_len = stdin_len as u64;
        if stdin_len > limits.max_stdin_bytes {
            return Err(LimitError::TooLarge {
                field: "stdin",
                size: stdin_len,
                max: limits.max_stdin_bytes,
            }
            .into());
        }
        Ok(limits)
    }
}

/// Grants checked, then a tenant's narrowed and its KV scoped; the
/// operator's untouched.
fn apply_tenant(tenant: Option<&Tenant>, grants: &mut Grants) -> Result<(), RunError> {
    grants.check()?;
    match tenant {
        Some(tenant) => tenant.apply(grants).map_err(RunError::Denied),
        None => Ok(()),
    }
}

/// Code as the guest should see it: a Markdown fence around it removed.
fn prepare_code(code: String) -> String {
    fence::unfence(&code).unwrap_or(code)
}

/// A run that passed every check; [`Checked::run`] runs it.
pub struct Checked {
    runner: Runner,
    files: Vec<InputFile>,
    language: String,
    code: String,
    stdin: Vec<u8>,
    limits: Limits,
    grants: Grants,
    grants_used: GrantsUsed,
    sink: Option<OutputSink>,
}

impl Checked {
    /// What the run will be granted, for its audit line.
    pub fn grants_used(&self) -> &GrantsUsed {
        &self.grants_used
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Grants the run its capabilities, counted from now, and runs it.
    pub async fn run(self) -> Result<RunResult, RunError> {
        let granted = self
            .runner
            .capabilities()
            .grant(self.grants, Instant::now() + self.limits.timeout)?;
        let job = Job {
            code: self.code,
            stdin: self.stdin,
            limits: self.limits,
            host: granted.host,
            files: self.files,
            mounts: preopens(&granted.mounts),
            sink: self.sink,
        };
        Ok(self.runner.sandbox().run(&self.language, job).await?)
    }
}

/// Granted mounts as the guest's preopened directories, with the same modes
/// as `fs_*`: ro reads; rw also overwrites existing files; rwc also creates
/// and removes.
fn preopens(mounts: &[GrantedMount]) -> Vec<Preopen> {
    mounts
        .iter()
        .map(|m| Preopen {
            host: m.host_path.clone(),
            guest: m.guest_path.clone(),
            writable: m.mode != Mode::Ro,
            origin: match m.mode {
                Mode::Rw => Origin::NoCreate,
                Mode::Ro | Mode::Rwc => Origin::Plain,
            },
        })
        .collect()
}
