//! Mounted files: host directories a run may read or change, by mount and mode.
//!
//! The server config names mount points (`[mounts.data] path = "/srv/data",
//! max_mode = "ro"`, see [`MountConfig`]); a policy asks for one by name with a
//! guest path and a mode ([`MountRequest`], checked by [`resolve_requests`]);
//! the CLI mounts directly (`--mount /data:./input:ro`, [`open_cli_mounts`]).
//! Each run opens its mounts once, as cap-std directory handles, and every
//! operation is relative to one of them: a `..` or a symlink leading out is
//! refused by cap-std at the system-call level, so there is no gap between a
//! check and a use for a racing rename to slip through.
//!
//! Modes ([`Mode`], `ro < rw < rwc`; a request never exceeds `max_mode`):
//! - `ro`: `fs_read`, `fs_list`, `fs_exists`, `fs_stat`.
//! - `rw`: also `fs_write` to files that already exist (never creating one).
//! - `rwc`: also `fs_write` creating files, `fs_mkdir`, `fs_remove`.
//!
//! Functions (JSON in, JSON out; unknown argument keys raise `TypeError`):
//! - `fs_read(path)` → `str`. Text only: the file must be UTF-8 (else
//!   `ValueError`, never lossy) and at most `max_read_bytes`.
//! - `fs_write(path, content)` → bytes written; replaces the whole file.
//!   `content` is a `str`, written as UTF-8, at most `max_write_bytes` (and
//!   the dispatcher's own cap on argument size applies first).
//! - `fs_list(path)` → `[{"name", "is_dir", "size"}]` sorted by name, at
//!   most [`MAX_LIST_ENTRIES`] (else `OSError`); non-UTF-8 names are shown
//!   lossily. A symlink leading out is listed as itself, not followed.
//! - `fs_exists(path)` → `bool`; `False` only for "not there".
//! - `fs_mkdir(path)` → `None`; one level, like `os.mkdir` (no parents).
//! - `fs_remove(path)` → `None`; a file, a symlink (not its target) or an
//!   empty directory, never a mount point itself.
//! - `fs_stat(path)` → `{"name", "is_dir", "size", "modified"}`, following
//!   symlinks that stay in the mount; `modified` is Unix seconds or `None`.
//!
//! Directories report size 0. Paths are absolute guest paths; `..` is
//! resolved lexically (as `os.path.normpath` does) before a mount is chosen,
//! and mounts match whole components (`/data-secret` is not under `/data`).
//! Errors: no mount, a mode too weak, or a path leading out of its mount →
//! `PermissionError`; malformed paths (NUL, too long, relative) and caps →
//! `ValueError`; then `FileNotFoundError`, `FileExistsError`,
//! `IsADirectoryError`, `NotADirectoryError`, `OSError` as the OS says.
//! Messages carry guest paths only, never host paths.

mod error;
mod functions;
mod mount;
mod ops;
mod path;
mod policy;

use serde::{Deserialize, Serialize};

pub use error::FsError;
pub use functions::register;
pub use mount::{Mode, Mount, MountConfig, MountRequest, UnknownMode, parse_cli_mount};
pub use ops::MAX_LIST_ENTRIES;
pub use path::{MAX_NAME_BYTES, MAX_PATH_BYTES};
pub use policy::{MAX_MOUNTS_PER_RUN, check_config, open_cli_mounts, resolve_requests};

/// Size caps on what one call may read or write, named in the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsLimits {
    pub max_read_bytes: u64,
    pub max_write_bytes: u64,
}

impl Default for FsLimits {
    fn default() -> Self {
        Self {
            max_read_bytes: 8 << 20,
            max_write_bytes: 8 << 20,
        }
    }
}
