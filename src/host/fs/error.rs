//! Why a mount could not be set up: bad specs, policies asking too much, host
//! directories that will not open. Failures inside a run are `HostError`s.

use std::path::PathBuf;

use super::mount::Mode;
use super::path::PathError;

/// Setting up mounts failed. Messages name the field (`--mount`,
/// `mounts[1].mode`) and what was allowed, and never a host path: a policy's
/// author must not learn where a mount lives on the host.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{field}: unknown mode {given:?}; use ro, rw or rwc")]
    UnknownMode { field: String, given: String },
    #[error("--mount {spec:?} {reason}; use GUEST:HOST:MODE, like /data:./input:ro")]
    BadSpec { spec: String, reason: &'static str },
    #[error("{field}: guest path {path:?} {reason}")]
    BadGuestPath {
        field: String,
        path: String,
        reason: String,
    },
    #[error("{field}: no mount named {name:?} on this server; known: {known}")]
    UnknownMount {
        field: String,
        name: String,
        known: String,
    },
    #[error("{field}: mode {requested} is stronger than mount {name:?} allows (max_mode {max})")]
    ModeTooStrong {
        field: String,
        name: String,
        requested: Mode,
        max: Mode,
    },
    #[error(
        "{field}: guest path {path} overlaps {other} ({other_field}); mounts may not repeat or nest"
    )]
    Overlap {
        field: String,
        path: String,
        other: String,
        other_field: String,
    },
    #[error("{count} mounts requested, above the limit of {max}")]
    TooMany { count: usize, max: usize },
    /// The host directory is missing or unreadable: the operator's problem,
    /// not the policy's. The host path is kept for the log, not the message.
    #[error("mount {guest_path} could not be opened")]
    Open {
        guest_path: String,
        host_path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configured mount point's directory will not open; found at start-up,
    /// so the host path is named for the operator.
    #[error("[mounts.{name}] path {} could not be opened as a directory", path.display())]
    ConfigPath {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    pub(crate) fn bad_guest_path(field: &str, path: &str, why: PathError) -> Self {
        Self::BadGuestPath {
            field: field.to_owned(),
            path: path.to_owned(),
            reason: why.to_string(),
        }
    }

    /// The field the error is about, as the caller named it (`--mount`,
    /// `mounts[0].guest_path`); `None` for whole-list and host-side failures.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::UnknownMode { field, .. }
            | Self::BadGuestPath { field, .. }
            | Self::UnknownMount { field, .. }
            | Self::ModeTooStrong { field, .. }
            | Self::Overlap { field, .. } => Some(field),
            Self::BadSpec { .. } => Some("--mount"),
            Self::TooMany { .. } | Self::Open { .. } | Self::ConfigPath { .. } => None,
        }
    }

    /// Whether the request (policy or flag) is at fault, rather than the
    /// host: an API answers these with 400 and an [`FsError::Open`] with 5xx.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Open { .. } | Self::ConfigPath { .. })
    }

    /// A well-formed request for more than the server offers: a mount point
    /// it does not have, or a stronger mode than the point allows.
    pub fn is_not_offered(&self) -> bool {
        matches!(self, Self::UnknownMount { .. } | Self::ModeTooStrong { .. })
    }
}
