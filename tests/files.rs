//! Files through plain `open()` on a real server: request files in, written
//! files out, path rejections, the quota, isolation, and granted mounts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::{TestServer, assert_matches_spec, server_config, start_server};
use goru::host::fs::{Mode, MountConfig};
use serde_json::{Value, json};

async fn server_with_root() -> (TestServer, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let mut config = server_config();
    config.files.root = root.path().to_owned();
    (start_server(config).await, root)
}

fn file<'a>(files: &'a Value, path: &str) -> &'a Value {
    files
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {files}"))
}

#[tokio::test]
async fn a_csv_sent_with_the_request_is_read_with_open_and_csv() {
    let (s, _root) = server_with_root().await;
    let r = s
        .run_ok(json!({
            "code": "import csv, os\nrows = list(csv.DictReader(open('data/in.csv')))\nprint(os.getcwd())\nsum(int(r['n']) for r in rows)",
            "files": [{"path": "data/in.csv", "content": "name,n\na,1\nb,41\n"}],
        }))
        .await;
    assert_matches_spec("/run", "post", 200, &r);
    assert_eq!(r["stdout"], "/work\n", "{r}");
    assert_eq!(r["result"]["text/plain"], "42", "{r}");
    assert_eq!(
        r["files"],
        json!([]),
        "an unchanged input is not returned: {r}"
    );
}

#[tokio::test]
async fn written_text_and_binary_files_come_back_with_their_media_types() {
    let (s, _root) = server_with_root().await;
    let r = s
        .run_ok(json!({
            "code": "from pathlib import Path\nPath('report.txt').write_text('héllo')\nopen('chart.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n\\x00')\nimport base64\nopen('in.bin', 'ab').write(b'!')",
            "files": [{"path": "in.bin", "content": "AAE=", "encoding": "base64"}],
        }))
        .await;
    assert_matches_spec("/run", "post", 200, &r);
    let text = file(&r["files"], "report.txt");
    assert_eq!(
        (text["encoding"].as_str(), text["content"].as_str()),
        (Some("utf-8"), Some("héllo"))
    );
    assert_eq!(text["media_type"], "text/plain");
    let png = file(&r["files"], "chart.png");
    assert_eq!(png["media_type"], "image/png");
    assert_eq!(png["encoding"], "base64");
    assert_eq!(png["content"], "iVBORw0KGgoA");
    assert_eq!(png["size"], 9);
    let changed = file(&r["files"], "in.bin");
    assert_eq!(
        changed["content"], "AAEh",
        "a changed input comes back: {r}"
    );
}

#[tokio::test]
async fn bad_file_paths_are_refused_naming_the_entry() {
    let (s, _root) = server_with_root().await;
    for (path, index) in [
        ("../escape", 1),
        ("/etc/passwd", 1),
        ("a/../../b", 1),
        ("a\u{0}b", 1),
    ] {
        let response = s
            .run(json!({"code": "pass", "files": [
                {"path": "ok.txt", "content": ""},
                {"path": path, "content": "x"},
            ]}))
            .await;
        assert_eq!(response.status(), 400, "{path:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_file", "{body}");
        assert_eq!(
            body["error"]["field"],
            format!("files[{index}].path"),
            "{body}"
        );
    }
    let response = s
        .run(json!({"code": "pass", "files": [{"path": "a", "content": "!!", "encoding": "base64"}]}))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "files[0].content", "{body}");
}

#[tokio::test]
async fn writing_past_the_quota_is_an_os_error_and_never_fills_the_host() {
    let root = tempfile::tempdir().unwrap();
    let mut config = server_config();
    config.files.root = root.path().to_owned();
    config.files.quota_bytes = 1 << 20;
    config.files.quota_files = 20;
    let s = start_server(config).await;
    let code = "import os\nout = []\ntry:\n    with open('big', 'wb') as f:\n        while True:\n            f.write(b'x' * 65536)\nexcept OSError as e:\n    out.append('bytes')\nsize = os.path.getsize('big')\ntry:\n    for i in range(100):\n        open(f'f{i}', 'w').close()\nexcept OSError as e:\n    out.append(('files', e.errno == 51 or e.errno == 28))\nos.remove('big')\nopen('again', 'wb').write(b'y' * 500_000)\nprint(out, size <= (1 << 20))";
    let r = s.run_ok(json!({"code": code})).await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["stdout"], "['bytes', ('files', True)] True\n", "{r}");
    let again = file(&r["files"], "again");
    assert_eq!(again["size"], 500_000, "deleting gave the room back");
}

#[tokio::test]
async fn a_run_sees_no_other_runs_files_and_its_directory_is_removed() {
    let (s, root) = server_with_root().await;
    s.run_ok(json!({"code": "open('secret.txt', 'w').write('mine')\nimport tempfile\ntempfile.NamedTemporaryFile(delete=False).write(b'tmp')"}))
        .await;
    let other = s
        .run_ok(json!({"code": "import os\nprint(os.listdir('/work'), os.listdir('/tmp'))"}))
        .await;
    assert_eq!(other["stdout"], "[] []\n", "{other}");
    // Released run directories are removed in the background; the pool
    // keeps one per prepared instance.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let leftover = walk_files(root.path());
        if leftover.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {leftover:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Files under `dir`, but the server's own marker: the lock file of its
/// process directory.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        if meta.is_dir() {
            found.extend(walk_files(&entry.path()));
        } else if entry.file_name() != ".lock" {
            found.push(entry.path());
        }
    }
    found
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A server that dies without cleaning up (here SIGKILL) leaves run
/// directories behind: its pooled instance holds one. The next server on the
/// same root removes them, and never a live server's.
#[tokio::test]
async fn a_killed_server_s_run_directories_are_removed_by_the_next_one() {
    use crate::scale_out::goru_process::GoruProcess;
    let root = tempfile::tempdir().unwrap();
    let extra = format!("[files]\nroot = \"{}\"\n", root.path().display());

    let killed = GoruProcess::start(&extra).await;
    let live = GoruProcess::start(&extra).await;
    let before = entries(root.path());
    assert_eq!(before.len(), 2, "one directory per server: {before:?}");
    drop(killed); // SIGKILL
    let after_kill = entries(root.path());
    assert_eq!(after_kill, before, "a killed server cleans up nothing");
    let left = walk_dirs_named_run(root.path());
    assert!(
        left >= 2,
        "each server's pooled instance should hold a run directory, else this proves nothing"
    );

    let next = GoruProcess::start(&extra).await;
    let now = entries(root.path());
    assert_eq!(
        now.len(),
        2,
        "the killed server's directory is still there: {now:?}"
    );
    let kept: Vec<_> = before.iter().filter(|n| now.contains(n)).collect();
    assert_eq!(
        kept.len(),
        1,
        "the live server's directory must stay: {before:?} -> {now:?}"
    );
    let answer = common::post(
        &reqwest::Client::new(),
        live.url("/run"),
        json!({"code": "open('x.txt', 'w').write('still here')\nprint(open('x.txt').read())"}),
    )
    .await;
    assert_eq!(answer["stdout"], "still here\n", "{answer}");
    drop(next);
}

fn walk_dirs_named_run(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() && !entry.path().is_symlink() {
            if entry.file_name().to_string_lossy().starts_with("run-") {
                count += 1;
            }
            count += walk_dirs_named_run(&entry.path());
        }
    }
    count
}

#[tokio::test]
async fn a_symlink_out_of_the_working_directory_leads_nowhere() {
    let (s, _root) = server_with_root().await;
    let code = "import os\nout = []\nfor target, name in (('/etc/passwd', 'leak'), ('../../../../../../etc/passwd', 'up')):\n    try:\n        os.symlink(target, name)\n    except OSError:\n        out.append('no link')\n    try:\n        out.append(open(name).read()[:4])\n    except OSError:\n        out.append('refused')\nprint(out)";
    let r = s.run_ok(json!({"code": code})).await;
    let stdout = r["stdout"].as_str().unwrap();
    assert_eq!(stdout.matches("refused").count(), 2, "{r}");
    assert!(!stdout.contains("root"), "{r}");
    assert_eq!(r["files"], json!([]), "symlinks are never returned: {r}");
}

#[tokio::test]
async fn granted_mounts_are_reachable_with_open_within_their_mode() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from the host").unwrap();
    let mut config = server_config();
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: host.path().to_owned(),
            max_mode: Mode::Rwc,
        },
    );
    let s = start_server(config).await;
    let mount =
        |mode: &str| json!({"mounts": [{"name": "data", "guest_path": "/data", "mode": mode}]});
    let code = "out = [open('/data/in.txt').read()]\nfor path, mode in (('/data/in.txt', 'w'), ('/data/new.txt', 'w')):\n    try:\n        open(path, mode).write('written')\n        out.append('ok')\n    except OSError as e:\n        out.append(type(e).__name__)\nprint(out)";
    let ro = s.run_ok(json!({"code": code, "policy": mount("ro")})).await;
    assert_eq!(
        ro["stdout"], "['from the host', 'PermissionError', 'PermissionError']\n",
        "{ro}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("in.txt")).unwrap(),
        "from the host"
    );
    let rw = s.run_ok(json!({"code": code, "policy": mount("rw")})).await;
    assert_eq!(
        rw["stdout"], "['from the host', 'ok', 'PermissionError']\n",
        "{rw}"
    );
    assert!(!host.path().join("new.txt").exists());
    let rwc = s
        .run_ok(json!({"code": code, "policy": mount("rwc")}))
        .await;
    assert_eq!(rwc["stdout"], "['written', 'ok', 'ok']\n", "{rwc}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("new.txt")).unwrap(),
        "written"
    );
    let none = s.run_ok(json!({"code": "open('/data/in.txt')"})).await;
    assert_eq!(
        none["error"]["type"], "FileNotFoundError",
        "no grant, no mount: {none}"
    );
}

#[tokio::test]
async fn a_session_keeps_its_files_and_returns_what_each_cell_changed() {
    let (s, _root) = server_with_root().await;
    let (status, info) = {
        let response = s
            .client
            .post(s.url("/sessions"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201, "{info}");
    let id = info["session_id"].as_str().unwrap();
    let cell = |body: Value| {
        let request = s
            .client
            .post(s.url(&format!("/sessions/{id}/run")))
            .json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let first = cell(json!({"code": "open('a.txt', 'w').write('1')", "files": [{"path": "in.csv", "content": "x\n"}]})).await;
    assert_eq!(first["files"].as_array().unwrap().len(), 1, "{first}");
    let second = cell(
        json!({"code": "open('b.txt', 'w').write(open('a.txt').read() + open('in.csv').read())"}),
    )
    .await;
    assert_eq!(second["files"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(file(&second["files"], "b.txt")["content"], "1x\n");
}

#[tokio::test]
async fn python312_refuses_files_and_says_so() {
    let (s, _root) = server_with_root().await;
    let response = s
        .run(json!({"code": "pass", "language": "python3.12", "files": [{"path": "a", "content": ""}]}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "files_unsupported", "{body}");
}

#[tokio::test]
async fn a_run_cannot_fill_a_writable_mount_or_link_its_files_into_work() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("log.txt"), "").unwrap();
    let mut config = server_config();
    config.files.quota_bytes = 1 << 20;
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: host.path().to_owned(),
            max_mode: Mode::Rwc,
        },
    );
    let s = start_server(config).await;
    let code = "import os\nout = []\ntry:\n    with open('/data/log.txt', 'ab') as f:\n        for _ in range(100):\n            f.write(b'x' * 65536)\n            f.flush()\nexcept OSError:\n    out.append('budget')\ntry:\n    os.link('/data/log.txt', 'mine.txt')\n    out.append('LINKED')\nexcept OSError:\n    out.append('no link')\nprint(out)";
    for mode in ["rw", "rwc"] {
        std::fs::write(host.path().join("log.txt"), "").unwrap();
        let policy = json!({"mounts": [{"name": "data", "guest_path": "/data", "mode": mode}]});
        let r = s.run_ok(json!({"code": code, "policy": policy})).await;
        assert_eq!(r["stdout"], "['budget', 'no link']\n", "{mode}: {r}");
        let size = std::fs::metadata(host.path().join("log.txt"))
            .unwrap()
            .len();
        assert!(size <= 1 << 20, "{mode}: the mount grew to {size} bytes");
    }
}

#[tokio::test]
async fn session_files_past_the_quota_are_refused_and_the_session_lives() {
    let root = tempfile::tempdir().unwrap();
    let mut config = server_config();
    config.files.root = root.path().to_owned();
    config.files.quota_bytes = 100_000;
    let s = start_server(config).await;
    let info: Value = s
        .client
        .post(s.url("/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = s.url(&format!(
        "/sessions/{}/run",
        info["session_id"].as_str().unwrap()
    ));
    let cell = |body: Value| {
        let request = s.client.post(&url).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, _) =
        cell(json!({"code": "open('big', 'wb').write(b'x' * 80_000)\nos_dir = 1"})).await;
    assert_eq!(status, 200);
    let big = "y".repeat(40_000);
    let (status, body) =
        cell(json!({"code": "pass", "files": [{"path": "more.txt", "content": big}]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_file", "{body}");
    let (status, body) = cell(json!({"code": "import os\nos.mkdir('taken')"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        cell(json!({"code": "pass", "files": [{"path": "taken", "content": "x"}]})).await;
    assert_eq!(
        status, 400,
        "a path the code made a directory is refused: {body}"
    );
    let (status, body) = cell(json!({"code": "os_dir"})).await;
    assert_eq!(
        (status, &body["result"]["text/plain"]),
        (200, &json!("1")),
        "the session lives on: {body}"
    );
}

#[tokio::test]
async fn reused_run_directories_never_carry_anything_over() {
    let (s, _root) = server_with_root().await;
    // Untouched directories go back to the pool; touched ones never do.
    for i in 0..12 {
        let code = if i % 2 == 0 {
            "import os\nprint(sorted(os.listdir('/work')) + sorted(os.listdir('/tmp')))"
        } else {
            "import os\nopen('left.txt', 'w').write('x')\nos.mkdir('/tmp/d')\nprint('wrote')"
        };
        let r = s.run_ok(json!({"code": code})).await;
        let want = if i % 2 == 0 { "[]\n" } else { "wrote\n" };
        assert_eq!(r["stdout"], want, "run {i}: {r}");
    }
}
