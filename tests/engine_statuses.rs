//! Every status a run can end in, for both runtimes, through the real engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::Duration;

use common::{request, run, run_req, timeout};
use goru::sandbox::{LimitRequest, Status};

#[tokio::test]
async fn a_finished_run_is_ok_with_its_stdout() {
    let r = run("print(sum(x**2 for x in range(10)))").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "285\n");
    assert_eq!(r.exit_code, 0);
    assert!(r.error.is_none());
    assert!(r.peak_memory_bytes > 0);
    assert!(r.fuel_used.unwrap() > 0);
}

#[tokio::test]
async fn python312_prints_the_same() {
    let r = run_req(request("python3.12", "print(sum(x**2 for x in range(10)))")).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "285\n");
}

#[tokio::test]
async fn an_uncaught_exception_is_an_error_with_type_message_and_traceback() {
    for lang in ["python", "python3.12"] {
        let r = run_req(request(
            lang,
            "def f():\n    raise ValueError('boom')\nf()\n",
        ))
        .await;
        assert_eq!(r.status, Status::Error, "{lang}: {r:?}");
        assert_eq!(r.exit_code, 1);
        let e = r.error.expect("error reported");
        assert_eq!(e.type_name, "ValueError", "{lang}");
        assert_eq!(e.message, "boom", "{lang}");
        assert!(
            e.traceback.contains("line 2, in f"),
            "{lang}: {}",
            e.traceback
        );
        assert!(
            r.stderr.contains("ValueError: boom"),
            "{lang}: the traceback is on stderr too"
        );
    }
}

#[tokio::test]
async fn the_traceback_does_not_show_the_sandbox_frames() {
    let e = run("1/0").await.error.unwrap();
    assert_eq!(e.type_name, "ZeroDivisionError");
    assert!(!e.traceback.contains("app.py"), "{}", e.traceback);
}

#[tokio::test]
async fn a_syntax_error_is_reported_as_data() {
    let r = run("def (:").await;
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.error.unwrap().type_name, "SyntaxError");
}

#[tokio::test]
async fn system_exit_zero_is_ok_and_non_zero_is_an_error_with_its_code() {
    assert_eq!(run("import sys; sys.exit(0)").await.status, Status::Ok);
    assert_eq!(run("raise SystemExit").await.status, Status::Ok);
    let r = run("import sys; sys.exit(3)").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, 3));
    assert_eq!(r.error.unwrap().type_name, "SystemExit");
    let r = run("import sys; sys.exit('bye')").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, 1));
    assert_eq!(r.stderr, "bye\n");
    let r = run_req(request("python3.12", "import sys; sys.exit(4)")).await;
    assert_eq!((r.status, r.exit_code), (Status::Error, 4));
}

#[tokio::test]
async fn a_busy_loop_times_out_in_about_the_timeout() {
    for lang in ["python", "python3.12"] {
        let mut req = request(lang, "while True: pass");
        req.limits = timeout(1000);
        let r = run_req(req).await;
        assert_eq!(r.status, Status::Timeout, "{lang}: {r:?}");
        assert!(
            r.duration >= Duration::from_millis(1000),
            "{lang}: {:?}",
            r.duration
        );
        assert!(
            r.duration < Duration::from_millis(2000),
            "{lang}: {:?}",
            r.duration
        );
        assert_ne!(r.exit_code, 0);
    }
}

#[tokio::test]
async fn a_sleep_times_out_at_the_deadline_not_after_it() {
    let mut req = request("python", "import time; time.sleep(30)");
    req.limits = timeout(300);
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Timeout);
    assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
}

#[tokio::test]
async fn concurrent_runs_keep_their_own_deadlines() {
    // One engine, one ticker: a short deadline must not end a longer run.
    let mut short = request("python", "while True: pass");
    short.limits = timeout(200);
    let mut long = request(
        "python",
        "import time\nt=time.monotonic()\nwhile time.monotonic()-t < 0.6: pass\nprint('done')",
    );
    long.limits = timeout(5000);
    let (s, l) = tokio::join!(run_req(short), run_req(long));
    assert_eq!(s.status, Status::Timeout);
    assert_eq!(l.status, Status::Ok, "{l:?}");
    assert_eq!(l.stdout, "done\n");
}

#[tokio::test]
async fn a_large_allocation_under_a_small_limit_is_memory_limit() {
    for lang in ["python", "python3.12"] {
        let mut req = request(lang, "x = bytearray(512 * 1024 * 1024)");
        req.limits = LimitRequest {
            memory_bytes: Some(64 << 20),
            ..LimitRequest::default()
        };
        let r = run_req(req).await;
        assert_eq!(r.status, Status::MemoryLimit, "{lang}: {r:?}");
        assert!(r.peak_memory_bytes <= 64 << 20, "{lang}");
    }
}

#[tokio::test]
async fn memory_under_the_limit_is_usable() {
    let mut req = request("python", "x = bytearray(100 * 1024 * 1024); print(len(x))");
    req.limits = LimitRequest {
        memory_bytes: Some(256 << 20),
        ..LimitRequest::default()
    };
    let r = run_req(req).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.peak_memory_bytes > 100 << 20);
}

#[tokio::test]
async fn an_exhausted_fuel_budget_is_fuel_exhausted() {
    let mut req = request("python", "while True: pass");
    req.limits = LimitRequest {
        fuel: Some(5_000_000),
        ..LimitRequest::default()
    };
    let r = run_req(req).await;
    assert_eq!(r.status, Status::FuelExhausted, "{r:?}");
    assert!(r.fuel_used.unwrap() >= 5_000_000);
}

#[tokio::test]
async fn fuel_used_is_reported_and_grows_with_work() {
    let small = run("pass").await.fuel_used.unwrap();
    let big = run("sum(range(200000))").await.fuel_used.unwrap();
    assert!(big > small, "{small} vs {big}");
}

#[tokio::test]
async fn output_past_the_cap_is_cut_and_flagged_without_killing_the_run() {
    let r = run("print('x' * 10**8)\nprint('after')").await;
    assert_eq!(r.status, Status::Ok, "{:?}", r.status);
    assert!(r.truncated.stdout);
    assert!(!r.truncated.stderr);
    assert_eq!(r.stdout.len(), 1 << 20, "the default cap is 1 MiB");
    // The head and the tail are kept around a marker with the counts. (One
    // write past the cap reaches goru only up to the cap: CPython drops what
    // a short write leaves, so the count is of the bytes received.)
    assert!(r.stdout.starts_with("xxxx") && r.stdout.ends_with("x\nafter\n"));
    assert!(
        r.stdout.contains("bytes received are left out here]"),
        "{}",
        &r.stdout[r.stdout.len() - 20_000..]
    );
    let mut req = request("python", "import sys; sys.stderr.write('e' * 5000)");
    req.limits = LimitRequest {
        max_output_bytes: Some(100),
        ..LimitRequest::default()
    };
    let r = run_req(req).await;
    assert_eq!((r.stderr.len(), r.truncated.stderr), (100, true));
}

/// One big write (no newline after it) is kept whole under a cap that fits
/// it, and flagged when it does not: CPython's unbuffered stdio drops what a
/// short write leaves, so the pipe must never offer less than the room left.
#[tokio::test]
async fn a_single_large_write_is_kept_whole_or_flagged() {
    for language in ["python", "python-sci"] {
        let code = "import sys\nsys.stdout.write('x' * 3_000_000)";
        let mut req = request(language, code);
        req.limits.max_output_bytes = Some(8 << 20);
        let r = run_req(req).await;
        assert_eq!(r.status, Status::Ok, "{language}: {:?}", r.error);
        assert_eq!(
            (r.stdout.len(), r.truncated.stdout),
            (3_000_000, false),
            "{language}"
        );
        let r = run_req(request(language, code)).await;
        assert_eq!(
            (r.stdout.len(), r.truncated.stdout),
            (1 << 20, true),
            "{language}: the default cap is 1 MiB"
        );
    }
}

#[tokio::test]
async fn deep_recursion_is_a_recursion_error_not_a_host_crash() {
    let r = run("def f(n): return f(n + 1)\nf(0)").await;
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.error.unwrap().type_name, "RecursionError");
}

#[tokio::test]
async fn unbounded_recursion_with_the_limit_lifted_ends_in_a_status_not_a_panic() {
    let r = run("import sys\nsys.setrecursionlimit(10**8)\ndef f(n): return f(n + 1)\nf(0)").await;
    assert!(
        matches!(
            r.status,
            Status::Crashed | Status::MemoryLimit | Status::Error
        ),
        "{r:?}"
    );
    // The engine is still healthy afterwards.
    assert_eq!(run("print(1)").await.stdout, "1\n");
}

#[tokio::test]
async fn a_trap_is_crashed() {
    // ctypes is absent; the faulthandler's own crash trigger aborts the guest.
    let r = run("import faulthandler; faulthandler._sigabrt()").await;
    assert_eq!(r.status, Status::Crashed, "{r:?}");
    assert_eq!(r.error.unwrap().type_name, "Trap");
}

#[tokio::test]
async fn stdin_content_reaches_the_guest() {
    for lang in ["python", "python3.12"] {
        let mut req = request(lang, "import sys; print(sys.stdin.read().upper())");
        req.stdin = b"hello".to_vec();
        let r = run_req(req).await;
        assert_eq!(r.stdout, "HELLO\n", "{lang}: {r:?}");
    }
}

#[tokio::test]
async fn stdin_above_the_limit_is_refused_before_running() {
    let mut req = request("python", "pass");
    req.stdin = vec![b'a'; (1 << 20) + 1];
    let err = common::runner().run(req).await.unwrap_err();
    assert!(err.to_string().contains("stdin"), "{err}");
}

#[tokio::test]
async fn limits_above_the_ceiling_are_refused_naming_the_field() {
    let mut req = request("python", "pass");
    req.limits = timeout(3_600_000);
    let err = common::runner().run(req).await.unwrap_err();
    assert!(err.to_string().contains("timeout_ms"), "{err}");
}

#[tokio::test]
async fn an_unknown_language_lists_the_known_ones() {
    let err = common::runner()
        .run(request("ruby", "pass"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ruby") && text.contains("python, python3.12"),
        "{text}"
    );
}

const LANGUAGES: [&str; 3] = ["python", "python3.12", "python-sci"];

/// Runs `code` in `language` with every text capped at `cap` bytes.
async fn run_capped(language: &str, code: &str, cap: u64) -> goru::sandbox::RunResult {
    let mut req = request(language, code);
    req.limits.max_output_bytes = Some(cap);
    run_req(req).await
}

/// Every text of an exception is guest-controlled: a huge message, type
/// name, note or exit message is cut at the output cap and flagged, in
/// every runtime. Were a field uncapped, its length here would be megabytes.
#[tokio::test]
async fn every_exception_text_is_cut_at_the_output_cap_and_flagged() {
    let cases = [
        ("message", "raise ValueError('x' * 5_000_000)"),
        (
            "type name",
            "raise type('E' * 1_000_000, (Exception,), {})('m')",
        ),
        (
            "note",
            "e = ValueError('a')\ne.add_note('n' * 5_000_000)\nraise e",
        ),
        ("exit message", "raise SystemExit('y' * 5_000_000)"),
    ];
    for language in LANGUAGES {
        for (what, code) in cases {
            let r = run_capped(language, code, 1000).await;
            assert_eq!(r.status, Status::Error, "{language} {what}: {r:?}");
            let e = r.error.as_ref().unwrap();
            assert!(
                e.type_name.len() <= 256 && e.message.len() <= 1000 && e.traceback.len() <= 1000,
                "{language} {what}: {} / {} / {} bytes",
                e.type_name.len(),
                e.message.len(),
                e.traceback.len()
            );
            assert!(r.truncated.error, "{language} {what}: not flagged");
            assert!(r.stderr.len() <= 1000, "{language} {what}");
        }
        let r = run_capped(language, "raise ValueError('short')", 1000).await;
        assert!(
            !r.truncated.error,
            "{language}: a short error is not flagged"
        );
    }
}

/// User code can replace the guest's own cap (goru's guest modules are
/// ordinary modules); the host still keeps no more than the cap.
#[tokio::test]
async fn a_guest_that_removes_its_own_cap_is_still_capped_by_the_host() {
    let code = "import goru_cell\ngoru_cell.cut = lambda text, cap: (text, False)\n\
                raise ValueError('q' * 3_000_000)";
    let r = run_capped("python", code, 1000).await;
    let e = r.error.unwrap();
    assert_eq!((e.message.len(), r.truncated.error), (1000, true));
    let r = run_capped(
        "python",
        "import goru_cell\ngoru_cell.cut = lambda t, c: (t, False)\n'r' * 3_000_000",
        1000,
    )
    .await;
    let shown = r.result.unwrap();
    assert_eq!((shown.plain.len(), r.truncated.result), (1000, true));
}

/// A message too big to format twice in guest memory is still an `error`
/// with the message (cut) and the stack, not `crashed`.
#[tokio::test]
async fn a_64_mib_exception_message_is_an_error_not_a_crash() {
    let r = run_capped(
        "python",
        "def f():\n    raise ValueError('x' * (64 << 20))\nf()",
        4096,
    )
    .await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(
        (e.type_name.as_str(), e.message.len()),
        ("ValueError", 4096)
    );
    assert!(e.traceback.contains("in f"), "{}", e.traceback);
}

/// A lone surrogate cannot cross to the host as UTF-8: it arrives escaped.
#[tokio::test]
async fn a_lone_surrogate_in_a_message_is_an_error_with_a_readable_message() {
    for language in LANGUAGES {
        let r = run_req(request(language, "raise ValueError('bad \\ud800 text')")).await;
        assert_eq!(r.status, Status::Error, "{language}: {r:?}");
        let e = r.error.unwrap();
        assert_eq!(e.message, "bad \\ud800 text", "{language}");
    }
}

/// `os._exit(n)` ends the run at once with exit code n, in every runtime:
/// no `finally` runs, and the status is that of `sys.exit(n)`.
#[tokio::test]
async fn os_exit_ends_the_run_with_its_code_in_every_runtime() {
    let code = "import os\ntry:\n    print('before', flush=True)\n    os._exit(3)\nfinally:\n    print('finally ran')";
    for language in LANGUAGES {
        let r = run_req(request(language, code)).await;
        assert_eq!(
            (r.status, r.exit_code),
            (Status::Error, 3),
            "{language}: {r:?}"
        );
        assert_eq!(r.stdout, "before\n", "{language}");
        assert_eq!(r.error.unwrap().type_name, "SystemExit", "{language}");
        let r = run_req(request(language, "import os\nos._exit(0)")).await;
        assert_eq!(
            (r.status, r.exit_code),
            (Status::Ok, 0),
            "{language}: {r:?}"
        );
    }
}

/// Every status but `ok` says why in one line, naming the limit and its
/// value, so the caller (often a model) knows what to change.
#[tokio::test]
async fn every_status_but_ok_says_why_in_one_line() {
    let with = |code: &str, limits: LimitRequest| {
        let mut req = request("python", code);
        req.limits = limits;
        req
    };
    let cases = [
        (
            with("while True: pass", timeout(300)),
            "time limit of 300 ms",
        ),
        (
            with(
                "x = bytearray(200 << 20)",
                LimitRequest {
                    memory_bytes: Some(32 << 20),
                    ..LimitRequest::default()
                },
            ),
            "memory limit of 32 MiB",
        ),
        (
            with(
                "while True: pass",
                LimitRequest {
                    fuel: Some(100_000),
                    ..LimitRequest::default()
                },
            ),
            "CPU budget of 100000 fuel units",
        ),
        (
            with("1 / 0", LimitRequest::default()),
            "ZeroDivisionError: division by zero",
        ),
        (
            with("import numpy", LimitRequest::default()),
            "numpy is in the python-sci runtime",
        ),
        (
            with("import sys; sys.exit(4)", LimitRequest::default()),
            "exited with code 4",
        ),
    ];
    for (req, expected) in cases {
        let code = req.code.clone();
        let r = run_req(req).await;
        let reason = r.reason.unwrap_or_default();
        assert!(
            reason.contains(expected),
            "{code}: {:?}: {reason}",
            r.status
        );
        assert!(!reason.contains('\n'), "{code}: one line: {reason}");
    }
    assert_eq!(run("print(1)").await.reason, None);
}
