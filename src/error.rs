//! Typed errors. Script failures (the guest raised, timed out, ran out of
//! memory) are not errors here: they are data in a `RunResult`.

use std::path::PathBuf;

/// A requested limit is outside what this sandbox allows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("{field} = {value} is out of range: allowed {min}..={max}")]
    Range {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("{field} is {size} bytes, above the limit of {max} bytes")]
    TooLarge {
        field: &'static str,
        size: u64,
        max: u64,
    },
    #[error(
        "{field} = {value} is below what {language} needs to start: at least {min} (its interpreter's image alone is about 100 MiB)"
    )]
    BelowRuntime {
        field: &'static str,
        value: u64,
        min: u64,
        language: &'static str,
    },
}

impl LimitError {
    pub(crate) fn out_of_range(field: &'static str, value: u64, max: u64) -> Self {
        Self::Range {
            field,
            value,
            min: 1,
            max,
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Range { field, .. }
            | Self::TooLarge { field, .. }
            | Self::BelowRuntime { field, .. } => field,
        }
    }
}

/// Why a run could not be attempted or the sandbox could not start. Never a
/// guest failure.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("unknown language {requested:?}; known: {known}")]
    UnknownLanguage { requested: String, known: String },
    #[error("runtime file {path} is missing; run `make build` first")]
    RuntimeMissing { path: PathBuf },
    #[error("making python-sci's snapshot")]
    Snapshot {
        #[source]
        source: crate::sandbox::SnapshotError,
    },
    /// Cache entries are loaded as native code: a directory others can
    /// write to would let them run theirs in goru.
    #[error(
        "the compiled-guest cache directory {path} {why}; its entries are loaded as native code, so only this user may write there (`chmod go-w`, or choose another cache directory)"
    )]
    CacheUnsafe { path: PathBuf, why: String },
    #[error("reading or writing {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("language {language} has no sessions: each run boots a fresh interpreter; use python")]
    SessionsUnsupported { language: &'static str },
    #[error("the session's interpreter was ended by an earlier cell")]
    SessionEnded,
    /// Request files do not fit or collide with what the session's code made.
    #[error("files cannot be placed: {source}")]
    FilesRefused {
        #[source]
        source: crate::sandbox::PlaceError,
    },
    #[error("language {language} has no working directory for files; use python")]
    FilesUnsupported { language: &'static str },
    /// Request files could not be placed in the run directory (or the
    /// directory could not be made).
    #[error("the run directory: {source}")]
    Files {
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox executor failed: {0}")]
    Executor(String),
    #[error("wasmtime failed: {context}")]
    Wasmtime {
        context: &'static str,
        #[source]
        source: wasmtime::Error,
    },
}

impl SandboxError {
    pub(crate) fn wasmtime(context: &'static str) -> impl FnOnce(wasmtime::Error) -> Self {
        move |source| Self::Wasmtime { context, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
