//! The guest's `fs_*` functions for one run: JSON arguments checked here, the
//! work done by [`Fs`] on tokio's blocking pool.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::FsLimits;
use super::mount::Mount;
use super::ops::Fs;
use crate::host::{HostCalls, HostError, HostErrorKind};

/// One function's arguments: a JSON object with exactly the expected keys.
struct Args {
    function: &'static str,
    map: Map<String, Value>,
}

impl Args {
    /// Refuses non-objects and unknown keys the way Python refuses an
    /// unexpected keyword, so a misspelt option is never silently ignored.
    fn new(function: &'static str, keys: &[&str], args: Value) -> Result<Self, HostError> {
        let type_error = |m: String| HostError::new(HostErrorKind::Type, m);
        let Value::Object(map) = args else {
            return Err(type_error(format!("{function}: arguments must be a dict")));
        };
        if let Some(extra) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(type_error(format!(
                "{function} got an unexpected argument {extra:?}"
            )));
        }
        Ok(Self { function, map })
    }

    fn str(&self, key: &str) -> Result<&str, HostError> {
        match self.map.get(key) {
            Some(Value::String(s)) => Ok(s),
            None => Err(HostError::new(
                HostErrorKind::Type,
                format!("{} is missing argument {key:?}", self.function),
            )),
            Some(_) => Err(HostError::new(
                HostErrorKind::Type,
                format!("{}: {key} must be a str", self.function),
            )),
        }
    }

    fn path(&self) -> Result<&str, HostError> {
        self.str("path")
    }
}

type Op = fn(&Fs, &Args) -> Result<Value, HostError>;

/// Adds `fs_read`, `fs_write`, `fs_list`, `fs_exists`, `fs_mkdir`,
/// `fs_remove` and `fs_stat` over `mounts`. With no mounts every path is
/// refused with `PermissionError`.
pub fn register(calls: &mut HostCalls, mounts: Vec<Mount>, limits: FsLimits) {
    let fs = Arc::new(Fs::new(mounts, limits));
    let table: [(&'static str, &'static [&'static str], Op); 7] = [
        ("fs_read", &["path"], |fs, a| {
            Ok(Value::String(fs.read(a.path()?)?))
        }),
        ("fs_write", &["path", "content"], |fs, a| {
            Ok(json!(fs.write(a.path()?, a.str("content")?)?))
        }),
        ("fs_list", &["path"], |fs, a| Ok(json!(fs.list(a.path()?)?))),
        ("fs_exists", &["path"], |fs, a| {
            Ok(json!(fs.exists(a.path()?)?))
        }),
        ("fs_mkdir", &["path"], |fs, a| {
            fs.mkdir(a.path()?)?;
            Ok(Value::Null)
        }),
        ("fs_remove", &["path"], |fs, a| {
            fs.remove(a.path()?)?;
            Ok(Value::Null)
        }),
        ("fs_stat", &["path"], |fs, a| Ok(json!(fs.stat(a.path()?)?))),
    ];
    for (name, keys, op) in table {
        let fs = fs.clone();
        calls.add(name, move |args| {
            let fs = fs.clone();
            async move {
                let args = Args::new(name, keys, args)?;
                // cap-std is synchronous; keep its system calls off the
                // runtime's worker threads.
                tokio::task::spawn_blocking(move || op(&fs, &args))
                    .await
                    .map_err(|_| {
                        HostError::new(HostErrorKind::Other, format!("{name} failed unexpectedly"))
                    })?
            }
        });
    }
}
