//! The hostile corpus, as data: every folder in `tests/cases/` is one case,
//! sent to a real server on 127.0.0.1:0. Adding a case is adding a folder.
//!
//! - `main.py` (or `main.js`, run as javascript) + `expect.json`: code run
//!   through `POST /run` with the case's `language`, `policy` and `stdin`; the answer must match
//!   (`status`, `exit_code`, `stdout`, `stdout_contains`, `stdout_lacks`,
//!   `stderr_contains`, `error_type`, `error_contains`, `truncated`), hold
//!   nothing of `answer_lacks`, stay under `max_response_bytes` and arrive
//!   within `max_seconds`.
//! - `request.json` + `expect.json`: a raw HTTP request (`method`, `path`,
//!   `content_type`, a `body`, or one built by `repeat` / `body_hex`); the
//!   answer must have `http_status` and, when given, `error_code`.
//!
//! `${LISTENER}` (a TCP port that records every connection), `${CANARY}` (a
//! local HTTP server whose pages say SECRET-INTERNAL) and `${MOUNT_SECRET}`
//! are replaced in the code and `expect.json`. Whatever the cases do,
//! afterwards nothing may have connected to either, no answer may hold
//! a host secret, and the server must still answer a benign run. Cases run
//! in name order, one at a time: `*_again` cases look for what the one
//! before them left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, server_config, start_server};
use goru::host::fs::{Mode, MountConfig};
use serde::Deserialize;
use serde_json::{Value, json};

/// Text only the host has; no answer may ever contain it.
const MOUNT_SECRET: &str = "HOST-SECRET-7c1f";
const CANARY_SECRET: &str = "SECRET-INTERNAL-93be";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Default: javascript for `main.js`, python for `main.py`.
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    policy: Option<Value>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    files: Option<Value>,
    status: Option<String>,
    exit_code: Option<i64>,
    stdout: Option<String>,
    #[serde(default)]
    stdout_contains: Vec<String>,
    #[serde(default)]
    stdout_lacks: Vec<String>,
    #[serde(default)]
    stderr_contains: Vec<String>,
    /// Text that must appear nowhere in the answer (files included).
    #[serde(default)]
    answer_lacks: Vec<String>,
    error_type: Option<String>,
    error_contains: Option<String>,
    /// Flags that must be set as given (others are not checked).
    truncated: Option<serde_json::Map<String, Value>>,
    #[serde(default = "default_max_response")]
    max_response_bytes: usize,
    #[serde(default = "default_max_seconds")]
    max_seconds: u64,
    http_status: Option<u16>,
    error_code: Option<String>,
    error_field: Option<String>,
    /// Why the case exists, for whoever reads it.
    #[serde(default, rename = "why")]
    _why: Option<String>,
}

fn default_max_response() -> usize {
    4 << 20
}

fn default_max_seconds() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default = "post")]
    method: String,
    #[serde(default = "run_path")]
    path: String,
    /// `null` sends none.
    #[serde(default = "json_type")]
    content_type: Option<String>,
    #[serde(default)]
    body: String,
    body_hex: Option<String>,
    repeat: Option<Repeat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    #[serde(default)]
    prefix: String,
    unit: String,
    times: usize,
    #[serde(default)]
    suffix: String,
}

fn post() -> String {
    "POST".to_owned()
}

fn run_path() -> String {
    "/run".to_owned()
}

#[allow(clippy::unnecessary_wraps)] // serde's default for an Option field
fn json_type() -> Option<String> {
    Some("application/json".to_owned())
}

/// What the cases may reach and must never touch.
struct World {
    server: TestServer,
    vars: Vec<(&'static str, String)>,
    listener_hits: Arc<AtomicUsize>,
    canary_hits: Arc<AtomicUsize>,
    _mount: tempfile::TempDir,
}

async fn world() -> World {
    // A mount whose directory sits next to a secret: escapes from /data
    // would find it.
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), MOUNT_SECRET).unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in.txt"), "input").unwrap();
    let mut config = server_config();
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: data,
            max_mode: Mode::Rwc,
        },
    );
    config.server.precompile = vec!["python-sci".into()];
    let server = start_server(config).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_port = listener.local_addr().unwrap().port();
    let listener_hits = Arc::new(AtomicUsize::new(0));
    let hits = listener_hits.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            hits.fetch_add(1, Ordering::SeqCst);
        }
    });

    let canary_hits = Arc::new(AtomicUsize::new(0));
    let hits = canary_hits.clone();
    let canary = axum::Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { CANARY_SECRET }
    });
    let canary_addr = common::local_http(canary).await;

    World {
        server,
        vars: vec![
            ("${LISTENER}", listener_port.to_string()),
            ("${CANARY}", canary_addr.port().to_string()),
            ("${MOUNT_SECRET}", MOUNT_SECRET.to_owned()),
        ],
        listener_hits,
        canary_hits,
        _mount: root,
    }
}

impl World {
    fn fill(&self, text: &str) -> String {
        self.vars
            .iter()
            .fold(text.to_owned(), |t, (k, v)| t.replace(k, v))
    }

    /// Runs the case in `dir`; the problems found, if any.
    async fn check(&self, dir: &Path) -> Vec<String> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|t| self.fill(&t));
        let expect: Expect = serde_json::from_str(&read("expect.json").unwrap())
            .unwrap_or_else(|e| panic!("{}/expect.json: {e}", dir.display()));
        let started = Instant::now();
        let request = if let Ok(raw) = read("request.json") {
            let raw: RawRequest = serde_json::from_str(&raw)
                .unwrap_or_else(|e| panic!("{}/request.json: {e}", dir.display()));
            self.raw(raw)
        } else {
            let (code, language) = match read("main.js") {
                Ok(code) => (code, "javascript"),
                Err(_) => (
                    read("main.py").expect("a case has main.py, main.js or request.json"),
                    "python",
                ),
            };
            let language = expect.language.as_deref().unwrap_or(language);
            let mut body = json!({"code": code, "language": language});
            for (field, value) in [
                ("policy", expect.policy.clone()),
                ("stdin", expect.stdin.clone().map(Value::String)),
                ("files", expect.files.clone()),
            ] {
                if let Some(value) = value {
                    body[field] = value;
                }
            }
            self.server.client.post(self.server.url("/run")).json(&body)
        };
        let response = request
            .timeout(Duration::from_secs(expect.max_seconds + 30))
            .send()
            .await;
        let mut problems = Vec::new();
        let response = match response {
            Ok(r) => r,
            Err(e) => return vec![format!("no answer: {e}")],
        };
        let http_status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let elapsed = started.elapsed();
        if elapsed > Duration::from_secs(expect.max_seconds) {
            problems.push(format!("answered after {elapsed:?}"));
        }
        if bytes.len() > expect.max_response_bytes {
            problems.push(format!(
                "answer of {} bytes (at most {})",
                bytes.len(),
                expect.max_response_bytes
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        for secret in [MOUNT_SECRET, CANARY_SECRET]
            .iter()
            .copied()
            .chain(expect.answer_lacks.iter().map(String::as_str))
        {
            if text.contains(secret) {
                problems.push(format!("the answer holds {secret:?}"));
            }
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let want_http = expect.http_status.unwrap_or(200);
        if http_status != want_http {
            problems.push(format!(
                "HTTP {http_status} (expected {want_http}): {}",
                cut(&text)
            ));
            return problems;
        }
        if let Some(code) = &expect.error_code
            && body["error"]["code"] != code.as_str()
        {
            problems.push(format!(
                "error code {} (expected {code})",
                body["error"]["code"]
            ));
        }
        if let Some(field) = &expect.error_field
            && body["error"]["field"] != field.as_str()
        {
            problems.push(format!(
                "error field {} (expected {field})",
                body["error"]["field"]
            ));
        }
        if http_status == 200 {
            check_result(&expect, &body, &mut problems);
        }
        problems
    }

    fn raw(&self, raw: RawRequest) -> reqwest::RequestBuilder {
        let body: Vec<u8> = if let Some(hex) = &raw.body_hex {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        } else if let Some(r) = &raw.repeat {
            let mut b = r.prefix.clone();
            b.push_str(&r.unit.repeat(r.times));
            b.push_str(&r.suffix);
            b.into_bytes()
        } else {
            raw.body.into_bytes()
        };
        let method = reqwest::Method::from_bytes(raw.method.as_bytes()).unwrap();
        let mut request = self
            .server
            .client
            .request(method, format!("{}{}", self.server.base, raw.path))
            .body(body);
        if let Some(content_type) = raw.content_type {
            request = request.header("content-type", content_type);
        }
        request
    }
}

fn check_result(expect: &Expect, body: &Value, problems: &mut Vec<String>) {
    let stdout = body["stdout"].as_str().unwrap_or_default();
    let stderr = body["stderr"].as_str().unwrap_or_default();
    let context = || {
        format!(
            "stdout {:?} stderr {:?} error {}",
            cut(stdout),
            cut(stderr),
            body["error"]
        )
    };
    if let Some(status) = &expect.status
        && body["status"] != status.as_str()
    {
        problems.push(format!(
            "status {} (expected {status}); {}",
            body["status"],
            context()
        ));
    }
    if let Some(code) = expect.exit_code
        && body["exit_code"] != code
    {
        problems.push(format!("exit code {} (expected {code})", body["exit_code"]));
    }
    if let Some(want) = &expect.stdout
        && stdout != want
    {
        problems.push(format!("stdout {:?} (expected {want:?})", cut(stdout)));
    }
    for needle in &expect.stdout_contains {
        if !stdout.contains(needle.as_str()) {
            problems.push(format!("stdout lacks {needle:?}; {}", context()));
        }
    }
    for needle in &expect.stdout_lacks {
        if stdout.contains(needle.as_str()) {
            problems.push(format!("stdout has {needle:?}: {:?}", cut(stdout)));
        }
    }
    for needle in &expect.stderr_contains {
        if !stderr.contains(needle.as_str()) {
            problems.push(format!("stderr lacks {needle:?}; {}", context()));
        }
    }
    if let Some(want) = &expect.error_type
        && body["error"]["type"] != want.as_str()
    {
        problems.push(format!(
            "error type {} (expected {want}); {}",
            body["error"]["type"],
            context()
        ));
    }
    if let Some(want) = &expect.error_contains {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        if !message.contains(want.as_str()) {
            problems.push(format!("error message {:?} lacks {want:?}", cut(message)));
        }
    }
    for (flag, want) in expect.truncated.iter().flatten() {
        if &body["truncated"][flag] != want {
            problems.push(format!(
                "truncated.{flag} is {} (expected {want})",
                body["truncated"][flag]
            ));
        }
    }
}

fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_behaves_as_expected() {
    let dirs = cases();
    assert!(dirs.len() >= 100, "the corpus has {} cases", dirs.len());
    let world = world().await;
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let started = Instant::now();
        let problems = world.check(dir).await;
        if started.elapsed() > Duration::from_secs(3) {
            eprintln!("slow case {name}: {:?}", started.elapsed());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert_eq!(
        world.listener_hits.load(Ordering::SeqCst),
        0,
        "something connected to the listener"
    );
    assert_eq!(
        world.canary_hits.load(Ordering::SeqCst),
        0,
        "something reached the internal HTTP server"
    );
    // Still serving, after all of it.
    let benign = world.server.run_ok(json!({"code": "print(6 * 7)"})).await;
    assert_eq!(benign["stdout"], "42\n");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

/// Twenty hostile runs at once (CPU, memory, output, recursion, host calls)
/// do not starve the server: `/healthz` answers within 100 ms throughout,
/// and a benign run still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_hostile_runs_at_once_leave_the_server_responsive() {
    let s = start_server(server_config()).await;
    let hostile = [
        "while True: pass",
        "x = []\nwhile True: x.append(' ' * 10**6)",
        "while True: print('y' * 10000)",
        "def f(): f()\nf()",
        "import re\nre.match('(a+)+$', 'a' * 40 + 'b')",
        "while True:\n    try: kv_set('k' + 'x' * 400, 'v' * 1000)\n    except Exception: pass",
        "10 ** 10 ** 9",
        "b = bytearray(1)\nwhile True: b += b",
        "import sys\nwhile True: sys.stderr.write('e' * 65536)",
        "s = 'a'\nwhile True: s = s + s",
    ];
    let runs: Vec<_> = (0..20)
        .map(|i| {
            s.spawn_run(json!({
                "code": hostile[i % hostile.len()],
                "policy": {"timeout_ms": 3000, "max_output_bytes": 65536},
            }))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_millis(2500);
    let benign = s.spawn_run(json!({"code": "print(6 * 7)"}));
    while Instant::now() < until {
        let started = Instant::now();
        let health = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let benign = benign.await.unwrap();
    assert_eq!(benign["status"], "ok", "{benign}");
    assert_eq!(benign["stdout"], "42\n");
    for run in runs {
        let answer = run.await.unwrap();
        assert_ne!(answer["status"], "ok", "a hostile run ended ok: {answer}");
        let size = answer.to_string().len();
        assert!(size < 300_000, "an answer of {size} bytes");
    }
    assert!(
        worst < Duration::from_millis(100),
        "/healthz took {worst:?} under hostile load"
    );
}
