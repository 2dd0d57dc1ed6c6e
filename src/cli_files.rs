//! `goru --workdir DIR`: a local directory in, the files a run wrote back out.

use std::path::Path;

use crate::sandbox::{FilesConfig, InputFile, OutputFile};

/// Every regular file under `dir` (symlinks skipped), within the quota.
pub fn read_dir(dir: &Path, config: Option<&FilesConfig>) -> Result<Vec<InputFile>, String> {
    let config = config.cloned().unwrap_or_default();
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![(dir.to_owned(), String::new())];
    while let Some((path, rel)) = pending.pop() {
        let entries =
            std::fs::read_dir(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| format!("{n:?} is not a UTF-8 name"))?;
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| format!("cannot read {child}: {e}"))?;
            if meta.is_dir() {
                pending.push((entry.path(), child));
            } else if meta.is_file() {
                total += meta.len();
                if total > config.quota_bytes || files.len() as u64 >= config.quota_files {
                    return Err(format!(
                        "{} holds more than the run quota ({} bytes, {} files)",
                        dir.display(),
                        config.quota_bytes,
                        config.quota_files
                    ));
                }
                let content =
                    std::fs::read(entry.path()).map_err(|e| format!("cannot read {child}: {e}"))?;
                files.push(InputFile {
                    path: child,
                    content,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Writes the files the run created or changed back under `dir`.
pub fn write_back(dir: &Path, files: &[OutputFile]) -> Result<(), String> {
    use base64::Engine;
    for file in files {
        let Some(content) = &file.content else {
            return Err(format!(
                "{} was too large to return; not written",
                file.path
            ));
        };
        let bytes = match file.encoding.as_deref() {
            Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|e| format!("{}: {e}", file.path))?,
            _ => content.clone().into_bytes(),
        };
        // The path came from our own walk of the run directory: relative,
        // without `..`; refuse anything else rather than trust it.
        if file
            .path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(format!("{} is not a plain relative path", file.path));
        }
        // Never through a symlink in the local directory: the guest did not
        // see them, and must not write where they point.
        let mut target = dir.to_owned();
        let parts: Vec<&str> = file.path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            target.push(part);
            if target
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(format!(
                    "{} passes through a symlink; not written",
                    file.path
                ));
            }
            if i + 1 < parts.len() && !target.is_dir() {
                std::fs::create_dir(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            }
        }
        std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(())
}
