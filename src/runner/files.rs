//! Files sent with a request: their paths checked before anything runs, so a
//! bad entry is a 400 naming it, and nothing outside the run's working
//! directory can ever be named.

use crate::sandbox::{FilesConfig, InputFile};

/// A file entry that cannot be placed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("files[{index}].path {path:?} is refused: {why}")]
    Path {
        index: usize,
        path: String,
        why: &'static str,
    },
    #[error("files[{index}].path {path:?} appears twice")]
    Duplicate { index: usize, path: String },
    #[error("{count} files sent; at most {max} per request")]
    TooMany { count: usize, max: usize },
    #[error("files hold {total} bytes; the working directory's quota is {max} bytes")]
    TooLarge { total: u64, max: u64 },
    #[error("files[{index}].content is not valid {encoding}")]
    Encoding {
        index: usize,
        encoding: &'static str,
    },
}

impl FileError {
    /// The request field at fault.
    pub fn field(&self) -> String {
        match self {
            Self::Path { index, .. } | Self::Duplicate { index, .. } => {
                format!("files[{index}].path")
            }
            Self::Encoding { index, .. } => format!("files[{index}].content"),
            Self::TooMany { .. } | Self::TooLarge { .. } => "files".to_owned(),
        }
    }
}

/// Longest path and path component accepted.
const MAX_PATH_BYTES: usize = 1024;
const MAX_NAME_BYTES: usize = 255;

/// Why `path` may not name a file in the working directory, if it may not.
fn refuse(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("it is longer than 1024 bytes");
    }
    if path.contains('\0') {
        return Some("it contains a NUL byte");
    }
    if path.chars().any(char::is_control) {
        return Some("it contains a control character");
    }
    if path.contains('\\') {
        return Some("it contains a backslash; separate directories with /");
    }
    if path.starts_with('/') {
        return Some("it is absolute; give a path relative to the working directory /work");
    }
    for part in path.split('/') {
        match part {
            "" => return Some("it has an empty component (// or a trailing /)"),
            "." | ".." => return Some("it has a . or .. component"),
            p if p.len() > MAX_NAME_BYTES => return Some("a component is longer than 255 bytes"),
            _ => {}
        }
    }
    None
}

/// Checks every entry and the totals against the configuration.
pub fn check(files: &[InputFile], config: &FilesConfig) -> Result<(), FileError> {
    if files.len() > config.max_input_files {
        return Err(FileError::TooMany {
            count: files.len(),
            max: config.max_input_files,
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    for (index, file) in files.iter().enumerate() {
        if let Some(why) = refuse(&file.path) {
            return Err(FileError::Path {
                index,
                path: file.path.clone(),
                why,
            });
        }
        // A file and a directory of the same name cannot both be placed.
        let clash = seen.iter().any(|other: &&str| {
            other.starts_with(&format!("{}/", file.path))
                || file.path.starts_with(&format!("{other}/"))
        });
        if !seen.insert(file.path.as_str()) || clash {
            return Err(FileError::Duplicate {
                index,
                path: file.path.clone(),
            });
        }
        total += file.content.len() as u64;
    }
    if total > config.quota_bytes {
        return Err(FileError::TooLarge {
            total,
            max: config.quota_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> InputFile {
        InputFile {
            path: path.to_owned(),
            content: Vec::new(),
        }
    }

    #[test]
    fn paths_that_could_leave_the_working_directory_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\0b",
            "a\\b",
            "a\nb",
        ] {
            let err = check(&[file(bad)], &FilesConfig::default()).unwrap_err();
            assert_eq!(err.field(), "files[0].path", "{bad:?}: {err}");
        }
    }

    #[test]
    fn relative_paths_with_directories_are_accepted() {
        check(
            &[file("data.csv"), file("in/nested/x.json"), file(".hidden")],
            &FilesConfig::default(),
        )
        .unwrap();
    }

    #[test]
    fn duplicates_and_file_directory_clashes_are_refused_naming_the_entry() {
        let err = check(&[file("a"), file("a")], &FilesConfig::default()).unwrap_err();
        assert_eq!(err.field(), "files[1].path");
        let err = check(&[file("a"), file("a/b")], &FilesConfig::default()).unwrap_err();
        assert_eq!(err.field(), "files[1].path");
    }

    #[test]
    fn too_many_or_too_large_is_refused_with_the_limit() {
        let config = FilesConfig {
            max_input_files: 1,
            quota_bytes: 3,
            ..FilesConfig::default()
        };
        let err = check(&[file("a"), file("b")], &config).unwrap_err();
        assert!(err.to_string().contains("at most 1"), "{err}");
        let big = InputFile {
            path: "a".into(),
            content: vec![0; 4],
        };
        assert!(
            check(&[big], &config)
                .unwrap_err()
                .to_string()
                .contains("quota is 3")
        );
    }
}
