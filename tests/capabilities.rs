//! Host capabilities through the service: KV namespaces and the /kv routes,
//! custom functions backed by endpoints, HTTP and mounts granted by policy,
//! and grants that never leak between runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use common::{TestServer, local_http, server_config, start_server, start_server_env};
use goru::host::fs::{Mode, MountConfig};
use goru::host::functions::FunctionConfig;
use goru::host::http::HostPattern;
use serde_json::{Value, json};

async fn ok(s: &TestServer, body: Value) -> Value {
    let r = s.run_ok(body.clone()).await;
    assert_eq!(r["status"], "ok", "{body} -> {r}");
    r
}

#[tokio::test]
async fn runs_naming_a_namespace_share_it_and_the_kv_routes_see_it() {
    let s = start_server(server_config()).await;
    let policy = json!({"kv_namespace": "shared-1"});
    ok(&s, json!({"code": "kv_set('answer', '42'); kv_set('tmp', 'x', ttl_seconds=60)", "policy": policy})).await;
    let r = ok(&s, json!({"code": "print(kv_get('answer'), kv_keys(), kv_delete('tmp'), kv_keys())", "policy": policy})).await;
    assert_eq!(r["stdout"], "42 ['answer', 'tmp'] True ['answer']\n");

    let got: Value = s.get_json("/kv/shared-1/answer").await;
    assert_eq!(got["value"], "42");
    let put = s
        .client
        .put(s.url("/kv/shared-1/input"))
        .json(&json!({"value": "seeded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let r = ok(
        &s,
        json!({"code": "print(kv_get('input'))", "policy": policy}),
    )
    .await;
    assert_eq!(r["stdout"], "seeded\n");
    let list: Value = s.get_json("/kv/shared-1?prefix=in").await;
    assert_eq!(list["keys"], json!(["input"]));
    let del: Value = s
        .client
        .delete(s.url("/kv/shared-1/input"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(del["deleted"], true);
    assert_eq!(
        s.client
            .get(s.url("/kv/shared-1/input"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_run_without_a_namespace_has_a_private_one_that_dies_with_it() {
    let s = start_server(server_config()).await;
    ok(&s, json!({"code": "kv_set('mine', 'secret')"})).await;
    let r = ok(&s, json!({"code": "print(kv_get('mine'), kv_keys())"})).await;
    assert_eq!(r["stdout"], "None []\n");
}

#[tokio::test]
async fn kv_limits_are_enforced_with_clear_errors_in_runs_and_routes() {
    let mut config = server_config();
    config.kv.limits.max_value_bytes = 10;
    config.kv.limits.max_key_bytes = 8;
    let s = start_server(config).await;
    let r = s
        .run_ok(json!({"code": "kv_set('k', 'x' * 11)", "policy": {"kv_namespace": "lim"}}))
        .await;
    assert_eq!(r["error"]["type"], "ValueError");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("above the limit of 10"),
        "{r}"
    );
    let r = s.run_ok(json!({"code": "kv_set('k', 5)"})).await;
    assert_eq!(r["error"]["type"], "TypeError");
    let put = s
        .client
        .put(s.url("/kv/lim/k"))
        .json(&json!({"value": "x".repeat(11)}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 400);
    let body: Value = put.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (Some("kv_limit"), Some("value"))
    );
    let bad_ns = s
        .run(json!({"code": "", "policy": {"kv_namespace": "no spaces"}}))
        .await;
    assert_eq!(bad_ns.status(), 400);
    let body: Value = bad_ns.json().await.unwrap();
    assert_eq!(body["error"]["field"], "policy.kv_namespace");
}

async fn user_service() -> std::net::SocketAddr {
    let router = axum::Router::new()
        .route(
            "/users",
            post(|Json(args): Json<Value>| async move {
                if args["id"] == "missing" {
                    (
                        StatusCode::NOT_FOUND,
                        Json(json!({"error": "no user with that id"})),
                    )
                } else {
                    (
                        StatusCode::OK,
                        Json(json!({"id": args["id"], "name": "Ada"})),
                    )
                }
            }),
        )
        .route(
            "/broken",
            post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "stack trace: at db.rs:42",
                )
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Json(json!(null))
            }),
        )
        .route(
            // An answer without end: only a cap applied while reading stops it.
            "/endless",
            post(|| async {
                let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
                let chunks =
                    futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                axum::body::Body::from_stream(chunks)
            }),
        )
        .route(
            "/wordy",
            post(|| async {
                let error = "e".repeat(1 << 20);
                (StatusCode::BAD_REQUEST, Json(json!({"error": error})))
            }),
        );
    local_http(router).await
}

#[tokio::test]
async fn configured_functions_call_their_endpoint_and_fail_with_the_operators_message() {
    let addr = user_service().await;
    let mut config = server_config();
    let function = |path: &str, timeout_ms: u64, error_message: Option<&str>| FunctionConfig {
        url: format!("http://{addr}{path}"),
        timeout_ms,
        error_message: error_message.map(str::to_owned),
    };
    config
        .functions
        .insert("get_user".into(), function("/users", 2000, None));
    config.functions.insert(
        "broken".into(),
        function("/broken", 2000, Some("the user service is down")),
    );
    config
        .functions
        .insert("slow".into(), function("/slow", 200, None));
    config
        .functions
        .insert("endless".into(), function("/endless", 20_000, None));
    config
        .functions
        .insert("wordy".into(), function("/wordy", 2000, None));
    let s = start_server(config).await;
    let grant = json!({"functions": ["get_user", "broken", "slow", "endless", "wordy"]});

    let r = ok(
        &s,
        json!({"code": "print(_goru_call('get_user', {'id': '123'})['name'])", "policy": grant}),
    )
    .await;
    assert_eq!(r["stdout"], "Ada\n");
    let r = s
        .run_ok(json!({"code": "_goru_call('get_user', {'id': 'missing'})", "policy": grant}))
        .await;
    assert_eq!(
        (r["error"]["type"].as_str(), r["error"]["message"].as_str()),
        (Some("GoruError"), Some("no user with that id"))
    );
    let r = s
        .run_ok(json!({"code": "_goru_call('broken', {})", "policy": grant}))
        .await;
    assert_eq!(r["error"]["message"], "the user service is down");
    assert!(
        !r.to_string().contains("db.rs"),
        "no host internals reach the guest"
    );
    let r = s
        .run_ok(json!({"code": "_goru_call('slow', {})", "policy": grant}))
        .await;
    assert_eq!(r["error"]["type"], "TimeoutError");
    // Cut off at the response cap as it streams in, long before the timeout.
    let r = s
        .run_ok(json!({"code": "_goru_call('endless', {})", "policy": {"functions": ["endless"], "timeout_ms": 30_000}}))
        .await;
    assert_eq!(r["error"]["message"], "function \"endless\" failed", "{r}");
    assert!(
        r["duration_ms"].as_f64().unwrap() < 10_000.0,
        "{}",
        r["duration_ms"]
    );
    // An endpoint's own message reaches the guest cut to a line's worth.
    let r = s
        .run_ok(json!({"code": "_goru_call('wordy', {})", "policy": grant}))
        .await;
    assert_eq!(
        r["error"]["message"].as_str().map(str::len),
        Some(4096),
        "cut"
    );

    // Not granted: the function exists but this run may not call it.
    let r = s
        .run_ok(json!({"code": "_goru_call('get_user', {'id': '1'})"}))
        .await;
    assert_eq!(r["error"]["type"], "PermissionError");
    assert!(r["error"]["message"].as_str().unwrap().contains("get_user"));
    // Unknown: refused before running, naming the field.
    let bad = s
        .run(json!({"code": "", "policy": {"functions": ["nope"]}}))
        .await;
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "policy.functions");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("get_user"),
        "lists the known ones: {body}"
    );
}

async fn echo_service() -> std::net::SocketAddr {
    let router = axum::Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                let token = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                Json(json!({"saw_token": token.is_some(), "token_ok": token.as_deref() == Some("Bearer s3cret")}))
            }),
        )
        .route("/away", get(|| async { axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data") }));
    local_http(router).await
}

#[tokio::test]
async fn http_reaches_allowed_hosts_with_secrets_the_guest_never_sees() {
    let addr = echo_service().await;
    let mut config = server_config();
    config.http.allow_addresses = vec!["127.0.0.1/32".into()];
    config.http.secrets = vec![goru::config::SecretSetting {
        host: format!("127.0.0.1:{}", addr.port()),
        header: "authorization".into(),
        value_env: "TEST_TOKEN".into(),
    }];
    let env = BTreeMap::from([("TEST_TOKEN".to_owned(), "Bearer s3cret".to_owned())]);
    let s = start_server_env(config, goru::host::Registry::new(), env).await;
    let policy = json!({"allowed_hosts": [format!("127.0.0.1:{}", addr.port())]});
    let code = format!("r = http_get('http://{addr}/echo')\nprint(r['status'], r['body'])");
    let r = ok(&s, json!({"code": code, "policy": policy})).await;
    assert_eq!(r["stdout"], "200 {\"saw_token\":true,\"token_ok\":true}\n");
    assert!(
        !r.to_string().contains("s3cret"),
        "the secret never reaches the result"
    );

    let code = format!("http_get('http://{addr}/away')");
    let r = s.run_ok(json!({"code": code, "policy": policy})).await;
    assert_eq!(r["error"]["type"], "PermissionError", "{r}");

    // Without allowed_hosts the functions are not there at all.
    let r = s
        .run_ok(json!({"code": format!("http_get('http://{addr}/echo')")}))
        .await;
    assert_eq!(r["error"]["type"], "PermissionError");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_hosts"),
        "{r}"
    );

    let bad = s
        .run(json!({"code": "", "policy": {"allowed_hosts": ["exa mple.com"]}}))
        .await;
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "policy.allowed_hosts[0]", "{body}");
}

#[tokio::test]
async fn mounts_are_granted_by_name_within_their_max_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "input").unwrap();
    let mut config = server_config();
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: dir.path().to_owned(),
            max_mode: Mode::Rw,
        },
    );
    let s = start_server(config).await;
    let mount =
        |mode: &str| json!({"mounts": [{"name": "data", "guest_path": "/data", "mode": mode}]});
    let r = ok(
        &s,
        json!({"code": "print(fs_read('/data/in.txt'))", "policy": mount("ro")}),
    )
    .await;
    assert_eq!(r["stdout"], "input\n");
    let r = s
        .run_ok(json!({"code": "fs_write('/data/in.txt', 'changed')", "policy": mount("ro")}))
        .await;
    assert_eq!(r["error"]["type"], "PermissionError");
    ok(
        &s,
        json!({"code": "fs_write('/data/in.txt', 'changed')", "policy": mount("rw")}),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).unwrap(),
        "changed"
    );

    let bad = s.run(json!({"code": "", "policy": mount("rwc")})).await;
    assert_eq!(bad.status(), 403, "beyond the mount's max_mode");
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "policy.mounts[0].mode", "{body}");
    assert_eq!(body["error"]["code"], "grant_denied", "{body}");
    let bad = s
        .run(json!({"code": "", "policy": {"mounts": [{"name": "etc", "guest_path": "/etc", "mode": "ro"}]}}))
        .await;
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("data"),
        "lists known mounts: {body}"
    );
    let bad = s
        .run(json!({"code": "", "policy": {"mounts": [{"name": "data", "guest_path": "/d", "mode": "ro", "path": "/etc"}]}}))
        .await;
    assert_eq!(bad.status(), 400, "clients never send host paths");
}

#[tokio::test]
async fn a_run_without_grants_sees_nothing_while_a_granted_run_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "data").unwrap();
    let addr = echo_service().await;
    let mut config = server_config();
    config.http.allow_addresses = vec!["127.0.0.1/32".into()];
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: dir.path().to_owned(),
            max_mode: Mode::Ro,
        },
    );
    let s = start_server(config).await;
    let granted = json!({
        "code": format!("import time\nkv_set('k', 'v')\nfor _ in range(30):\n    fs_read('/data/f.txt'); http_get('http://{addr}/echo'); time.sleep(0.02)\nprint('granted ok')"),
        "policy": {"kv_namespace": "g", "allowed_hosts": [format!("127.0.0.1:{}", addr.port())],
                   "mounts": [{"name": "data", "guest_path": "/data", "mode": "ro"}]},
    });
    let ungranted_code = format!(
        "import time\ntime.sleep(0.1)\nout = [kv_get('k')]\nfor f in (lambda: fs_read('/data/f.txt'), lambda: http_get('http://{addr}/echo')):\n    try:\n        f(); out.append('LEAK')\n    except PermissionError:\n        out.append('refused')\nprint(out)"
    );
    let (g, u) = tokio::join!(s.run_ok(granted), s.run_ok(json!({"code": ungranted_code})));
    assert_eq!(g["stdout"], "granted ok\n", "{g}");
    assert_eq!(u["stdout"], "[None, 'refused', 'refused']\n", "{u}");
}

#[tokio::test]
async fn a_function_added_for_one_run_is_gone_in_the_next() {
    let runner = common::runner();
    let mut first = goru::host::HostCalls::none();
    first.add("only_for_me", |_| async { Ok(json!("mine")) });
    let mut req = common::request("python", "print(_goru_call('only_for_me'))");
    req.grants.extra = first;
    assert_eq!(runner.run(req).await.unwrap().stdout, "mine\n");
    let r = common::run("_goru_call('only_for_me')").await;
    assert_eq!(r.error.unwrap().type_name, "PermissionError");
}

#[test]
fn host_patterns_refuse_garbage_with_the_pattern_named() {
    let err = "http://x".parse::<HostPattern>().unwrap_err().to_string();
    assert!(err.contains("http://x"), "{err}");
}
