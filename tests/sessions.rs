//! Sessions on a real server: state kept between cells, isolation, expiry,
//! the live-session limit, one cell at a time, and the cells that end them.
//! Also the notebook-style `result` of `/run` and of cells.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::Duration;

use common::{TestServer, assert_matches_spec, server_config, start_server};
use serde_json::{Value, json};

async fn server() -> TestServer {
    start_server(server_config()).await
}

impl TestServer {
    /// Opens a session and returns its id.
    async fn open(&self, body: Value) -> String {
        let (status, info, _) = self.post_json("/sessions", body).await;
        assert_eq!(status, 201, "{info}");
        assert_matches_spec("/sessions", "post", 201, &info);
        info["session_id"].as_str().unwrap().to_owned()
    }

    async fn cell(&self, id: &str, code: &str) -> (u16, Value) {
        let path = format!("/sessions/{id}/run");
        let (status, body, _) = self.post_json(&path, json!({"code": code})).await;
        if status == 200 {
            assert_matches_spec("/sessions/{id}/run", "post", 200, &body);
        }
        (status, body)
    }

    async fn cell_ok(&self, id: &str, code: &str) -> Value {
        let (status, body) = self.cell(id, code).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Deletes session `id` (200), after which its id answers 404 "deleted".
    async fn delete_session(&self, id: &str) {
        let deleted = self
            .client
            .delete(self.url(&format!("/sessions/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        let (status, body) = self.cell(id, "1").await;
        assert_eq!(status, 404, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("deleted"), "{body}");
    }
}

#[tokio::test]
async fn a_session_keeps_variables_functions_and_imports_between_cells() {
    let s = server().await;
    let id = s.open(json!({})).await;
    assert!(id.starts_with("ses_") && id.len() == 4 + 32, "{id}");
    let first = s
        .cell_ok(
            &id,
            "import json\ncounter = 41\ndef bump(n):\n    return n + 1",
        )
        .await;
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["session"]["cells_run"], 1);
    let second = s.cell_ok(&id, "counter = bump(counter)\ncounter").await;
    assert_eq!(second["result"]["text/plain"], "42", "{second}");
    let third = s.cell_ok(&id, "print(json.dumps({'n': counter}))").await;
    assert_eq!(third["stdout"], "{\"n\": 42}\n", "{third}");
    assert_eq!(third["session"]["cells_run"], 3);
    assert_eq!(third["session"]["alive"], true);
    assert!(third["session"]["memory_bytes"].as_u64().unwrap() > 1 << 20);
}

#[tokio::test]
async fn two_sessions_and_a_run_do_not_see_each_other() {
    let s = server().await;
    let a = s.open(json!({})).await;
    let b = s.open(json!({})).await;
    assert_ne!(a, b);
    s.cell_ok(&a, "secret = 'a'").await;
    s.cell_ok(&b, "secret = 'b'").await;
    assert_eq!(s.cell_ok(&a, "secret").await["result"]["text/plain"], "'a'");
    assert_eq!(s.cell_ok(&b, "secret").await["result"]["text/plain"], "'b'");
    let run = s
        .run_ok(json!({"code": "print('secret' in globals())"}))
        .await;
    assert_eq!(run["stdout"], "False\n");
}

#[tokio::test]
async fn a_cell_that_raises_leaves_the_session_alive() {
    let s = server().await;
    let id = s.open(json!({})).await;
    s.cell_ok(&id, "x = 1").await;
    let failed = s.cell_ok(&id, "1 / 0").await;
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"]["type"], "ZeroDivisionError");
    assert_eq!(failed["session"]["alive"], true);
    assert_eq!(s.cell_ok(&id, "x + 1").await["result"]["text/plain"], "2");
}

/// `os._exit` leaves the interpreter: the cell is an error with its exit
/// code and the session ends, instead of the next cell trapping.
#[tokio::test]
async fn os_exit_in_a_cell_ends_the_session_with_its_code() {
    let s = server().await;
    let id = s.open(json!({})).await;
    let left = s.cell_ok(&id, "import os\nos._exit(3)").await;
    assert_eq!(
        (left["status"].as_str(), left["exit_code"].as_i64()),
        (Some("error"), Some(3)),
        "{left}"
    );
    assert_eq!(left["session"]["alive"], false, "{left}");
    let (status, body) = s.cell(&id, "1").await;
    assert_eq!(status, 410, "{body}");
    // Deleting it still succeeds, and afterwards its id says so.
    s.delete_session(&id).await;
}

#[tokio::test]
async fn a_timeout_ends_the_session_and_says_why() {
    let s = server().await;
    let id = s.open(json!({"policy": {"timeout_ms": 300}})).await;
    s.cell_ok(&id, "x = 1").await;
    let timed_out = s.cell_ok(&id, "while True:\n    pass").await;
    assert_eq!(timed_out["status"], "timeout", "{timed_out}");
    assert_eq!(timed_out["session"]["alive"], false);
    assert!(
        timed_out["session"]["ended_reason"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{timed_out}"
    );
    let (status, body) = s.cell(&id, "x").await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "session_ended");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_session_is_404_naming_it() {
    let s = server().await;
    let (status, body) = s.cell("ses_nope", "1").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ses_nope")
    );
    assert_matches_spec("/sessions/{id}/run", "post", 404, &body);
}

#[tokio::test]
async fn an_idle_session_expires_and_its_id_says_so() {
    let s = server().await;
    let id = s.open(json!({"ttl_seconds": 1})).await;
    s.cell_ok(&id, "x = 1").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let listed = s.get_json("/sessions").await;
    assert!(
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["session_id"] != id.as_str()),
        "the sweeper should have ended it: {listed}"
    );
    let (status, body) = s.cell(&id, "x").await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&id) && message.contains("expired"),
        "{message}"
    );
}

#[tokio::test]
async fn past_the_live_session_limit_creation_is_429_with_retry_after() {
    let mut config = server_config();
    config.sessions.max_live = 2;
    let s = start_server(config).await;
    let first = s.open(json!({})).await;
    s.open(json!({})).await;
    let (status, body, headers) = s.post_json("/sessions", json!({})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_sessions");
    assert!(headers.contains_key("retry-after"));
    assert_matches_spec("/sessions", "post", 429, &body);
    let deleted = s
        .client
        .delete(s.url(&format!("/sessions/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    s.open(json!({})).await;
}

#[tokio::test]
async fn a_second_concurrent_cell_gets_409_and_the_first_finishes() {
    let mut config = server_config();
    config.sessions.cell_wait_ms = 100;
    let s = start_server(config).await;
    let id = s.open(json!({})).await;
    let slow = {
        let request = s
            .client
            .post(s.url(&format!("/sessions/{id}/run")))
            .json(&json!({"code": "import time\ntime.sleep(1)\n'slept'"}));
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = s.cell(&id, "1").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "cell_running");
    let slow = slow.await.unwrap();
    assert_eq!(slow["result"]["text/plain"], "'slept'", "{slow}");
    assert_eq!(s.cell_ok(&id, "2").await["result"]["text/plain"], "2");
}

#[tokio::test]
async fn sessions_are_listed_inspected_and_deleted() {
    let s = server().await;
    let id = s.open(json!({"ttl_seconds": 120})).await;
    s.cell_ok(&id, "data = list(range(1000))").await;
    let info = s.get_json(&format!("/sessions/{id}")).await;
    assert_matches_spec("/sessions/{id}", "get", 200, &info);
    assert_eq!(info["cells_run"], 1);
    assert_eq!(info["ttl_seconds"], 120);
    let listed = s.get_json("/sessions").await;
    assert_matches_spec("/sessions", "get", 200, &listed);
    assert!(
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["session_id"] == id.as_str())
    );
    s.delete_session(&id).await;
}

#[tokio::test]
async fn bad_session_requests_name_the_field() {
    let s = server().await;
    let (status, body, _) = s
        .post_json("/sessions", json!({"ttl_seconds": 999_999}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ttl_seconds")),
        "{body}"
    );
    let (status, body, _) = s
        .post_json("/sessions", json!({"language": "python3.12"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "sessions_unsupported");
    let (status, body, _) = s
        .post_json("/sessions", json!({"policy": {"timeout_ms": 3_600_000}}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("policy.timeout_ms")),
        "{body}"
    );
}

#[tokio::test]
async fn run_results_show_the_last_expression_like_a_notebook() {
    let s = server().await;
    let cases = [
        ("1+1", json!({"text/plain": "2"})),
        ("[1, 'a', None]", json!({"text/plain": "[1, 'a', None]"})),
        (
            "class Table:\n    def _repr_html_(self):\n        return '<table></table>'\n    def __repr__(self):\n        return 'Table()'\nTable()",
            json!({"text/plain": "Table()", "text/html": "<table></table>"}),
        ),
        ("```python\nx = 2\nx * 21\n```", json!({"text/plain": "42"})),
    ];
    for (code, want) in cases {
        let r = s.run_ok(json!({"code": code})).await;
        assert_matches_spec("/run", "post", 200, &r);
        assert_eq!(r["result"], want, "{code}: {r}");
    }
    for code in ["print(1)", "x = 1", "None", "import os"] {
        let r = s.run_ok(json!({"code": code})).await;
        assert!(r["result"].is_null(), "{code}: {r}");
    }
    let printed = s.run_ok(json!({"code": "print('out')\n'value'"})).await;
    assert_eq!(printed["stdout"], "out\n");
    assert_eq!(printed["result"]["text/plain"], "'value'");
}

/// The guest finds the last statement without building an AST when it can
/// prove where that statement starts; these cells sit on the edges of that
/// proof (and on the general way it falls back to).
#[tokio::test]
async fn the_last_statement_is_found_in_awkwardly_shaped_cells() {
    let s = server().await;
    let shown = [
        ("x = 5\nx * 2", "10"),
        ("d = dict(\n    a=1,\n)\nd", "{'a': 1}"),
        ("dict(\n    a=1,\n)", "{'a': 1}"),
        ("a = 1; a", "1"),
        ("\"\"\"\nx = 1 #\"\"\"", "'\\nx = 1 #'"),
        ("x = 1\n*[x], x", "(1, 1)"),
        ("if True:\n    y = 2\nelse:\n    y = 3\ny", "2"),
        ("x = 1 + \\\n2\nx", "3"),
        ("x = 1\r\nx\r\n", "1"),
        ("x = 1\nx\n\\\n\n# the end", "1"),
        ("x = [1,\n2]\nlen(x)  # shown", "2"),
        ("match = 3\nmatch", "3"),
    ];
    for (code, want) in shown {
        let r = s.run_ok(json!({"code": code})).await;
        assert_eq!(
            (r["status"].as_str(), r["result"]["text/plain"].as_str()),
            (Some("ok"), Some(want)),
            "{code:?}: {r}"
        );
    }
    let not_shown = [
        ("for i in range(2):\n    print(i)", "0\n1\n"),
        (
            "if True:\n    y = 2\nelse:\n    y = 3\nprint(y)\ny = 4",
            "2\n",
        ),
        ("@staticmethod\ndef f():\n    pass", ""),
        ("x = \"\"\"\n1\n\"\"\"", ""),
        ("x = 1\n# x", ""),
    ];
    for (code, stdout) in not_shown {
        let r = s.run_ok(json!({"code": code})).await;
        assert_eq!(
            (r["status"].as_str(), r["stdout"].as_str()),
            (Some("ok"), Some(stdout)),
            "{code:?}: {r}"
        );
        assert!(r["result"].is_null(), "{code:?}: {r}");
    }
    // Tracebacks keep the cell's own line numbers on either side of the cut.
    for (code, line) in [("x = 1\n\n1 / x * 0 / 0", 3), ("1 / 0\nx = 2\nx", 1)] {
        let r = s.run_ok(json!({"code": code})).await;
        let traceback = r["error"]["traceback"].as_str().unwrap_or_default();
        assert!(
            traceback.contains(&format!("line {line}, in <module>")),
            "{code:?}: {r}"
        );
    }
    // Thousands of random awkward cells: the cut agrees with the AST way.
    let fuzz = s
        .run_ok(json!({
            "code": include_str!("guest/last_statement_fuzz.py"),
            "policy": {"timeout_ms": 30_000},
        }))
        .await;
    let report = fuzz["stdout"].as_str().unwrap_or_default();
    let cut: u32 = report
        .strip_prefix("cut ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no report: {fuzz}"));
    assert!(cut > 100, "too few cells were cut to tell: {fuzz}");
    assert!(report.ends_with(", mismatches 0\n"), "{fuzz}");
    // Annotations of both sides of a cut stay on the module.
    let id = s.open(json!({})).await;
    s.cell_ok(&id, "a: int = 1\nb: str = 'x'").await;
    let annotations = s
        .cell_ok(
            &id,
            "import sys\nsorted(sys.modules['__main__'].__annotations__)",
        )
        .await;
    assert_eq!(
        annotations["result"]["text/plain"], "['a', 'b']",
        "{annotations}"
    );
}

#[tokio::test]
async fn a_huge_result_is_cut_at_the_output_cap() {
    let s = server().await;
    let r = s
        .run_ok(json!({"code": "'x' * 100_000", "policy": {"max_output_bytes": 1000}}))
        .await;
    assert_eq!(r["truncated"]["result"], true, "{r}");
    assert_eq!(r["result"]["text/plain"].as_str().unwrap().len(), 1000);
    let big_error = s
        .run_ok(json!({"code": "raise ValueError('e' * 100_000)", "policy": {"max_output_bytes": 1000}}))
        .await;
    assert!(big_error["error"]["message"].as_str().unwrap().len() <= 1000);
    assert!(big_error["error"]["traceback"].as_str().unwrap().len() <= 1000);
}

#[tokio::test]
async fn hostile_text_and_a_seeded_random_do_not_break_a_session() {
    let s = server().await;
    let id = s.open(json!({})).await;
    let raised = s
        .cell_ok(&id, "raise ValueError('\\ud800 lone surrogate')")
        .await;
    assert_eq!(raised["status"], "error", "{raised}");
    assert!(
        raised["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\\ud800"),
        "{raised}"
    );
    let shown = s.cell_ok(&id, "'\\udfff'").await;
    assert_eq!(shown["status"], "ok", "{shown}");
    s.cell_ok(
        &id,
        "import random\nrandom.seed(42)\nfirst = random.random()\nrandom.seed(42)",
    )
    .await;
    let again = s.cell_ok(&id, "random.random() == first").await;
    assert_eq!(
        again["result"]["text/plain"], "True",
        "a later cell keeps the code's own seed: {again}"
    );
}
