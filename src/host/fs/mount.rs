//! Mount specs and modes, and [`Mount`]: one host directory opened for one run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use super::error::FsError;
use super::path::GuestPath;

/// What a run may do under a mount. Ordered: `Ro < Rw < Rwc`, so "is this
/// request within the maximum" is a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Read, list, stat.
    Ro,
    /// `Ro`, and overwrite files that already exist.
    Rw,
    /// `Rw`, and create files and directories, and remove them.
    Rwc,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ro => "ro",
            Self::Rw => "rw",
            Self::Rwc => "rwc",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not `ro`, `rw` or `rwc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}; use ro, rw or rwc")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ro" => Ok(Self::Ro),
            "rw" => Ok(Self::Rw),
            "rwc" => Ok(Self::Rwc),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

/// One mount point in the server config, `[mounts.<name>]`: the host
/// directory and the strongest mode any policy may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    pub path: PathBuf,
    pub max_mode: Mode,
}

/// A policy's `mounts` entry: a configured mount point by name, where the
/// guest sees it, and how. Clients never name host paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountRequest {
    pub name: String,
    pub guest_path: String,
    pub mode: Mode,
}

/// A host directory opened for one run. Every operation goes through the
/// cap-std handle, relative to the directory's descriptor, so a path that
/// climbs out (by `..` or by a symlink, even one swapped in between a check
/// and a use) is refused by cap-std rather than by string checks here.
#[derive(Debug)]
pub struct Mount {
    pub(super) guest: GuestPath,
    pub(super) dir: Dir,
    pub(super) mode: Mode,
    /// The operator's directory, for runtimes that also preopen it.
    host: PathBuf,
}

impl Mount {
    /// Opens `host_path` to be seen at `guest_path` with `mode`. The guest path
    /// must be absolute, normalised, and neither `/` nor under `/python`.
    pub fn open(guest_path: &str, host_path: &Path, mode: Mode) -> Result<Mount, FsError> {
        let guest = check_guest_path("guest_path", guest_path)?;
        // The operator chose this directory, so ambient authority is right
        // here and nowhere else: everything below goes through `dir`.
        let dir = Dir::open_ambient_dir(host_path, ambient_authority()).map_err(|source| {
            FsError::Open {
                guest_path: guest_path.to_owned(),
                host_path: host_path.to_owned(),
                source,
            }
        })?;
        Ok(Mount {
            guest,
            dir,
            mode,
            host: host_path.to_owned(),
        })
    }

    /// The host directory behind the mount.
    pub fn host_path(&self) -> &Path {
        &self.host
    }

    /// Where the guest sees this mount.
    pub fn guest_path(&self) -> String {
        self.guest.to_string()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// Guest paths the runtimes use themselves, and what for.
const RESERVED_GUEST_PATHS: [(&str, &str); 5] = [
    ("/python", "holds the Python standard library"),
    ("/goru", "holds python-sci's driver"),
    (
        "/usr/local/lib",
        "holds python-sci's standard library and packages",
    ),
    ("/work", "is the run's own working directory"),
    ("/tmp", "is the run's own temporary directory"),
];

/// Checks a mount point's guest path (from a policy or a flag, never from the
/// guest) and returns it parsed.
pub(super) fn check_guest_path(field: &str, raw: &str) -> Result<GuestPath, FsError> {
    let bad = |reason: String| FsError::BadGuestPath {
        field: field.to_owned(),
        path: raw.to_owned(),
        reason,
    };
    let guest = GuestPath::parse(raw).map_err(|why| FsError::bad_guest_path(field, raw, why))?;
    if guest.is_root() {
        return Err(bad("cannot be /; mount under it, like /data".to_owned()));
    }
    if guest.to_string() != raw {
        return Err(bad(format!("is not normalised; write it as {guest}")));
    }
    for (reserved, holds) in RESERVED_GUEST_PATHS {
        let reserved = GuestPath::parse(reserved).map_err(|why| bad(why.to_string()))?;
        if guest.starts_with(&reserved) {
            return Err(bad(format!("is reserved: {reserved} {holds}")));
        }
    }
    Ok(guest)
}

/// Parses a `--mount` flag, `GUEST:HOST:MODE` (like `/data:./input:ro`). The
/// guest path ends at the first colon and the mode starts after the last,
/// so a host path may itself contain colons.
pub fn parse_cli_mount(spec: &str) -> Result<(String, PathBuf, Mode), FsError> {
    let bad = |reason| FsError::BadSpec {
        spec: spec.to_owned(),
        reason,
    };
    let parts = || bad("does not have three parts");
    let (guest, rest) = spec.split_once(':').ok_or_else(parts)?;
    let (host, mode) = rest.rsplit_once(':').ok_or_else(parts)?;
    if host.is_empty() {
        return Err(bad("has an empty host path"));
    }
    let mode = mode.parse::<Mode>().map_err(|e| FsError::UnknownMode {
        field: "--mount".to_owned(),
        given: e.0,
    })?;
    check_guest_path("--mount", guest)?;
    Ok((guest.to_owned(), PathBuf::from(host), mode))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn modes_order_from_weakest_to_strongest() {
        assert!(Mode::Ro < Mode::Rw && Mode::Rw < Mode::Rwc);
        assert_eq!("rwc".parse::<Mode>().unwrap(), Mode::Rwc);
        assert!("RW".parse::<Mode>().is_err());
        assert_eq!(serde_json::to_string(&Mode::Rw).unwrap(), "\"rw\"");
    }

    #[test]
    fn a_mount_guest_path_must_be_normalised_and_unreserved() {
        assert!(check_guest_path("f", "/data").is_ok());
        for bad in [
            "/",
            "data",
            "/data/",
            "//data",
            "/a/../b",
            "/python",
            "/python/x",
            "",
        ] {
            assert!(check_guest_path("f", bad).is_err(), "{bad}");
        }
        assert!(check_guest_path("f", "/pythonic").is_ok());
    }
}
