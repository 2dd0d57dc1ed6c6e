//! The whole standard library is importable in `python`, not only what the
//! snapshot pre-imported. One guest run imports a long list and reports which
//! fail and why; the only failures allowed are the expected ones below.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;

use goru::sandbox::Status;

/// Every module the original advertised, and more: 193 that must import.
const IMPORTABLE: &str = "
abc argparse array ast asyncio atexit base64 bdb binascii bisect builtins calendar cmath cmd
code codecs codeop collections collections.abc colorsys compileall concurrent.futures
configparser contextlib contextvars copy copyreg cProfile csv dataclasses datetime dbm decimal
difflib dis doctest email email.mime.text email.message email.parser email.utils encodings
enum errno faulthandler filecmp fileinput fnmatch fractions ftplib functools gc getopt getpass
gettext glob graphlib gzip hashlib heapq hmac html html.entities html.parser http http.client
http.cookies http.server imaplib importlib importlib.metadata importlib.resources inspect io
ipaddress itertools json keyword linecache locale logging logging.handlers mailbox marshal
math mimetypes modulefinder multiprocessing netrc numbers opcode operator optparse os os.path
pathlib pdb pickle pickletools pkgutil platform plistlib poplib posix posixpath pprint profile
pstats py_compile pyclbr pydoc queue quopri random re reprlib rlcompleter runpy sched secrets
select selectors shelve shlex shutil signal site smtplib socket socketserver sqlite3 stat
statistics string stringprep struct subprocess symtable sys sysconfig tabnanny tarfile
tempfile textwrap threading time timeit token tokenize tomllib trace traceback tracemalloc
types typing unicodedata unittest unittest.mock urllib urllib.error urllib.parse
urllib.request urllib.response urllib.robotparser uuid venv warnings wave weakref webbrowser
wsgiref xml xml.dom xml.dom.minidom xml.etree xml.etree.ElementTree xml.parsers.expat xml.sax
xmlrpc.client zipapp zipfile zipimport zlib zoneinfo string.templatelib annotationlib
";

/// Expected failures and why: the WASI build of CPython lacks these C
/// extensions or OS features, or CPython 3.13 removed the module (PEP 594).
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    ("ssl", "no OpenSSL in the WASI build: no TLS"),
    ("ctypes", "no libffi: no foreign calls"),
    ("bz2", "built without libbz2"),
    ("lzma", "built without liblzma"),
    ("curses", "no terminal"),
    ("readline", "no terminal"),
    ("termios", "no terminal"),
    ("tty", "no terminal"),
    ("pty", "no terminal and no processes"),
    ("fcntl", "no POSIX file control in WASI"),
    ("mmap", "no mmap in WASI"),
    ("resource", "no rlimits in WASI"),
    ("pwd", "no user database"),
    ("grp", "no group database"),
    ("syslog", "no syslog"),
    ("turtle", "no tkinter"),
    ("cgi", "removed in CPython 3.13"),
    ("telnetlib", "removed in CPython 3.13"),
    ("asyncore", "removed in CPython 3.12"),
    ("imghdr", "removed in CPython 3.13"),
];

fn import_probe(modules: &[&str]) -> String {
    format!(
        r#"
import importlib, json, time
report = {{}}
for name in {modules:?}:
    t = time.perf_counter()
    try:
        importlib.import_module(name)
        report[name] = ["ok", round((time.perf_counter() - t) * 1000, 2)]
    except BaseException as e:
        report[name] = [f"{{type(e).__name__}}: {{e}}", 0]
print(json.dumps(report))
"#
    )
}

#[tokio::test]
async fn the_standard_library_imports_and_only_the_expected_modules_fail() {
    let mut modules: Vec<&str> = IMPORTABLE.split_whitespace().collect();
    assert!(
        modules.len() >= 175,
        "the list has {} modules",
        modules.len()
    );
    modules.extend(EXPECTED_FAILURES.iter().map(|(m, _)| *m));
    let r = common::run(&import_probe(&modules)).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let report: BTreeMap<String, (String, f64)> = serde_json::from_str(r.stdout.trim()).unwrap();

    let failed: BTreeMap<&str, &str> = report
        .iter()
        .filter(|(_, (outcome, _))| outcome != "ok")
        .map(|(m, (outcome, _))| (m.as_str(), outcome.as_str()))
        .collect();
    // Printed so a failing run shows every module that failed and why.
    for (module, why) in &failed {
        eprintln!("{module}: {why}");
    }
    let expected: BTreeMap<&str, &str> = EXPECTED_FAILURES.iter().copied().collect();
    let unexpected: Vec<_> = failed
        .keys()
        .filter(|m| !expected.contains_key(*m))
        .collect();
    let not_failing: Vec<_> = expected
        .keys()
        .filter(|m| !failed.contains_key(*m))
        .collect();
    assert!(
        unexpected.is_empty(),
        "modules that should import but failed: {unexpected:?}"
    );
    assert!(
        not_failing.is_empty(),
        "expected failures that now import (update the list): {not_failing:?}"
    );
    for (module, why) in &failed {
        assert!(
            why.starts_with("ModuleNotFoundError"),
            "{module} fails with a clear import error: {why}"
        );
    }
    let slowest = report
        .iter()
        .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
        .unwrap();
    eprintln!(
        "{} modules imported; slowest {} in {} ms",
        report.len() - failed.len(),
        slowest.0,
        slowest.1.1
    );
}

#[tokio::test]
async fn python312_imports_the_everyday_modules_too() {
    let modules = [
        "json", "re", "datetime", "decimal", "sqlite3", "asyncio", "csv", "zlib", "hashlib",
    ];
    let r = common::run_req(common::request("python3.12", &import_probe(&modules))).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let report: BTreeMap<String, (String, f64)> = serde_json::from_str(r.stdout.trim()).unwrap();
    assert!(report.values().all(|(o, _)| o == "ok"), "{report:?}");
}

#[tokio::test]
async fn asyncio_run_works_with_sleep_and_gather() {
    let code = r#"
import asyncio
async def work(n):
    await asyncio.sleep(0.01 * n)
    return n * n
async def main():
    return await asyncio.gather(*(work(i) for i in range(5)))
print(asyncio.run(main()))
"#;
    let r = common::run(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "[0, 1, 4, 9, 16]\n");
}

#[tokio::test]
async fn asyncio_waiting_on_nothing_fails_fast_instead_of_hanging() {
    let r = common::run("import asyncio\nasync def m():\n    await asyncio.get_running_loop().create_future()\nasyncio.run(m())").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.error.unwrap().message.contains("wait forever"));
}

#[tokio::test]
async fn threads_and_processes_fail_with_a_clear_error() {
    let code = r#"
import threading, subprocess
for label, f in [("thread", lambda: threading.Thread(target=print).start()),
                 ("process", lambda: subprocess.run(["ls"]))]:
    try:
        f()
    except Exception as e:
        print(label, type(e).__name__, e)
"#;
    let r = common::run(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.stdout
            .contains("thread RuntimeError can't start new thread"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("process OSError"), "{}", r.stdout);
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let code = "import sqlite3\ndb = sqlite3.connect(':memory:')\ndb.execute('create table t(x)')\ndb.executemany('insert into t values (?)', [(i,) for i in range(10)])\nprint(db.execute('select sum(x) from t').fetchone()[0])";
    assert_eq!(common::run(code).await.stdout, "45\n");
}
