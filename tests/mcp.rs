//! MCP with a client nobody here wrote: the official MCP Python SDK (pinned
//! in tests/mcp/requirements.txt, installed by `make test`) drives a real
//! goru over streamable HTTP (`/mcp`, both the 2026-07-28 protocol and the
//! older initialize handshake) and over stdio (`goru mcp`), and this file
//! judges what it saw.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const TIMEOUT_MS: u64 = 3000;

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/mcp-client/venv/bin/python");
    assert!(
        python.exists(),
        "the MCP client venv is missing: `make test` installs it \
         (scripts/pinned-venv.sh build/mcp-client/venv tests/mcp/requirements.txt ...)"
    );
    python
}

/// Runs tests/mcp/client.py and returns its report.
async fn client(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = tokio::process::Command::new(venv_python())
        .arg(script)
        .args(args)
        .env("GORU_CACHE_DIR", common::test_cache_dir())
        .kill_on_drop(true)
        .output()
        .await
        .expect("the MCP client starts");
    assert!(
        out.status.success(),
        "the MCP client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the client's report is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// python-sci's snapshot and compiled guest, made once per test binary
/// before any client needs them. A fresh clone has neither; making them takes
/// minutes on a loaded machine, and this file's server and a spawned `goru
/// mcp` making them at once took longer than the client's read timeout.
async fn warm_python_sci() {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    WARM.get_or_init(|| async {
        let mut config = mcp_config();
        config.server.precompile = vec!["python-sci".into()];
        config.server.pool_size = 0;
        let server = goru::server::start(config, goru::host::Registry::new())
            .await
            .expect("server starts");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let readyz = format!("http://{}/readyz", server.addr);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1200);
        loop {
            let ready = client.get(&readyz).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "python-sci never loaded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        server.shutdown();
    })
    .await;
}

fn mcp_config() -> goru::config::Config {
    let mut config = common::server_config();
    config.mcp.policy.timeout_ms = TIMEOUT_MS;
    config
}

fn text(answer: &Value) -> String {
    answer["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no content: {answer}"))
        .iter()
        .filter(|b| b["type"] == "text")
        .map(|b| b["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The answer's first content block of `kind` (image, resource, ...).
fn block<'a>(answer: &'a Value, kind: &str) -> &'a Value {
    answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} block came back: {answer}"))
}

fn is_error(answer: &Value) -> bool {
    assert!(
        answer.get("protocol_error").is_none(),
        "a protocol error where a tool result was due: {answer}"
    );
    answer["is_error"].as_bool().expect("is_error")
}

/// Everything one pass of the client must have seen, whatever the transport.
fn judge(report: &Value) {
    let tools = report["tools"].as_object().expect("tools");
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "close_session",
            "create_session",
            "list_runtimes",
            "run_code"
        ]
    );
    let run_code = &tools["run_code"];
    assert_eq!(
        run_code["schema"]["required"],
        json!(["code"]),
        "{run_code}"
    );
    let languages = &run_code["schema"]["properties"]["language"]["enum"];
    assert_eq!(
        languages,
        &json!(["python", "python3.12", "python-sci", "javascript"])
    );
    let description = run_code["description"].as_str().unwrap();
    for promise in ["no network", "numpy", "/work", "create_session"] {
        assert!(
            description.contains(promise),
            "run_code's description says nothing of {promise:?}"
        );
    }

    let hello = &report["hello"];
    assert!(!is_error(hello), "{hello}");
    assert_eq!(text(hello), "stdout:\n2\nresult:\n42");
    let hello_js = &report["hello_js"];
    assert!(!is_error(hello_js), "{hello_js}");
    assert_eq!(text(hello_js), "stdout:\n2\nresult:\n42");
    let exception_js = &report["exception_js"];
    assert!(is_error(exception_js), "{exception_js}");
    assert!(
        text(exception_js).contains("status: error: TypeError: can't access property"),
        "{exception_js}"
    );

    let files = &report["files"];
    assert!(!is_error(files), "{files}");
    assert!(text(files).contains("stdout:\n8\n"), "{files}");
    assert!(
        text(files).contains("files written: out.csv (8 bytes"),
        "{files}"
    );
    let resource = block(files, "resource");
    assert_eq!(resource["uri"], "file:///work/out.csv");
    assert_eq!(resource["text"], "A,B\n1,2\n");

    // Guest failures are tool errors (isError), never protocol errors.
    let exception = &report["exception"];
    assert!(is_error(exception), "{exception}");
    let said = text(exception);
    assert!(said.contains("Traceback"), "{said}");
    assert!(said.contains("status: error: ValueError: boom"), "{said}");

    let timeout = &report["timeout"];
    assert!(is_error(timeout), "{timeout}");
    let said = text(timeout);
    assert!(
        said.contains(&format!("time limit of {TIMEOUT_MS} ms")) && said.contains("Do less work"),
        "{said}"
    );

    let missing = text(&report["missing_module"]);
    assert!(
        missing.contains("No module named 'torch'")
            && missing.contains("nothing can be installed")
            && missing.contains("numpy"),
        "{missing}"
    );

    // The operator's policy grants no host: the model cannot reach one.
    let network = &report["network"];
    assert!(is_error(network), "{network}");
    assert!(
        text(network).contains("PermissionError")
            && text(network).contains("policy allows no hosts"),
        "{network}"
    );
    // Nor can it send a policy of its own: the tool has no such argument.
    let widen = &report["widen_policy"];
    let said = widen
        .get("protocol_error")
        .and_then(Value::as_str)
        .map_or_else(|| text(widen), str::to_owned);
    assert!(
        said.contains("unknown field `policy`"),
        "a policy in the tool's arguments was not refused by name: {widen}"
    );

    // Hostile output comes back capped at the policy's output limit (the
    // server default here, 1 MiB per stream), traceback included.
    let flood = &report["flood"];
    let said = text(flood);
    assert!(is_error(flood), "{}", &said[..200]);
    assert!(
        said.len() < (2 << 20) + 4096,
        "{} bytes came back",
        said.len()
    );
    assert!(
        said.contains("[stdout cut at the output limit]"),
        "{}",
        &said[..200]
    );

    assert!(!is_error(&report["create_session"]), "{report}");
    let session_id = report["session_id"].as_str().expect("a session id");
    assert!(session_id.starts_with("ses_"), "{session_id}");
    assert!(!is_error(&report["cell_1"]), "{}", report["cell_1"]);
    let cell_2 = &report["cell_2"];
    assert!(!is_error(cell_2), "{cell_2}");
    assert!(
        text(cell_2).contains("result:\n42"),
        "state was not kept: {cell_2}"
    );
    let image = block(cell_2, "image");
    assert_eq!(image["mime_type"], "image/png");
    assert_eq!(image["png"], true);
    assert!(text(&report["wrong_language"]).contains("runs python-sci"));
    assert!(!is_error(&report["close_session"]));
    let after = &report["after_close"];
    assert!(
        is_error(after) && text(after).contains("create_session"),
        "{after}"
    );

    // A fresh run does not see the session's state.
    let isolated = text(&report["isolation"]);
    assert!(isolated.contains("NameError"), "{isolated}");

    let runtimes = text(&report["runtimes"]);
    for fact in [
        "python-sci",
        "pandas",
        &format!("time limit {TIMEOUT_MS} ms"),
        "network: none",
    ] {
        assert!(
            runtimes.contains(fact),
            "list_runtimes omits {fact:?}: {runtimes}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_over_streamable_http() {
    warm_python_sci().await;
    let server = common::start_server(mcp_config()).await;
    // A session opened through the REST API, with its own policy: an MCP
    // model must not reach it.
    let created: Value = server
        .client
        .post(server.url("/sessions"))
        .json(&json!({"language": "python"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rest_session = created["session_id"].as_str().unwrap().to_owned();
    let url = server.url("/mcp");

    let modern = client(&[&url, "auto", &rest_session]).await;
    assert_eq!(modern["protocol_version"], "2026-07-28");
    judge(&modern);
    let foreign = &modern["rest_session"];
    assert!(is_error(foreign), "{foreign}");
    assert!(text(foreign).contains("no live session"), "{foreign}");

    // Clients of the handshake era (initialize, then calls) work too.
    let legacy = client(&[&url, "legacy"]).await;
    assert_ne!(legacy["protocol_version"], "2026-07-28");
    judge(&legacy);

    // ... nor the other way round: REST neither sees nor reaches an MCP session.
    let kept = modern["kept_session_id"].as_str().expect("a kept session");
    let listed = server.get_json("/sessions").await;
    assert!(!listed.to_string().contains(kept), "{listed}");
    let status = |r: reqwest::Response| r.status().as_u16();
    let got = server.client.get(server.url(&format!("/sessions/{kept}")));
    assert_eq!(status(got.send().await.unwrap()), 404);
    let cell = server
        .client
        .post(server.url(&format!("/sessions/{kept}/run")))
        .json(&json!({"code": "print(1)"}));
    assert_eq!(status(cell.send().await.unwrap()), 404);
    let deleted = server
        .client
        .delete(server.url(&format!("/sessions/{kept}")));
    assert_eq!(status(deleted.send().await.unwrap()), 404);

    // Every MCP run went through the same pipeline as /run: counted, with
    // its language and status (no /run request timed out in this test).
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics
            .contains(r#"goru_runs_total{tenant="anonymous",language="python",status="timeout"}"#),
        "{metrics}"
    );
    server.server.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_over_stdio() {
    warm_python_sci().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("goru.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npool_size = 1\nprecompile = [\"python\"]\n\n[mcp.policy]\ntimeout_ms = {TIMEOUT_MS}\n"
        ),
    )
    .unwrap();
    let target = format!("stdio:{}:{}", env!("CARGO_BIN_EXE_goru"), config.display());
    let report = client(&[&target, "auto"]).await;
    judge(&report);
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_can_be_switched_off() {
    let mut config = mcp_config();
    config.mcp.enabled = false;
    let server = common::start_server(config).await;
    let status = server
        .client
        .post(server.url("/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    server.server.shutdown();
}

/// A web page the user visits must not drive a local goru through DNS
/// rebinding: `/mcp` answers only the configured Host names.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_host_header_is_refused() {
    let server = common::start_server(mcp_config()).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "run_code", "arguments": {"code": "print(7)", "language": "python"}}});
    let send = |host: &'static str| {
        server
            .client
            .post(server.url("/mcp"))
            .header("host", host)
            .header("accept", "application/json, text/event-stream")
            .json(&call)
            .send()
    };
    let foreign = send("attacker.example").await.unwrap();
    assert_eq!(foreign.status(), 403);
    let local = send("localhost").await.unwrap();
    assert_eq!(local.status(), 200);
    let body: Value = local.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "stdout:\n7", "{body}");
    server.server.shutdown();
}

/// A client that hangs up frees its run slot at once: the run is dropped as
/// /run drops one, not left to burn to its time limit. The server has one
/// start slot and no long lane, so the next run can start only if the endless
/// one stopped; were it still going, that run would wait out the queue
/// timeout and get 503. (This server's own slot, not the process-wide
/// `goru_runs_in_flight` gauge, which other tests' runs move too.)
#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_client_goes_away_stops_its_run() {
    let mut config = mcp_config();
    config.mcp.policy.timeout_ms = 20_000;
    config.server.concurrency = 1;
    config.server.long_runs = 0;
    config.server.queue_timeout_ms = 5_000;
    let server = common::start_server(config).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "run_code", "arguments": {"code": "while True:\n    pass", "language": "python"}}});
    let request = server
        .client
        .post(server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .timeout(std::time::Duration::from_millis(1500))
        .send();
    assert!(request.await.is_err(), "the endless run answered");
    let next = server.run(json!({"code": "print(1)"})).await;
    assert_eq!(
        next.status(),
        200,
        "the run went on after its client left: the next one could not start"
    );
    let body: Value = next.json().await.unwrap();
    assert_eq!(body["stdout"], "1\n", "{body}");
    server.server.shutdown();
}

/// A web page cannot call a local goru: a request with an Origin header is
/// refused unless the origin is listed; an empty Host list fails start-up.
#[tokio::test(flavor = "multi_thread")]
async fn origins_are_refused_unless_listed_and_hosts_cannot_be_emptied() {
    let server = common::start_server(mcp_config()).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_runtimes", "arguments": {}}});
    let from_page = server
        .client
        .post(server.url("/mcp"))
        .header("origin", "https://attacker.example")
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(from_page.status(), 403);
    server.server.shutdown();

    let mut config = mcp_config();
    config.mcp.allowed_hosts.clear();
    let err = config.mcp.validate().unwrap_err();
    assert!(err.contains("mcp.allowed_hosts"), "{err}");
}

/// The operator's MCP policy must be grantable, or the server does not start.
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_policy_naming_an_unknown_function_fails_start_up() {
    let mut config = mcp_config();
    config.mcp.policy.functions = vec!["launch_missiles".into()];
    let err = goru::server::start(config, goru::host::Registry::new())
        .await
        .err()
        .expect("start-up refused")
        .to_string();
    assert!(
        err.contains("mcp.policy.functions") && err.contains("launch_missiles"),
        "{err}"
    );
}
