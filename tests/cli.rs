//! The command line, as a user runs it.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn goru() -> Command {
    let mut cmd = Command::cargo_bin("goru").unwrap();
    cmd.env(
        "GORU_CACHE_DIR",
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("goru-cache"),
    );
    cmd
}

const SUM: &str = "print(sum(x**2 for x in range(10)))";

#[test]
fn dash_c_runs_the_code() {
    goru().args(["-c", SUM]).assert().success().stdout("285\n");
}

#[test]
fn a_script_file_runs() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{SUM}").unwrap();
    goru().arg(file.path()).assert().success().stdout("285\n");
}

#[test]
fn code_piped_on_stdin_runs() {
    goru().write_stdin(SUM).assert().success().stdout("285\n");
}

#[test]
fn python312_runs_the_same_code() {
    goru()
        .args(["--lang", "python3.12", "-c", SUM])
        .assert()
        .success()
        .stdout("285\n");
}

#[test]
fn a_js_or_mjs_script_runs_as_javascript_and_lang_overrides_the_extension() {
    let code =
        "const xs = [1, 2, 3];\nconsole.log(xs.map((x) => x * x).reduce((a, b) => a + b));\n";
    for suffix in [".js", ".mjs"] {
        let mut file = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
        write!(file, "{code}").unwrap();
        goru().arg(file.path()).assert().success().stdout("14\n");
    }
    goru()
        .args(["--lang", "javascript", "-c", "console.log(typeof kv_get)"])
        .assert()
        .success()
        .stdout("function\n");
    let mut file = tempfile::Builder::new().suffix(".js").tempfile().unwrap();
    writeln!(file, "{SUM}").unwrap();
    goru()
        .args(["--lang", "python"])
        .arg(file.path())
        .assert()
        .success()
        .stdout("285\n");
}

#[test]
fn an_exception_exits_1_with_the_traceback_and_a_reason_line() {
    goru()
        .args(["-c", "raise KeyError('k')"])
        .assert()
        .code(1)
        .stderr(contains("Traceback").and(contains("goru: error: KeyError: 'k'")));
}

#[test]
fn sys_exit_code_becomes_the_exit_code() {
    goru()
        .args(["-c", "import sys; sys.exit(5)"])
        .assert()
        .code(5);
}

#[test]
fn a_busy_loop_under_a_timeout_exits_124() {
    goru()
        .args(["--timeout", "1s", "-c", "while True: pass"])
        .assert()
        .code(124)
        .stderr(contains("goru: timeout"));
}

#[test]
fn a_big_allocation_under_a_memory_limit_exits_with_memory_limit() {
    goru()
        .args(["--memory", "64MB", "-c", "x = bytearray(512 * 1024 * 1024)"])
        .assert()
        .failure()
        .stderr(contains("goru: memory_limit"));
}

#[test]
fn fuel_exhaustion_is_reported() {
    goru()
        .args(["--fuel", "1000000", "-c", "while True: pass"])
        .assert()
        .failure()
        .stderr(contains("goru: fuel_exhausted"));
}

#[test]
fn huge_output_is_truncated_and_says_so() {
    let out = goru().args(["-c", "print('x' * 10**8)"]).assert().success();
    let output = out.get_output();
    assert_eq!(output.stdout.len(), 1 << 20);
    assert!(String::from_utf8_lossy(&output.stderr).contains("truncated"));
}

#[test]
fn stdin_file_becomes_the_guests_stdin() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "abc").unwrap();
    goru()
        .args(["-c", "import sys; print(sys.stdin.read()[::-1])", "--stdin"])
        .arg(file.path())
        .assert()
        .success()
        .stdout("cba\n");
}

#[test]
fn json_prints_the_whole_result() {
    let out = goru().args(["--json", "-c", "print(1)"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stdout"], "1\n");
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn an_unknown_flag_exits_2() {
    goru()
        .args(["--frobnicate", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("--frobnicate"));
}

#[test]
fn an_unreadable_script_exits_2_naming_it() {
    goru()
        .arg("/nonexistent/script.py")
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/script.py"));
}

#[test]
fn an_invalid_size_exits_2() {
    goru()
        .args(["--memory", "lots", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("invalid size"));
}

#[test]
fn an_invalid_duration_exits_2() {
    goru()
        .args(["--timeout", "soon", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("invalid duration"));
}

#[test]
fn a_limit_above_the_ceiling_exits_2_naming_it() {
    goru()
        .args(["--timeout", "2h", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("timeout_ms"));
}

#[test]
fn an_unknown_language_exits_2_listing_the_known_ones() {
    goru()
        .args(["--lang", "ruby", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("python3.12"));
}

#[test]
fn serve_print_config_shows_the_loopback_default() {
    goru()
        .args(["serve", "--print-config"])
        .env_remove("GORU_LISTEN")
        .assert()
        .success()
        .stdout(contains("listen = \"127.0.0.1:8080\"").and(contains("[limits.ceiling]")));
}

#[test]
fn serve_refuses_a_config_file_with_an_unknown_key_naming_it() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "[server]\nconcurency = 3").unwrap();
    goru()
        .args(["serve", "--config"])
        .arg(file.path())
        .assert()
        .code(2)
        .stderr(contains("concurency"));
}

#[test]
fn serve_answers_http_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command as StdCommand, Stdio};

    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("goru"))
        .args(["serve", "--listen", "127.0.0.1:0", "--pool-size", "1"])
        .env(
            "GORU_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("goru-cache"),
        )
        .env("GORU_LOG_FORMAT", "json")
        .env("GORU_SERVER_PRECOMPILE", "[\"python\"]")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server logs before exiting").unwrap();
        if line.contains("goru listening") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            break v["addr"].as_str().unwrap().to_owned();
        }
    };
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let body = r#"{"code":"print(1+1)"}"#;
    write!(
        stream,
        "POST /run HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""stdout":"2\n""#), "{response}");
    // A log line per run, with its id, never the code.
    let run_line = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("run finished")))
        .unwrap()
        .unwrap();
    assert!(
        run_line.contains("run_id") && !run_line.contains("print(1+1)"),
        "{run_line}"
    );

    let status = StdCommand::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn kv_works_in_a_cli_run_and_is_private_to_it() {
    goru()
        .args(["-c", "kv_set('a', '1'); kv_set('b', '2', ttl_seconds=5); print(kv_get('a'), kv_keys(), kv_delete('a'), kv_get('a'))"])
        .assert()
        .success()
        .stdout("1 ['a', 'b'] True None\n");
    goru()
        .args(["-c", "print(kv_keys())"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn a_mount_gives_every_fs_function_within_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "hello").unwrap();
    let code = "print(fs_read('/data/in.txt'), fs_exists('/data/in.txt'), fs_exists('/data/nope'))\n\
                fs_mkdir('/data/out'); print(fs_write('/data/out/r.txt', 'done'))\n\
                print([e['name'] for e in fs_list('/data')], fs_stat('/data/out/r.txt')['size'])\n\
                fs_remove('/data/out/r.txt'); print(fs_exists('/data/out/r.txt'))";
    goru()
        .arg("--mount")
        .arg(format!("/data:{}:rwc", dir.path().display()))
        .args(["-c", code])
        .assert()
        .success()
        .stdout("hello True False\n4\n['in.txt', 'out'] 4\nFalse\n");
    goru()
        .arg("--mount")
        .arg(format!("/data:{}:ro", dir.path().display()))
        .args(["-c", "fs_write('/data/in.txt', 'x')"])
        .assert()
        .code(1)
        .stderr(contains("PermissionError"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).unwrap(),
        "hello"
    );
}

#[test]
fn a_bad_mount_flag_exits_2_naming_it() {
    goru()
        .args(["--mount", "/data:/tmp:sideways", "-c", "pass"])
        .assert()
        .code(2)
        .stderr(contains("sideways"));
}

#[test]
fn allow_host_lets_http_reach_a_local_server_and_nothing_else() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(async {
        let router =
            axum::Router::new().route("/hi", axum::routing::get(|| async { "hello from host" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    });
    let code = format!("r = http_get('http://{addr}/hi'); print(r['status'], r['body'])");
    goru()
        .args([
            "--allow-host",
            &addr.to_string(),
            "--allow-address",
            "127.0.0.1/32",
            "-c",
            &code,
        ])
        .assert()
        .success()
        .stdout("200 hello from host\n");
    // Allowed by name but loopback is not allow-listed: refused.
    goru()
        .args(["--allow-host", &addr.to_string(), "-c", &code])
        .assert()
        .code(1)
        .stderr(contains("PermissionError"));
    // No --allow-host: the functions are not there at all.
    goru()
        .args(["-c", &code])
        .assert()
        .code(1)
        .stderr(contains("allowed_hosts"));
    drop(runtime);
}

#[test]
fn the_repl_keeps_state_echoes_values_and_reads_blocks() {
    let state = tempfile::tempdir().unwrap();
    goru()
        .arg("repl")
        .env("XDG_STATE_HOME", state.path())
        .write_stdin("x = 41\nx + 1\ndef double(n):\n    return n * 2\n\ndouble(x)\nprint('printed')\n1/0\nx\n")
        .assert()
        .success()
        .stdout("42\n82\nprinted\n41\n")
        .stderr(contains("ZeroDivisionError"));
    let history = std::fs::read_to_string(state.path().join("goru/history")).unwrap();
    assert!(history.contains("double(x)"), "{history}");
}

#[test]
fn the_javascript_repl_keeps_bindings_and_reads_multi_line_blocks() {
    let state = tempfile::tempdir().unwrap();
    goru()
        .args(["repl", "--lang", "javascript"])
        .env("XDG_STATE_HOME", state.path())
        .write_stdin("const x = 21\nclass A {\n  #k = 2;\n  twice(n) { return n * this.#k; } // }\n}\nnew A().twice(x)\nnull.y\n`a\nb`\n")
        .assert()
        .success()
        .stdout("42\n'a\\nb'\n")
        .stderr(contains("TypeError"));
}

#[test]
fn the_repl_starts_afresh_after_a_timeout_and_exits_with_sys_exit() {
    let state = tempfile::tempdir().unwrap();
    goru()
        .args(["repl", "--timeout", "300ms"])
        .env("XDG_STATE_HOME", state.path())
        .write_stdin("x = 1\nwhile True: pass\n\n'x' in globals()\nimport sys; sys.exit(3)\nprint('not reached')\n")
        .assert()
        .code(3)
        .stdout("False\n")
        .stderr(contains("timeout").and(contains("reset")));
}

#[test]
fn a_workdir_is_read_and_written_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "n\n1\n41\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/keep.txt"), "").unwrap();
    goru()
        .arg("--workdir")
        .arg(dir.path())
        .args(["-c", "import csv\nrows = list(csv.DictReader(open('in.csv')))\nopen('sub/total.txt', 'w').write(str(sum(int(r['n']) for r in rows)))"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/total.txt")).unwrap(),
        "42"
    );
}
