//! The `javascript` runtime on the real engine: everyday programs print what
//! Node prints, every status and limit, every grant, isolation between runs,
//! sessions, and the TypeScript declarations kept in sync with the guest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{request, run_req, server_config, start_server};
use goru::host::fs::{Mode, MountConfig};
use goru::sandbox::{LimitRequest, RunResult, Status};
use serde_json::{Value, json};

async fn js(code: &str) -> RunResult {
    run_req(request("javascript", code)).await
}

async fn js_with(code: &str, limits: LimitRequest) -> RunResult {
    let mut req = request("javascript", code);
    req.limits = limits;
    run_req(req).await
}

/// Each program in tests/javascript prints exactly what `node` prints for
/// the same file. Node is on every machine of ours; the programs stay within
/// what its version has (ES2023).
#[tokio::test]
async fn everyday_programs_print_what_node_prints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/javascript");
    let mut programs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    programs.sort();
    assert!(programs.len() >= 10, "{programs:?}");
    for program in programs {
        let node = Command::new("node")
            .arg(&program)
            .output()
            .expect("node runs");
        assert!(
            node.status.success(),
            "node failed on {program:?}: {node:?}"
        );
        let expected = String::from_utf8(node.stdout).unwrap();
        let r = js(&std::fs::read_to_string(&program).unwrap()).await;
        assert_eq!(r.status, Status::Ok, "{program:?}: {r:?}");
        assert_eq!(r.stdout, expected, "{program:?} differs from node");
    }
}

#[tokio::test]
async fn the_last_expression_is_the_result_and_promises_are_awaited() {
    let r = js("const xs = [1, 2, 3];\nxs.map((x) => x * 2)").await;
    assert_eq!(r.result.unwrap().plain, "[ 2, 4, 6 ]");
    let r = js("'text'").await;
    assert_eq!(r.result.unwrap().plain, "'text'");
    let r = js("const n = await new Promise((r) => setTimeout(() => r(6), 5));\nn * 7").await;
    assert_eq!(
        (r.status, r.result.unwrap().plain),
        (Status::Ok, "42".into())
    );
    let r = js("Promise.resolve({ ok: true })").await;
    assert_eq!(r.result.unwrap().plain, "{ ok: true }");
    let r = js("let x = 1;").await;
    assert!(r.result.is_none(), "{r:?}");
}

#[tokio::test]
async fn console_methods_write_stdout_and_stderr() {
    let r = js("console.log('a', 1); console.info('i'); console.debug('d'); console.warn('w'); console.error('e', { k: 1 }); console.group('g'); console.log('inner'); console.groupEnd(); console.count(); console.count(); console.assert(false, 'oops')").await;
    assert_eq!(r.stdout, "a 1\ni\nd\ng\n  inner\ndefault: 1\ndefault: 2\n");
    assert_eq!(r.stderr, "w\ne { k: 1 }\nAssertion failed: oops\n");
}

#[tokio::test]
async fn uncaught_errors_and_rejections_are_errors_with_the_js_stack() {
    let r = js("function inner() { throw new TypeError('bad input'); }\nfunction outer() { inner(); }\nouter();").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, 1), "{r:?}");
    assert!(
        r.stderr.starts_with("TypeError: bad input\n    at inner"),
        "stderr has the stack, as in Node: {r:?}"
    );
    let e = r.error.unwrap();
    assert_eq!(
        (e.type_name.as_str(), e.message.as_str()),
        ("TypeError", "bad input")
    );
    assert!(
        e.traceback
            .starts_with("TypeError: bad input\n    at inner (<code>:1:")
            && e.traceback.contains("at outer (<code>:2:"),
        "{}",
        e.traceback
    );
    let r = js("await Promise.reject(new RangeError('nope'))").await;
    assert_eq!(r.error.unwrap().type_name, "RangeError");
    let r = js("Promise.reject(new Error('last value'))").await;
    assert_eq!(r.error.unwrap().message, "last value");
    let r = js("setTimeout(() => { throw new SyntaxError('in a timer'); }, 1)").await;
    assert_eq!(r.error.unwrap().type_name, "SyntaxError");
    let r = js("throw 'a string'").await;
    let e = r.error.unwrap();
    assert_eq!(
        (e.type_name.as_str(), e.message.as_str()),
        ("Uncaught", "'a string'")
    );
    let r = js("let x = ;").await;
    assert_eq!(r.error.unwrap().type_name, "SyntaxError");
    // A runtime SyntaxError is the code's own: the code is not run twice.
    let r = js("console.log('once'); JSON.parse('{')").await;
    assert_eq!((r.stdout.as_str(), r.status), ("once\n", Status::Error));
    let r = js("await new Promise(() => {})").await;
    assert!(
        r.error.unwrap().message.contains("nothing can settle"),
        "a promise nothing can settle is an error, not a hang or a trap"
    );
}

#[tokio::test]
async fn every_limit_of_the_contract_holds() {
    let r = js_with("while (true) {}", common::timeout(300)).await;
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    let r = js_with("setInterval(() => {}, 1)", common::timeout(300)).await;
    assert_eq!(
        r.status,
        Status::Timeout,
        "an interval never cleared runs until the timeout"
    );
    let memory = LimitRequest {
        memory_bytes: Some(64 << 20),
        ..LimitRequest::default()
    };
    let r = js_with(
        "const a = []; while (true) a.push(new Array(1e6).fill(1));",
        memory,
    )
    .await;
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    let fuel = LimitRequest {
        fuel: Some(5_000_000),
        ..LimitRequest::default()
    };
    let r = js_with("let i = 0; while (true) i++;", fuel).await;
    assert_eq!(r.status, Status::FuelExhausted, "{r:?}");
    let capped = LimitRequest {
        max_output_bytes: Some(1000),
        ..LimitRequest::default()
    };
    let r = js_with(
        "for (let i = 0; i < 10000; i++) console.log('line', i)",
        capped,
    )
    .await;
    assert!(
        r.stdout.len() <= 1000 && r.truncated.stdout,
        "{}",
        r.stdout.len()
    );
    let r = js_with("throw new Error('m'.repeat(5_000_000))", capped).await;
    let e = r.error.unwrap();
    assert!(e.message.len() <= 1000 && e.traceback.len() <= 1000 && r.truncated.error);
    let r = js_with("'r'.repeat(5_000_000)", capped).await;
    assert!(r.result.unwrap().plain.len() <= 1000 && r.truncated.result);
    let r = js("function f() { return f(); } f()").await;
    assert_eq!(
        r.error.unwrap().type_name,
        "InternalError",
        "deep recursion is an error"
    );
    // The engine's own heap fills near 90 MiB, below the limit: a crash that
    // says so, not a bare trap.
    let r = js("const a = []; for (let i = 0; i < 3e6; i++) a.push({ i });").await;
    assert_eq!(r.status, Status::Crashed, "{r:?}");
    assert!(
        r.reason
            .as_deref()
            .unwrap_or_default()
            .contains("ran out of memory in its own heap"),
        "{:?}",
        r.reason
    );
}

/// The last status of the contract: a run the server's shutdown grace
/// outlived ends `cancelled`, javascript as any runtime.
#[tokio::test]
async fn a_run_past_the_shutdown_grace_is_cancelled() {
    let mut config = server_config();
    config.server.shutdown_grace_ms = 300;
    let s = start_server(config).await;
    let in_flight = s.spawn_run(json!({"language": "javascript", "code": "while (true) {}", "policy": {"timeout_ms": 30000}}));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.server.shutdown();
    let body = in_flight.await.unwrap();
    assert_eq!(body["status"], "cancelled", "{body}");
}

#[tokio::test]
async fn stdin_is_read_whole_once() {
    let mut req = request(
        "javascript",
        "const t = read_stdin(); console.log(t.split('\\n').length, JSON.stringify(read_stdin()))",
    );
    req.stdin = b"one\ntwo\nthree".to_vec();
    let r = run_req(req).await;
    assert_eq!(r.stdout, "3 \"\"\n", "{r:?}");
}

/// A global, a changed built-in or a timer from one run is absent in the
/// next: every run starts from the snapshot. Were instances reused, the
/// second run would print "leaked".
#[tokio::test]
async fn nothing_one_run_does_is_seen_by_the_next() {
    let first = js("globalThis.leak = 'leaked'; var v = 'leaked'; Array.prototype.map = () => 'leaked'; console.log = () => {}; Math.random()").await;
    assert_eq!(first.status, Status::Ok);
    let second = js("console.log(typeof leak, typeof v, [1].map((x) => x)); Math.random()").await;
    assert_eq!(second.stdout, "undefined undefined [ 1 ]\n", "{second:?}");
    assert_ne!(
        first.result.unwrap().plain,
        second.result.unwrap().plain,
        "each run draws its own random numbers"
    );
    let r = js("[typeof fetch, typeof require, typeof process, typeof WebAssembly]").await;
    assert_eq!(
        r.result.unwrap().plain,
        "[ 'undefined', 'undefined', 'undefined', 'undefined' ]"
    );
}

#[tokio::test]
async fn every_grant_works_when_given_and_is_refused_when_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the mount").unwrap();
    let echo = common::local_http(axum::Router::new().route(
        "/hello",
        axum::routing::post(|body: String| async move { format!("got {body}") }),
    ))
    .await;
    let mut config = server_config();
    config.http.allow_addresses = vec!["127.0.0.1/32".into()];
    config.mounts.insert(
        "data".into(),
        MountConfig {
            path: dir.path().to_owned(),
            max_mode: Mode::Rwc,
        },
    );
    let s = start_server(config).await;
    let run = |code: String, policy: Value| {
        let s = &s;
        async move {
            s.run_ok(json!({"language": "javascript", "code": code, "policy": policy}))
                .await
        }
    };

    let r = run("kv_set('k', 'v1'); kv_set('t', 'x', 60); [kv_get('k'), kv_keys(), kv_delete('t'), kv_get('none')]".into(), json!({"kv_namespace": "jsns"})).await;
    assert_eq!(
        r["result"]["text/plain"], "[ 'v1', [ 'k', 't' ], true, null ]",
        "{r}"
    );
    let r = run("kv_get('k')".into(), json!({"kv_namespace": "jsns"})).await;
    assert_eq!(
        r["result"]["text/plain"], "'v1'",
        "a namespace outlives the run: {r}"
    );
    assert_eq!(
        s.get_json("/kv/jsns/k").await["value"],
        "v1",
        "the /kv routes see it"
    );
    let r = run("kv_get('k')".into(), json!({})).await;
    assert_eq!(
        r["result"]["text/plain"], "null",
        "without the namespace, a private one: {r}"
    );

    let url = format!("http://{echo}/hello");
    let code = format!("const r = http_post('{url}', 'hi'); [r.status, r.body]");
    let r = run(
        code.clone(),
        json!({"allowed_hosts": [format!("127.0.0.1:{}", echo.port())]}),
    )
    .await;
    assert_eq!(r["result"]["text/plain"], "[ 200, 'got hi' ]", "{r}");
    let r = run(
        format!("try {{ {code} }} catch (e) {{ [e.name, e instanceof GoruError] }}"),
        json!({}),
    )
    .await;
    assert_eq!(
        r["result"]["text/plain"], "[ 'PermissionError', true ]",
        "{r}"
    );

    let mount =
        |mode: &str| json!({"mounts": [{"name": "data", "guest_path": "/data", "mode": mode}]});
    let r = run("fs_read('/data/in.txt')".into(), mount("ro")).await;
    assert_eq!(r["result"]["text/plain"], "'from the mount'", "{r}");
    let r = run("fs_write('/data/out.txt', 'written')".into(), mount("ro")).await;
    assert_eq!(r["error"]["type"], "PermissionError", "{r}");
    let r = run(
        "fs_write('/data/out.txt', 'written'); fs_list('/data').map((e) => e.name).sort()".into(),
        mount("rwc"),
    )
    .await;
    assert_eq!(r["result"]["text/plain"], "[ 'in.txt', 'out.txt' ]", "{r}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "written"
    );
    let r = run("fs_read('/data/in.txt')".into(), json!({})).await;
    assert_eq!(r["error"]["type"], "PermissionError", "{r}");
    let r = run("fs_read('/data/../../etc/passwd')".into(), mount("ro")).await;
    assert_eq!(r["status"], "error", "{r}");
    assert!(!r.to_string().contains("root:"), "{r}");

    let r = run("_goru_call('nothing_like_it', {})".into(), json!({})).await;
    assert_eq!(r["status"], "error", "{r}");

    let (status, body) = s
        .post_value("/run", json!({"language": "javascript", "code": "1", "files": [{"path": "a.txt", "content": "x"}]}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("files_unsupported")),
        "{body}"
    );
}

#[tokio::test]
async fn custom_functions_are_called_through_goru_call() {
    let runner = common::runner();
    let mut extra = goru::host::HostCalls::none();
    extra.add("get_user", |args| async move {
        Ok(json!({"id": args["id"], "name": "Ada"}))
    });
    let mut req = request(
        "javascript",
        "const u = _goru_call('get_user', { id: '7' }); `${u.name} ${u.id}`",
    );
    req.grants.extra = extra;
    let r = runner.run(req).await.unwrap();
    assert_eq!(r.result.unwrap().plain, "'Ada 7'", "{:?}", r.error);
}

/// A session keeps what its cells declare, `let`, `const` and `class`
/// included, and a cell may await at top level.
#[tokio::test]
async fn a_session_keeps_its_bindings_from_cell_to_cell() {
    let s = start_server(server_config()).await;
    let (status, opened) = s
        .post_value("/sessions", json!({"language": "javascript"}))
        .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["session_id"].as_str().unwrap().to_owned();
    let cell = |code: &str| {
        let (s, path, code) = (&s, format!("/sessions/{id}/run"), code.to_owned());
        async move { s.post_value(&path, json!({"code": code})).await.1 }
    };
    cell("const rows = [1, 2, 3]; let total = 0; class Acc { add(x) { total += x; } } function twice(x) { return 2 * x; }").await;
    let r = cell("const acc = new Acc(); rows.forEach((x) => acc.add(twice(x))); total").await;
    assert_eq!(r["result"]["text/plain"], "12", "{r}");
    let r = cell("const later = await new Promise((r) => setTimeout(() => r(total + 1), 5)); function f() { return later; }").await;
    assert_eq!(r["status"], "ok", "{r}");
    let r = cell("const rows = 'declared again'; [f(), later, rows]").await;
    assert_eq!(
        r["result"]["text/plain"], "[ 13, 13, 'declared again' ]",
        "{r}"
    );
}

/// guest/goru.d.ts declares exactly the globals the guest defines, and the
/// host functions are those of goru.pyi.
#[tokio::test]
async fn the_typescript_declarations_match_the_guest_and_python() {
    let declared: Vec<String> = include_str!("../guest/goru.d.ts")
        .lines()
        .filter_map(|l| {
            l.strip_prefix("declare function ")
                .or_else(|| l.strip_prefix("declare class "))
        })
        .map(|l| l.split(['(', ' ', '<']).next().unwrap().to_owned())
        .collect();
    let python: Vec<&str> = include_str!("../guest/goru.pyi")
        .lines()
        .filter_map(|l| l.strip_prefix("def "))
        .map(|l| l.split('(').next().unwrap())
        .collect();
    for name in &python {
        assert!(
            declared.iter().any(|d| d == name),
            "{name} is in goru.pyi but not goru.d.ts"
        );
    }
    let code = format!(
        "const names = {declared:?};\n[names.filter((n) => typeof globalThis[n] !== 'function'), Object.getOwnPropertyNames(globalThis).filter((n) => /^(kv|http|fs)_|^_goru|^read_stdin$|^GoruError$/.test(n) && !names.includes(n))]"
    );
    let r = js(&code).await;
    assert_eq!(
        r.result.unwrap().plain,
        "[ [], [] ]",
        "declared but missing, or defined but undeclared"
    );
}
