//! Mounted files: every `fs_*` function in every mode, every escape, the caps,
//! the policy and flag parsing, and the door from real Python guests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use goru::host::HostCalls;
use goru::host::fs::{
    FsError, FsLimits, MAX_MOUNTS_PER_RUN, MAX_PATH_BYTES, Mode, Mount, MountConfig, MountRequest,
    check_config, open_cli_mounts, parse_cli_mount, register, resolve_requests,
};
use goru::sandbox::Status;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A host tree: `data/` (the mount) beside `outside/` (which must stay out of
/// reach) and `data-secret/` (a sibling whose name starts like the mount's).
struct Host {
    tmp: TempDir,
}

impl Host {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::create_dir_all(root.join("data/empty")).unwrap();
        fs::create_dir_all(root.join("outside")).unwrap();
        fs::create_dir_all(root.join("data-secret")).unwrap();
        fs::write(root.join("data/a.txt"), "alpha").unwrap();
        fs::write(root.join("data/hello.txt"), "hello from the host").unwrap();
        fs::write(root.join("data/sub/b.txt"), "beta").unwrap();
        fs::write(root.join("outside/secret.txt"), "secret").unwrap();
        fs::write(root.join("data-secret/x.txt"), "sibling").unwrap();
        // Links out of the mount, absolute and relative, to a file and a dir.
        symlink(root.join("outside/secret.txt"), root.join("data/link_out")).unwrap();
        symlink("../outside/secret.txt", root.join("data/link_out_rel")).unwrap();
        symlink(root.join("outside"), root.join("data/dir_out")).unwrap();
        // A link that stays inside is an ordinary path.
        symlink("sub/b.txt", root.join("data/link_in")).unwrap();
        Self { tmp }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    /// `/data` mounted with `mode` and default limits.
    fn calls(&self, mode: Mode) -> HostCalls {
        self.calls_with(mode, FsLimits::default())
    }

    fn calls_with(&self, mode: Mode, limits: FsLimits) -> HostCalls {
        let mount = Mount::open("/data", &self.path("data"), mode).unwrap();
        let mut calls = HostCalls::none();
        register(&mut calls, vec![mount], limits);
        calls
    }
}

/// Calls `name` and decodes either side: `Err((exception type, message))`.
async fn call(calls: &HostCalls, name: &str, args: Value) -> Result<Value, (String, String)> {
    match calls.dispatch(name, &args.to_string()).await {
        Ok(json) => Ok(serde_json::from_str(&json).unwrap()),
        Err(json) => {
            let e: Value = serde_json::from_str(&json).unwrap();
            Err((
                e["type"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            ))
        }
    }
}

async fn ok(calls: &HostCalls, name: &str, args: Value) -> Value {
    call(calls, name, args)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// The exception type and message of a call that must fail.
async fn err(calls: &HostCalls, name: &str, args: Value) -> (String, String) {
    match call(calls, name, args.clone()).await {
        Ok(v) => panic!("{name}({args}) should fail, returned {v}"),
        Err(e) => e,
    }
}

async fn err_type(calls: &HostCalls, name: &str, args: Value) -> String {
    err(calls, name, args).await.0
}

fn path(p: &str) -> Value {
    json!({ "path": p })
}

// ---- ro ----

#[tokio::test]
async fn ro_reads_lists_stats_and_checks_existence() {
    let host = Host::new();
    let calls = host.calls(Mode::Ro);
    assert_eq!(ok(&calls, "fs_read", path("/data/a.txt")).await, "alpha");
    assert_eq!(ok(&calls, "fs_read", path("/data/link_in")).await, "beta");
    assert_eq!(ok(&calls, "fs_exists", path("/data/a.txt")).await, true);
    assert_eq!(ok(&calls, "fs_exists", path("/data/nope")).await, false);
    assert_eq!(ok(&calls, "fs_exists", path("/data/a.txt/x")).await, false);
    assert_eq!(ok(&calls, "fs_exists", path("/data")).await, true);

    let stat = ok(&calls, "fs_stat", path("/data/a.txt")).await;
    assert_eq!(stat["name"], "a.txt");
    assert_eq!(stat["is_dir"], false);
    assert_eq!(stat["size"], 5);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let modified = stat["modified"].as_f64().unwrap();
    assert!((now - modified).abs() < 3600.0, "{modified} vs {now}");
    let stat = ok(&calls, "fs_stat", path("/data/sub")).await;
    assert_eq!(
        (stat["name"].as_str(), stat["is_dir"].as_bool()),
        (Some("sub"), Some(true))
    );
    assert_eq!(ok(&calls, "fs_stat", path("/data")).await["name"], "data");
}

#[tokio::test]
async fn ro_lists_entries_sorted_by_name_without_following_links_out() {
    let host = Host::new();
    let calls = host.calls(Mode::Ro);
    let list = ok(&calls, "fs_list", path("/data")).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "a.txt",
            "dir_out",
            "empty",
            "hello.txt",
            "link_in",
            "link_out",
            "link_out_rel",
            "sub"
        ]
    );
    let entry = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        entry("a.txt"),
        json!({"name": "a.txt", "is_dir": false, "size": 5})
    );
    assert_eq!(
        entry("sub"),
        json!({"name": "sub", "is_dir": true, "size": 0})
    );
    // Inside links are followed; a link out is described as itself.
    assert_eq!(entry("link_in")["size"], 4);
    assert_eq!(entry("dir_out")["is_dir"], false);
    assert_eq!(
        ok(&calls, "fs_list", path("/data/sub")).await,
        json!([{"name": "b.txt", "is_dir": false, "size": 4}])
    );
    assert_eq!(ok(&calls, "fs_list", path("/data/empty")).await, json!([]));
}

#[tokio::test]
async fn ro_refuses_every_change_with_permission_error() {
    let host = Host::new();
    let calls = host.calls(Mode::Ro);
    let (kind, msg) = err(
        &calls,
        "fs_write",
        json!({"path": "/data/a.txt", "content": "x"}),
    )
    .await;
    assert_eq!(kind, "PermissionError");
    assert!(msg.contains("/data is mounted ro"), "{msg}");
    for (name, args) in [
        ("fs_write", json!({"path": "/data/new.txt", "content": "x"})),
        ("fs_mkdir", path("/data/newdir")),
        ("fs_remove", path("/data/a.txt")),
        ("fs_remove", path("/data/empty")),
    ] {
        assert_eq!(
            err_type(&calls, name, args).await,
            "PermissionError",
            "{name}"
        );
    }
    assert_eq!(host.read("data/a.txt"), "alpha");
    assert!(!host.path("data/new.txt").exists() && !host.path("data/newdir").exists());
    assert!(host.path("data/empty").is_dir());
}

// ---- rw ----

#[tokio::test]
async fn rw_overwrites_existing_files_whole() {
    let host = Host::new();
    let calls = host.calls(Mode::Rw);
    let n = ok(
        &calls,
        "fs_write",
        json!({"path": "/data/hello.txt", "content": "héllo"}),
    )
    .await;
    assert_eq!(n, 6, "bytes, not characters");
    assert_eq!(
        host.read("data/hello.txt"),
        "héllo",
        "the longer old content is gone"
    );
    ok(
        &calls,
        "fs_write",
        json!({"path": "/data/link_in", "content": "via link"}),
    )
    .await;
    assert_eq!(host.read("data/sub/b.txt"), "via link");
}

#[tokio::test]
async fn rw_cannot_create_files_or_directories_or_remove() {
    let host = Host::new();
    let calls = host.calls(Mode::Rw);
    let (kind, msg) = err(
        &calls,
        "fs_write",
        json!({"path": "/data/new.txt", "content": "x"}),
    )
    .await;
    assert_eq!(kind, "PermissionError");
    assert!(
        msg.contains("cannot create /data/new.txt") && msg.contains("rwc"),
        "{msg}"
    );
    assert!(!host.path("data/new.txt").exists());
    assert_eq!(
        err_type(&calls, "fs_mkdir", path("/data/d")).await,
        "PermissionError"
    );
    assert_eq!(
        err_type(&calls, "fs_remove", path("/data/a.txt")).await,
        "PermissionError"
    );
    assert!(host.path("data/a.txt").exists());
    // Reading is still allowed.
    assert_eq!(ok(&calls, "fs_read", path("/data/a.txt")).await, "alpha");
}

// ---- rwc ----

#[tokio::test]
async fn rwc_creates_files_and_directories_and_removes_them() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    assert_eq!(ok(&calls, "fs_mkdir", path("/data/out")).await, Value::Null);
    assert!(host.path("data/out").is_dir());
    let n = ok(
        &calls,
        "fs_write",
        json!({"path": "/data/out/r.txt", "content": "result"}),
    )
    .await;
    assert_eq!(n, 6);
    assert_eq!(host.read("data/out/r.txt"), "result");
    assert_eq!(
        ok(&calls, "fs_read", path("/data/out/r.txt")).await,
        "result"
    );

    let (kind, msg) = err(&calls, "fs_remove", path("/data/out")).await;
    assert_eq!(
        (kind.as_str(), msg.contains("not empty")),
        ("OSError", true),
        "{msg}"
    );
    assert_eq!(
        ok(&calls, "fs_remove", path("/data/out/r.txt")).await,
        Value::Null
    );
    assert_eq!(
        ok(&calls, "fs_remove", path("/data/out")).await,
        Value::Null
    );
    assert!(!host.path("data/out").exists());
}

#[tokio::test]
async fn rwc_mkdir_makes_one_level_and_refuses_what_exists() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    assert_eq!(
        err_type(&calls, "fs_mkdir", path("/data/sub")).await,
        "FileExistsError"
    );
    assert_eq!(
        err_type(&calls, "fs_mkdir", path("/data/a.txt")).await,
        "FileExistsError"
    );
    assert_eq!(
        err_type(&calls, "fs_mkdir", path("/data")).await,
        "FileExistsError"
    );
    assert_eq!(
        err_type(&calls, "fs_mkdir", path("/data/x/y")).await,
        "FileNotFoundError"
    );
    assert_eq!(
        err_type(
            &calls,
            "fs_write",
            json!({"path": "/data/x/y.txt", "content": ""})
        )
        .await,
        "FileNotFoundError"
    );
}

#[tokio::test]
async fn rwc_remove_takes_a_link_not_its_target_and_never_the_mount_point() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    ok(&calls, "fs_remove", path("/data/link_out")).await;
    assert!(!host.path("data/link_out").exists());
    assert_eq!(host.read("outside/secret.txt"), "secret");
    ok(&calls, "fs_remove", path("/data/dir_out")).await;
    assert!(host.path("outside").is_dir());
    let (kind, msg) = err(&calls, "fs_remove", path("/data")).await;
    assert_eq!(kind, "PermissionError");
    assert!(msg.contains("mount point"), "{msg}");
    assert_eq!(
        err_type(&calls, "fs_remove", path("/data/nope")).await,
        "FileNotFoundError"
    );
}

// ---- wrong kinds of file ----

#[tokio::test]
async fn directories_and_files_are_told_apart() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    assert_eq!(
        err_type(&calls, "fs_read", path("/data/sub")).await,
        "IsADirectoryError"
    );
    assert_eq!(
        err_type(&calls, "fs_read", path("/data")).await,
        "IsADirectoryError"
    );
    assert_eq!(
        err_type(
            &calls,
            "fs_write",
            json!({"path": "/data/sub", "content": "x"})
        )
        .await,
        "IsADirectoryError"
    );
    assert_eq!(
        err_type(&calls, "fs_list", path("/data/a.txt")).await,
        "NotADirectoryError"
    );
    assert_eq!(
        err_type(&calls, "fs_read", path("/data/nope")).await,
        "FileNotFoundError"
    );
    assert_eq!(
        err_type(&calls, "fs_stat", path("/data/nope")).await,
        "FileNotFoundError"
    );
    assert_eq!(
        err_type(&calls, "fs_list", path("/data/nope")).await,
        "FileNotFoundError"
    );
}

#[tokio::test]
async fn a_file_that_is_not_utf8_text_is_a_value_error() {
    let host = Host::new();
    fs::write(host.path("data/bin"), [0x61, 0xff, 0x62]).unwrap();
    let (kind, msg) = err(&host.calls(Mode::Ro), "fs_read", path("/data/bin")).await;
    assert_eq!(kind, "ValueError");
    assert!(
        msg.contains("not UTF-8") && msg.contains("offset 1"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_fifo_in_a_mount_is_refused_without_blocking() {
    let host = Host::new();
    let fifo = host.path("data/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here: nothing to test
    }
    let calls = host.calls(Mode::Rw);
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        call(&calls, "fs_read", path("/data/fifo")),
    );
    assert_eq!(read.await.expect("did not block").unwrap_err().0, "OSError");
    let write = call(
        &calls,
        "fs_write",
        json!({"path": "/data/fifo", "content": "x"}),
    );
    let write = tokio::time::timeout(std::time::Duration::from_secs(10), write);
    assert!(write.await.expect("did not block").is_err());
}

// ---- size caps ----

#[tokio::test]
async fn reads_above_max_read_bytes_are_refused_naming_the_limit() {
    let host = Host::new();
    let limits = FsLimits {
        max_read_bytes: 4,
        ..FsLimits::default()
    };
    let calls = host.calls_with(Mode::Ro, limits);
    let (kind, msg) = err(&calls, "fs_read", path("/data/a.txt")).await;
    assert_eq!(kind, "ValueError");
    assert!(
        msg.contains("max_read_bytes (4)") && msg.contains("5 bytes"),
        "{msg}"
    );
    assert_eq!(ok(&calls, "fs_read", path("/data/sub/b.txt")).await, "beta");
}

#[tokio::test]
async fn writes_above_max_write_bytes_are_refused_naming_the_limit() {
    let host = Host::new();
    let limits = FsLimits {
        max_write_bytes: 3,
        ..FsLimits::default()
    };
    let calls = host.calls_with(Mode::Rwc, limits);
    let (kind, msg) = err(
        &calls,
        "fs_write",
        json!({"path": "/data/a.txt", "content": "four"}),
    )
    .await;
    assert_eq!(kind, "ValueError");
    assert!(
        msg.contains("max_write_bytes (3)") && msg.contains("4 bytes"),
        "{msg}"
    );
    assert_eq!(host.read("data/a.txt"), "alpha", "untouched");
    ok(
        &calls,
        "fs_write",
        json!({"path": "/data/a.txt", "content": "abc"}),
    )
    .await;
    assert_eq!(host.read("data/a.txt"), "abc");
}

#[test]
fn limits_default_to_8_mib_and_parse_strictly() {
    assert_eq!(
        FsLimits::default(),
        FsLimits {
            max_read_bytes: 8 << 20,
            max_write_bytes: 8 << 20
        }
    );
    let l: FsLimits = toml::from_str("max_read_bytes = 10").unwrap();
    assert_eq!((l.max_read_bytes, l.max_write_bytes), (10, 8 << 20));
    assert!(toml::from_str::<FsLimits>("max_reads = 10").is_err());
}

// ---- escapes ----

#[tokio::test]
async fn dot_dot_cannot_climb_out_of_a_mount() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    for p in [
        "/data/../etc/passwd",
        "/data/sub/../../x",
        "/data/../outside/secret.txt",
        "/..",
    ] {
        let (kind, msg) = err(&calls, "fs_read", path(p)).await;
        assert_eq!(kind, "PermissionError", "{p}");
        assert!(msg.contains("no mount at"), "{p}: {msg}");
    }
    let climb = json!({"path": "/data/../outside/secret.txt", "content": "pwned"});
    assert_eq!(err_type(&calls, "fs_write", climb).await, "PermissionError");
    assert_eq!(host.read("outside/secret.txt"), "secret");
    // `..` that stays inside is plain normalisation.
    assert_eq!(
        ok(&calls, "fs_read", path("/data/sub/../a.txt")).await,
        "alpha"
    );
}

#[tokio::test]
async fn odd_spellings_of_a_mounted_path_resolve_into_it_and_nowhere_else() {
    let host = Host::new();
    let calls = host.calls(Mode::Ro);
    for p in [
        "//data/a.txt",
        "/data/./a.txt",
        "/data//a.txt",
        "///data/sub/./../a.txt",
    ] {
        assert_eq!(ok(&calls, "fs_read", path(p)).await, "alpha", "{p}");
    }
    for p in ["/datax", "/datax/a.txt", "/data-secret/x.txt", "/", "/dat"] {
        let (kind, msg) = err(&calls, "fs_read", path(p)).await;
        assert_eq!(kind, "PermissionError", "{p}");
        assert!(
            msg.contains("no mount at") && msg.contains("(mounts: /data)"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn a_sibling_mount_with_a_longer_name_is_its_own_mount() {
    let host = Host::new();
    let data = Mount::open("/data", &host.path("data"), Mode::Ro).unwrap();
    let secret = Mount::open("/data-secret", &host.path("data-secret"), Mode::Rwc).unwrap();
    let mut calls = HostCalls::none();
    register(&mut calls, vec![data, secret], FsLimits::default());
    assert_eq!(
        ok(&calls, "fs_read", path("/data-secret/x.txt")).await,
        "sibling"
    );
    ok(
        &calls,
        "fs_write",
        json!({"path": "/data-secret/new", "content": "n"}),
    )
    .await;
    assert!(host.path("data-secret/new").exists() && !host.path("data/new").exists());
    let write_data = json!({"path": "/data/new", "content": "n"});
    assert_eq!(
        err_type(&calls, "fs_write", write_data).await,
        "PermissionError"
    );
}

#[tokio::test]
async fn a_symlink_to_a_file_outside_is_refused_for_every_operation() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    for link in ["/data/link_out", "/data/link_out_rel"] {
        let (kind, msg) = err(&calls, "fs_read", path(link)).await;
        assert_eq!(kind, "PermissionError", "{link}");
        assert!(msg.contains("leads outside its mount"), "{msg}");
        assert!(
            !msg.contains(host.tmp.path().to_str().unwrap()),
            "no host path: {msg}"
        );
        let write = json!({"path": link, "content": "pwned"});
        assert_eq!(err_type(&calls, "fs_write", write).await, "PermissionError");
        assert_eq!(
            err_type(&calls, "fs_stat", path(link)).await,
            "PermissionError"
        );
        assert_eq!(
            err_type(&calls, "fs_exists", path(link)).await,
            "PermissionError"
        );
    }
    assert_eq!(host.read("outside/secret.txt"), "secret");
}

#[tokio::test]
async fn a_symlink_to_a_directory_outside_is_refused() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    for (name, args) in [
        ("fs_list", path("/data/dir_out")),
        ("fs_read", path("/data/dir_out/secret.txt")),
        ("fs_stat", path("/data/dir_out/secret.txt")),
        ("fs_exists", path("/data/dir_out/secret.txt")),
        ("fs_mkdir", path("/data/dir_out/made")),
        ("fs_remove", path("/data/dir_out/secret.txt")),
        (
            "fs_write",
            json!({"path": "/data/dir_out/new.txt", "content": "x"}),
        ),
        (
            "fs_write",
            json!({"path": "/data/dir_out/secret.txt", "content": "x"}),
        ),
    ] {
        assert_eq!(
            err_type(&calls, name, args).await,
            "PermissionError",
            "{name}"
        );
    }
    assert_eq!(host.read("outside/secret.txt"), "secret");
    assert!(!host.path("outside/made").exists() && !host.path("outside/new.txt").exists());
}

#[tokio::test]
async fn swapping_a_checked_directory_for_a_link_out_does_not_escape() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    assert_eq!(ok(&calls, "fs_read", path("/data/sub/b.txt")).await, "beta");
    // Between calls (as a racing process could between a check and an open),
    // `sub` becomes a link to the outside.
    fs::rename(host.path("data/sub"), host.path("data/sub-old")).unwrap();
    symlink(host.path("outside"), host.path("data/sub")).unwrap();
    assert_eq!(
        err_type(&calls, "fs_read", path("/data/sub/secret.txt")).await,
        "PermissionError"
    );
    // Replacing the mount directory itself changes nothing: the run holds the
    // directory it opened, not its name.
    fs::rename(host.path("data"), host.path("data-moved")).unwrap();
    symlink(host.path("outside"), host.path("data")).unwrap();
    assert_eq!(ok(&calls, "fs_read", path("/data/a.txt")).await, "alpha");
    assert_eq!(
        err_type(&calls, "fs_read", path("/data/secret.txt")).await,
        "FileNotFoundError"
    );
}

#[tokio::test]
async fn malformed_paths_are_value_errors() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    let long = format!("/data/{}", "a/".repeat(MAX_PATH_BYTES));
    let long_name = format!("/data/{}", "n".repeat(300));
    for (p, why) in [
        ("/data/a\0.txt", "NUL"),
        ("data/a.txt", "not absolute"),
        ("", "empty"),
        (long.as_str(), "longer than"),
        (long_name.as_str(), "component longer"),
    ] {
        let (kind, msg) = err(&calls, "fs_read", path(p)).await;
        assert_eq!(kind, "ValueError", "{why}");
        assert!(msg.contains(why), "{msg}");
        let write = json!({"path": p, "content": "x"});
        assert_eq!(err_type(&calls, "fs_write", write).await, "ValueError");
    }
}

#[tokio::test]
async fn arguments_are_checked_like_python_keywords() {
    let host = Host::new();
    let calls = host.calls(Mode::Rwc);
    for (name, args, says) in [
        ("fs_read", json!({"path": 3}), "path must be a str"),
        ("fs_read", json!({}), "missing argument \"path\""),
        ("fs_read", json!(["/data/a.txt"]), "must be a dict"),
        (
            "fs_read",
            json!({"path": "/data/a.txt", "encoding": "base64"}),
            "unexpected argument \"encoding\"",
        ),
        (
            "fs_write",
            json!({"path": "/data/a.txt"}),
            "missing argument \"content\"",
        ),
        (
            "fs_write",
            json!({"path": "/data/a.txt", "content": [1]}),
            "content must be a str",
        ),
    ] {
        let (kind, msg) = err(&calls, name, args).await;
        assert_eq!(kind, "TypeError", "{msg}");
        assert!(msg.contains(says) && msg.contains(name), "{msg}");
    }
}

#[tokio::test]
async fn without_mounts_every_path_is_refused() {
    let mut calls = HostCalls::none();
    register(&mut calls, Vec::new(), FsLimits::default());
    let (kind, msg) = err(&calls, "fs_exists", path("/data")).await;
    assert_eq!(kind, "PermissionError");
    assert!(msg.contains("no mount at /data (mounts: none)"), "{msg}");
}

// ---- policy requests ----

fn points(host: &Host) -> BTreeMap<String, MountConfig> {
    let mut points = BTreeMap::new();
    let point = |rel: &str, max_mode| MountConfig {
        path: host.path(rel),
        max_mode,
    };
    points.insert("data".to_owned(), point("data", Mode::Rw));
    points.insert("scratch".to_owned(), point("data-secret", Mode::Rwc));
    points
}

fn request(name: &str, guest_path: &str, mode: Mode) -> MountRequest {
    MountRequest {
        name: name.into(),
        guest_path: guest_path.into(),
        mode,
    }
}

fn resolve_err(host: &Host, requests: &[MountRequest]) -> FsError {
    resolve_requests(&points(host), requests).unwrap_err()
}

#[tokio::test]
async fn a_policy_mount_within_its_maximum_is_opened_at_its_guest_path() {
    let host = Host::new();
    let mounts = resolve_requests(
        &points(&host),
        &[
            request("data", "/in", Mode::Ro),
            request("scratch", "/out/tmp", Mode::Rwc),
        ],
    )
    .unwrap();
    assert_eq!(mounts[0].guest_path(), "/in");
    assert_eq!(mounts[1].mode(), Mode::Rwc);
    let mut calls = HostCalls::none();
    register(&mut calls, mounts, FsLimits::default());
    assert_eq!(ok(&calls, "fs_read", path("/in/a.txt")).await, "alpha");
    let write = json!({"path": "/in/a.txt", "content": "x"});
    assert_eq!(err_type(&calls, "fs_write", write).await, "PermissionError");
    ok(&calls, "fs_mkdir", path("/out/tmp/new")).await;
    assert!(host.path("data-secret/new").is_dir());
}

#[test]
fn a_policy_naming_an_unknown_mount_hears_the_known_ones() {
    let host = Host::new();
    let e = resolve_err(&host, &[request("nope", "/d", Mode::Ro)]);
    assert_eq!(e.field(), Some("mounts[0].name"));
    assert!(e.is_client_error());
    let msg = e.to_string();
    assert!(
        msg.contains("\"nope\"") && msg.contains("known: data, scratch"),
        "{msg}"
    );
}

#[test]
fn a_policy_asking_more_than_max_mode_hears_both() {
    let host = Host::new();
    let e = resolve_err(
        &host,
        &[
            request("scratch", "/s", Mode::Ro),
            request("data", "/d", Mode::Rwc),
        ],
    );
    assert_eq!(e.field(), Some("mounts[1].mode"));
    let msg = e.to_string();
    assert!(
        msg.contains("mode rwc") && msg.contains("max_mode rw") && msg.contains("\"data\""),
        "{msg}"
    );
}

#[test]
fn a_policy_guest_path_must_be_absolute_normalised_and_free() {
    let host = Host::new();
    for (guest, says) in [
        ("/", "cannot be /"),
        ("data", "not absolute"),
        ("/data/", "write it as /data"),
        ("/a/../b", "write it as /b"),
        ("/a//b", "write it as /a/b"),
        ("/python", "reserved"),
        ("/python/lib", "reserved"),
        ("/d\0", "NUL"),
    ] {
        let e = resolve_err(&host, &[request("data", guest, Mode::Ro)]);
        assert_eq!(e.field(), Some("mounts[0].guest_path"), "{guest}");
        assert!(e.to_string().contains(says), "{guest}: {e}");
    }
}

#[test]
fn a_policy_cannot_repeat_or_nest_guest_paths() {
    let host = Host::new();
    for (a, b) in [("/d", "/d"), ("/d", "/d/inner"), ("/d/inner", "/d")] {
        let e = resolve_err(
            &host,
            &[
                request("data", a, Mode::Ro),
                request("scratch", b, Mode::Ro),
            ],
        );
        assert_eq!(e.field(), Some("mounts[1].guest_path"));
        assert!(e.to_string().contains("mounts[0]"), "{e}");
    }
    // Sharing a prefix of characters is not nesting.
    let ok = resolve_requests(
        &points(&host),
        &[
            request("data", "/d", Mode::Ro),
            request("scratch", "/d-2", Mode::Ro),
        ],
    );
    assert_eq!(ok.unwrap().len(), 2);
}

#[test]
fn a_policy_cannot_ask_for_too_many_mounts() {
    let host = Host::new();
    let many: Vec<_> = (0..=MAX_MOUNTS_PER_RUN)
        .map(|i| request("data", &format!("/m{i}"), Mode::Ro))
        .collect();
    assert!(matches!(resolve_err(&host, &many), FsError::TooMany { .. }));
}

#[test]
fn a_missing_host_directory_is_a_server_error_that_hides_the_host_path() {
    let host = Host::new();
    let mut points = points(&host);
    points.get_mut("data").unwrap().path = host.path("gone");
    let e = resolve_requests(&points, &[request("data", "/d", Mode::Ro)]).unwrap_err();
    assert!(!e.is_client_error());
    assert!(!e.to_string().contains("gone"), "{e}");
    let e = check_config(&points).unwrap_err();
    assert!(
        e.to_string().contains("[mounts.data]") && e.to_string().contains("gone"),
        "{e}"
    );
    points.remove("data");
    check_config(&points).unwrap();
}

#[test]
fn policy_and_config_entries_refuse_unknown_fields() {
    let r: MountRequest =
        serde_json::from_str(r#"{"name": "data", "guest_path": "/data", "mode": "rw"}"#).unwrap();
    assert_eq!(r, request("data", "/data", Mode::Rw));
    let typo = r#"{"name": "data", "guest_path": "/data", "mode": "rw", "path": "/etc"}"#;
    assert!(serde_json::from_str::<MountRequest>(typo).is_err());
    assert!(
        serde_json::from_str::<MountRequest>(r#"{"name": "d", "guest_path": "/d", "mode": "RW"}"#)
            .is_err()
    );
    let c: MountConfig = toml::from_str("path = \"/srv/data\"\nmax_mode = \"rwc\"").unwrap();
    assert_eq!(c.max_mode, Mode::Rwc);
    assert!(
        toml::from_str::<MountConfig>("path = \"/srv\"\nmax_mode = \"ro\"\nmode = \"ro\"").is_err()
    );
}

// ---- --mount ----

#[test]
fn cli_mount_specs_parse_guest_host_and_mode() {
    let parsed = |s: &str| parse_cli_mount(s).unwrap();
    assert_eq!(
        parsed("/data:./input:ro"),
        ("/data".into(), PathBuf::from("./input"), Mode::Ro)
    );
    assert_eq!(parsed("/out:/tmp/out:rwc").2, Mode::Rwc);
    assert_eq!(
        parsed("/w:C:/x:rw").1,
        PathBuf::from("C:/x"),
        "host paths may hold colons"
    );
}

#[test]
fn bad_cli_mount_specs_say_what_is_wrong() {
    for (spec, says) in [
        ("/data", "three parts"),
        ("/data:ro", "three parts"),
        ("/data::ro", "empty host path"),
        ("/data:./x:rx", "unknown mode \"rx\""),
        ("/data:./x:", "unknown mode \"\""),
        ("data:./x:ro", "not absolute"),
        ("/:./x:ro", "cannot be /"),
        ("/python:./x:ro", "reserved"),
        ("/data/:./x:ro", "write it as /data"),
    ] {
        let e = parse_cli_mount(spec).unwrap_err();
        assert_eq!(e.field(), Some("--mount"), "{spec}");
        assert!(e.to_string().contains(says), "{spec}: {e}");
    }
}

#[tokio::test]
async fn cli_mounts_open_together_and_refuse_overlaps() {
    let host = Host::new();
    let data = host.path("data");
    let spec = |guest: &str, mode: &str| format!("{guest}:{}:{mode}", data.display());
    let mounts = open_cli_mounts(&[spec("/a", "ro"), spec("/b", "rw")]).unwrap();
    let mut calls = HostCalls::none();
    register(&mut calls, mounts, FsLimits::default());
    assert_eq!(ok(&calls, "fs_read", path("/b/a.txt")).await, "alpha");
    let e = open_cli_mounts(&[spec("/a", "ro"), spec("/a/b", "ro")]).unwrap_err();
    assert!(e.to_string().contains("overlaps /a"), "{e}");
    let missing = format!("/m:{}:ro", host.path("gone").display());
    assert!(matches!(
        open_cli_mounts(&[missing]).unwrap_err(),
        FsError::Open { .. }
    ));
}

// ---- through real guests ----

const GUEST: &str = r#"
print(_goru_call("fs_read", {"path": "/data/hello.txt"}))
names = [e["name"] for e in _goru_call("fs_list", {"path": "/data/sub"})]
print(names)
for name, args in [("fs_write", {"path": "/data/hello.txt", "content": "x"}),
                   ("fs_read", {"path": "/data/link_out"}),
                   ("fs_read", {"path": "/data/../outside/secret.txt"})]:
    try:
        _goru_call(name, args)
    except PermissionError as e:
        print("PermissionError")
try:
    _goru_call("fs_read", {"path": "/data/sub"})
except IsADirectoryError:
    print("IsADirectoryError")
"#;

const GUEST_OUT: &str = "hello from the host\n['b.txt']\nPermissionError\nPermissionError\nPermissionError\nIsADirectoryError\n";

async fn run_guest(language: &str) {
    let host = Host::new();
    let mut req = common::request(language, GUEST);
    req.grants.extra = host.calls(Mode::Ro);
    let r = common::run_req(req).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, GUEST_OUT);
}

#[tokio::test]
async fn the_python_guest_reads_a_mounted_file_and_meets_python_exceptions() {
    run_guest("python").await;
}

#[tokio::test]
async fn the_python312_guest_reads_a_mounted_file_and_meets_python_exceptions() {
    run_guest("python3.12").await;
}

#[tokio::test]
async fn a_guest_with_rwc_creates_and_meets_file_exists_error() {
    let host = Host::new();
    let code = r#"
_goru_call("fs_mkdir", {"path": "/data/made"})
print(_goru_call("fs_write", {"path": "/data/made/r.txt", "content": "done"}))
try:
    _goru_call("fs_mkdir", {"path": "/data/made"})
except FileExistsError:
    print("FileExistsError")
"#;
    let mut req = common::request("python", code);
    req.grants.extra = host.calls(Mode::Rwc);
    let r = common::run_req(req).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "4\nFileExistsError\n");
    assert_eq!(host.read("data/made/r.txt"), "done");
}
