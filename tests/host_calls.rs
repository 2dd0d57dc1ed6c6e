//! The host-call door: registered async Rust functions, per-run grants.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::Duration;

use common::{request, run_req};
use goru::host::{HostError, HostErrorKind, Registry};
use goru::sandbox::Status;
use serde_json::{Value, json};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register("get_user", |args: Value| async move {
        let id = args["id"].as_str().unwrap_or_default().to_owned();
        Ok(json!({"id": id, "name": format!("user-{id}")}))
    });
    r.register("fails", |_| async {
        Err(HostError::new(HostErrorKind::Value, "no such user"))
    });
    r.register("hangs", |_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Value::Null)
    });
    r
}

#[tokio::test]
async fn a_granted_function_returns_json_to_the_guest() {
    let mut req = request(
        "python",
        "u = _goru_call('get_user', {'id': '123'})\nprint(u['name'], type(u).__name__)",
    );
    req.grants.extra = registry().grant(["get_user"]);
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "user-123 dict\n");
}

#[tokio::test]
async fn the_goru_module_offers_the_same_door() {
    let mut req = request(
        "python",
        "import goru\nprint(goru.call('get_user', {'id': '7'})['id'])",
    );
    req.grants.extra = registry().grant(["get_user"]);
    assert_eq!(run_req(req).await.stdout, "7\n");
}

#[tokio::test]
async fn an_ungranted_function_raises_permission_error_naming_it() {
    let mut req = request("python", "_goru_call('get_user', {'id': '1'})");
    req.grants.extra = registry().grant(["fails"]);
    let r = run_req(req).await;
    let e = r.error.unwrap();
    assert_eq!(e.type_name, "PermissionError");
    assert!(
        e.message.contains("get_user") && e.message.contains("not granted"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_run_without_grants_cannot_call_anything() {
    let r = run_req(request("python", "_goru_call('get_user', {})")).await;
    assert_eq!(r.error.unwrap().type_name, "PermissionError");
}

#[tokio::test]
async fn an_unknown_function_raises_naming_it() {
    let mut req = request("python", "_goru_call('nope', {})");
    req.grants.extra = registry().grant(["nope"]);
    let e = run_req(req).await.error.unwrap();
    assert!(e.message.contains("nope"), "{}", e.message);
}

#[tokio::test]
async fn a_function_error_is_an_exception_with_the_operators_message() {
    let code = "try:\n    _goru_call('fails')\nexcept ValueError as e:\n    print('caught', e)";
    let mut req = request("python", code);
    req.grants.extra = registry().grant(["fails"]);
    let r = run_req(req).await;
    assert_eq!(r.stdout, "caught no such user\n", "{r:?}");
}

#[tokio::test]
async fn the_deadline_ends_a_run_blocked_inside_a_host_call() {
    let mut req = request("python", "_goru_call('hangs')");
    req.grants.extra = registry().grant(["hangs"]);
    req.limits = common::timeout(300);
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Timeout);
    assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
}

#[tokio::test]
async fn a_grant_held_by_a_concurrent_run_does_not_leak() {
    let registry = registry();
    let mut granted = request(
        "python",
        "import time\nfor _ in range(20):\n    _goru_call('get_user', {'id': 'a'})\n    time.sleep(0.01)\nprint('ok')",
    );
    granted.grants.extra = registry.grant(["get_user"]);
    let mut ungranted = request(
        "python",
        "import time\ntime.sleep(0.05)\n_goru_call('get_user', {'id': 'b'})",
    );
    ungranted.grants.extra = registry.grant(Vec::<String>::new());
    let (g, u) = tokio::join!(run_req(granted), run_req(ungranted));
    assert_eq!(g.status, Status::Ok, "{g:?}");
    assert_eq!(u.error.unwrap().type_name, "PermissionError");
}

#[tokio::test]
async fn arguments_that_are_not_json_raise_in_the_guest() {
    let mut req = request("python", "_goru_call('get_user', {'x': object()})");
    req.grants.extra = registry().grant(["get_user"]);
    assert_eq!(run_req(req).await.error.unwrap().type_name, "TypeError");
}

#[tokio::test]
async fn python312_reaches_the_same_door_over_framed_stdio() {
    let code = "import sys\nu = _goru_call('get_user', {'id': '9'})\nprint(u['name'])\ntry:\n    _goru_call('fails')\nexcept PermissionError as e:\n    print('refused', e)\nprint(sys.stdin.read())";
    let mut req = request("python3.12", code);
    req.grants.extra = registry().grant(["get_user"]);
    req.stdin = b"user stdin".to_vec();
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "user-9\nrefused host function \"fails\" is not granted to this run\nuser stdin\n"
    );
    assert_eq!(r.stderr, "", "frames never show on stderr");
}

#[tokio::test]
async fn python312_times_out_inside_a_host_call() {
    let mut req = request("python3.12", "_goru_call('hangs')");
    req.grants.extra = registry().grant(["hangs"]);
    req.limits = common::timeout(500);
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Timeout);
}

#[tokio::test]
async fn every_name_in_the_stubs_exists_in_both_runtimes() {
    let stubs = include_str!("../guest/goru.pyi");
    let names: Vec<&str> = stubs
        .lines()
        .filter_map(|l| l.strip_prefix("def ").or_else(|| l.strip_prefix("class ")))
        .map(|l| l.split(['(', ':']).next().unwrap())
        .collect();
    assert!(names.contains(&"_goru_call"), "{names:?}");
    for lang in ["python", "python3.12"] {
        let code =
            format!("import builtins\nprint([n for n in {names:?} if not hasattr(builtins, n)])");
        let r = run_req(request(lang, &code)).await;
        assert_eq!(r.stdout, "[]\n", "{lang} lacks stubbed names: {r:?}");
    }
}
