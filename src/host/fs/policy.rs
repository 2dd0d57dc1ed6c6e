//! Turning what a policy or the command line asks for into opened mounts.
//!
//! Everything is checked before any directory is opened, so a bad request
//! costs no file descriptors and reports the first problem by field.

use std::collections::BTreeMap;

use super::error::FsError;
use super::mount::{Mount, MountConfig, check_guest_path, parse_cli_mount};
use super::path::GuestPath;

/// Most mounts one run may have; each holds a directory descriptor open for
/// the length of the run.
pub const MAX_MOUNTS_PER_RUN: usize = 32;

/// Checks a policy's `mounts` against the server's mount points and opens
/// them. Errors name the field (`mounts[1].mode`) and what was allowed.
pub fn resolve_requests(
    points: &BTreeMap<String, MountConfig>,
    requests: &[super::MountRequest],
) -> Result<Vec<Mount>, FsError> {
    check_count(requests.len())?;
    let mut checked = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let field = |name: &str| format!("mounts[{i}].{name}");
        let point = points
            .get(&request.name)
            .ok_or_else(|| FsError::UnknownMount {
                field: field("name"),
                name: request.name.clone(),
                known: known(points),
            })?;
        if request.mode > point.max_mode {
            return Err(FsError::ModeTooStrong {
                field: field("mode"),
                name: request.name.clone(),
                requested: request.mode,
                max: point.max_mode,
            });
        }
        let guest_field = field("guest_path");
        let guest = check_guest_path(&guest_field, &request.guest_path)?;
        checked.push((guest_field, guest, point));
    }
    check_overlaps(checked.iter().map(|(f, g, _)| (f.as_str(), g)))?;
    requests
        .iter()
        .zip(&checked)
        .map(|(request, (_, _, point))| Mount::open(&request.guest_path, &point.path, request.mode))
        .collect()
}

/// Parses and opens `--mount` flags (`GUEST:HOST:MODE`), refusing repeated
/// or nested guest paths.
pub fn open_cli_mounts(specs: &[String]) -> Result<Vec<Mount>, FsError> {
    check_count(specs.len())?;
    let parsed = specs
        .iter()
        .map(|spec| parse_cli_mount(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let guests = parsed
        .iter()
        .map(|(guest, _, _)| check_guest_path("--mount", guest))
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<String> = specs.iter().map(|s| format!("--mount {s}")).collect();
    check_overlaps(fields.iter().map(String::as_str).zip(&guests))?;
    parsed
        .iter()
        .map(|(guest, host, mode)| Mount::open(guest, host, *mode))
        .collect()
}

/// Opens every configured mount point once and drops it, so a mistyped
/// `path` fails start-up rather than the first run that asks for it.
pub fn check_config(points: &BTreeMap<String, MountConfig>) -> Result<(), FsError> {
    for (name, point) in points {
        cap_std::fs::Dir::open_ambient_dir(&point.path, cap_std::ambient_authority()).map_err(
            |source| FsError::ConfigPath {
                name: name.clone(),
                path: point.path.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

fn check_count(count: usize) -> Result<(), FsError> {
    if count > MAX_MOUNTS_PER_RUN {
        return Err(FsError::TooMany {
            count,
            max: MAX_MOUNTS_PER_RUN,
        });
    }
    Ok(())
}

fn known(points: &BTreeMap<String, MountConfig>) -> String {
    if points.is_empty() {
        return "none".to_owned();
    }
    points
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Two mounts at the same guest path, or one inside another, would make a
/// path's mount depend on matching order; refuse both.
fn check_overlaps<'a>(
    mounts: impl Iterator<Item = (&'a str, &'a GuestPath)>,
) -> Result<(), FsError> {
    let mounts: Vec<_> = mounts.collect();
    for (j, (field, path)) in mounts.iter().enumerate() {
        for (other_field, other) in &mounts[..j] {
            if path.starts_with(other) || other.starts_with(path) {
                return Err(FsError::Overlap {
                    field: (*field).to_owned(),
                    path: path.to_string(),
                    other: other.to_string(),
                    other_field: (*other_field).to_owned(),
                });
            }
        }
    }
    Ok(())
}
