//! The HTTP service against a real server on 127.0.0.1:0: every status, every
//! client error, saturation, concurrency, shutdown, metrics — and every
//! response checked against openapi.yaml.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::{Duration, Instant};

use common::{TestServer, assert_matches_schema, assert_matches_spec, server_config, start_server};
use serde_json::{Value, json};

async fn post_run(s: &TestServer, body: Value) -> (u16, Value) {
    let r = s.run(body).await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_matches_spec("/run", "post", status, &body);
    (status, body)
}

#[tokio::test]
async fn the_readme_example_answers_ok_with_two() {
    let s = start_server(server_config()).await;
    let (status, body) = post_run(&s, json!({"code": "print(1+1)"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["stdout"], "2\n");
    assert_eq!(body["run_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn every_status_answers_200_with_its_status() {
    let s = start_server(server_config()).await;
    let cases = [
        (json!({"code": "print('hi')"}), "ok"),
        (json!({"code": "raise ValueError('x')"}), "error"),
        (
            json!({"code": "while True: pass", "policy": {"timeout_ms": 500}}),
            "timeout",
        ),
        (
            json!({"code": "x = bytearray(512 << 20)", "policy": {"memory_mb": 64}}),
            "memory_limit",
        ),
        (
            json!({"code": "while True: pass", "policy": {"fuel": 1000000}}),
            "fuel_exhausted",
        ),
        (
            json!({"code": "import faulthandler; faulthandler._sigabrt()"}),
            "crashed",
        ),
        (json!({"code": "print(1)", "language": "python3.12"}), "ok"),
        (
            json!({"code": "import sys; print(sys.stdin.read())", "stdin": "in"}),
            "ok",
        ),
    ];
    for (request, expected) in cases {
        let (status, body) = post_run(&s, request.clone()).await;
        assert_eq!(status, 200, "{request}");
        assert_eq!(body["status"], expected, "{request} -> {body}");
    }
    let (_, body) = post_run(&s, json!({"code": "raise ValueError('x')"})).await;
    assert_eq!(body["error"]["type"], "ValueError");
    assert_eq!(body["error"]["message"], "x");
}

async fn client_error(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body)
}

#[tokio::test]
async fn client_errors_name_the_field_and_the_limit() {
    let mut config = server_config();
    config.server.body_limit_bytes = 4096;
    let s = start_server(config).await;
    let post = |body: &str, ctype: &str| {
        s.client
            .post(s.url("/run"))
            .header("content-type", ctype)
            .body(body.to_owned())
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (post("{", "application/json"), 400, "invalid_json", None),
        (
            post(r#"{"code": "", "colour": 1}"#, "application/json"),
            400,
            "unknown_field",
            Some("colour"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"timeout": 1}}"#,
                "application/json",
            ),
            400,
            "unknown_field",
            Some("policy.timeout"),
        ),
        (
            post(r#"{"language": "python"}"#, "application/json"),
            400,
            "missing_field",
            Some("code"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"timeout_ms": "x"}}"#,
                "application/json",
            ),
            400,
            "invalid_field",
            Some("policy.timeout_ms"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"timeout_ms": 3600000}}"#,
                "application/json",
            ),
            400,
            "limit_exceeded",
            Some("policy.timeout_ms"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"memory_mb": 99999}}"#,
                "application/json",
            ),
            400,
            "limit_exceeded",
            Some("policy.memory_mb"),
        ),
        (
            post(r#"{"code": "", "language": "ruby"}"#, "application/json"),
            400,
            "unknown_language",
            Some("language"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"functions": ["get_user"]}}"#,
                "application/json",
            ),
            403,
            "unknown_function",
            Some("policy.functions"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"allowed_hosts": ["exa mple.com"]}}"#,
                "application/json",
            ),
            400,
            "invalid_grant",
            Some("policy.allowed_hosts[0]"),
        ),
        (
            post(
                r#"{"code": "", "policy": {"mounts": [{"name": "x", "guest_path": "/x", "mode": "ro"}]}}"#,
                "application/json",
            ),
            403,
            "grant_denied",
            Some("policy.mounts[0].name"),
        ),
        (
            post(
                &format!(r#"{{"code": "{}"}}"#, "x".repeat(5000)),
                "application/json",
            ),
            413,
            "body_too_large",
            None,
        ),
        (
            post(r#"{"code": ""}"#, "text/plain"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            s.client.post(s.url("/run")).body(r#"{"code": ""}"#),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            s.client.delete(s.url("/run")),
            405,
            "method_not_allowed",
            None,
        ),
        (s.client.get(s.url("/nowhere")), 404, "not_found", None),
    ];
    for (request, status, code, field) in cases {
        let (got, body) = client_error(request).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(body["error"]["field"].as_str(), field, "{body}");
        if got == 404 {
            let spec: Value = serde_norway::from_str(include_str!("../openapi.yaml")).unwrap();
            // 404 is the router's fallback, not a /run response.
            assert_matches_schema(&spec, &json!("#/components/schemas/Error"), &body);
        } else {
            assert_matches_spec("/run", "post", got, &body);
        }
    }
    let (_, body) = client_error(post(
        r#"{"code": "", "policy": {"timeout_ms": 3600000}}"#,
        "application/json",
    ))
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("60000"),
        "names the ceiling: {body}"
    );
    let (_, body) = client_error(post(
        r#"{"code": "", "language": "ruby"}"#,
        "application/json",
    ))
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("python3.12"),
        "lists known languages: {body}"
    );
}

/// Refusals that axum's extractors make before a handler runs (a path that
/// is not UTF-8, a query string that does not decode) are JSON errors like
/// every other, and a missing KV key says so rather than "no route".
#[tokio::test]
async fn every_client_error_is_json_naming_what_is_wrong() {
    let s = start_server(server_config()).await;
    let get = |path: &str| s.client.get(s.url(path));
    let cases = [
        ("/kv/%FF%FE/k", 400, "invalid_path", "/kv/{namespace}/{key}"),
        (
            "/kv/ns?prefix=a&prefix=b",
            400,
            "invalid_query",
            "/kv/{namespace}",
        ),
        (
            "/kv/ns/missing",
            404,
            "no_such_key",
            "/kv/{namespace}/{key}",
        ),
    ];
    for (path, status, code, route) in cases {
        let answer = get(path).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{path}");
        let ctype = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(ctype, "application/json", "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert_matches_spec(route, "get", status, &body);
    }
    let body = s.get_json("/kv/ns/missing").await;
    assert_eq!(
        body["error"]["message"],
        "no such key \"missing\" in namespace \"ns\""
    );
}

/// `null` for an optional field is the same as leaving it out, everywhere;
/// a whole number may carry a zero fraction (JSON Schema's `integer` allows
/// `1000.0`); a real fraction is refused naming the field; an object written
/// as an array (which serde would take, field by field) is refused.
#[tokio::test]
async fn null_means_absent_whole_numbers_may_be_floats_and_objects_are_objects() {
    let s = start_server(server_config()).await;
    let nulls =
        json!({"code": "print(1)", "language": null, "stdin": null, "policy": null, "files": null});
    let (status, body) = post_run(&s, nulls).await;
    assert_eq!(
        (status, body["stdout"].as_str()),
        (200, Some("1\n")),
        "{body}"
    );
    let policy = json!({"timeout_ms": 1000.0, "memory_mb": 64.0, "allowed_hosts": null,
                        "functions": null, "mounts": null, "kv_namespace": null, "fuel": null});
    let (status, body) = post_run(&s, json!({"code": "print(2)", "policy": policy})).await;
    assert_eq!(
        (status, body["stdout"].as_str()),
        (200, Some("2\n")),
        "{body}"
    );
    let (status, body) = post_run(&s, json!({"code": "", "policy": {"timeout_ms": 1000.5}})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "policy.timeout_ms", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{body}"
    );
    assert_matches_spec("/run", "post", 400, &body);
    let arrays = [
        (json!(["print(1)"]), None),
        (
            json!({"code": "print(1)", "policy": [null, null]}),
            Some("policy"),
        ),
        (
            json!({"code": "print(1)", "files": [["a.txt", "x"]]}),
            Some("files[0]"),
        ),
    ];
    for (request, field) in arrays {
        let (status, body) = post_run(&s, request.clone()).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{request}: {body}");
    }
}

/// Long CPU-bound runs move aside after their first 100 ms: a short run
/// started while twelve of them hold the CPU answers at once (with one slot
/// per run to the end, as before the long lane, it took 8.5 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_short_run_does_not_wait_behind_long_ones() {
    let s = start_server(server_config()).await;
    let spin =
        "import time\nend = time.time() + 3\nwhile time.time() < end:\n    pass\nprint('spun')";
    let long: Vec<_> = (0..12)
        .map(|_| s.spawn_run(json!({"code": spin, "policy": {"timeout_ms": 20000}})))
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = Instant::now();
    let short = s.run_ok(json!({"code": "print(5)"})).await;
    let took = started.elapsed();
    assert_eq!(short["stdout"], "5\n");
    assert!(took < Duration::from_millis(1500), "print(5) took {took:?}");
    for run in long {
        let body = run.await.unwrap();
        assert_eq!(body["stdout"], "spun\n", "{body}");
    }
}

#[tokio::test]
async fn saturation_is_answered_with_503_and_retry_after_not_a_hang() {
    let mut config = server_config();
    config.server.concurrency = 1;
    config.server.queue = 0;
    // One slot for the whole run: no long lane to move to.
    config.server.long_runs = 0;
    let s = start_server(config).await;
    let busy = {
        let client = s.client.clone();
        let url = s.url("/run");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"code": "while True: pass", "policy": {"timeout_ms": 1500}}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = s.run(json!({"code": "print(1)"})).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed at once"
    );
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_matches_spec("/run", "post", 503, &body);
    assert_eq!(busy.await.unwrap(), 200);
    // Once the slot is free, runs are admitted again.
    assert_eq!(s.run_ok(json!({"code": "print(2)"})).await["stdout"], "2\n");
}

/// A first burst on a freshly started default server: every run answered
/// (the queue sheds by expected wait, not by a short fixed length).
#[tokio::test]
async fn a_burst_of_200_concurrent_requests_is_all_answered_correctly() {
    let s = start_server(server_config()).await;
    let requests = (0..200).map(|i| {
        let client = s.client.clone();
        let url = s.url("/run");
        async move {
            let body: Value = client
                .post(url)
                .json(&json!({"code": format!("print({i} * 2)")}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (i, body)
        }
    });
    for (i, body) in futures::future::join_all(requests).await {
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["stdout"], format!("{}\n", i * 2));
    }
}

#[tokio::test]
async fn busy_loops_do_not_delay_healthz() {
    let s = start_server(server_config()).await;
    let loops: Vec<_> = (0..4)
        .map(|_| s.spawn_run(json!({"code": "while True: pass", "policy": {"timeout_ms": 3000}})))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let r = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for handle in loops {
        assert_eq!(handle.await.unwrap()["status"], "timeout");
    }
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_with_runs() {
    let s = start_server(server_config()).await;
    let scrape = || s.get_text("/metrics");
    let key = "goru_runs_total{tenant=\"anonymous\",language=\"python3.12\",status=\"error\"}";
    let before = metric(&scrape().await, key);
    post_run(
        &s,
        json!({"code": "raise SystemExit(3)", "language": "python3.12"}),
    )
    .await;
    let after = scrape().await;
    // At least one more: runs of other tests in this process count too.
    assert!(metric(&after, key) >= before + 1.0, "{after}");
    for name in [
        "goru_run_duration_seconds_bucket",
        "goru_queue_depth",
        "goru_runs_in_flight",
        "goru_pool_ready",
        "goru_pool_size",
    ] {
        assert!(after.contains(name), "{name} missing from {after}");
    }
}

#[tokio::test]
async fn ops_routes_match_the_spec() {
    let s = start_server(server_config()).await;
    for path in ["/healthz", "/readyz", "/runtimes"] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        assert!(r.headers().get("x-request-id").is_some());
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert_matches_spec(path, "get", status, &body);
    }
    let runtimes: Value = s.get_json("/runtimes").await;
    assert_eq!(runtimes["limits"]["maximum"]["timeout_ms"], 60000);
}

#[tokio::test]
async fn graceful_shutdown_lets_runs_finish_within_the_grace_period() {
    let mut config = server_config();
    config.server.shutdown_grace_ms = 3000;
    let s = start_server(config).await;
    let in_flight = s.spawn_run(json!({"code": "import time; time.sleep(1); print('finished')"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.server.shutdown();
    let body = in_flight.await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["stdout"].as_str()),
        (Some("ok"), Some("finished\n"))
    );
    let addr = s.server.addr;
    s.server.wait().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn runs_past_the_grace_period_end_as_cancelled_not_timeout() {
    let mut config = server_config();
    config.server.shutdown_grace_ms = 300;
    let s = start_server(config).await;
    let in_flight =
        s.spawn_run(json!({"code": "while True: pass", "policy": {"timeout_ms": 30000}}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.server.shutdown();
    let body = in_flight.await.unwrap();
    assert_eq!(body["status"], "cancelled", "{body}");
    assert_eq!(body["exit_code"], 143, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("server shut down"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_matches_spec("/run", "post", 200, &body);
}

/// Slowloris: a client that trickles its headers or its body is cut off at
/// the configured bound and holds no run slot meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off_and_hold_no_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = server_config();
    config.server.header_timeout_ms = 600;
    config.server.body_timeout_ms = 600;
    config.server.concurrency = 1;
    config.server.long_runs = 0;
    let s = start_server(config).await;
    let addr = s.server.addr;

    // Headers that never end: the connection is closed at the bound.
    let mut headers = tokio::net::TcpStream::connect(addr).await.unwrap();
    headers
        .write_all(b"POST /run HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // A body that never completes: 408, JSON, at the bound.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let mut body = tokio::net::TcpStream::connect(addr).await.unwrap();
        body.write_all(
            b"POST /run HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"code\": ",
        )
        .await
        .unwrap();
        bodies.push(body);
    }
    // Meanwhile the only run slot is free for a well-behaved client.
    let started = Instant::now();
    assert_eq!(s.run_ok(json!({"code": "print(1)"})).await["stdout"], "1\n");
    assert!(started.elapsed() < Duration::from_millis(500));

    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), headers.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the header trickler was never cut off");
    for mut body in bodies {
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), body.read_to_string(&mut answer))
            .await
            .expect("the body trickler was never answered")
            .ok();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "request_timeout", "{answer}");
        assert_matches_spec("/run", "post", 408, &body);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// schemathesis, a client that knows only openapi.yaml, against the live
/// server: examples, boundary values, fuzzed and schema-violating requests
/// and stateful sequences (create a session, run a cell, delete it, …) must
/// find nothing: no 5xx, no answer the spec does not describe, no valid
/// request refused, no invalid one accepted. Installed pinned by `make test`
/// (tests/schemathesis/requirements.txt); the rules JSON Schema cannot state
/// are in tests/schemathesis/hooks.py.
#[tokio::test]
async fn schemathesis_finds_nothing_wrong_with_the_spec_or_the_server() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join("build/schemathesis/venv/bin/st");
    assert!(
        st.exists(),
        "schemathesis is missing: `make test` installs it \
         (scripts/pinned-venv.sh build/schemathesis/venv tests/schemathesis/requirements.txt ...)"
    );
    // A 5xx it finds is explained by the server's log, shown on failure.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let mut config = server_config();
    // Its python-sci runs must not wait for the snapshot to be made.
    config.server.precompile = vec!["python-sci".into()];
    let s = start_server(config).await;
    // It leaves its example database in the working directory.
    let scratch = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(&st)
        .current_dir(scratch.path())
        .arg("--config-file")
        .arg(root.join("tests/schemathesis/schemathesis.toml"))
        .arg("run")
        .arg(root.join("openapi.yaml"))
        .args(["--url", &s.base, "--seed", "1", "--max-examples", "40"])
        .args(["--no-color", "--request-timeout", "60"])
        .env("PYTHONPATH", root.join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis starts");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It really ran every phase against this server, not an empty spec.
    for phase in ["✅ Examples", "✅ Coverage", "✅ Fuzzing", "✅ Stateful"] {
        assert!(report.contains(phase), "{phase} missing:\n{report}");
    }
    // "N generated, N passed": every case passed, none was left out.
    let counts = report
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no case count:\n{report}"));
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] == numbers[1] && numbers[0] > 500,
        "{counts}\n{report}"
    );
}

/// `/mcp` answers as MCP clients expect: no `Accept` (or `*/*`) is taken as
/// both media types, refusals are JSON-RPC errors, only POST is served.
#[tokio::test]
async fn mcp_refusals_are_json_rpc_errors() {
    let s = start_server(server_config()).await;
    let post = |body: &'static str, accept: Option<&'static str>| {
        let mut request = s
            .client
            .post(s.url("/mcp"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send()
    };
    let list = r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}"#;
    for accept in [None, Some("*/*")] {
        let answer = post(list, accept).await.unwrap();
        assert_eq!(answer.status(), 200, "Accept {accept:?}");
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["result"]["tools"]
                .as_array()
                .is_some_and(|t| !t.is_empty()),
            "{body}"
        );
    }
    for (body, accept, status) in [
        (list, Some("text/html"), 406),
        (r#"{"jsonrpc": "2.0", "id": 1.5, "method": "x"}"#, None, 400),
        (r#"[{"jsonrpc": "2.0", "id": 1, "method": "x"}]"#, None, 400),
        ("not json", None, 400),
    ] {
        let answer = post(body, accept).await.unwrap();
        assert_eq!(answer.status(), status, "{body} / {accept:?}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["jsonrpc"], "2.0", "{error}");
        assert_eq!(error["error"]["code"], -32600, "{error}");
        assert!(error["id"].is_null(), "{error}");
    }
    let get = s.client.get(s.url("/mcp")).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
}

/// Requests the server cannot serve are refused before anything starts,
/// naming the field: python-sci below the memory its interpreter starts in,
/// a host pattern the URL parser would read as an address however long.
#[tokio::test]
async fn limits_a_runtime_cannot_start_in_are_refused_by_name() {
    let s = start_server(server_config()).await;
    let (status, body) = post_run(
        &s,
        json!({"code": "print(1)", "language": "python-sci", "policy": {"memory_mb": 64}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "limit_exceeded", "{body}");
    assert_eq!(body["error"]["field"], "policy.memory_mb", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("python-sci") && message.contains("128"),
        "{message}"
    );

    let (status, body) = post_run(
        &s,
        json!({"code": "", "policy": {"allowed_hosts": ["0".repeat(254)]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "policy.allowed_hosts[0]", "{body}");

    // Unused bits in base64's last character are ignored, as Python does.
    let (status, body) = post_run(
        &s,
        json!({"code": "print(open('b').read())", "files": [{"path": "b", "content": "aGk=", "encoding": "base64"}, {"path": "c", "content": "aGl=", "encoding": "base64"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "hi\n", "{body}");
    let (status, body) = post_run(
        &s,
        json!({"code": "", "files": [{"path": "b", "content": " aGk=", "encoding": "base64"}]}),
    )
    .await;
    assert_eq!(status, 400, "whitespace is not base64: {body}");
    assert_eq!(body["error"]["field"], "files[0].content", "{body}");
}

/// Instantiating is not the run's work: with no pooled instance ready, a
/// budget of one fuel unit still opens a session and ends runs and cells
/// as `fuel_exhausted` (it was a 500: instantiation itself ran out).
#[tokio::test]
async fn a_tiny_fuel_budget_is_the_runs_status_even_without_a_pooled_instance() {
    let mut config = server_config();
    config.server.pool_size = 0;
    let s = start_server(config).await;
    for language in ["python", "python-sci"] {
        let policy = json!({"fuel": 1, "memory_mb": 128});
        let (status, body) = post_run(
            &s,
            json!({"code": "print(1)", "language": language, "policy": policy}),
        )
        .await;
        assert_eq!(status, 200, "{language}: {body}");
        assert_eq!(body["status"], "fuel_exhausted", "{language}: {body}");

        let (status, open) = s
            .post_value("/sessions", json!({"language": language, "policy": policy}))
            .await;
        assert_eq!(status, 201, "{language}: {open}");
        let id = open["session_id"].as_str().unwrap();
        let (_, cell) = s
            .post_value(&format!("/sessions/{id}/run"), json!({"code": "1"}))
            .await;
        assert_eq!(cell["status"], "fuel_exhausted", "{language}: {cell}");
    }
}
