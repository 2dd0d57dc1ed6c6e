//! A run's own directory on the host: `/work` (the guest's current
//! directory, where request files are placed and from where written files
//! are returned) and `/tmp` (for `tempfile`), both under one temporary
//! directory counted against the run's quota, removed after the run (after
//! the session). It is made in this process's own directory
//! (`run_root`), which a later process removes if this one dies first.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::dirs::{Dirs, Preopen};
use super::quota_fs::{FsQuota, Origin};
use super::run_root;

/// Guest path of the working directory.
pub const WORK: &str = "/work";
/// Guest path of the temporary directory.
pub const TMP: &str = "/tmp";

/// `[files]`: the run directory's quota and what crosses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Where run directories are made; empty = the system's temporary directory.
    pub root: PathBuf,
    /// Bytes a run (a session) may keep in /work and /tmp together.
    pub quota_bytes: u64,
    /// Files and directories it may keep there.
    pub quota_files: u64,
    /// Files a request may send.
    pub max_input_files: usize,
    /// Bytes of content returned for written files, per run; past it an
    /// entry says it was cut and carries no content.
    pub max_returned_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::new(),
            quota_bytes: 64 << 20,
            quota_files: 1000,
            max_input_files: 100,
            max_returned_bytes: 8 << 20,
        }
    }
}

impl FilesConfig {
    fn root(&self) -> PathBuf {
        if self.root.as_os_str().is_empty() {
            std::env::temp_dir().join("goru-runs")
        } else {
            self.root.clone()
        }
    }
}

/// A file sent with a request, its path already checked (relative, no `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: String,
    pub content: Vec<u8>,
}

/// A file the run created or changed in its working directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the working directory.
    pub path: String,
    pub size: u64,
    pub media_type: String,
    /// `utf-8` or `base64`; absent when the content was not returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The content was left out: the run's returned-bytes cap was reached.
    pub truncated: bool,
}

/// Why request files could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(
        "the files ({bytes} bytes) do not fit beside what the working directory holds; its quota is {max_bytes} bytes"
    )]
    Quota { bytes: u64, max_bytes: u64 },
    /// A path is taken by something else (a directory, a symlink the code made).
    #[error("{0}")]
    Io(#[source] io::Error),
}

/// What was in the working directory before a run, to tell what it changed.
pub type Snapshot = HashMap<String, (u64, Option<SystemTime>)>;

/// The run's directory. Removed when dropped.
#[derive(Debug)]
pub struct RunDir {
    temp: Option<tempfile::TempDir>,
    quota: Arc<FsQuota>,
}

impl RunDir {
    pub fn create(config: &FilesConfig) -> io::Result<Self> {
        let root = run_root::own_dir(&config.root())?;
        let temp = tempfile::Builder::new().prefix("run-").tempdir_in(&root)?;
        std::fs::create_dir(temp.path().join("work"))?;
        std::fs::create_dir(temp.path().join("tmp"))?;
        let quota = FsQuota::new(
            temp.path().to_owned(),
            config.quota_bytes,
            config.quota_files,
        );
        Ok(Self {
            temp: Some(temp),
            quota: Arc::new(quota),
        })
    }

    /// Whether anything was ever written, made or removed in it (by the
    /// guest, or by placing request files).
    pub fn touched(&self) -> bool {
        self.quota.touched()
    }

    fn base(&self) -> &Path {
        self.quota.root()
    }

    /// The quota `/work` and `/tmp` share.
    pub fn quota(&self) -> Arc<FsQuota> {
        self.quota.clone()
    }

    fn work(&self) -> PathBuf {
        self.base().join("work")
    }

    /// `/work` and `/tmp`, then `mounts`.
    pub fn dirs(&self, mounts: &[Preopen]) -> Dirs {
        let own = |name: &str, guest: &str| Preopen {
            host: self.base().join(name),
            guest: guest.to_owned(),
            writable: true,
            origin: Origin::Counted,
        };
        let mut preopens = vec![own("work", WORK), own("tmp", TMP)];
        preopens.extend(mounts.iter().cloned());
        Dirs {
            preopens,
            workdir: Some(WORK.to_owned()),
            tmpdir: Some(TMP.to_owned()),
            quota: Some(self.quota.clone()),
        }
    }

    /// Writes `files` into the working directory. Paths were checked when the
    /// request was; the directory is ours and holds no guest symlink yet for
    /// a one-shot run. For a session the guest may have made symlinks, so
    /// every component is checked not to be one.
    pub fn place(&self, files: &[InputFile]) -> Result<(), PlaceError> {
        if files.is_empty() {
            return Ok(());
        }
        // A session keeps what earlier cells left: what it holds now and
        // what comes in must fit the quota together.
        let bytes: u64 = files.iter().map(|f| f.content.len() as u64).sum();
        if !self.quota.fits(bytes, files.len() as u64) {
            return Err(PlaceError::Quota {
                bytes,
                max_bytes: self.quota.max_bytes(),
            });
        }
        self.quota.touch();
        self.write_files(files).map_err(PlaceError::Io)
    }

    fn write_files(&self, files: &[InputFile]) -> io::Result<()> {
        let work = self.work();
        for file in files {
            let mut target = work.clone();
            let parts: Vec<&str> = file.path.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                target.push(part);
                if let Ok(meta) = target.symlink_metadata()
                    && meta.file_type().is_symlink()
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} passes through a symlink", file.path),
                    ));
                }
                if i + 1 < parts.len() {
                    match std::fs::create_dir(&target) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            std::fs::write(&target, &file.content)?;
        }
        Ok(())
    }

    /// Every regular file in the working directory with its size and mtime.
    pub fn snapshot(&self, max_entries: u64) -> Snapshot {
        let mut seen = Snapshot::new();
        walk(&self.work(), max_entries, &mut |rel, meta| {
            seen.insert(rel.to_owned(), (meta.len(), meta.modified().ok()));
        });
        seen
    }

    /// The files that are new or changed since `before`, their content
    /// included up to `max_bytes` in all.
    pub fn collect(&self, before: &Snapshot, max_entries: u64, max_bytes: u64) -> Vec<OutputFile> {
        let mut changed = Vec::new();
        let work = self.work();
        walk(&work, max_entries, &mut |rel, meta| {
            let now = (meta.len(), meta.modified().ok());
            if before.get(rel) != Some(&now) {
                changed.push((rel.to_owned(), meta.len()));
            }
        });
        changed.sort();
        let mut budget = max_bytes;
        changed
            .into_iter()
            .map(|(path, size)| {
                let media_type = media_type(&path).to_owned();
                let content = (size <= budget)
                    .then(|| std::fs::read(work.join(&path)).ok())
                    .flatten()
                    .filter(|bytes| bytes.len() as u64 <= budget);
                let (encoding, content) = match content {
                    Some(bytes) => {
                        budget -= bytes.len() as u64;
                        let (encoding, text) = encode(bytes, &media_type);
                        (Some(encoding.to_owned()), Some(text))
                    }
                    None => (None, None),
                };
                OutputFile {
                    truncated: content.is_none(),
                    path,
                    size,
                    media_type,
                    encoding,
                    content,
                }
            })
            .collect()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Removing a tree is blocking I/O: keep it off async workers.
        if let Some(temp) = self.temp.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(temp));
                }
                Err(_) => drop(temp),
            }
        }
    }
}

/// Visits regular files under `dir` (never through a symlink), with paths
/// relative to `dir`, at most `max_entries` entries.
fn walk(dir: &Path, max_entries: u64, visit: &mut dyn FnMut(&str, &std::fs::Metadata)) {
    let mut pending = vec![(dir.to_owned(), String::new())];
    let mut visits = 0;
    while let Some((path, rel)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            visits += 1;
            if visits > max_entries {
                return;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push((entry.path(), child_rel));
            } else if meta.is_file() {
                visit(&child_rel, &meta);
            }
        }
    }
}

/// Text as UTF-8 when it is text: valid UTF-8, no NUL, and not a binary
/// media type. Anything else as base64.
fn encode(bytes: Vec<u8>, media_type: &str) -> (&'static str, String) {
    let binary_type = media_type.starts_with("image/") && media_type != "image/svg+xml"
        || matches!(
            media_type,
            "application/pdf" | "application/zip" | "application/gzip" | "application/vnd.sqlite3"
        );
    if binary_type || bytes.contains(&0) {
        return ("base64", base64_encode(&bytes));
    }
    match String::from_utf8(bytes) {
        Ok(text) => ("utf-8", text),
        Err(e) => ("base64", base64_encode(e.as_bytes())),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A media type from the file's extension.
fn media_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "py" | "md" => "text/plain",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "parquet" => "application/vnd.apache.parquet",
        "sqlite" | "db" => "application/vnd.sqlite3",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(root: &Path) -> FilesConfig {
        FilesConfig {
            root: root.to_owned(),
            ..FilesConfig::default()
        }
    }

    #[test]
    fn placed_files_are_not_reported_until_changed() {
        let root = tempfile::tempdir().unwrap();
        let dir = RunDir::create(&config(root.path())).unwrap();
        let input = InputFile {
            path: "data/in.csv".into(),
            content: b"a,b\n".to_vec(),
        };
        dir.place(&[input]).unwrap();
        let before = dir.snapshot(100);
        std::fs::write(dir.work().join("out.bin"), [0xff, 0x00]).unwrap();
        let out = dir.collect(&before, 100, 1 << 20);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].path, "out.bin");
        assert_eq!(out[0].encoding.as_deref(), Some("base64"));
        assert_eq!(out[0].content.as_deref(), Some("/wA="));
    }

    #[test]
    fn content_past_the_budget_is_left_out_and_flagged() {
        let root = tempfile::tempdir().unwrap();
        let dir = RunDir::create(&config(root.path())).unwrap();
        std::fs::write(dir.work().join("a.txt"), "12345").unwrap();
        std::fs::write(dir.work().join("b.txt"), "12345").unwrap();
        let out = dir.collect(&Snapshot::new(), 100, 7);
        assert_eq!(out[0].content.as_deref(), Some("12345"));
        assert!(out[1].truncated && out[1].content.is_none(), "{out:?}");
    }

    #[test]
    fn a_symlink_is_never_followed_when_collecting() {
        let root = tempfile::tempdir().unwrap();
        let dir = RunDir::create(&config(root.path())).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.work().join("leak")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.work().join("etc")).unwrap();
        assert!(dir.collect(&Snapshot::new(), 100, 1 << 20).is_empty());
    }

    #[test]
    fn dropping_removes_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = RunDir::create(&config(root.path())).unwrap();
        let base = dir.base().to_owned();
        drop(dir);
        assert!(!base.exists());
    }
}
