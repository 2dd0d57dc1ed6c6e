//! Where this process makes its run directories: `<root>/proc-<pid>-<random>/`,
//! with an exclusive lock on its `.lock` file for as long as the process lives.
//!
//! A run directory is removed when its run ends. When the process dies
//! first, it stays: a crash, a SIGKILL, or an exit that never drops the
//! pooled instances (each holds a directory). The lock tells a later process
//! which sibling directories no living process owns. It removes those when
//! it makes its own, so leftovers never add up run after run.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Names of owned directories.
const OWNED: &str = "proc-";
/// Names of directories still being set up (see [`own_dir`]).
const NEW: &str = ".new-proc-";
/// The file whose lock marks the owner alive.
const LOCK: &str = ".lock";
/// A directory still named `NEW` after this long was left by a process that
/// died while setting it up.
const NEW_GRACE: Duration = Duration::from_secs(600);

struct Owned {
    root: PathBuf,
    dir: PathBuf,
    /// Held open: the lock lasts as long as the file stays open.
    _lock: File,
}

/// One directory per root per process (tests run many servers in one).
static OWNED_DIRS: Mutex<Vec<Owned>> = Mutex::new(Vec::new());

/// This process's directory under `root`, made (and the dead ones' removed)
/// on first use.
pub fn own_dir(root: &Path) -> io::Result<PathBuf> {
    let mut owned = OWNED_DIRS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = owned.iter().find(|o| o.root == root) {
        return Ok(found.dir.clone());
    }
    std::fs::create_dir_all(root)?;
    // Locked under a name the sweep does not take for an owned directory,
    // then renamed: another process's sweep can never find it unlocked.
    let prefix = format!("{NEW}{}-", std::process::id());
    let staging = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(root)?
        .keep();
    let lock = File::create(staging.join(LOCK))?;
    lock.try_lock().map_err(|e| match e {
        TryLockError::Error(e) => e,
        TryLockError::WouldBlock => io::Error::other("a fresh lock file was locked already"),
    })?;
    let name = staging
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(NEW))
        .ok_or_else(|| io::Error::other("unexpected staging directory name"))?;
    let dir = root.join(format!("{OWNED}{name}"));
    std::fs::rename(&staging, &dir)?;
    remove_dead(root, &dir);
    owned.push(Owned {
        root: root.to_owned(),
        dir: dir.clone(),
        _lock: lock,
    });
    Ok(dir)
}

/// Removes the directories under `root` whose owner is gone: an owned one
/// whose lock can be taken, a staging one older than `NEW_GRACE`. Old
/// `run-*` directories made directly in the root by earlier versions are left
/// alone: nothing tells whether a process of that version still uses them.
fn remove_dead(root: &Path, own: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || path == own {
            continue;
        }
        let dead = if name.starts_with(OWNED) {
            owner_gone(&path)
        } else if name.starts_with(NEW) {
            older_than(&path, NEW_GRACE)
        } else {
            false
        };
        if dead {
            match std::fs::remove_dir_all(&path) {
                // Another process's sweep got there first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Ok(()) => {
                    tracing::info!(dir = %path.display(), "removed a dead process's run directories")
                }
                Err(e) => {
                    tracing::warn!(dir = %path.display(), error = %e, "could not remove a dead process's run directories")
                }
            }
        }
    }
}

/// Whether no process holds `dir`'s lock. A missing lock file means the
/// directory was renamed into place after locking, so it cannot happen for
/// a live owner: the owner is gone.
fn owner_gone(dir: &Path) -> bool {
    match File::open(dir.join(LOCK)) {
        Ok(file) => matches!(file.try_lock(), Ok(())),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn older_than(path: &Path, age: Duration) -> bool {
    path.symlink_metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|elapsed| elapsed > age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(root: &Path, name: &str, lock: bool) -> (PathBuf, Option<File>) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("run-x/work")).unwrap();
        std::fs::write(dir.join("run-x/work/data.csv"), "a,b").unwrap();
        let file = File::create(dir.join(LOCK)).unwrap();
        let held = lock.then(|| {
            file.try_lock().unwrap();
            file
        });
        (dir, held)
    }

    #[test]
    fn a_dead_process_s_directory_is_removed_and_a_live_one_s_kept() {
        let root = tempfile::tempdir().unwrap();
        let (dead, _) = make(root.path(), "proc-1-dead", false);
        let (live, _held) = make(root.path(), "proc-2-live", true);
        let (fresh_staging, _) = make(root.path(), ".new-proc-3-fresh", false);
        let (other, _) = make(root.path(), "run-olderversion", false);

        let own = own_dir(root.path()).unwrap();

        assert!(!dead.exists(), "a dead process's directory is still there");
        assert!(live.exists(), "a live process's directory was removed");
        assert!(
            fresh_staging.exists(),
            "a directory being set up was removed"
        );
        assert!(
            other.exists(),
            "a directory of unknown ownership was removed"
        );
        assert!(own.starts_with(root.path()) && own.is_dir());
        assert!(
            own.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(OWNED),
            "{own:?}"
        );
        // Held: another open file description cannot take its lock.
        let probe = File::open(own.join(LOCK)).unwrap();
        assert!(matches!(probe.try_lock(), Err(TryLockError::WouldBlock)));
        // One per root per process.
        assert_eq!(own_dir(root.path()).unwrap(), own);
    }
}
