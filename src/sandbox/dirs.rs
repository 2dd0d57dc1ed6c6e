//! The directories a run's guest sees besides the stdlib: its working
//! directory, its temporary directory and the mounts its policy grants, each
//! preopened at a guest path.

use std::path::PathBuf;
use std::sync::Arc;

use super::quota_fs::{FsPolicy, FsQuota, Origin};

/// One host directory preopened in the guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    pub host: PathBuf,
    /// Absolute guest path, e.g. `/work`.
    pub guest: String,
    pub writable: bool,
    /// What descriptors under it may do (see `quota_fs`).
    pub origin: Origin,
}

/// What a run sees; empty for a run with no directories of its own.
#[derive(Debug, Clone, Default)]
pub struct Dirs {
    pub preopens: Vec<Preopen>,
    /// Guest path the code starts in.
    pub workdir: Option<String>,
    /// Guest path `tempfile` uses.
    pub tmpdir: Option<String>,
    /// The quota of the preopens whose origin is `Counted`.
    pub quota: Option<Arc<FsQuota>>,
}

impl Dirs {
    pub fn is_empty(&self) -> bool {
        self.preopens.is_empty()
    }

    /// The filesystem policy a store with these directories enforces.
    pub(super) fn policy(&self) -> FsPolicy {
        let preopens = self
            .preopens
            .iter()
            .map(|p| (p.guest.clone(), p.origin))
            .collect();
        FsPolicy::new(self.quota.clone(), preopens)
    }
}
