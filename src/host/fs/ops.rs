//! The file operations behind the `fs_*` functions, synchronous (cap-std is),
//! each checking the mount's mode itself before touching anything.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use cap_std::fs::{Metadata, OpenOptions};
use serde::Serialize;

use super::FsLimits;
use super::mount::{Mode, Mount};
use super::path::GuestPath;
use crate::host::{HostError, HostErrorKind};

/// Most entries `fs_list` returns; beyond it the listing fails rather than
/// building an answer the guest cannot hold.
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// One run's mounts and limits.
#[derive(Debug)]
pub(super) struct Fs {
    mounts: Vec<Mount>,
    limits: FsLimits,
}

/// A guest path resolved to a mount and the relative path beneath it.
struct Target<'a> {
    mount: &'a Mount,
    rel: PathBuf,
    guest: GuestPath,
}

/// An `fs_list` entry.
#[derive(Debug, Serialize)]
pub(super) struct Entry {
    name: String,
    is_dir: bool,
    size: u64,
}

/// An `fs_stat` answer.
#[derive(Debug, Serialize)]
pub(super) struct Stat {
    name: String,
    is_dir: bool,
    size: u64,
    /// Unix seconds; `None` where the host file system does not say.
    modified: Option<f64>,
}

impl Fs {
    pub(super) fn new(mounts: Vec<Mount>, limits: FsLimits) -> Self {
        Self { mounts, limits }
    }

    fn target(&self, raw: &str) -> Result<Target<'_>, HostError> {
        let guest = GuestPath::parse(raw)
            .map_err(|why| HostError::new(HostErrorKind::Value, format!("path {why}")))?;
        // Mounts never nest when built by `resolve_requests`; the deepest
        // match still keeps the answer independent of order if they do.
        let found = self
            .mounts
            .iter()
            .filter_map(|m| guest.relative_to(&m.guest).map(|rel| (m, rel)))
            .max_by_key(|(m, _)| m.guest.depth());
        let Some((mount, rel)) = found else {
            let mounts: Vec<String> = self.mounts.iter().map(Mount::guest_path).collect();
            let mounts = if mounts.is_empty() {
                "none".to_owned()
            } else {
                mounts.join(", ")
            };
            return Err(HostError::new(
                HostErrorKind::Permission,
                format!("no mount at {guest} (mounts: {mounts})"),
            ));
        };
        Ok(Target { mount, rel, guest })
    }

    pub(super) fn read(&self, path: &str) -> Result<String, HostError> {
        let t = self.target(path)?;
        let max = self.limits.max_read_bytes;
        let file = t
            .mount
            .dir
            .open_with(&t.rel, OpenOptions::new().read(true).nonblocking())
            .map_err(|e| t.io(e))?;
        let meta = file.metadata().map_err(|e| t.io(e))?;
        t.regular(&meta)?;
        let too_big = |size: u64| {
            HostError::new(
                HostErrorKind::Value,
                format!("{} is {size} bytes, above max_read_bytes ({max})", t.guest),
            )
        };
        if meta.len() > max {
            return Err(too_big(meta.len()));
        }
        // The file may grow after the size check: read one byte past the
        // limit at most, and refuse if that byte arrives.
        let mut bytes = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| t.io(e))?;
        if bytes.len() as u64 > max {
            return Err(too_big(bytes.len() as u64));
        }
        String::from_utf8(bytes).map_err(|e| {
            HostError::new(
                HostErrorKind::Value,
                format!(
                    "{} is not UTF-8 text (invalid byte at offset {})",
                    t.guest,
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }

    pub(super) fn write(&self, path: &str, content: &str) -> Result<u64, HostError> {
        let t = self.target(path)?;
        t.needs(Mode::Rw, "write")?;
        let (len, max) = (content.len() as u64, self.limits.max_write_bytes);
        if len > max {
            return Err(HostError::new(
                HostErrorKind::Value,
                format!("content is {len} bytes, above max_write_bytes ({max})"),
            ));
        }
        let create = t.mount.mode >= Mode::Rwc;
        // Truncation waits until the target is known to be a regular file.
        let mut file = t
            .mount
            .dir
            .open_with(
                &t.rel,
                OpenOptions::new().write(true).create(create).nonblocking(),
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound if !create => t.cannot_create(),
                _ => t.io(e),
            })?;
        t.regular(&file.metadata().map_err(|e| t.io(e))?)?;
        file.set_len(0).map_err(|e| t.io(e))?;
        file.write_all(content.as_bytes()).map_err(|e| t.io(e))?;
        Ok(len)
    }

    pub(super) fn list(&self, path: &str) -> Result<Vec<Entry>, HostError> {
        let t = self.target(path)?;
        let dir = t.mount.dir.open_dir(&t.rel).map_err(|e| t.io(e))?;
        let mut entries = Vec::new();
        for entry in dir.entries().map_err(|e| t.io(e))? {
            let entry = entry.map_err(|e| t.io(e))?;
            if entries.len() == MAX_LIST_ENTRIES {
                return Err(HostError::new(
                    HostErrorKind::Os,
                    format!("{} has more than {MAX_LIST_ENTRIES} entries", t.guest),
                ));
            }
            let name = entry.file_name();
            // Follow symlinks that stay in the mount; one leading out (or
            // nowhere) is described as the link itself, never its target.
            let meta = match dir.metadata(&name).or_else(|_| entry.metadata()) {
                Ok(meta) => meta,
                // Removed since the directory was read: it is not there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(t.io(e)),
            };
            entries.push(Entry {
                name: name.to_string_lossy().into_owned(),
                is_dir: meta.is_dir(),
                size: size(&meta),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    pub(super) fn exists(&self, path: &str) -> Result<bool, HostError> {
        let t = self.target(path)?;
        match t.mount.dir.metadata(&t.rel) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(t.io(e)),
        }
    }

    pub(super) fn mkdir(&self, path: &str) -> Result<(), HostError> {
        let t = self.target(path)?;
        t.needs(Mode::Rwc, "create directories")?;
        t.mount.dir.create_dir(&t.rel).map_err(|e| t.io(e))
    }

    pub(super) fn remove(&self, path: &str) -> Result<(), HostError> {
        let t = self.target(path)?;
        t.needs(Mode::Rwc, "remove")?;
        if t.guest == t.mount.guest {
            return Err(HostError::new(
                HostErrorKind::Permission,
                format!("{} is a mount point and cannot be removed", t.guest),
            ));
        }
        // Not following symlinks: removing a link removes the link itself.
        let meta = t.mount.dir.symlink_metadata(&t.rel).map_err(|e| t.io(e))?;
        let removed = if meta.is_dir() {
            t.mount.dir.remove_dir(&t.rel)
        } else {
            t.mount.dir.remove_file(&t.rel)
        };
        removed.map_err(|e| t.io(e))
    }

    pub(super) fn stat(&self, path: &str) -> Result<Stat, HostError> {
        let t = self.target(path)?;
        let meta = t.mount.dir.metadata(&t.rel).map_err(|e| t.io(e))?;
        let modified = meta.modified().ok().map(|m| {
            let m = m.into_std();
            match m.duration_since(UNIX_EPOCH) {
                Ok(after) => after.as_secs_f64(),
                Err(before) => -before.duration().as_secs_f64(),
            }
        });
        Ok(Stat {
            name: t.guest.name().to_owned(),
            is_dir: meta.is_dir(),
            size: size(&meta),
            modified,
        })
    }
}

/// A directory's own length is a file-system detail; report 0.
fn size(meta: &Metadata) -> u64 {
    if meta.is_dir() { 0 } else { meta.len() }
}

/// Opening with `O_NONBLOCK` so that a FIFO placed in a mount cannot park a
/// blocking thread forever in `open`; it changes nothing for regular files,
/// and everything else is refused once opened.
trait Nonblocking {
    fn nonblocking(&mut self) -> &mut Self;
}

impl Nonblocking for OpenOptions {
    #[cfg(unix)]
    fn nonblocking(&mut self) -> &mut Self {
        use cap_std::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }

    #[cfg(not(unix))]
    fn nonblocking(&mut self) -> &mut Self {
        self
    }
}

impl Target<'_> {
    fn needs(&self, mode: Mode, what: &str) -> Result<(), HostError> {
        if self.mount.mode >= mode {
            return Ok(());
        }
        Err(HostError::new(
            HostErrorKind::Permission,
            format!(
                "cannot {what} {}: {} is mounted {} ({mode} needed)",
                self.guest, self.mount.guest, self.mount.mode
            ),
        ))
    }

    fn cannot_create(&self) -> HostError {
        HostError::new(
            HostErrorKind::Permission,
            format!(
                "cannot create {}: {} is mounted rw, which writes existing files only (rwc creates)",
                self.guest, self.mount.guest
            ),
        )
    }

    fn regular(&self, meta: &Metadata) -> Result<(), HostError> {
        if meta.is_dir() {
            return Err(self.error(HostErrorKind::IsADirectory, "is a directory"));
        }
        if !meta.is_file() {
            return Err(self.error(HostErrorKind::Os, "is not a regular file"));
        }
        Ok(())
    }

    fn error(&self, kind: HostErrorKind, what: &str) -> HostError {
        HostError::new(kind, format!("{}: {what}", self.guest))
    }

    /// An I/O failure as the guest sees it: the guest path and a reason,
    /// never the host path (std and cap-std errors carry none).
    fn io(&self, e: io::Error) -> HostError {
        use io::ErrorKind as K;
        let (kind, what) = match e.kind() {
            K::NotFound => (HostErrorKind::NotFound, "no such file or directory"),
            // cap-std reports a climb out of the directory (by `..` or a
            // symlink) as PermissionDenied with no OS error code.
            K::PermissionDenied if e.raw_os_error().is_none() => {
                (HostErrorKind::Permission, "leads outside its mount")
            }
            K::PermissionDenied => (HostErrorKind::Permission, "permission denied"),
            K::AlreadyExists => (HostErrorKind::Exists, "already exists"),
            K::IsADirectory => (HostErrorKind::IsADirectory, "is a directory"),
            K::NotADirectory => (HostErrorKind::NotADirectory, "not a directory"),
            K::DirectoryNotEmpty => (HostErrorKind::Os, "directory not empty"),
            K::InvalidFilename => (HostErrorKind::Value, "file name too long or invalid"),
            K::ReadOnlyFilesystem => (HostErrorKind::Os, "read-only file system"),
            K::StorageFull | K::QuotaExceeded => (HostErrorKind::Os, "no space left"),
            _ => return self.error(HostErrorKind::Os, &format!("failed: {}", e.kind())),
        };
        self.error(kind, what)
    }
}
