//! End-to-end cost of one sandboxed run, per workload, for both runtimes.
//!
//! Every iteration is a full `Sandbox::run`: a fresh store and a fresh guest
//! instance, the code executed, the result collected. Nothing is reused across
//! runs, so this is the latency a caller actually sees (compilation is not
//! included: both runtimes are precompiled before timing starts).
//!
//! Each workload is one criterion group with two functions side by side:
//! - `python`: the default runtime (a componentized CPython whose start-up is
//!   done ahead of time, so a run only instantiates it);
//! - `python3.12`: the original project's approach, the CPython 3.12 WASI
//!   command booted from scratch (`python -c CODE`) on every run. It is the
//!   baseline the `python` runtime is measured against.
//!
//! Workloads: `pass` (pure per-run overhead), a small computation, a ~100 KB
//! JSON round-trip, a host call round-trip (`kv_set` + `kv_get` through the
//! real KV capability; `python3.12` reaches it over framed stdio), importing a few heavier
//! stdlib modules, to compare with `pass` (`python` has them in its snapshot,
//! see `guest/python/src/goru_preload.py`; `python3.12` loads them per run),
//! and the pool: a run taking a prepared instance versus instantiating one.
//!
//! `hello` puts the two component runtimes side by side with the no-sandbox
//! baseline for JavaScript: `console.log(1+1)` in `javascript`, `print(1+1)`
//! in `python`, and `node -e` as a subprocess per run.
//!
//! python3.12 runs take tens of milliseconds, so its functions (and any
//! `python` case slower than a few ms) use fewer, flat samples, to keep the
//! whole bench to a couple of minutes on a small machine.

// A benchmark has no caller to report errors to: a failed setup or a broken
// case should stop the run loudly, which is what unwrap/expect do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use goru::host::Capabilities;
use goru::runner::{CellSpec, RunSpec, Runner, SessionSpec};
use goru::sandbox::{Sandbox, SandboxConfig, Status};
use tokio::runtime::Runtime;

const PYTHON: &str = "python";
const PYTHON312: &str = "python3.12";
const JAVASCRIPT: &str = "javascript";
const JS_HELLO: &str = "console.log(1+1)";

const PASS: &str = "pass";
const COMPUTE: &str = "print(sum(x**2 for x in range(10)))";
/// Builds a ~100 KB document in the guest and round-trips it; prints the
/// encoded size so the setup check can confirm it.
const JSON_ROUND_TRIP: &str = r#"import json
doc = [
    {"id": i, "name": f"item-{i:05d}", "tags": ["alpha", "beta", "gamma"],
     "price": i * 1.25, "active": i % 2 == 0, "owner": {"id": i % 97, "name": "someone"}}
    for i in range(700)
]
s = json.dumps(doc)
assert json.loads(s) == doc
print(len(s))
"#;
const HOST_CALL: &str = r#"kv_set("a", "b")
print(kv_get("a"))
"#;
const IMPORTS: &str = "import asyncio, csv, decimal, sqlite3";
const PYTHON_SCI: &str = "python-sci";
const PANDAS_SUM: &str = "import pandas as pd; print(pd.DataFrame({'a':[1,2]}).sum())";

struct Bench {
    rt: Runtime,
    runner: Runner,
}

impl Bench {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt.block_on(async {
            let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
            sandbox
                .precompile(&[PYTHON, PYTHON312])
                .await
                .expect("precompile runtimes");
            sandbox
        });
        Self {
            rt,
            runner: Runner::new(sandbox, Capabilities::default()),
        }
    }

    /// A run through the whole pipeline (limits, grants: a private KV
    /// namespace, as every run without a shared one gets), as the service
    /// makes it.
    fn request(code: &str, language: &str) -> RunSpec {
        RunSpec {
            code: code.to_owned(),
            language: Some(language.to_owned()),
            ..Default::default()
        }
    }

    /// Runs the case once and checks it, so a broken case is never timed.
    /// Returns the run's stdout and how long the whole call took.
    fn check(&self, workload: &str, code: &str, language: &str) -> (String, Duration) {
        let started = Instant::now();
        let result = self
            .rt
            .block_on(self.runner.run(Self::request(code, language)))
            .expect("run");
        let elapsed = started.elapsed();
        assert_eq!(
            result.status,
            Status::Ok,
            "{workload}/{language}: {:?}\nstderr: {}",
            result.reason,
            result.stderr
        );
        (result.stdout, elapsed)
    }

    /// One criterion group per workload, one function per runtime, each
    /// checked (status `ok`, then `validate` on its stdout) before it is timed.
    fn group(
        &self,
        c: &mut Criterion,
        workload: &str,
        code: &str,
        languages: &[&str],
        validate: impl Fn(&str),
    ) {
        let mut group = c.benchmark_group(workload);
        for &language in languages {
            let (stdout, elapsed) = self.check(workload, code, language);
            validate(&stdout);
            if language == PYTHON312 {
                group
                    .sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .warm_up_time(Duration::from_secs(1))
                    .measurement_time(Duration::from_secs(3));
            } else {
                // Linear sampling of 30 samples needs 465 iterations: fine for
                // runs of a few ms, too long beyond that, so go flat there.
                let mode = if elapsed > Duration::from_millis(5) {
                    SamplingMode::Flat
                } else {
                    SamplingMode::Linear
                };
                group
                    .sampling_mode(mode)
                    .sample_size(30)
                    .warm_up_time(Duration::from_secs(1))
                    .measurement_time(Duration::from_secs(4));
            }
            group.bench_function(language, |b| {
                b.to_async(&self.rt).iter(|| async {
                    let result = self
                        .runner
                        .run(Self::request(code, language))
                        .await
                        .unwrap();
                    std::hint::black_box(result)
                });
            });
        }
        group.finish();
    }
}

fn engine(c: &mut Criterion) {
    let bench = Bench::new();
    let both = [PYTHON, PYTHON312];

    bench.group(c, "pass", PASS, &both, |_| {});
    bench.group(c, "compute", COMPUTE, &both, |out| {
        assert_eq!(out.trim(), "285")
    });
    bench.group(c, "json_100kb", JSON_ROUND_TRIP, &both, |out| {
        let size: usize = out.trim().parse().unwrap();
        assert!(
            (90_000..=110_000).contains(&size),
            "json document is {size} bytes, want ~100 KB"
        );
    });
    bench.group(c, "host_call_kv", HOST_CALL, &both, |out| {
        assert_eq!(out.trim(), "b")
    });
    bench.group(
        c,
        "import_asyncio_csv_decimal_sqlite3",
        IMPORTS,
        &both,
        |_| {},
    );
}

/// The pool's point: a run that finds its instance ready versus one that
/// instantiates on demand. The refill between runs is not timed (in the
/// service it happens while the previous request is answered).
fn pool(c: &mut Criterion) {
    let bench = Bench::new();
    let pooled = bench.rt.block_on(async {
        let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
        sandbox.start_pool(4).await.expect("pool");
        Runner::new(sandbox, Capabilities::default())
    });
    let mut group = c.benchmark_group("pool");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("instantiate_on_demand", |b| {
        b.to_async(&bench.rt).iter(|| async {
            std::hint::black_box(
                bench
                    .runner
                    .run(Bench::request(PASS, PYTHON))
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("take_prepared", |b| {
        b.to_async(&bench.rt).iter_custom(|iters| {
            let pooled = pooled.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    wait_for_ready_instance(&pooled).await;
                    let started = Instant::now();
                    std::hint::black_box(pooled.run(Bench::request(PASS, PYTHON)).await.unwrap());
                    total += started.elapsed();
                }
                total
            }
        });
    });
    group.finish();
}

/// Waits until the pool holds a ready instance, so that what is timed next is
/// a run that takes one (the refill is not timed: in the service it happens
/// while the previous request is answered).
async fn wait_for_ready_instance(runner: &Runner) {
    while runner
        .sandbox()
        .pool_status()
        .is_none_or(|(ready, _)| ready == 0)
    {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A session cell against a run in a fresh pooled instance: a cell reuses
/// its interpreter, so it pays neither instantiation nor the reset.
fn session(c: &mut Criterion) {
    let bench = Bench::new();
    let (pooled, interpreter) = bench.rt.block_on(async {
        let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
        sandbox.start_pool(4).await.expect("pool");
        let runner = Runner::new(sandbox, Capabilities::default());
        let until = Instant::now() + Duration::from_secs(3600);
        let interpreter = runner
            .open_session(SessionSpec::default(), until)
            .await
            .expect("session");
        (runner, interpreter)
    });
    let mut group = c.benchmark_group("cell_vs_run");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("session_cell", |b| {
        b.to_async(&bench.rt).iter(|| async {
            let cell = CellSpec {
                code: "x = 1 + 1".into(),
                ..Default::default()
            };
            let r = interpreter
                .run_cell(cell, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(r.status, Status::Ok);
            std::hint::black_box(r)
        });
    });
    group.bench_function("run_pooled", |b| {
        b.to_async(&bench.rt).iter_custom(|iters| {
            let pooled = pooled.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    wait_for_ready_instance(&pooled).await;
                    let started = Instant::now();
                    std::hint::black_box(
                        pooled
                            .run(Bench::request("x = 1 + 1", PYTHON))
                            .await
                            .unwrap(),
                    );
                    total += started.elapsed();
                }
                total
            }
        });
    });
    group.finish();
}

/// What issue 9 promised: a pandas run in `python-sci` against the same code
/// in a native `python3` subprocess with pandas installed (the benchmark's
/// venv, made by `scripts/bench/native-venv.sh`), with a `print(1+1)` in
/// `python` beside them, in one group.
fn sci(c: &mut Criterion) {
    let bench = Bench::new();
    bench
        .rt
        .block_on(bench.runner.sandbox().precompile(&[PYTHON_SCI]))
        .expect("precompile python-sci");
    let native =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("build/bench/venv/bin/python");
    assert!(
        native.exists(),
        "{} is missing: run scripts/bench/native-venv.sh (make bench does)",
        native.display()
    );
    let native_run = || {
        let out = std::process::Command::new(&native)
            .args(["-c", PANDAS_SUM])
            .output()
            .expect("native python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let (sci_out, _) = bench.check("pandas_sum", PANDAS_SUM, PYTHON_SCI);
    assert_eq!(
        sci_out.as_bytes(),
        native_run(),
        "python-sci and native disagree"
    );
    bench.check("pandas_sum", "print(1+1)", PYTHON);

    let mut group = c.benchmark_group("pandas_sum");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("python-sci", |b| {
        b.to_async(&bench.rt).iter(|| async {
            std::hint::black_box(
                bench
                    .runner
                    .run(Bench::request(PANDAS_SUM, PYTHON_SCI))
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("native_python3_subprocess", |b| {
        b.iter(|| std::hint::black_box(native_run()));
    });
    group.bench_function("python_print", |b| {
        b.to_async(&bench.rt).iter(|| async {
            std::hint::black_box(
                bench
                    .runner
                    .run(Bench::request("print(1+1)", PYTHON))
                    .await
                    .unwrap(),
            )
        });
    });
    group.finish();
}

/// `console.log(1+1)` in javascript, `print(1+1)` in python and `node -e`
/// as a subprocess, in one group.
fn hello(c: &mut Criterion) {
    let bench = Bench::new();
    bench
        .rt
        .block_on(bench.runner.sandbox().precompile(&[JAVASCRIPT]))
        .expect("precompile javascript");
    let node_run = || {
        let out = std::process::Command::new("node")
            .args(["-e", JS_HELLO])
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_eq!(node_run(), b"2\n");
    let cases = [(JAVASCRIPT, JS_HELLO), (PYTHON, "print(1+1)")];
    for (language, code) in cases {
        assert_eq!(bench.check("hello", code, language).0, "2\n");
    }
    let mut group = c.benchmark_group("hello");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (language, code) in cases {
        group.bench_function(language, |b| {
            b.to_async(&bench.rt).iter(|| async {
                std::hint::black_box(
                    bench
                        .runner
                        .run(Bench::request(code, language))
                        .await
                        .unwrap(),
                )
            });
        });
    }
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("node_subprocess", |b| {
        b.iter(|| std::hint::black_box(node_run()));
    });
    group.finish();
}

criterion_group!(benches, engine, pool, session, sci, hello);
criterion_main!(benches);
