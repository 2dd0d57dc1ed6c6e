//! Guest paths: parsed, lexically normalised, compared component by component.
//!
//! A guest path never reaches the host file system as a string. It is split
//! into components here, matched to a mount at component boundaries (so
//! `/data-secret` is not inside `/data`), and only the part below the mount
//! point is handed to cap-std, relative to the mount's directory handle.

use std::fmt;
use std::path::PathBuf;

/// Longest guest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest single path component accepted, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// Why a path is unusable before any mount is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("is empty")]
    Empty,
    #[error("is not absolute: paths start with /, like /data/file.txt")]
    Relative,
    #[error("contains a NUL byte")]
    Nul,
    #[error("is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("has a component longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
}

/// An absolute path in the guest's view, with no empty, `.` or `..`
/// components left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPath {
    components: Vec<String>,
}

impl GuestPath {
    /// Parses `raw` the way `os.path.normpath` would: repeated slashes and `.`
    /// vanish, `..` removes the component before it and stays at `/` when there
    /// is none (as POSIX resolves `/..`). Resolving `..` here, before a mount
    /// is chosen, means the part handed to cap-std never contains `..`.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        if !raw.starts_with('/') {
            return Err(PathError::Relative);
        }
        let mut components: Vec<String> = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    components.pop();
                }
                name if name.len() > MAX_NAME_BYTES => return Err(PathError::NameTooLong),
                name => components.push(name.to_owned()),
            }
        }
        Ok(Self { components })
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// Whether `prefix` is this path or one of its ancestors, compared whole
    /// component by whole component.
    pub fn starts_with(&self, prefix: &GuestPath) -> bool {
        self.components.starts_with(&prefix.components)
    }

    /// The part of this path below `prefix` as a relative host path, `.` for
    /// `prefix` itself; `None` when `prefix` is not an ancestor.
    pub fn relative_to(&self, prefix: &GuestPath) -> Option<PathBuf> {
        let rest = self.components.strip_prefix(prefix.components.as_slice())?;
        if rest.is_empty() {
            return Some(PathBuf::from("."));
        }
        Some(rest.iter().collect())
    }

    /// How many components deep the path is; a longer mount match wins.
    pub fn depth(&self) -> usize {
        self.components.len()
    }

    /// The last component, `/` for the root.
    pub fn name(&self) -> &str {
        self.components.last().map_or("/", String::as_str)
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.components.is_empty() {
            return f.write_str("/");
        }
        for c in &self.components {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(raw: &str) -> String {
        GuestPath::parse(raw).unwrap().to_string()
    }

    #[test]
    fn dots_and_repeated_slashes_are_normalised_away() {
        assert_eq!(p("//data/./x"), "/data/x");
        assert_eq!(p("/data/sub/../x/"), "/data/x");
        assert_eq!(p("/data/../../.."), "/");
    }

    #[test]
    fn dot_dot_climbs_out_of_a_mount_lexically() {
        assert_eq!(p("/data/../etc/passwd"), "/etc/passwd");
        assert_eq!(p("/data/sub/../../x"), "/x");
    }

    #[test]
    fn prefixes_match_whole_components_only() {
        let data = GuestPath::parse("/data").unwrap();
        assert!(
            !GuestPath::parse("/data-secret/x")
                .unwrap()
                .starts_with(&data)
        );
        assert!(!GuestPath::parse("/datax").unwrap().starts_with(&data));
        let inside = GuestPath::parse("/data/a/b").unwrap();
        assert_eq!(inside.relative_to(&data).unwrap(), PathBuf::from("a/b"));
        assert_eq!(data.relative_to(&data).unwrap(), PathBuf::from("."));
    }

    #[test]
    fn unusable_paths_say_why() {
        assert_eq!(GuestPath::parse(""), Err(PathError::Empty));
        assert_eq!(GuestPath::parse("data/x"), Err(PathError::Relative));
        assert_eq!(GuestPath::parse("/data/\0x"), Err(PathError::Nul));
        let long = format!("/data/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(GuestPath::parse(&long), Err(PathError::TooLong));
        let name = format!("/data/{}", "a".repeat(MAX_NAME_BYTES + 1));
        assert_eq!(GuestPath::parse(&name), Err(PathError::NameTooLong));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Whatever the guest sends, a parsed path is absolute, has no
            /// `.`, `..` or empty component and reads back as itself: nothing
            /// handed on can climb out of a mount.
            #[test]
            fn a_parsed_path_is_normalised_and_stable(raw in "(/|\\.\\.|\\.|[a-z]{1,3}|\\PC{0,4}){0,40}") {
                if let Ok(path) = GuestPath::parse(&raw) {
                    let text = path.to_string();
                    prop_assert!(text.starts_with('/'));
                    prop_assert!(text == "/" || !text.ends_with('/'));
                    for part in text.split('/').skip(1) {
                        prop_assert!(text == "/" || !(part.is_empty() || part == "." || part == ".."), "{}", text);
                    }
                    prop_assert_eq!(GuestPath::parse(&text).unwrap().to_string(), text.clone());
                    if let Some(rel) = path.relative_to(&GuestPath::parse("/").unwrap()) {
                        prop_assert!(rel.components().all(|c| matches!(
                            c,
                            std::path::Component::Normal(_) | std::path::Component::CurDir
                        )));
                    }
                }
            }
        }
    }
}
