//! Tenants against a real server: keys, grants, namespaces, sessions, rate
//! limits, metrics, the loopback-only default, and the audit line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{assert_matches_spec, server_config, start_server_env};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ACME: &str = "acme-key-0123456789abcdef";
const BETA: &str = "beta-key-0123456789abcdef";
const LIMITED: &str = "limited-key-0123456789abcd";

fn sha256(key: &str) -> String {
    goru::tenant::keys::KeyHash::of_key(key).to_hex()
}

/// acme: key from the environment, *.example.com, namespaces `shared` and
/// `acme-*`, may read metrics. beta: key as a hash, 1 s ceiling.
/// limited: 1 run/s with a burst of 2, 1 run in flight, 1 live session.
fn tenants_config() -> goru::config::Config {
    let mut config = server_config();
    let text = format!(
        r#"
        [acme]
        key_env = ["ACME_TEST_KEY"]
        allowed_hosts = ["*.example.com"]
        kv_namespaces = ["shared", "acme-*"]
        read_metrics = true

        [beta]
        key_sha256 = ["{}"]
        ceiling = {{ timeout_ms = 1000 }}
        kv_max_bytes = 100
        kv_max_namespaces = 2

        [limited]
        key_sha256 = ["{}"]
        runs_per_second = 1
        burst = 2
        max_concurrent_runs = 1
        max_live_sessions = 1
        "#,
        sha256(BETA),
        sha256(LIMITED)
    );
    config.tenants = toml::from_str(&text).unwrap();
    config.server.metrics_access = goru::tenant::MetricsAccess::Keys;
    config
}

async fn start() -> common::TestServer {
    let env = BTreeMap::from([("ACME_TEST_KEY".to_owned(), ACME.to_owned())]);
    start_server_env(tenants_config(), goru::host::Registry::new(), env).await
}

impl common::TestServer {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    async fn run_as(&self, key: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call(reqwest::Method::POST, "/run", Some(key), Some(body))
            .await;
        (status, body)
    }
}

#[tokio::test]
async fn without_a_valid_key_nothing_but_the_probes_answers() {
    let server = start().await;
    use reqwest::Method;
    for (method, path) in [
        (Method::POST, "/run"),
        (Method::GET, "/sessions"),
        (Method::POST, "/sessions"),
        (Method::GET, "/kv/shared"),
        (Method::GET, "/runtimes"),
        (Method::GET, "/metrics"),
        (Method::POST, "/mcp"),
        (Method::GET, "/no-such-route"),
    ] {
        let body = (method == Method::POST).then(|| json!({"code": "print(1)"}));
        for key in [None, Some("not-a-key-of-anyone-here"), Some("")] {
            let (status, headers, answer) =
                server.call(method.clone(), path, key, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {key:?}: {answer}"
            );
            assert_eq!(headers["www-authenticate"], "Bearer");
            assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
            if path == "/run" {
                assert_matches_spec("/run", "post", 401, &answer);
            }
        }
    }
    let basic = server
        .client
        .post(server.url("/run"))
        .basic_auth("acme", Some(ACME))
        .json(&json!({"code": "print(1)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    for probe in ["/healthz", "/readyz"] {
        let (status, _, _) = server.call(Method::GET, probe, None, None).await;
        assert_eq!(status, StatusCode::OK, "{probe}");
    }
    // And with a key, the same run happens.
    let (status, answer) = server.run_as(ACME, json!({"code": "print(6*7)"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stdout"], "42\n");
}

/// A tenant's KV quota binds its own namespaces, through `/kv` and runs
/// alike, and leaves other tenants' room alone.
#[tokio::test]
async fn a_tenant_kv_quota_binds_that_tenant_only() {
    use reqwest::Method;
    let server = start().await;
    let put = |ns: &str, key: &str, len: usize, who: &'static str| {
        let path = format!("/kv/{ns}/{key}");
        let server = &server;
        async move {
            let body = json!({"value": "x".repeat(len)});
            let (status, _, answer) = server.call(Method::PUT, &path, Some(who), Some(body)).await;
            (status, answer)
        }
    };
    assert_eq!(put("a", "k", 80, BETA).await.0, StatusCode::NO_CONTENT);
    let (status, answer) = put("a", "j", 80, BETA).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("kv_max_bytes"), "{answer}");
    assert_matches_spec("/kv/{namespace}/{key}", "put", 400, &answer);
    // The same quota holds inside a run.
    let (status, ran) = server
        .run_as(
            BETA,
            json!({"code": "kv_set('j', 'x' * 80)", "policy": {"kv_namespace": "a"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ran["status"], "error", "{ran}");
    assert!(
        ran["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kv_max_bytes"),
        "{ran}"
    );
    // Two namespaces at most.
    assert_eq!(put("b", "k", 1, BETA).await.0, StatusCode::NO_CONTENT);
    let (status, answer) = put("c", "k", 1, BETA).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kv_max_namespaces")
    );
    // Another tenant is not bound by it.
    assert_eq!(
        put("acme-big", "k", 5000, ACME).await.0,
        StatusCode::NO_CONTENT
    );
    // Emptying a namespace gives its place back.
    let (status, _, deleted) = server
        .call(Method::DELETE, "/kv/a/k", Some(BETA), None)
        .await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (StatusCode::OK, &json!(true))
    );
    assert_eq!(put("c", "k", 90, BETA).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_tenant_never_reaches_another_tenants_namespace() {
    let server = start().await;
    use reqwest::Method;
    let (status, _, answer) = server
        .call(
            Method::PUT,
            "/kv/shared/secret",
            Some(ACME),
            Some(json!({"value": "acme's"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    // beta's `shared` is another namespace: the key is not there...
    let (status, _, _) = server
        .call(Method::GET, "/kv/shared/secret", Some(BETA), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, listed) = server
        .call(Method::GET, "/kv/shared", Some(BETA), None)
        .await;
    assert_eq!(listed["keys"], json!([]));
    // ...nor through a run, and what beta writes does not overwrite acme's.
    let code = "print(kv_get('secret')); kv_set('secret', 'beta wrote')";
    let (status, answer) = server
        .run_as(
            BETA,
            json!({"code": code, "policy": {"kv_namespace": "shared"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stdout"], "None\n", "{answer}");
    let (status, answer) = server
        .run_as(
            ACME,
            json!({"code": "print(kv_get('secret'))", "policy": {"kv_namespace": "shared"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stdout"], "acme's\n", "{answer}");
    // The scoped name cannot be spelled from outside.
    let (status, _, answer) = server
        .call(Method::GET, "/kv/acme%2Fshared/secret", Some(BETA), None)
        .await;
    assert_ne!(status, StatusCode::OK, "{answer}");
    // A namespace outside acme's list: 403 naming it, on /kv and in a policy.
    let (status, _, answer) = server
        .call(Method::GET, "/kv/elsewhere/k", Some(ACME), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["field"], "namespace");
    assert_matches_spec("/kv/{namespace}/{key}", "get", 403, &answer);
    let (status, answer) = server
        .run_as(
            ACME,
            json!({"code": "pass", "policy": {"kv_namespace": "elsewhere"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "grant_denied");
    assert_eq!(answer["error"]["field"], "policy.kv_namespace");
    let (status, _) = server
        .run_as(
            ACME,
            json!({"code": "kv_set('a', 'b')", "policy": {"kv_namespace": "acme-jobs"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_grant_or_limit_beyond_the_tenants_is_refused_by_name() {
    let server = start().await;
    for (key, policy, field) in [
        (
            ACME,
            json!({"allowed_hosts": ["evil.com"]}),
            "policy.allowed_hosts[0]",
        ),
        (
            ACME,
            json!({"allowed_hosts": ["api.example.com", "example.com"]}),
            "policy.allowed_hosts[1]",
        ),
        (
            ACME,
            json!({"allowed_hosts": ["api.example.com:8443"]}),
            "policy.allowed_hosts[0]",
        ),
        (
            BETA,
            json!({"allowed_hosts": ["api.example.com"]}),
            "policy.allowed_hosts[0]",
        ),
        (
            ACME,
            json!({"functions": ["anything"]}),
            "policy.functions[0]",
        ),
        (
            ACME,
            json!({"mounts": [{"name": "data", "guest_path": "/data", "mode": "ro"}]}),
            "policy.mounts[0].name",
        ),
    ] {
        let (status, answer) = server
            .run_as(key, json!({"code": "print('ran')", "policy": policy}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{policy}: {answer}");
        assert_eq!(answer["error"]["code"], "grant_denied", "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert_matches_spec("/run", "post", 403, &answer);
    }
    // A policy inside the tenant's grants runs.
    let (status, answer) = server
        .run_as(
            ACME,
            json!({"code": "print('ran')", "policy": {"allowed_hosts": ["api.example.com", "*.eu.example.com"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The same grants for a session are refused the same way.
    let (status, _, answer) = server
        .call(
            reqwest::Method::POST,
            "/sessions",
            Some(BETA),
            Some(json!({"policy": {"allowed_hosts": ["api.example.com"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // beta's ceiling is 1 s: above is refused, and its default is lowered to it.
    let (status, answer) = server
        .run_as(
            BETA,
            json!({"code": "pass", "policy": {"timeout_ms": 2000}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "policy.timeout_ms");
    let (status, answer) = server
        .run_as(BETA, json!({"code": "while True: pass"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "timeout");
    assert!(answer["duration_ms"].as_f64().unwrap() < 1900.0, "{answer}");
    let (_, _, runtimes) = server
        .call(reqwest::Method::GET, "/runtimes", Some(BETA), None)
        .await;
    assert_eq!(runtimes["tenant"], "beta");
    assert_eq!(runtimes["limits"]["maximum"]["timeout_ms"], 1000);
}

#[tokio::test]
async fn a_rate_limit_is_reached_then_recovers() {
    let server = start().await;
    for _ in 0..2 {
        let (status, answer) = server.run_as(LIMITED, json!({"code": "pass"})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, headers, answer) = server
        .call(
            reqwest::Method::POST,
            "/run",
            Some(LIMITED),
            Some(json!({"code": "pass"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["error"]["code"], "rate_limited");
    assert_matches_spec("/run", "post", 429, &answer);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another tenant is not slowed by it.
    let (status, _) = server.run_as(ACME, json!({"code": "pass"})).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (status, answer) = server.run_as(LIMITED, json!({"code": "pass"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _, metrics) = server
        .call(reqwest::Method::GET, "/metrics", Some(ACME), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains(r#"reason="tenant_rate""#) && metrics.contains(r#"tenant="limited""#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("goru_runs_total") && l.contains(r#"tenant="acme""#)),
        "{metrics}"
    );
    // /metrics is for tenants allowed to read it only.
    let (status, _, _) = server
        .call(reqwest::Method::GET, "/metrics", Some(BETA), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn runs_in_flight_and_live_sessions_are_limited_per_tenant() {
    let server = start().await;
    let long = {
        let request = server
            .client
            .post(server.url("/run"))
            .bearer_auth(LIMITED)
            .json(&json!({"code": "import time; time.sleep(1.5)"}));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, answer) = server.run_as(LIMITED, json!({"code": "pass"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{answer}"
    );
    assert_eq!(long.await.unwrap(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(1)).await;

    use reqwest::Method;
    let (status, _, first) = server
        .call(Method::POST, "/sessions", Some(LIMITED), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["session_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, headers, answer) = server
        .call(Method::POST, "/sessions", Some(LIMITED), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["error"]["code"], "too_many_sessions", "{answer}");
    assert!(headers.contains_key("retry-after"));
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limited"),
        "{answer}"
    );
    // Another tenant sees nothing of it, and cannot end it.
    let path = format!("/sessions/{id}");
    let (status, _, _) = server.call(Method::GET, &path, Some(ACME), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = server.call(Method::DELETE, &path, Some(ACME), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, listed) = server
        .call(Method::GET, "/sessions", Some(ACME), None)
        .await;
    assert_eq!(listed["sessions"], json!([]));
    let (status, _, _) = server
        .call(Method::DELETE, &path, Some(LIMITED), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _, answer) = server
        .call(Method::POST, "/sessions", Some(LIMITED), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn without_keys_the_server_listens_on_loopback_only() {
    let mut config = server_config();
    config.listen = "0.0.0.0:0".parse().unwrap();
    let refused = goru::server::start(config.clone(), goru::host::Registry::new()).await;
    let message = format!("{:#}", refused.err().expect("refused"));
    assert!(
        message.contains("not a loopback address") && message.contains("auth = \"none\""),
        "{message}"
    );
    // On loopback it starts, and answers only requests addressed to a
    // loopback name: a web page that rebinds its own name to 127.0.0.1
    // cannot drive it from a browser.
    let server = goru::server::start(server_config(), goru::host::Registry::new())
        .await
        .unwrap();
    for (host, expected) in [
        ("evil.example", "403"),
        ("evil.example:8080", "403"),
        ("127.0.0.1.nip.io", "403"),
        ("localhost", "200"),
        ("127.0.0.1:1", "200"),
        ("[::1]:8080", "200"),
    ] {
        let answer = raw_get(server.addr, "/runtimes", host).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{host}: {answer}"
        );
    }
    assert!(
        raw_get(server.addr, "/healthz", "evil.example")
            .await
            .starts_with("HTTP/1.1 200")
    );
    server.shutdown();
    // Said explicitly, it starts.
    config.auth = goru::tenant::AuthMode::None;
    let server = goru::server::start(config, goru::host::Registry::new())
        .await
        .expect("auth = none starts on any address");
    server.shutdown();
    // With keys it starts on any address too.
    let mut keyed = tenants_config();
    keyed.listen = "0.0.0.0:0".parse().unwrap();
    let env = BTreeMap::from([("ACME_TEST_KEY".to_owned(), ACME.to_owned())]);
    let server = goru::server::start_with_env(keyed, goru::host::Registry::new(), env)
        .await
        .expect("keys start on any address");
    server.shutdown();
}

/// A GET with exactly this Host header, answered with its status line and body.
async fn raw_get(addr: std::net::SocketAddr, path: &str, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// The audit line, as the JSON log of a real `goru serve` process has it.
#[tokio::test]
async fn every_run_leaves_one_audit_line_naming_its_tenant_and_grants() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("goru.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[server]\nprecompile = [\"python\"]\npool_size = 1\n\
         [log]\nformat = \"json\"\n[tenants.acme]\nkey_env = [\"ACME_TEST_KEY\"]\n\
         allowed_hosts = [\"*.example.com\"]\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_goru"))
        .args(["serve", "--config"])
        .arg(&file)
        .env("ACME_TEST_KEY", ACME)
        .env("GORU_CACHE_DIR", common::test_cache_dir())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let addr = loop {
        let text = lines.next_line().await.unwrap().expect("the server exited");
        log.push_str(&text);
        let line: Value = serde_json::from_str(&text).unwrap();
        if line["message"] == "goru listening" {
            break line["addr"].as_str().unwrap().to_owned();
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = json!({"code": "print(1)", "policy": {"allowed_hosts": ["api.example.com"], "kv_namespace": "jobs"}});
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let answer: Value = loop {
        let response = client
            .post(format!("http://{addr}/run"))
            .bearer_auth(ACME)
            .json(&body)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let run_id = answer["run_id"].as_str().unwrap().to_owned();
    let audit = loop {
        let text = lines.next_line().await.unwrap().expect("the server exited");
        log.push_str(&text);
        let line: Value = serde_json::from_str(&text).unwrap();
        if line["run_id"] == run_id.as_str() {
            break line;
        }
    };
    child.kill().await.unwrap();
    assert_eq!(audit["target"], "goru::audit", "{audit}");
    assert_eq!(audit["tenant"], "acme", "{audit}");
    assert_eq!(audit["language"], "python", "{audit}");
    assert_eq!(audit["allowed_hosts"], "api.example.com", "{audit}");
    assert_eq!(audit["kv_namespace"], "jobs", "{audit}");
    assert_eq!(audit["status"], "ok", "{audit}");
    assert!(audit["duration_ms"].as_f64().is_some(), "{audit}");
    assert!(!log.contains(ACME), "the key is never logged: {log}");
}
