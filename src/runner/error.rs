//! Why a run, a session or a cell could not be attempted. Guest failures are
//! never errors here: they are data in a `RunResult`.

use crate::error::{LimitError, SandboxError};
use crate::host::GrantError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A limit above its ceiling, or input above its size limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A request file cannot be placed.
    #[error(transparent)]
    Files(#[from] super::FileError),
    /// A grant the policy asked for cannot be given.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// A grant beyond what the calling tenant may give.
    #[error(transparent)]
    Denied(crate::tenant::Denied),
    /// The sandbox refused or failed (unknown language, a broken runtime).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A session's earlier cell ended its interpreter.
    #[error("the session ended: {reason}")]
    SessionEnded { reason: String },
    /// Another cell of the same session is still running.
    #[error("another cell of this session is still running; cells run one at a time")]
    CellBusy,
}
